package graph_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/graphjob/graphjob/graph"
)

// TestSubgraphResumesInside fails the parent's task inside its subgraph, at
// the subgraph's third superstep: the task's retry continues the subgraph
// from its last superstep, so its first two nodes ran once.
func TestSubgraphResumesInside(t *testing.T) {
	var ran [3]atomic.Int32
	fail := atomic.Bool{}
	fail.Store(true)
	sb := newBuilder(t, map[string]graph.Reducer{"items": graph.Append, "n": graph.Add})
	for i, name := range []string{"s1", "s2", "s3"} {
		must(t, sb.g.AddNode(name, func(ctx context.Context, s graph.State) (graph.Update, error) {
			ran[i].Add(1)
			if name == "s3" && fail.Swap(false) {
				return nil, errors.New("killed inside the subgraph")
			}
			task, _ := graph.TaskFromContext(ctx)
			return graph.Update{"items": name + "@" + task.RunID, "n": 1}, nil
		}))
	}
	sub := sb.edge(graph.START, "s1").edge("s1", "s2").edge("s2", "s3").compile()

	pb := newBuilder(t, map[string]graph.Reducer{"items": graph.Append, "n": graph.Replace})
	must(t, pb.g.AddNode("parent", func(ctx context.Context, s graph.State) (graph.Update, error) {
		out, err := graph.Subgraph(ctx, sub, graph.State{"n": int64(10)})
		if err != nil {
			return nil, err
		}
		return graph.Update{"items": out["items"], "n": out["n"]}, nil
	}, graph.WithRetry(graph.RetryPolicy{MaxAttempts: 2})))
	app := pb.edge(graph.START, "parent").compile()
	got, err := app.Invoke(t.Context(), nil, graph.WithRunID("r"))
	must(t, err)
	if s := jsonOf(t, got); s != `{"items":["s1@r/parent:1.0","s2@r/parent:1.0","s3@r/parent:1.0"],"n":13}` {
		t.Errorf("state %s", s)
	}
	if ran[0].Load() != 1 || ran[1].Load() != 1 || ran[2].Load() != 2 {
		t.Errorf("the subgraph's nodes ran %d, %d and %d times; want s1 and s2 once, s3 twice", ran[0].Load(), ran[1].Load(), ran[2].Load())
	}
	// Outside a node, Subgraph is Invoke.
	out, err := graph.Subgraph(t.Context(), sub, graph.State{})
	if err != nil || out["n"] != int64(3) {
		t.Errorf("outside a node: %v, %v", out, err)
	}
}
