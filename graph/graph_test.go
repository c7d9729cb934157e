package graph_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/graphjob/graphjob/graph"
)

func TestRecursionLimit(t *testing.T) {
	// The seed loop needs exactly 10 supersteps: work and decide, five times.
	tests := []struct {
		desc    string
		limit   int
		wantErr bool
	}{
		{"limit equal to the supersteps needed succeeds", 10, false},
		{"limit above succeeds", 11, false},
		{"limit one below fails", 9, true},
		{"limit zero fails", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			got, err := loopGraph(t, 5).Invoke(t.Context(), loopState{}, graph.WithRecursionLimit(tt.limit))
			if tt.wantErr {
				var rl *graph.RecursionLimitError
				if !errors.As(err, &rl) || !errors.Is(err, graph.ErrRecursionLimit) || rl.Limit != tt.limit {
					t.Fatalf("err = %v, want a RecursionLimitError with limit %d", err, tt.limit)
				}
				if !strings.Contains(err.Error(), fmt.Sprintf("recursion limit of %d", tt.limit)) {
					t.Errorf("message %q does not name the limit", err)
				}
				return
			}
			if err != nil || got != (loopState{Step: 5, Done: true}) {
				t.Fatalf("got %+v, %v; want {5 true}, nil", got, err)
			}
		})
	}
}

type reducerState struct {
	Last  string         `json:"last"`
	List  []int          `json:"list" reducer:"append"`
	Sum   int            `json:"sum" reducer:"add"`
	Total float64        `json:"total" reducer:"add"`
	Obj   map[string]int `json:"obj" reducer:"merge"`
}

// parallel builds START -> a, b, c in one superstep, each node returning its update.
func parallel[S any](t *testing.T, updates map[string]graph.Update) *graph.Graph[S] {
	t.Helper()
	g := graph.New[S]()
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range updates {
			if !yield(n) {
				return
			}
		}
	})
	for _, n := range names {
		u := updates[n]
		must(t, g.AddNode(n, func(context.Context, S) (graph.Update, error) { return u, nil }))
	}
	must(t, g.SetEntryPoint(names...))
	app, err := g.Compile()
	must(t, err)
	return app
}

func TestReducers(t *testing.T) {
	in := reducerState{List: []int{0}, Sum: 1, Obj: map[string]int{"keep": 1, "x": 0}}
	app := parallel[reducerState](t, map[string]graph.Update{
		"a": {"list": []int{1, 2}, "sum": 2, "total": 0.5, "obj": map[string]int{"x": 1}},
		"b": {"list": 3, "sum": int64(3), "total": 1, "obj": map[string]any{"y": 2.0}},
		"c": {"last": "c", "list": []any{4.0}},
	})
	got, err := app.Invoke(t.Context(), in)
	must(t, err)
	want := reducerState{Last: "c", List: []int{0, 1, 2, 3, 4}, Sum: 6, Total: 1.5, Obj: map[string]int{"keep": 1, "x": 1, "y": 2}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if len(in.List) != 1 || in.Obj["x"] != 0 {
		t.Errorf("the input was changed: %+v", in)
	}
}

func TestReducerErrors(t *testing.T) {
	tests := []struct {
		desc   string
		update graph.Update
		want   string
	}{
		{"append of a wrong element", graph.Update{"list": "x"}, `node "a": channel "list": append: cannot use string as int`},
		{"add of a string", graph.Update{"sum": "x"}, `channel "sum": add: cannot use string as int`},
		{"replace with a wrong type", graph.Update{"last": 3}, `channel "last": cannot use int as string`},
		{"unknown channel", graph.Update{"nope": 1, "last": "x"}, `update of unknown channels ["nope"]`},
		{"lossy number", graph.Update{"sum": 1.5}, `cannot use float64 as int`},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			_, err := parallel[reducerState](t, map[string]graph.Update{"a": tt.update}).Invoke(t.Context(), reducerState{})
			var ne *graph.NodeError
			if !errors.As(err, &ne) || ne.Node != "a" || ne.Step != 1 || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want a NodeError of a at step 1 containing %q", err, tt.want)
			}
		})
	}
}

