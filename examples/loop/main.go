// Command loop is the seed's demo in graphjob's Go API: a work node counts
// steps and a decide node stops the loop at step 5. The same graph as YAML is
// graph.yaml beside this file.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"os"

	"github.com/graphjob/graphjob/graph"
)

// State is the graph's state: each field is a channel.
type State struct {
	Step int  `json:"step"`
	Done bool `json:"done"`
}

func decide(_ context.Context, s State) (graph.Update, error) {
	return graph.Update{"done": s.Step >= 5}, nil
}

func route(_ context.Context, s State) ([]string, error) {
	if s.Done {
		return []string{graph.END}, nil
	}
	return []string{"work"}, nil
}

func main() {
	if err := run(os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// run builds the graph, runs it with the seed's recursion limit and prints
// the progress and the final state to w.
func run(w io.Writer) error {
	g := graph.New[State]()
	work := func(_ context.Context, s State) (graph.Update, error) {
		fmt.Fprintf(w, "Processing step %d\n", s.Step)
		return graph.Update{"step": s.Step + 1}, nil
	}
	for _, err := range []error{
		g.AddNode("work", work),
		g.AddNode("decide", decide),
		g.SetEntryPoint("work"),
		g.AddEdge("work", "decide"),
		g.AddConditionalEdges("decide", route, "work", graph.END),
	} {
		if err != nil {
			return err
		}
	}
	app, err := g.Compile()
	if err != nil {
		return err
	}
	final, err := app.Invoke(context.Background(), State{}, graph.WithRecursionLimit(10))
	if err != nil {
		return err
	}
	out, err := json.Marshal(final)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(out))
	return err
}
