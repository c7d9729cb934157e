package scheduler_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"gocloud.dev/blob/memblob"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/graphjob/graphjob/checkpoints"
	"github.com/graphjob/graphjob/scheduler"
)

// launches records the runs launched, standing in for the Job creator.
type launches struct {
	mu   sync.Mutex
	runs []string
}

func (l *launches) Launch(_ context.Context, _ *scheduler.Entry, _ time.Time, run string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.runs = append(l.runs, run)
	return nil
}

func (l *launches) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.runs)
}

func entry(t *testing.T, name, expr string, c scheduler.Catchup) *scheduler.Entry {
	t.Helper()
	s, err := scheduler.Parse(expr, "UTC", scheduler.Skip)
	if err != nil {
		t.Fatal(err)
	}
	return &scheduler.Entry{Name: name, Schedule: expr, Parsed: s, Rule: c}
}

// start runs a scheduler until the test ends; it returns a function that
// moves the fake clock by d once the scheduler waits.
func start(t *testing.T, store *checkpoints.Store, clk *clocktesting.FakeClock, l *launches, entries ...*scheduler.Entry) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	s := &scheduler.Scheduler{Store: store, Launch: l, Clock: clk, Log: zerolog.Nop()}
	go func() {
		defer close(done)
		_ = s.Run(ctx, entries)
	}()
	return func() { cancel(); <-done }
}

// step moves the clock by d in one-second ticks, each once the scheduler
// waits on its timer again.
func step(t *testing.T, clk *clocktesting.FakeClock, d time.Duration) {
	t.Helper()
	for range int(d / time.Second) {
		deadline := time.Now().Add(10 * time.Second)
		for !clk.HasWaiters() {
			if time.Now().After(deadline) {
				t.Fatal("the scheduler does not wait")
			}
			time.Sleep(time.Millisecond)
		}
		clk.Step(time.Second)
	}
	// Let the last fire finish.
	deadline := time.Now().Add(10 * time.Second)
	for !clk.HasWaiters() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
}

// TestSchedulerFiresAndCatchesUp: a schedule every 5 s fires each slot once;
// stopped for 30 s and started again it catches up per its policy, with no
// slot twice; two schedulers on one store launch each slot once.
func TestSchedulerFiresAndCatchesUp(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	store := checkpoints.New(memblob.OpenBucket(nil), checkpoints.Options{})
	clk := clocktesting.NewFakeClock(t0)
	l := &launches{}
	all := entry(t, "ticks", "*/5 * * * * *", scheduler.Catchup{Policy: scheduler.All})
	none := entry(t, "quiet", "*/5 * * * * *", scheduler.Catchup{Policy: scheduler.None})

	stop := start(t, store, clk, l, all, none)
	step(t, clk, 20*time.Second) // 00:05 .. 00:20: 4 slots each
	stop()
	if l.count() != 8 {
		t.Fatalf("%d runs after 20 s, want 8: %v", l.count(), l.runs)
	}

	clk.Step(30 * time.Second) // down until 00:50: 6 slots missed
	stop = start(t, store, clk, l, all, none)
	step(t, clk, 10*time.Second) // 00:55, 01:00
	stop()
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

	// Two schedulers on one store: each slot once.
	l2 := &launches{}
	other := &launches{}
	both := entry(t, "both", "*/5 * * * * *", scheduler.Catchup{Policy: scheduler.Latest})
	stopA := start(t, store, clk, l2, both)
	stopB := start(t, store, clk, other, both)
	for range 10 {
		step(t, clk, 5*time.Second)
	}
	stopA()
	stopB()
	if n := l2.count() + other.count(); n != 10 && n != 11 {
		t.Errorf("two schedulers launched %d runs in 50 s, want each slot once (10, or 11 with the one on time at start)", n)
	}
	got := append(append([]string{}, l2.runs...), other.runs...)
	if len(slices.Compact(slices.Sorted(slices.Values(got)))) != len(got) {
		t.Errorf("a slot launched twice: %v", got)
	}
}
