package runner_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"gocloud.dev/blob/memblob"

	"github.com/graphjob/graphjob/checkpoints"
	"github.com/graphjob/graphjob/contract"
	"github.com/graphjob/graphjob/graph"
	"github.com/graphjob/graphjob/runner"
)

func TestResolveID(t *testing.T) {
	tests := []struct {
		desc      string
		flag      string
		env       map[string]string
		host      string
		want      string
		generated bool
		wantErr   bool
	}{
		{"the flag first", "mine", map[string]string{contract.EnvRunID: "env"}, "", "mine", false, false},
		{"then GRAPHJOB_RUN_ID", "", map[string]string{contract.EnvRunID: "env", contract.EnvJobName: "job"}, "", "env", false, false},
		{"then the Job's name", "", map[string]string{contract.EnvJobName: "nightly-29012345"}, "", "nightly-29012345", false, false},
		{"with an Indexed Job's index", "", map[string]string{contract.EnvJobName: "shards", contract.EnvCompletionIndex: "3"}, "", "shards-3", false, false},
		{"a plain kubectl create job pod", "", map[string]string{"KUBERNETES_SERVICE_HOST": "10.0.0.1"}, "loop-once-x7k2p", "loop-once", false, false},
		{"an Indexed Job's pod", "", map[string]string{"KUBERNETES_SERVICE_HOST": "10.0.0.1", contract.EnvCompletionIndex: "2"}, "shards-2-ab3cd", "shards-2", false, false},
		{"a pod that is not a Job's", "", map[string]string{"KUBERNETES_SERVICE_HOST": "10.0.0.1"}, "scheduler", "", false, true},
		{"else a new ID", "", nil, "laptop", "", true, false},
		{"an ID that cannot name a run", "../up", nil, "", "", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			id, generated, err := runner.ResolveID(tt.flag, func(k string) string { return tt.env[k] }, func() (string, error) { return tt.host, nil })
			if (err != nil) != tt.wantErr || generated != tt.generated || (err == nil && !generated && id != tt.want) {
				t.Fatalf("ResolveID = %q, %v, %v; want %q, %v, error %v", id, generated, err, tt.want, tt.generated, tt.wantErr)
			}
			if generated && !strings.HasPrefix(id, "run-") {
				t.Errorf("new ID %q", id)
			}
		})
	}
}

// TestOriginAndSlot: where an attempt runs and its slot, from the pod's
// environment; a slot that is not a time is invalid input (exit 2).
func TestOriginAndSlot(t *testing.T) {
	env := map[string]string{contract.EnvJobName: "nightly-20261124-020000", contract.EnvNamespace: "batch", contract.EnvPodName: "nightly-20261124-020000-x7k2p", contract.EnvSlotTime: "2026-11-24T03:00:00+01:00"}
	getenv := func(k string) string { return env[k] }
	o := runner.Origin(getenv, func() (string, error) { return "node-1", nil })
	want := map[string]string{"job": "nightly-20261124-020000", "namespace": "batch", "pod": "nightly-20261124-020000-x7k2p", "slot": "2026-11-24T03:00:00+01:00", "host": "node-1"}
	if !maps.Equal(o, want) {
		t.Errorf("Origin = %v, want %v", o, want)
	}
	slot, err := runner.Slot(getenv)
	if err != nil || !slot.Equal(time.Date(2026, 11, 24, 2, 0, 0, 0, time.UTC)) {
		t.Errorf("Slot = %v, %v", slot, err)
	}
	if slot, err := runner.Slot(func(string) string { return "" }); err != nil || !slot.IsZero() {
		t.Errorf("no slot: %v, %v", slot, err)
	}
	env[contract.EnvSlotTime] = "tonight"
	if _, err := runner.Slot(getenv); runner.ExitCode(err) != contract.ExitInvalid || !strings.Contains(err.Error(), "GRAPHJOB_SLOT_TIME: slot time \"tonight\": want an RFC 3339 time") {
		t.Errorf("a bad slot: %v (exit %d)", err, runner.ExitCode(err))
	}
}

type loopState struct {
	Step int  `json:"step"`
	Done bool `json:"done"`
}

