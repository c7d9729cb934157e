package scheduler_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gocloud.dev/blob/memblob"
	batchv1 "k8s.io/api/batch/v1"

	"github.com/graphjob/graphjob/checkpoints"
	"github.com/graphjob/graphjob/contract"
	"github.com/graphjob/graphjob/scheduler"
)

// launches records the runs launched, standing in for the Job creator: like
// Jobs named after their slot, a run launched twice is made once.
type launches struct {
	mu     sync.Mutex
	runs   []string
	active map[string]bool // runs not finished
	// fail makes the next launches fail.
	fail int
}

func (l *launches) Launch(_ context.Context, _ *scheduler.Entry, _ time.Time, run string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail > 0 {
		l.fail--
		return errors.New("the API server is away")
	}
	if l.active == nil {
		l.active = map[string]bool{}
	}
	if _, made := l.active[run]; !made {
		l.runs = append(l.runs, run)
		l.active[run] = true
	}
	return nil
}

func (l *launches) Active(_ context.Context, e *scheduler.Entry) ([]string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for run, active := range l.active {
		if active && strings.HasPrefix(run, e.Name+"-") {
			out = append(out, run)
		}
	}
	slices.Sort(out)
	return out, nil
}

func (l *launches) Stop(_ context.Context, _ *scheduler.Entry, run string) error {
	l.finish(run)
	return nil
}

func (l *launches) finish(run string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.active[run] = false
}

func (l *launches) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.runs)
}

func entry(t *testing.T, name, expr string, c scheduler.Catchup) *scheduler.Entry {
	t.Helper()
	s, err := scheduler.Parse(expr, "UTC", scheduler.MissingSkip)
	if err != nil {
		t.Fatal(err)
	}
	return &scheduler.Entry{Name: name, Schedule: s, Catchup: c}
}

// schedulers are n schedulers sharing a store, a cluster and a fake clock.
type schedulers struct {
	t     *testing.T
	clk   *fakeClock
	s     []*scheduler.Scheduler
	stops []func()
}

// start runs n schedulers until stop, and waits for their catch-up.
func start(t *testing.T, n int, store *checkpoints.Store, clk *fakeClock, l *launches, entries ...*scheduler.Entry) *schedulers {
	t.Helper()
	r := &schedulers{t: t, clk: clk}
	for range n {
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		s := &scheduler.Scheduler{Store: store, Launch: l, Clock: clk.view(), Events: testEvents{t}}
		s.Set(entries)
		go func() {
			defer close(done)
			_ = s.Run(ctx, nil)
		}()
		r.s = append(r.s, s)
		r.stops = append(r.stops, func() { cancel(); <-done })
	}
	r.wait()
	return r
}

// wait returns once every scheduler waits for a time to come.
func (r *schedulers) wait() {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		idle := true
		for _, s := range r.s {
			idle = idle && s.Waiting(r.clk.Now())
		}
		if idle {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatal("waited 10 s for the schedulers")
		}
		time.Sleep(time.Millisecond)
	}
}

// step moves the clock by d in one-second ticks, each once the schedulers
// are done with the last.
func (r *schedulers) step(d time.Duration) {
	r.t.Helper()
	for range int(d / time.Second) {
		r.clk.Step(time.Second)
		r.wait()
	}
}

func (r *schedulers) stop() {
	for _, stop := range r.stops {
		stop()
	}
}

// TestSchedulerFiresAndCatchesUp: a schedule every 5 s fires each slot once;
// stopped for 30 s and started again it catches up per its policy, with no
// slot twice; two schedulers on one store launch each slot once.
func TestSchedulerFiresAndCatchesUp(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	store := checkpoints.New(memblob.OpenBucket(nil), checkpoints.Options{})
	clk := newFakeClock(t0)
	l := &launches{}
	all := entry(t, "ticks", "*/5 * * * * *", scheduler.Catchup{Policy: scheduler.CatchupAll})
	none := entry(t, "quiet", "*/5 * * * * *", scheduler.Catchup{Policy: scheduler.CatchupNone})

	r := start(t, 1, store, clk, l, all, none)
	r.step(20 * time.Second) // 00:05 .. 00:20: 4 slots each
	r.stop()
	if l.count() != 8 {
		t.Fatalf("%d runs after 20 s, want 8: %v", l.count(), l.runs)
	}

	clk.Step(30 * time.Second) // down until 00:50: 6 slots missed
	r = start(t, 1, store, clk, l, all, none)
	r.step(10 * time.Second) // 00:55, 01:00
	r.stop()
	var ticks, quiet []string
	for _, r := range l.runs {
		if r[:5] == "ticks" {
			ticks = append(ticks, r)
		} else {
			quiet = append(quiet, r)
		}
	}
	// ticks (all): 4 + the 6 missed (00:25 .. 00:50, 00:50 on time) + 2.
	if len(ticks) != 12 || ticks[len(ticks)-1] != "ticks-20261124-000100" {
		t.Errorf("ticks ran %d: %v", len(ticks), ticks)
	}
	// quiet (none): 4 + the one on time at 00:50 + 2.
	if len(quiet) != 7 || !slices.Contains(quiet, "quiet-20261124-000050") || slices.Contains(quiet, "quiet-20261124-000045") {
		t.Errorf("quiet ran %d: %v", len(quiet), quiet)
	}
	for _, runs := range [][]string{ticks, quiet} {
		if len(slices.Compact(slices.Sorted(slices.Values(runs)))) != len(runs) {
			t.Errorf("a slot ran twice: %v", runs)
		}
	}

	// Two schedulers on one store and one cluster: each slot once.
	l2 := &launches{}
	both := entry(t, "both", "*/5 * * * * *", scheduler.Catchup{Policy: scheduler.CatchupLatest})
	r = start(t, 2, store, clk, l2, both)
	r.step(50 * time.Second)
	r.stop()
	if n := l2.count(); n != 10 && n != 11 {
		t.Errorf("two schedulers launched %d runs in 50 s, want each slot once (10, or 11 with the one on time at start): %v", n, l2.runs)
	}
}

