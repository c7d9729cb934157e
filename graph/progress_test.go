package graph_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/graphjob/graphjob/graph"
)

// cursor is how far the node below got through its ten items.
type cursor struct {
	Done int `json:"done"`
}

// itemsNode works through ten items, saving a cursor after each; it fails
// after failAt items on its first attempt. It records the items it worked on.
func itemsNode(worked *[]int, failAt int) graph.NodeFunc[loopState] {
	return func(ctx context.Context, _ loopState) (graph.Update, error) {
		var c cursor
		if _, err := graph.LoadProgress(ctx, &c); err != nil {
			return nil, err
		}
		task, _ := graph.TaskFromContext(ctx)
		for i := c.Done; i < 10; i++ {
			if task.Attempt == 1 && i == failAt {
				return nil, errors.New("crashed half-way")
			}
			*worked = append(*worked, i)
			if err := graph.SaveProgress(ctx, cursor{Done: i + 1}); err != nil {
				return nil, err
			}
		}
		return graph.Update{"done": true}, nil
	}
}

func itemsGraph(t *testing.T, worked *[]int, failAt int) *graph.Graph[loopState] {
	t.Helper()
	g := graph.New[loopState]()
	must(t, g.AddNode("items", itemsNode(worked, failAt), graph.WithRetry(graph.RetryPolicy{MaxAttempts: 2, InitialBackoff: time.Millisecond})))
	must(t, g.SetEntryPoint("items"))
	app, err := g.Compile()
	must(t, err)
	return app
}

// TestProgressAcrossRetries: a retried node gets back the cursor its failed
// attempt saved, with no store.
func TestProgressAcrossRetries(t *testing.T) {
	var worked []int
	if _, err := itemsGraph(t, &worked, 4).Invoke(t.Context(), loopState{}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(worked) != "[0 1 2 3 4 5 6 7 8 9]" {
		t.Errorf("items worked %v, want each once", worked)
	}
}

// memProgress is a Progress in a map, standing in for a runner's store.
type memProgress struct {
	mu      sync.Mutex
	cursors map[string][]byte
	saves   int
}

func key(t graph.TaskInfo) string { return fmt.Sprint(t.Step, "/", t.Index, "/", t.Node) }

func (m *memProgress) Save(_ context.Context, t graph.TaskInfo, c []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cursors[key(t)] = c
	m.saves++
	return nil
}

func (m *memProgress) Load(_ context.Context, t graph.TaskInfo) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cursors[key(t)], nil
}

// TestProgressStore: cursors go to the store, and a task gets back the
// cursor the store holds for it, as a resumed run does.
func TestProgressStore(t *testing.T) {
	var worked []int
	p := &memProgress{cursors: map[string][]byte{"1/0/items": []byte(`{"done": 7}`)}}
	if _, err := itemsGraph(t, &worked, -1).Invoke(t.Context(), loopState{}, graph.WithProgress(p)); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(worked) != "[7 8 9]" || p.saves != 3 || string(p.cursors["1/0/items"]) != `{"done":10}` {
		t.Errorf("worked %v, %d saves, cursor %s; want [7 8 9], 3, {\"done\":10}", worked, p.saves, p.cursors["1/0/items"])
	}
}

func TestProgressErrors(t *testing.T) {
	if err := graph.SaveProgress(t.Context(), 1); !errors.Is(err, graph.ErrNoTask) {
		t.Errorf("SaveProgress outside a node: %v, want ErrNoTask", err)
	}
	if _, err := graph.LoadProgress(t.Context(), new(int)); !errors.Is(err, graph.ErrNoTask) {
		t.Errorf("LoadProgress outside a node: %v, want ErrNoTask", err)
	}
	g := graph.New[loopState]()
	must(t, g.AddNode("bad", func(ctx context.Context, _ loopState) (graph.Update, error) {
		if err := graph.SaveProgress(ctx, func() {}); err == nil {
			t.Error("a cursor that is not JSON was saved")
		}
		if err := graph.SaveProgress(ctx, "text"); err != nil {
			return nil, err
		}
		var n int
		_, err := graph.LoadProgress(ctx, &n)
		return nil, graph.Permanent(err)
	}))
	must(t, g.SetEntryPoint("bad"))
	app, err := g.Compile()
	must(t, err)
	if _, err := app.Invoke(t.Context(), loopState{}); err == nil || !strings.Contains(err.Error(), `"text" does not decode into *int`) {
		t.Errorf("a cursor of the wrong type: %v", err)
	}
}