// loop is the seed's loop: work adds one, decide stops at 5. calls counts
// the node executions.
func loop(t *testing.T, calls *atomic.Int32, fail *atomic.Bool) *graph.Graph[loopState] {
	t.Helper()
	b := graph.New[loopState]()
	must(t, b.AddNode("work", func(_ context.Context, s loopState) (graph.Update, error) {
		calls.Add(1)
		if fail != nil && fail.Load() && s.Step == 3 {
			return nil, graph.Permanent(errors.New("step 3 broke"))
		}
		return graph.Update{"step": s.Step + 1}, nil
	}))
	must(t, b.AddNode("decide", func(_ context.Context, s loopState) (graph.Update, error) {
		calls.Add(1)
		return graph.Update{"done": s.Step >= 5}, nil
	}))
	must(t, b.SetEntryPoint("work"))
	must(t, b.AddEdge("work", "decide"))
	must(t, b.AddConditionalEdges("decide", func(_ context.Context, s loopState) ([]string, error) {
		if s.Done {
			return []string{graph.END}, nil
		}
		return []string{"work"}, nil
	}, "work", graph.END))
	g, err := b.Compile()
	must(t, err)
	return g
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func options(s *checkpoints.Store, mode runner.Durability) runner.Options {
	return runner.Options{Store: s, ID: "r", Graph: checkpoints.GraphRef{Name: "loop", Digest: "sha256:1"}, Durability: mode, Log: zerolog.Nop()}
}

func TestDurabilityModes(t *testing.T) {
	for _, mode := range []runner.Durability{runner.Sync, runner.Async, runner.Exit} {
		t.Run(string(mode), func(t *testing.T) {
			s := checkpoints.New(memblob.OpenBucket(nil), checkpoints.Options{})
			var calls atomic.Int32
			got, err := runner.Run(t.Context(), loop(t, &calls, nil), loopState{}, options(s, mode))
			if err != nil || got != (loopState{Step: 5, Done: true}) {
				t.Fatalf("Run = %+v, %v", got, err)
			}
			hist, err := s.History(t.Context(), "r")
			must(t, err)
			if len(hist) != 11 {
				t.Errorf("%d steps committed, want 11 (0-10)", len(hist))
			}
			res, err := s.Result(t.Context(), "r")
			if err != nil || res.Status != contract.Succeeded || res.Step != 10 {
				t.Errorf("result %+v, %v", res, err)
			}
		})
	}
}

func TestGuards(t *testing.T) {
	s := checkpoints.New(memblob.OpenBucket(nil), checkpoints.Options{})
	var calls atomic.Int32
	var fail atomic.Bool
	fail.Store(true)
	g := loop(t, &calls, &fail)
	_, err := runner.Run(t.Context(), g, loopState{}, options(s, runner.Sync))
	if runner.ExitCode(err) != contract.ExitFailed {
		t.Fatalf("a node that fails for good: %v (exit %d), want exit 3", err, runner.ExitCode(err))
	}
	// A failed run reports its failure and runs nothing.
	before := calls.Load()
	_, err = runner.Run(t.Context(), g, loopState{}, options(s, runner.Sync))
	var failed *runner.FailedError
	if !errors.As(err, &failed) || runner.ExitCode(err) != contract.ExitFailed || calls.Load() != before {
		t.Fatalf("a failed run again: %v, %d node calls", err, calls.Load()-before)
	}
	// A changed graph is refused, naming both digests.
	o := options(s, runner.Sync)
	o.Graph.Digest = "sha256:2"
	_, err = runner.Run(t.Context(), g, loopState{}, o)
	if runner.ExitCode(err) != contract.ExitInvalid || !strings.Contains(err.Error(), "sha256:1") || !strings.Contains(err.Error(), "sha256:2") {
		t.Fatalf("changed graph: %v", err)
	}
	// Other input given explicitly is refused.
	o = options(s, runner.Sync)
	o.InputGiven = true
	_, err = runner.Run(t.Context(), g, loopState{Step: 1}, o)
	if runner.ExitCode(err) != contract.ExitInvalid || !strings.Contains(err.Error(), `"step":1`) {
		t.Fatalf("changed input: %v", err)
	}
	// --retry-failed resumes from the last commit: work at step 3 runs again, nothing before it.
	fail.Store(false)
	o = options(s, runner.Sync)
	o.RetryFailed = true
	before = calls.Load()
	got, err := runner.Run(t.Context(), g, loopState{}, o)
	if err != nil || got != (loopState{Step: 5, Done: true}) || calls.Load()-before != 4 {
		t.Fatalf("--retry-failed: %+v, %v after %d node calls, want 4 (work and decide twice, from step 3)", got, err, calls.Load()-before)
	}
	// A finished run reports its result and runs nothing.
	before = calls.Load()
	got, err = runner.Run(t.Context(), g, loopState{}, options(s, runner.Sync))
	if err != nil || got != (loopState{Step: 5, Done: true}) || calls.Load() != before {
		t.Fatalf("a finished run again: %+v, %v, %d node calls", got, err, calls.Load()-before)
	}
}

// TestResultRunsNothing: a run whose result says it succeeded reports its
// stored state even when its last step has tasks due (a result written by
// hand, or by another release), and runs no node, however often asked.
func TestResultRunsNothing(t *testing.T) {
	s := checkpoints.New(memblob.OpenBucket(nil), checkpoints.Options{})
	var calls atomic.Int32
	g := loop(t, &calls, nil)
	o := options(s, runner.Sync)
	must(t, s.CreateRun(t.Context(), checkpoints.RunRecord{ID: "r", Graph: o.Graph, Input: map[string]any{"step": int64(0), "done": false}}))
	var parent *checkpoints.Step
	for i, next := range []string{"work", "decide"} {
		var err error
		parent, err = s.Commit(t.Context(), "r", parent, graph.Checkpoint{Step: i, Values: map[string]any{"step": int64(i), "done": false},
			Versions: map[string]uint64{"step": uint64(i + 1), "done": 1}, Next: []graph.Task{{Node: next}}})
		must(t, err)
	}
	must(t, s.PutResult(t.Context(), "r", checkpoints.Result{Status: contract.Succeeded, Step: 1}))
	for range 3 {
		got, err := runner.Run(t.Context(), g, loopState{}, o)
		if err != nil || got != (loopState{Step: 1}) || calls.Load() != 0 {
			t.Fatalf("Run = %+v, %v after %d node calls; want the stored state and none", got, err, calls.Load())
		}
	}

	// A result of a later step than the history's last (the step was
	// deleted, or the result copied from elsewhere) is damage: no state is
	// reported as the run's, nothing runs.
	o.ID = "r2"
	must(t, s.CreateRun(t.Context(), checkpoints.RunRecord{ID: "r2", Graph: o.Graph, Input: map[string]any{"step": int64(0), "done": false}}))
	_, err := s.Commit(t.Context(), "r2", nil, graph.Checkpoint{Step: 0, Values: map[string]any{"step": int64(0), "done": false}, Versions: map[string]uint64{"step": 1, "done": 1}, Next: []graph.Task{{Node: "work"}}})
	must(t, err)
	must(t, s.PutResult(t.Context(), "r2", checkpoints.Result{Status: contract.Succeeded, Step: 6}))
	if _, err := runner.Run(t.Context(), g, loopState{}, o); !errors.Is(err, checkpoints.ErrCorrupt) || runner.ExitCode(err) != contract.ExitTransient || calls.Load() != 0 {
		t.Errorf("a result past the history: %v (exit %d), %d node calls", err, runner.ExitCode(err), calls.Load())
	}
	if st, _ := s.Status(t.Context(), "r2"); st.State != contract.Unknown || !strings.Contains(st.Error, "result is of step 6") {
		t.Errorf("status of a result past the history: %+v", st)
	}
}

// TestFailedRunError checks that a failed run, asked to run again, names the
// step at which it failed, and no other.
func TestFailedRunError(t *testing.T) {
	tests := []struct {
		desc   string
		failAt int // the node, and so the step, that fails for good
		want   string
	}{
		{"the first node fails", 1, `step 1: node "n1": broke`},
		{"a node fails after committed steps", 3, `step 3: node "n3": broke`},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			b := graph.New[loopState]()
			for i := 1; i <= 3; i++ {
				must(t, b.AddNode(fmt.Sprintf("n%d", i), func(context.Context, loopState) (graph.Update, error) {
					if i == tt.failAt {
						return nil, graph.Permanent(errors.New("broke"))
					}
					return graph.Update{"step": i}, nil
				}))
			}
			must(t, b.SetEntryPoint("n1"))
			must(t, b.AddEdge("n1", "n2"))
			must(t, b.AddEdge("n2", "n3"))
			g, err := b.Compile()
			must(t, err)
			s := checkpoints.New(memblob.OpenBucket(nil), checkpoints.Options{})
			if _, err := runner.Run(t.Context(), g, loopState{}, options(s, runner.Sync)); err == nil || err.Error() != tt.want {
				t.Fatalf("first run: %v, want %s", err, tt.want)
			}
			_, err = runner.Run(t.Context(), g, loopState{}, options(s, runner.Sync))
			want := regexp.MustCompile(`^run r failed \([^)]*\): ` + regexp.QuoteMeta(tt.want) + `; give --retry-failed to run it again$`)
			if err == nil || !want.MatchString(err.Error()) {
				t.Errorf("the failed run again: %v, want it to match %s", err, want)
			}
		})
	}
}

