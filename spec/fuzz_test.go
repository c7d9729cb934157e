package spec_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/graphjob/graphjob/graph"
	"github.com/graphjob/graphjob/spec"
)

// FuzzParse feeds arbitrary bytes to the loader: it must never panic, every
// error must be an ErrInvalid, and a graph it accepts must give an input.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/invalid/*.yaml")
	seeds = append(seeds, "../examples/loop/graph.yaml", "../examples/fanout/graph.yaml")
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := spec.Parse("fuzz.yaml", data)
		if err != nil {
			if !errors.Is(err, spec.ErrInvalid) {
				t.Fatalf("error is not ErrInvalid: %v", err)
			}
			return
		}
		if _, err := g.Input(nil); err != nil {
			t.Fatalf("an accepted graph has no valid input: %v", err)
		}
	})
}

// FuzzExpression compiles arbitrary CEL as a set expression and runs what
// compiles: no panic, and the cost limit ends every evaluation promptly.
func FuzzExpression(f *testing.F) {
	for _, e := range []string{
		"state.n + 1", "state.s + 'x'", "state.l.map(x, x * 2)", "size(state.m)", "state.f * 2.0",
		"[1, 2, 3].filter(x, x > 1)", "state.s.split(',')", "int(state.f)", "state.m['k']",
		"state.l.map(x, state.l.map(y, state.l))", "1 / 0", "'a'.repeat(1000000)",
	} {
		f.Add(e)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		text, _ := json.Marshal(expr) // a YAML double-quoted scalar
		g, err := spec.Parse("fuzz.yaml", []byte(`apiVersion: graphjob.dev/v1
kind: Graph
metadata: {name: fuzz}
spec:
  state:
    n: {type: int, default: 3}
    f: {type: float, default: 1.5}
    s: {type: string, default: "a,b"}
    l: {type: list, default: [1, 2, 3, 4, 5, 6, 7, 8]}
    m: {type: object, default: {k: v}}
    out: {type: any}
  entry: a
  nodes:
    a: {set: {out: `+string(text)+`}}
`))
		if err != nil {
			if !errors.Is(err, spec.ErrInvalid) {
				t.Fatalf("error is not ErrInvalid: %v", err)
			}
			return
		}
		in, err := g.Input(nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		start := time.Now()
		_, _ = g.Runnable.Invoke(ctx, in, graph.WithRecursionLimit(1))
		if ctx.Err() != nil {
			t.Fatalf("%q ran for %s: the cost limit did not stop it", expr, time.Since(start))
		}
	})
}
