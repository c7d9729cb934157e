// Command loop is the seed's demo in graphjob's Go API: a work node counts
// steps and a decide node stops the loop at step 5. The same graph as YAML is
// graph.yaml beside this file.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"

	"github.com/graphjob/graphjob/graph"
)

// State is the graph's state: each field is a channel.
type State struct {
	Step int  `json:"step"`
	Done bool `json:"done"`
}

func work(_ context.Context, s State) (graph.Update, error) {
	fmt.Printf("Processing step %d\n", s.Step)
	return graph.Update{"step": s.Step + 1}, nil
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
	g := graph.New[State]()
	must(g.AddNode("work", work))
	must(g.AddNode("decide", decide))
	must(g.SetEntryPoint("work"))
	must(g.AddEdge("work", "decide"))
	must(g.AddConditionalEdges("decide", route, "work", graph.END))
	app, err := g.Compile()
	must(err)

	final, err := app.Invoke(context.Background(), State{}, graph.WithRecursionLimit(10))
	must(err)
	out, err := json.Marshal(final)
	must(err)
	fmt.Println(string(out))
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