func TestStateReducers(t *testing.T) {
	g := graph.New[graph.State]()
	must(t, g.AddChannel("list", graph.Append))
	must(t, g.AddChannel("n", graph.Add))
	must(t, g.AddChannel("obj", graph.Merge))
	must(t, g.AddChannel("v", graph.Replace))
	for _, n := range []string{"a", "b"} {
		must(t, g.AddNode(n, func(context.Context, graph.State) (graph.Update, error) {
			return graph.Update{"list": []any{n}, "n": int64(2), "obj": map[string]any{n: true}}, nil
		}))
	}
	must(t, g.AddNode("c", func(context.Context, graph.State) (graph.Update, error) {
		return graph.Update{"list": "c", "n": 0.5, "v": "c"}, nil
	}))
	must(t, g.SetEntryPoint("a", "b", "c"))
	app, err := g.Compile()
	must(t, err)
	got, err := app.Invoke(t.Context(), graph.State{"n": int64(1)})
	must(t, err)
	want := `map[list:[a b c] n:5.5 obj:map[a:true b:true] v:c]`
	if fmt.Sprint(got) != want {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestConflict(t *testing.T) {
	app := parallel[reducerState](t, map[string]graph.Update{
		"a": {"last": "a"}, "b": {"sum": 1}, "c": {"last": "c"},
	})
	_, err := app.Invoke(t.Context(), reducerState{})
	var ce *graph.ConflictError
	if !errors.As(err, &ce) || ce.Channel != "last" || ce.Nodes != [2]string{"a", "c"} || ce.Step != 1 {
		t.Fatalf("err = %v, want a ConflictError on last by a and c", err)
	}
	for _, s := range []string{`"a"`, `"c"`, `"last"`} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("message %q does not name %s", err, s)
		}
	}
}

// TestDeterministicOrder checks that updates are applied in task order
// whatever order the tasks finish in.
func TestDeterministicOrder(t *testing.T) {
	g := graph.New[reducerState]()
	var names []string
	for i := range 8 {
		name := fmt.Sprintf("n%d", i)
		names = append(names, name)
		must(t, g.AddNode(name, func(context.Context, reducerState) (graph.Update, error) {
			time.Sleep(time.Duration(8-i) * time.Millisecond) // later tasks finish first
			return graph.Update{"list": i}, nil
		}))
	}
	must(t, g.SetEntryPoint(names...))
	app, err := g.Compile()
	must(t, err)
	for range 3 {
		got, err := app.Invoke(t.Context(), reducerState{}, graph.WithMaxConcurrency(8))
		must(t, err)
		if !slices.Equal(got.List, []int{0, 1, 2, 3, 4, 5, 6, 7}) {
			t.Fatalf("list = %v, want task order", got.List)
		}
	}
}

