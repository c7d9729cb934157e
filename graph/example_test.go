package graph_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/graphjob/graphjob/graph"
)

// The seed's loop: work counts steps, decide stops the loop at step 5.
func Example() {
	type State struct {
		Step int  `json:"step"`
		Done bool `json:"done"`
	}
	g := graph.New[State]()
	_ = g.AddNode("work", func(_ context.Context, s State) (graph.Update, error) {
		fmt.Printf("Processing step %d\n", s.Step)
		return graph.Update{"step": s.Step + 1}, nil
	})
	_ = g.AddNode("decide", func(_ context.Context, s State) (graph.Update, error) {
		return graph.Update{"done": s.Step >= 5}, nil
	})
	_ = g.SetEntryPoint("work")
	_ = g.AddEdge("work", "decide")
	_ = g.AddConditionalEdges("decide", func(_ context.Context, s State) ([]string, error) {
		if s.Done {
			return []string{graph.END}, nil
		}
		return []string{"work"}, nil
	}, "work", graph.END)
	app, err := g.Compile()
	if err != nil {
		fmt.Println(err)
		return
	}
	final, err := app.Invoke(context.Background(), State{}, graph.WithRecursionLimit(10))
	fmt.Printf("%+v %v\n", final, err)

	_, err = app.Invoke(context.Background(), State{}, graph.WithRecursionLimit(9))
	fmt.Println(errors.Is(err, graph.ErrRecursionLimit))
	// Output:
	// Processing step 0
	// Processing step 1
	// Processing step 2
	// Processing step 3
	// Processing step 4
	// {Step:5 Done:true} <nil>
	// Processing step 0
	// Processing step 1
	// Processing step 2
	// Processing step 3
	// Processing step 4
	// true
}

// A map edge runs a node once per item, in one superstep; an append channel
// collects their results in item order, and a node after them runs once.
func ExampleStateGraph_AddMapEdge() {
	type State struct {
		Numbers []int `json:"numbers"`
		Squares []int `json:"squares" reducer:"append"`
		Total   int   `json:"total"`
	}
	g := graph.New[State]()
	_ = g.AddNode("split", func(context.Context, State) (graph.Update, error) { return nil, nil })
	_ = g.AddNode("square", func(ctx context.Context, _ State) (graph.Update, error) {
		task, _ := graph.TaskFromContext(ctx)
		n := task.Item.(int)
		return graph.Update{"squares": n * n}, nil
	})
	_ = g.AddNode("sum", func(_ context.Context, s State) (graph.Update, error) {
		total := 0
		for _, v := range s.Squares {
			total += v
		}
		return graph.Update{"total": total}, nil
	})
	_ = g.SetEntryPoint("split")
	_ = g.AddMapEdge("split", "square", func(_ context.Context, s State) ([]any, error) {
		items := make([]any, len(s.Numbers))
		for i, n := range s.Numbers {
			items[i] = n
		}
		return items, nil
	})
	_ = g.AddEdge("square", "sum")
	app, _ := g.Compile()
	final, err := app.Invoke(context.Background(), State{Numbers: []int{1, 2, 3}})
	fmt.Println(final.Squares, final.Total, err)
	// Output: [1 4 9] 14 <nil>
}

// A run can stop at any superstep boundary and continue from its checkpoint,
// here after a round trip through JSON as a store would make.
func ExampleGraph_Resume() {
	type State struct {
		Log []string `json:"log" reducer:"append"`
	}
	g := graph.New[State]()
	for _, name := range []string{"a", "b", "c"} {
		_ = g.AddNode(name, func(context.Context, State) (graph.Update, error) {
			return graph.Update{"log": name}, nil
		})
	}
	_ = g.SetEntryPoint("a")
	_ = g.AddEdge("a", "b")
	_ = g.AddEdge("b", "c")
	app, _ := g.Compile()

	// Run one superstep only, keeping the checkpoint at its end.
	var saved []byte
	_, err := app.Invoke(context.Background(), State{}, graph.WithRecursionLimit(1),
		graph.WithCommit(func(_ context.Context, cp graph.Checkpoint) error {
			saved, _ = json.Marshal(cp)
			return nil
		}))
	fmt.Println(err)
	fmt.Println(string(saved))

	var cp graph.Checkpoint
	_ = json.Unmarshal(saved, &cp)
	final, err := app.Resume(context.Background(), cp)
	fmt.Println(final.Log, err)
	// Output:
	// recursion limit of 1 reached with nodes [b] still due; raise the recursion limit if the graph needs more supersteps, or check that its loops end
	// {"step":1,"values":{"log":["a"]},"versions":{"log":2},"next":[{"node":"b"}]}
	// [a b c] <nil>
}

// A retry policy runs a failing node again with exponential backoff; errors
// wrapped by Permanent are never retried.
func ExampleWithRetry() {
	type State struct {
		Result string `json:"result"`
	}
	calls := 0
	g := graph.New[State]()
	_ = g.AddNode("fetch", func(context.Context, State) (graph.Update, error) {
		calls++
		if calls < 3 {
			return nil, errors.New("service unavailable")
		}
		return graph.Update{"result": "ok"}, nil
	}, graph.WithRetry(graph.RetryPolicy{MaxAttempts: 5, InitialBackoff: 1}))
	_ = g.SetEntryPoint("fetch")
	app, _ := g.Compile()
	final, err := app.Invoke(context.Background(), State{})
	fmt.Println(final.Result, calls, err)
	// Output: ok 3 <nil>
}