func TestDrain(t *testing.T) {
	for _, mode := range []runner.Durability{runner.Sync, runner.Async, runner.Exit} {
		t.Run(string(mode), func(t *testing.T) {
			s := checkpoints.New(memblob.OpenBucket(nil), checkpoints.Options{})
			var calls atomic.Int32
			drain := make(chan struct{})
			o := options(s, mode)
			o.Drain = drain
			o.RunOptions = []graph.RunOption{graph.WithHooks(graph.Hooks{StepEnd: func(_ context.Context, step int, _ []graph.Task, _ time.Duration, _ error) {
				if step == 4 {
					close(drain)
				}
			}})}
			_, err := runner.Run(t.Context(), loop(t, &calls, nil), loopState{}, o)
			if !errors.Is(err, runner.ErrDrained) || runner.ExitCode(err) != contract.ExitDrained {
				t.Fatalf("drained run: %v", err)
			}
			last, err := s.LastStep(t.Context(), "r")
			if err != nil || last < 4 {
				t.Fatalf("after draining at step 4 the last commit is %d, %v", last, err)
			}
			got, err := runner.Run(t.Context(), loop(t, &calls, nil), loopState{}, options(s, mode))
			if err != nil || got != (loopState{Step: 5, Done: true}) || calls.Load() != 10 {
				t.Fatalf("resumed: %+v, %v, %d node calls in all, want 10", got, err, calls.Load())
			}
		})
	}
}