// TestConcurrencyPolicies: with a run still going, Forbid records the next
// slots as skipped and Replace stops the old run for the new.
func TestConcurrencyPolicies(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	store := checkpoints.New(memblob.OpenBucket(nil), checkpoints.Options{})
	clk := newFakeClock(t0)
	l := &launches{}
	forbid := entry(t, "forbid", "*/5 * * * * *", scheduler.Catchup{})
	forbid.ConcurrencyPolicy = batchv1.ForbidConcurrent
	replace := entry(t, "replace", "*/5 * * * * *", scheduler.Catchup{})
	replace.ConcurrencyPolicy = batchv1.ReplaceConcurrent
	r := start(t, 1, store, clk, l, forbid, replace)
	r.step(15 * time.Second) // 00:05 runs; 00:10, 00:15 find it running
	l.finish("forbid-20261124-000005")
	r.step(5 * time.Second) // 00:20 runs
	r.stop()

	slots, err := store.Slots(t.Context(), "forbid", t0, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, sl := range slots {
		got = append(got, sl.Time.Format("05")+":"+sl.Skipped)
	}
	want := []string{"05:", "10:concurrencyPolicy Forbid: forbid-20261124-000005 still running", "15:concurrencyPolicy Forbid: forbid-20261124-000005 still running", "20:"}
	if !slices.Equal(got, want) {
		t.Errorf("forbid's slots:\n got %q\nwant %q", got, want)
	}
	active, _ := l.Active(t.Context(), replace)
	if !slices.Equal(active, []string{"replace-20261124-000020"}) {
		t.Errorf("replace's active runs %v, want the newest alone", active)
	}
	if n := strings.Count(strings.Join(l.runs, " "), "replace-"); n != 4 {
		t.Errorf("replace launched %d runs, want 4: %v", n, l.runs)
	}
}

// TestLaunchRetried: a slot whose run cannot be started at once is tried
// again with backoff; a slot claimed by a scheduler that stopped before
// starting its run is started by the next one, also with retries.
func TestLaunchRetried(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	store := checkpoints.New(memblob.OpenBucket(nil), checkpoints.Options{})
	clk := newFakeClock(t0)
	l := &launches{fail: 2}
	e := entry(t, "flaky", "@every 1m", scheduler.Catchup{})
	r := start(t, 1, store, clk, l, e)
	r.step(61 * time.Second) // fails at 01:00, and at 01:01
	if l.count() != 0 {
		t.Fatalf("launched %v with the API server away", l.runs)
	}
	r.step(2 * time.Second) // the third try, at 01:03
	r.stop()
	if !slices.Equal(l.runs, []string{"flaky-20261124-000100"}) {
		t.Errorf("runs %v, want 01:00's after its retries", l.runs)
	}

	// A slot claimed, its scheduler gone before the launch.
	orphan := t0.Add(2 * time.Minute)
	if err := store.ClaimSlot(t.Context(), checkpoints.Slot{Schedule: "flaky", Time: orphan, Run: contract.Slot{Schedule: "flaky", Time: orphan}.RunID(), By: "scheduler"}); err != nil {
		t.Fatal(err)
	}
	clk.SetTime(orphan.Add(10 * time.Second))
	l.fail = 1 // and its first launch fails too
	r = start(t, 1, store, clk, l, e)
	if slices.Contains(l.runs, "flaky-20261124-000200") {
		t.Fatalf("runs %v: launched with the API server away", l.runs)
	}
	r.step(time.Second)
	r.stop()
	if !slices.Contains(l.runs, "flaky-20261124-000200") {
		t.Errorf("runs %v: the claimed slot's run was not started", l.runs)
	}
}

// testEvents logs a scheduler's events in the test's log.
type testEvents struct{ t *testing.T }

func (e testEvents) Event(ev scheduler.Event) {
	e.t.Logf("%s %s %s: %s %v", ev.Reason, ev.Schedule, ev.RunID, ev.Message, ev.Err)
}