func TestMaxConcurrency(t *testing.T) {
	for _, limit := range []int{1, 3} {
		g := graph.New[reducerState]()
		var running, peak atomic.Int32
		must(t, g.AddNode("start", func(context.Context, reducerState) (graph.Update, error) { return nil, nil }))
		must(t, g.AddNode("work", func(context.Context, reducerState) (graph.Update, error) {
			n := running.Add(1)
			defer running.Add(-1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			time.Sleep(time.Millisecond)
			return graph.Update{"sum": 1}, nil
		}))
		must(t, g.SetEntryPoint("start"))
		must(t, g.AddMapEdge("start", "work", func(context.Context, reducerState) ([]any, error) {
			return make([]any, 12), nil
		}))
		app, err := g.Compile()
		must(t, err)
		got, err := app.Invoke(t.Context(), reducerState{}, graph.WithMaxConcurrency(limit))
		must(t, err)
		if got.Sum != 12 || peak.Load() > int32(limit) {
			t.Errorf("limit %d: sum %d, peak %d", limit, got.Sum, peak.Load())
		}
	}
}

type fanState struct {
	Numbers []int `json:"numbers"`
	Results []int `json:"results" reducer:"append"`
	Joined  int   `json:"joined" reducer:"add"`
}

func TestMapFanOutAndJoin(t *testing.T) {
	g := graph.New[fanState]()
	must(t, g.AddNode("start", func(context.Context, fanState) (graph.Update, error) { return nil, nil }))
	must(t, g.AddNode("square", func(ctx context.Context, _ fanState) (graph.Update, error) {
		task, _ := graph.TaskFromContext(ctx)
		n := task.Item.(int)
		return graph.Update{"results": n * n}, nil
	}))
	must(t, g.AddNode("join", func(context.Context, fanState) (graph.Update, error) {
		return graph.Update{"joined": 1}, nil
	}))
	must(t, g.SetEntryPoint("start"))
	must(t, g.AddMapEdge("start", "square", func(_ context.Context, s fanState) ([]any, error) {
		items := make([]any, len(s.Numbers))
		for i, n := range s.Numbers {
			items[i] = n
		}
		return items, nil
	}))
	must(t, g.AddEdge("square", "join"))
	app, err := g.Compile()
	must(t, err)
	var steps []string
	got, err := app.Invoke(t.Context(), fanState{Numbers: []int{1, 2, 3}}, graph.WithHooks(graph.Hooks{
		StepStart: func(_ context.Context, step int, tasks []graph.Task) {
			steps = append(steps, fmt.Sprintf("%d:%d", step, len(tasks)))
		},
	}))
	must(t, err)
	if !slices.Equal(got.Results, []int{1, 4, 9}) || got.Joined != 1 {
		t.Errorf("got %+v, want results [1 4 9] and join once", got)
	}
	if want := []string{"1:1", "2:3", "3:1"}; !slices.Equal(steps, want) {
		t.Errorf("steps:tasks = %v, want %v", steps, want)
	}

	// A map over more items than a superstep may have tasks fails for good,
	// before any of them runs.
	_, err = app.Invoke(t.Context(), fanState{Numbers: make([]int, 3)}, graph.WithMaxTasks(2))
	var nodeErr *graph.NodeError
	if !errors.As(err, &nodeErr) || nodeErr.Node != "start" || !strings.Contains(err.Error(), "3 items for \"square\" make 3 tasks in the next superstep, over the limit of 2") {
		t.Errorf("a map over too many items: %v", err)
	}
	many := make([]int, graph.DefaultMaxTasks+1)
	if _, err := app.Invoke(t.Context(), fanState{Numbers: many}); !errors.As(err, &nodeErr) {
		t.Errorf("a map over %d items with the default limit: %v", len(many), err)
	}
}

func TestRouting(t *testing.T) {
	type s struct {
		Path []string `json:"path" reducer:"append"`
	}
	visit := func(name string) graph.NodeFunc[s] {
		return func(context.Context, s) (graph.Update, error) { return graph.Update{"path": name}, nil }
	}
	tests := []struct {
		desc  string
		route []string
		want  []string
		err   string
	}{
		{"one target", []string{"b"}, []string{"a", "b"}, ""},
		{"several targets run in parallel, applied by name as in LangGraph", []string{"c", "b"}, []string{"a", "b", "c"}, ""},
		{"END", []string{graph.END}, []string{"a"}, ""},
		{"duplicates run once", []string{"b", "b"}, []string{"a", "b"}, ""},
		{"undeclared destination", []string{"a"}, nil, `step 1: node "a": router returned "a", which is not among its destinations`},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			g := graph.New[s]()
			for _, n := range []string{"a", "b", "c"} {
				must(t, g.AddNode(n, visit(n)))
			}
			must(t, g.SetEntryPoint("a"))
			must(t, g.AddConditionalEdges("a", func(context.Context, s) ([]string, error) { return tt.route, nil }, "b", "c", graph.END))
			app, err := g.Compile()
			must(t, err)
			got, err := app.Invoke(t.Context(), s{})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			must(t, err)
			if !slices.Equal(got.Path, tt.want) {
				t.Errorf("path = %v, want %v", got.Path, tt.want)
			}
		})
	}
}