// itemsGraph is prep, then a node working through ten items that saves a
// cursor after each. worked records the items worked; before is called
// before each item.
func itemsGraph(t *testing.T, worked *[]int, before func(ctx context.Context, item int)) *graph.Graph[loopState] {
	t.Helper()
	b := graph.New[loopState]()
	must(t, b.AddNode("prep", func(context.Context, loopState) (graph.Update, error) { return nil, nil }))
	must(t, b.AddNode("items", func(ctx context.Context, _ loopState) (graph.Update, error) {
		var done int
		if _, err := graph.LoadProgress(ctx, &done); err != nil {
			return nil, err
		}
		for i := done; i < 10; i++ {
			before(ctx, i)
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			*worked = append(*worked, i)
			if err := graph.SaveProgress(ctx, i+1); err != nil {
				return nil, err
			}
		}
		return graph.Update{"done": true}, nil
	}))
	must(t, b.SetEntryPoint("prep"))
	must(t, b.AddEdge("prep", "items"))
	g, err := b.Compile()
	must(t, err)
	return g
}

// TestProgressAcrossAttempts stops a run inside a node (a second signal)
// half-way through its items: the next attempt gets the node's cursor back
// and works only the rest. Both attempts are recorded.
func TestProgressAcrossAttempts(t *testing.T) {
	for _, mode := range []runner.Durability{runner.Sync, runner.Async, runner.Exit} {
		t.Run(string(mode), func(t *testing.T) {
			s := checkpoints.New(memblob.OpenBucket(nil), checkpoints.Options{})
			var worked []int
			ctx, cancel := context.WithCancel(t.Context())
			g := itemsGraph(t, &worked, func(_ context.Context, item int) {
				if item == 4 {
					cancel()
				}
			})
			_, err := runner.Run(ctx, g, loopState{}, options(s, mode))
			if runner.ExitCode(err) != contract.ExitDrained {
				t.Fatalf("stopped run: %v, want exit 75", err)
			}
			got, err := runner.Run(t.Context(), itemsGraph(t, &worked, func(context.Context, int) {}), loopState{}, options(s, mode))
			if err != nil || !got.Done {
				t.Fatalf("resumed: %+v, %v", got, err)
			}
			if fmt.Sprint(worked) != "[0 1 2 3 4 5 6 7 8 9]" {
				t.Errorf("items worked %v, want each once", worked)
			}
			attempts, err := s.Attempts(t.Context(), "r")
			must(t, err)
			if len(attempts) != 2 || attempts[0].End == nil || attempts[0].End.Exit != contract.ExitDrained ||
				attempts[1].End == nil || attempts[1].End.Exit != contract.ExitOK || attempts[0].From != -1 || attempts[1].From != 1 {
				t.Errorf("attempts recorded: %+v", attempts)
			}
		})
	}
}

