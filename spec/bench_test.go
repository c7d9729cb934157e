package spec_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/graphjob/graphjob/graph"
	"github.com/graphjob/graphjob/spec"
)

// BenchmarkLoopCEL measures one superstep of the seed loop with YAML set
// nodes (CEL).
func BenchmarkLoopCEL(b *testing.B) {
	const steps = 1000
	g, err := spec.Parse("loop.yaml", []byte(`apiVersion: graphjob.dev/v1
kind: Graph
metadata: {name: loop}
spec:
  state:
    step: {type: int, default: 0}
    done: {type: bool, default: false}
  entry: work
  nodes:
    work: {set: {step: state.step + 1}}
    decide: {set: {done: "state.step >= 500"}}
  edges:
    - {from: work, to: decide}
    - from: decide
      when:
        - {if: state.done, to: END}
        - to: work
`))
	if err != nil {
		b.Fatal(err)
	}
	in, _ := g.Input(nil)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := g.Runnable.Invoke(ctx, in, graph.WithRecursionLimit(steps)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*steps), "ns/superstep")
}

// BenchmarkFanOutCEL measures a 1,000-task map fan-out of CEL set nodes.
func BenchmarkFanOutCEL(b *testing.B) {
	const n = 1000
	g, err := spec.Parse("fanout.yaml", []byte(`apiVersion: graphjob.dev/v1
kind: Graph
metadata: {name: fanout}
spec:
  state:
    numbers: {type: list}
    results: {type: list, reducer: append}
  entry: split
  nodes:
    split: {set: {}}
    square: {set: {results: item * item}}
  edges:
    - {from: split, map: {over: state.numbers, to: square}}
`))
	if err != nil {
		b.Fatal(err)
	}
	nums := make([]any, n)
	for i := range nums {
		nums[i] = i
	}
	in, err := g.Input(map[string]any{"numbers": nums})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := g.Runnable.Invoke(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/task")
}

// BenchmarkLoad200 measures loading and compiling a 200-node file: a chain
// of set nodes, each with a CEL expression and a conditional edge.
func BenchmarkLoad200(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("apiVersion: graphjob.dev/v1\nkind: Graph\nmetadata: {name: big}\nspec:\n  recursionLimit: 500\n")
	sb.WriteString("  state:\n    n: {type: int}\n    log: {type: list, reducer: append}\n  entry: n0\n  nodes:\n")
	for i := range 200 {
		fmt.Fprintf(&sb, "    n%d: {set: {n: state.n + %d, log: \"'n%d'\"}}\n", i, i, i)
	}
	sb.WriteString("  edges:\n")
	for i := range 199 {
		fmt.Fprintf(&sb, "    - from: n%d\n      when:\n        - {if: state.n > 100000, to: END}\n        - to: n%d\n", i, i+1)
	}
	data := []byte(sb.String())
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := spec.Parse("big.yaml", data); err != nil {
			b.Fatal(err)
		}
	}
}