// fakeClock records the waits asked of it. Backoff waits end at once; a
// timeout's wait ends when the test fires it.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	waits []time.Duration
	fire  chan time.Time // nil: every wait ends at once
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waits = append(c.waits, d)
	if c.fire != nil {
		return c.fire
	}
	c.now = c.now.Add(d)
	ch := make(chan time.Time, 1)
	ch <- c.now
	return ch
}

func TestRetry(t *testing.T) {
	errFlaky := errors.New("flaky")
	tests := []struct {
		desc      string
		policy    graph.RetryPolicy
		failures  int
		err       error
		wantCalls int
		wantWaits []time.Duration
		wantErr   bool
	}{
		{"no policy runs once", graph.RetryPolicy{}, 1, errFlaky, 1, nil, true},
		{"succeeds on the third attempt", graph.RetryPolicy{MaxAttempts: 3, InitialBackoff: time.Second}, 2, errFlaky, 3,
			[]time.Duration{time.Second, 2 * time.Second}, false},
		{"exhausts its attempts", graph.RetryPolicy{MaxAttempts: 4, InitialBackoff: time.Second, Multiplier: 3, MaxBackoff: 5 * time.Second}, 10, errFlaky, 4,
			[]time.Duration{time.Second, 3 * time.Second, 5 * time.Second}, true},
		{"default attempts and backoff", graph.RetryPolicy{Jitter: 0}, 10, errFlaky, 1, nil, true},
		{"defaults when a field is set", graph.RetryPolicy{Multiplier: 2}, 10, errFlaky, 3,
			[]time.Duration{500 * time.Millisecond, time.Second}, true},
		{"jitter within bounds", graph.RetryPolicy{MaxAttempts: 2, InitialBackoff: time.Second, Jitter: 0.5}, 1, errFlaky, 2,
			[]time.Duration{1500 * time.Millisecond}, false},
		{"permanent errors are not retried", graph.RetryPolicy{MaxAttempts: 5}, 10, graph.Permanent(errFlaky), 1, nil, true},
		{"RetryOn decides", graph.RetryPolicy{MaxAttempts: 5, RetryOn: func(err error) bool { return false }}, 10, errFlaky, 1, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			calls := 0
			g := graph.New[loopState]()
			must(t, g.AddNode("flaky", func(ctx context.Context, _ loopState) (graph.Update, error) {
				calls++
				if task, _ := graph.TaskFromContext(ctx); task.Attempt != calls {
					t.Errorf("attempt %d on call %d", task.Attempt, calls)
				}
				if calls <= tt.failures {
					return nil, tt.err
				}
				return graph.Update{"done": true}, nil
			}, graph.WithRetry(tt.policy)))
			must(t, g.SetEntryPoint("flaky"))
			app, err := g.Compile()
			must(t, err)
			clk := &fakeClock{}
			_, err = app.Invoke(t.Context(), loopState{}, graph.WithClock(clk), graph.WithRand(func() float64 { return 1 }))
			if calls != tt.wantCalls || !slices.Equal(clk.waits, tt.wantWaits) {
				t.Errorf("calls %d waits %v; want %d %v", calls, clk.waits, tt.wantCalls, tt.wantWaits)
			}
			if !tt.wantErr {
				must(t, err)
				return
			}
			var ne *graph.NodeError
			if !errors.As(err, &ne) || ne.Node != "flaky" || ne.Attempts != tt.wantCalls || !errors.Is(err, errFlaky) {
				t.Fatalf("err = %v, want a NodeError of flaky after %d attempts wrapping the node's error", err, tt.wantCalls)
			}
		})
	}
}

func TestTimeout(t *testing.T) {
	g := graph.New[loopState]()
	calls := 0
	must(t, g.AddNode("slow", func(ctx context.Context, _ loopState) (graph.Update, error) {
		calls++
		<-ctx.Done()
		return nil, ctx.Err()
	}, graph.WithTimeout(5*time.Second), graph.WithRetry(graph.RetryPolicy{MaxAttempts: 2, InitialBackoff: time.Millisecond})))
	must(t, g.SetEntryPoint("slow"))
	app, err := g.Compile()
	must(t, err)
	clk := &fakeClock{fire: make(chan time.Time)}
	go func() {
		for range 3 { // timeout, backoff, timeout
			clk.fire <- time.Time{}
		}
	}()
	_, err = app.Invoke(t.Context(), loopState{}, graph.WithClock(clk))
	var te *graph.TimeoutError
	if !errors.As(err, &te) || te.After != 5*time.Second || calls != 2 {
		t.Fatalf("err = %v after %d calls, want a TimeoutError of 5s after 2 attempts", err, calls)
	}
	if !strings.Contains(err.Error(), `node "slow" failed after 2 attempts: timed out after 5s`) {
		t.Errorf("message %q", err)
	}
}