// TestCursorFences: when another attempt saved the task's next cursor first,
// this attempt stops as fenced (exit 1), and the other's cursor stands.
func TestCursorFences(t *testing.T) {
	s := checkpoints.New(memblob.OpenBucket(nil), checkpoints.Options{})
	var worked []int
	g := itemsGraph(t, &worked, func(ctx context.Context, item int) {
		if item == 3 {
			task, _ := graph.TaskFromContext(ctx)
			must(t, s.PutCursor(ctx, "r", checkpoints.Cursor{Step: task.Step, Index: 0, Node: "items", Seq: 4, Cursor: []byte("7")}))
		}
	})
	_, err := runner.Run(t.Context(), g, loopState{}, options(s, runner.Sync))
	var fenced *runner.FencedError
	if !errors.As(err, &fenced) || runner.ExitCode(err) != contract.ExitTransient {
		t.Fatalf("run whose cursor was taken: %v, want fenced, exit 1", err)
	}
	if fmt.Sprint(worked) != "[0 1 2 3]" {
		t.Errorf("items worked %v: the fenced attempt went on", worked)
	}
	c, err := s.LastCursor(t.Context(), "r", 2, 0)
	if err != nil || string(c.Cursor) != "7" {
		t.Errorf("last cursor %+v, %v; want the other attempt's", c, err)
	}
}

// TestValuesAreBounded: a node whose value doubles each step (CEL's
// l: state.l + state.l) fails the run for good, naming the channel, once
// the value could not be read back, in every durability mode, with nothing
// of that step committed; a state over the store's limit likewise.
func TestValuesAreBounded(t *testing.T) {
	type grow struct {
		L []string `json:"l"`
		M []string `json:"m"`
	}
	build := func(t *testing.T, both bool) *graph.Graph[grow] {
		b := graph.New[grow]()
		must(t, b.AddNode("double", func(_ context.Context, s grow) (graph.Update, error) {
			u := graph.Update{"l": append(append([]string{}, s.L...), s.L...)}
			if both {
				u["m"] = u["l"]
			}
			return u, nil
		}))
		must(t, b.SetEntryPoint("double"))
		must(t, b.AddEdge("double", "double"))
		g, err := b.Compile()
		must(t, err)
		return g
	}
	tests := []struct {
		desc string
		opts checkpoints.Options
		both bool
		want string
	}{
		{"a value", checkpoints.Options{MaxObjectSize: 64 << 10}, false, `channel "l" is`},
		{"the state", checkpoints.Options{MaxObjectSize: 64 << 10, MaxStateSize: 48 << 10}, true, "the state is"},
	}
	for _, tt := range tests {
		for _, mode := range []runner.Durability{runner.Sync, runner.Async, runner.Exit} {
			t.Run(tt.desc+"/"+string(mode), func(t *testing.T) {
				s := checkpoints.New(memblob.OpenBucket(nil), tt.opts)
				o := options(s, mode)
				o.RunOptions = []graph.RunOption{graph.WithRecursionLimit(12)} // 2^12 copies are over both limits
				_, err := runner.Run(t.Context(), build(t, tt.both), grow{L: []string{strings.Repeat("x", 100)}}, o)
				if runner.ExitCode(err) != contract.ExitFailed || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, checkpoints.ErrTooLarge) {
					t.Fatalf("Run: %v (exit %d), want exit 3 saying %q", err, runner.ExitCode(err), tt.want)
				}
				res, err := s.Result(t.Context(), "r")
				if err != nil || res.Status != contract.Failed || !strings.Contains(res.Error, tt.want) {
					t.Errorf("result %+v, %v", res, err)
				}
				if _, err := s.Latest(t.Context(), "r"); err != nil {
					t.Errorf("what was committed does not read back: %v", err)
				}
			})
		}
	}
}
