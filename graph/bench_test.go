package graph_test

import (
	"context"
	"fmt"
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

// BenchmarkFanOut measures one map fan-out superstep of n cheap tasks, whose
// results an append channel collects; ns/task should not grow with n.
func BenchmarkFanOut(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("tasks=%d", n), func(b *testing.B) {
			app := fanOutGraph(b, n)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := app.Invoke(ctx, fanState{}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/task")
		})
	}
}

func fanOutGraph(tb testing.TB, n int) *graph.Graph[fanState] {
	items := make([]any, n)
	for i := range items {
		items[i] = i
	}
	g := graph.New[fanState]()
	must(tb, g.AddNode("split", func(context.Context, fanState) (graph.Update, error) { return nil, nil }))
	must(tb, g.AddNode("square", func(ctx context.Context, _ fanState) (graph.Update, error) {
		task, _ := graph.TaskFromContext(ctx)
		v := task.Item.(int)
		return graph.Update{"results": v * v}, nil
	}))
	must(tb, g.SetEntryPoint("split"))
	must(tb, g.AddMapEdge("split", "square", func(context.Context, fanState) ([]any, error) { return items, nil }))
	app, err := g.Compile()
	must(tb, err)
	return app
}