func TestCancellation(t *testing.T) {
	g := graph.New[loopState]()
	started := make(chan struct{})
	must(t, g.AddNode("block", func(ctx context.Context, _ loopState) (graph.Update, error) {
		close(started)
		<-ctx.Done()
		return nil, ctx.Err()
	}, graph.WithRetry(graph.RetryPolicy{MaxAttempts: 5})))
	must(t, g.AddNode("other", func(ctx context.Context, _ loopState) (graph.Update, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}))
	must(t, g.SetEntryPoint("block", "other"))
	app, err := g.Compile()
	must(t, err)
	ctx, cancel := context.WithCancelCause(t.Context())
	errStop := errors.New("operator stopped the run")
	go func() {
		<-started
		cancel(errStop)
	}()
	_, err = app.Invoke(ctx, loopState{})
	if !errors.Is(err, errStop) {
		t.Fatalf("err = %v, want the cancellation cause", err)
	}
	var ne *graph.NodeError
	if errors.As(err, &ne) {
		t.Errorf("a cancelled run reported a node failure: %v", err)
	}
}

func TestFirstFailureCancelsSiblings(t *testing.T) {
	g := graph.New[loopState]()
	errBoom := errors.New("boom")
	must(t, g.AddNode("fail", func(context.Context, loopState) (graph.Update, error) { return nil, errBoom }))
	must(t, g.AddNode("wait", func(ctx context.Context, _ loopState) (graph.Update, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}))
	must(t, g.SetEntryPoint("wait", "fail"))
	app, err := g.Compile()
	must(t, err)
	_, err = app.Invoke(t.Context(), loopState{})
	var ne *graph.NodeError
	if !errors.As(err, &ne) || ne.Node != "fail" || !errors.Is(err, errBoom) {
		t.Fatalf("err = %v, want fail's error", err)
	}
}

func TestPanicIsANodeError(t *testing.T) {
	g := graph.New[loopState]()
	calls := 0
	must(t, g.AddNode("p", func(context.Context, loopState) (graph.Update, error) { calls++; panic("oops") },
		graph.WithRetry(graph.RetryPolicy{MaxAttempts: 3})))
	must(t, g.SetEntryPoint("p"))
	app, err := g.Compile()
	must(t, err)
	_, err = app.Invoke(t.Context(), loopState{})
	var ne *graph.NodeError
	if !errors.As(err, &ne) || !strings.Contains(err.Error(), "panic: oops") || calls != 1 {
		t.Fatalf("err = %v after %d calls, want one attempt and a NodeError naming the panic", err, calls)
	}
}

