package graph_test

import (
	"context"
	"testing"

	"github.com/graphjob/graphjob/graph"
)

type loopState struct {
	Step int  `json:"step"`
	Done bool `json:"done"`
}

// loopGraph is the seed's work/decide loop, stopping at step stop.
func loopGraph(tb testing.TB, stop int) *graph.Graph[loopState] {
	tb.Helper()
	g := graph.New[loopState]()
	must(tb, g.AddNode("work", func(_ context.Context, s loopState) (graph.Update, error) {
		return graph.Update{"step": s.Step + 1}, nil
	}))
	must(tb, g.AddNode("decide", func(_ context.Context, s loopState) (graph.Update, error) {
		return graph.Update{"done": s.Step >= stop}, nil
	}))
	must(tb, g.SetEntryPoint("work"))
	must(tb, g.AddEdge("work", "decide"))
	must(tb, g.AddConditionalEdges("decide", func(_ context.Context, s loopState) ([]string, error) {
		if s.Done {
			return []string{graph.END}, nil
		}
		return []string{"work"}, nil
	}, "work", graph.END))
	app, err := g.Compile()
	must(tb, err)
	return app
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkLoopGo measures one superstep of the seed loop with Go nodes.
func BenchmarkLoopGo(b *testing.B) {
	const steps = 1000
	app := loopGraph(b, steps/2)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := app.Invoke(ctx, loopState{}, graph.WithRecursionLimit(steps)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*steps), "ns/superstep")
}