func TestBuildErrors(t *testing.T) {
	noop := func(context.Context, loopState) (graph.Update, error) { return nil, nil }
	tests := []struct {
		desc  string
		build func(g *graph.StateGraph[loopState]) error
		want  string
	}{
		{"duplicate node", func(g *graph.StateGraph[loopState]) error {
			_ = g.AddNode("a", noop)
			return g.AddNode("a", noop)
		}, `node "a" is added twice`},
		{"reserved name", func(g *graph.StateGraph[loopState]) error { return g.AddNode(graph.END, noop) }, `node name "END" is reserved`},
		{"bad name", func(g *graph.StateGraph[loopState]) error { return g.AddNode("a b", noop) }, `node name "a b"`},
		{"nil function", func(g *graph.StateGraph[loopState]) error { return g.AddNode("a", nil) }, `node "a" has no function`},
		{"edge to nowhere", func(g *graph.StateGraph[loopState]) error {
			_ = g.AddNode("a", noop)
			return g.AddEdge("a", "b")
		}, `edge from "a" to unknown node "b"`},
		{"edge from nowhere", func(g *graph.StateGraph[loopState]) error { return g.AddEdge("x", graph.END) }, `edge from unknown node "x"`},
		{"edge to START", func(g *graph.StateGraph[loopState]) error {
			_ = g.AddNode("a", noop)
			return g.AddEdge("a", graph.START)
		}, `START cannot be a target`},
		{"conditional destination unknown", func(g *graph.StateGraph[loopState]) error {
			_ = g.AddNode("a", noop)
			return g.AddConditionalEdges("a", func(context.Context, loopState) ([]string, error) { return nil, nil }, "zz")
		}, `unknown node "zz"`},
		{"map to END", func(g *graph.StateGraph[loopState]) error {
			_ = g.AddNode("a", noop)
			return g.AddMapEdge("a", graph.END, func(context.Context, loopState) ([]any, error) { return nil, nil })
		}, `cannot target END`},
		{"bad retry", func(g *graph.StateGraph[loopState]) error {
			return g.AddNode("a", noop, graph.WithRetry(graph.RetryPolicy{Jitter: 2}))
		}, `jitter 2 is outside [0, 1]`},
		{"unknown struct channel", func(g *graph.StateGraph[loopState]) error { return g.AddChannel("nope", graph.Add) }, `no such field`},
		{"reducer that does not fit", func(g *graph.StateGraph[loopState]) error { return g.AddChannel("done", graph.Add) }, `reducer add does not fit type bool`},
		{"no entry", func(g *graph.StateGraph[loopState]) error { return g.AddNode("a", noop) }, `no entry point`},
		{"unreachable node", func(g *graph.StateGraph[loopState]) error {
			_ = g.AddNode("a", noop)
			_ = g.AddNode("island", noop)
			return g.SetEntryPoint("a")
		}, `node "island" can never run`},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			g := graph.New[loopState]()
			buildErr := tt.build(g)
			_, err := g.Compile()
			if err == nil || !errors.Is(err, graph.ErrInvalidGraph) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Compile err = %v, want ErrInvalidGraph with %q", err, tt.want)
			}
			if buildErr != nil && buildErr.Error() != err.Error() {
				t.Errorf("Compile returned %v, not the builder's first error %v", err, buildErr)
			}
		})
	}
}

func TestBadStateTypes(t *testing.T) {
	type badTag struct {
		N int `reducer:"sum"`
	}
	type badFit struct {
		S string `reducer:"append"`
	}
	for desc, err := range map[string]error{
		"not a struct":  compileErr(graph.New[int]()),
		"unknown tag":   compileErr(graph.New[badTag]()),
		"reducer a fit": compileErr(graph.New[badFit]()),
	} {
		if !errors.Is(err, graph.ErrInvalidGraph) {
			t.Errorf("%s: err = %v", desc, err)
		}
	}
}

func compileErr[S any](g *graph.StateGraph[S]) error {
	_, err := g.Compile()
	return err
}

// TestResumeMatchesUninterrupted stops a run at every boundary, resumes it
// from the checkpoint taken there and expects the uninterrupted result.
func TestResumeMatchesUninterrupted(t *testing.T) {
	app := loopGraph(t, 5)
	var cps []graph.Checkpoint
	want, err := app.Invoke(t.Context(), loopState{}, graph.WithRecursionLimit(10), graph.WithCommit(
		func(_ context.Context, cp graph.Checkpoint) error { cps = append(cps, cp); return nil }))
	must(t, err)
	if len(cps) != 10 || cps[9].Step != 10 || len(cps[9].Next) != 0 || cps[0].Next[0].Node != "decide" {
		t.Fatalf("checkpoints %+v", cps)
	}
	if cps[0].Versions["step"] != 2 || cps[1].Versions["step"] != 2 || cps[1].Versions["done"] != 2 {
		t.Errorf("versions %v %v: want a channel's version to move only when it is written", cps[0].Versions, cps[1].Versions)
	}
	for _, cp := range cps {
		// Through JSON, as a checkpoint store would keep it.
		b, err := json.Marshal(cp)
		must(t, err)
		var back graph.Checkpoint
		must(t, json.Unmarshal(b, &back))
		got, err := app.Resume(t.Context(), back, graph.WithRecursionLimit(10))
		if err != nil || got != want {
			t.Errorf("resumed from step %d: %+v, %v; want %+v", cp.Step, got, err, want)
		}
	}
}

func TestCommitErrorStopsTheRun(t *testing.T) {
	errStore := errors.New("store down")
	n := 0
	_, err := loopGraph(t, 5).Invoke(t.Context(), loopState{}, graph.WithRecursionLimit(10), graph.WithCommit(
		func(context.Context, graph.Checkpoint) error {
			n++
			if n == 3 {
				return errStore
			}
			return nil
		}))
	if !errors.Is(err, errStore) || n != 3 {
		t.Fatalf("err = %v after %d commits", err, n)
	}
}

func TestConcurrentRuns(t *testing.T) {
	app := loopGraph(t, 50)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			got, err := app.Invoke(t.Context(), loopState{}, graph.WithRecursionLimit(100))
			if err != nil || got.Step != 50 {
				t.Errorf("got %+v, %v", got, err)
			}
		})
	}
	wg.Wait()
}

// TestPendingWritesAreNotRunAgain fails one of three parallel tasks: the two
// that finished report their updates through WithTaskDone, and a resume given
// them with WithPending runs only the third.
func TestPendingWritesAreNotRunAgain(t *testing.T) {
	type state struct {
		Log []string `json:"log" reducer:"append"`
	}
	var calls sync.Map // node -> *atomic.Int32
	var failC atomic.Bool
	failC.Store(true)
	var others sync.WaitGroup // c fails only once a and b have finished
	others.Add(2)
	node := func(name string) graph.NodeFunc[state] {
		return func(context.Context, state) (graph.Update, error) {
			c, _ := calls.LoadOrStore(name, new(atomic.Int32))
			c.(*atomic.Int32).Add(1)
			if name == "c" && failC.Load() {
				others.Wait()
				return nil, graph.Permanent(errors.New("c failed"))
			}
			if failC.Load() {
				defer others.Done()
			}
			return graph.Update{"log": []string{name}}, nil
		}
	}
	b := graph.New[state]()
	must(t, b.AddNode("start", func(context.Context, state) (graph.Update, error) { return nil, nil }))
	for _, n := range []string{"a", "b", "c"} {
		must(t, b.AddNode(n, node(n)))
	}
	must(t, b.SetEntryPoint("start"))
	must(t, b.AddEdge("start", "a", "b", "c"))
	app, err := b.Compile()
	must(t, err)

	var cp graph.Checkpoint
	var mu sync.Mutex
	done := map[int]graph.Update{}
	_, err = app.Invoke(t.Context(), state{},
		graph.WithCommit(func(_ context.Context, c graph.Checkpoint) error { cp = c; return nil }),
		graph.WithTaskDone(func(_ context.Context, ti graph.TaskInfo, u graph.Update) error {
			if ti.Step == 2 {
				mu.Lock()
				done[ti.Index] = u
				mu.Unlock()
			}
			return nil
		}))
	if err == nil || cp.Step != 1 || len(done) != 2 {
		t.Fatalf("first attempt: err %v, last commit at step %d, %d tasks done; want c's error, 1, 2", err, cp.Step, len(done))
	}
	failC.Store(false)
	got, err := app.Resume(t.Context(), cp, graph.WithPending(done))
	must(t, err)
	if want := []string{"a", "b", "c"}; !slices.Equal(got.Log, want) {
		t.Errorf("log %v, want %v", got.Log, want)
	}
	for n, want := range map[string]int32{"a": 1, "b": 1, "c": 2} {
		c, _ := calls.Load(n)
		if got := c.(*atomic.Int32).Load(); got != want {
			t.Errorf("node %s ran %d times, want %d", n, got, want)
		}
	}
	if _, err := app.Resume(t.Context(), cp, graph.WithPending(map[int]graph.Update{7: nil})); err == nil {
		t.Error("a pending update for a task the step does not have was accepted")
	}
}
