package scheduler_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"gocloud.dev/blob/memblob"

	"github.com/graphjob/graphjob/checkpoints"
	"github.com/graphjob/graphjob/contract"
	"github.com/graphjob/graphjob/scheduler"
)

// cluster stands in for the API server in backfill tests: a Job runs for
// three looks at it, then ends as result says.
type cluster struct {
	launches
	mu        sync.Mutex
	looks     map[string]int
	final     map[string]scheduler.SlotState
	result    func(run string) scheduler.SlotState
	maxActive int
}

func (c *cluster) Launch(ctx context.Context, e *scheduler.Entry, slot time.Time, run string) error {
	if err := c.launches.Launch(ctx, e, slot, run); err != nil {
		return err
	}
	active, _ := c.Active(ctx, e)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.maxActive = max(c.maxActive, len(active))
	return nil
}

func (c *cluster) State(_ context.Context, _ *scheduler.Entry, run string) (scheduler.SlotState, error) {
	c.launches.mu.Lock()
	active, made := c.active[run]
	c.launches.mu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case !made:
		return scheduler.SlotNone, nil
	case !active:
		return c.final[run], nil
	}
	c.looks[run]++
	if c.looks[run] < 3 {
		return scheduler.SlotRunning, nil
	}
	c.finish(run)
	c.final[run] = c.result(run)
	return c.final[run], nil
}

func (c *cluster) Stop(ctx context.Context, e *scheduler.Entry, run string) error {
	c.launches.mu.Lock()
	defer c.launches.mu.Unlock()
	delete(c.active, run)
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.looks, run)
	return nil
}

// TestBackfill: 50 slots with 5 in parallel start 50 runs, never more than
// 5 at once; the same backfill again starts none; with --reprocess failed it
// starts the failed ones again, and leaves the live scheduler's slots alone.
func TestBackfill(t *testing.T) {
	ctx := t.Context()
	store := checkpoints.New(memblob.OpenBucket(nil), checkpoints.Options{})
	e := entry(t, "hourly", "@hourly", scheduler.Catchup{})
	from := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	to := from.Add(50 * time.Hour)
	failing := contract.Slot{Schedule: "hourly", Time: from.Add(7 * time.Hour)}.RunID()
	c := &cluster{looks: map[string]int{}, final: map[string]scheduler.SlotState{}, result: func(run string) scheduler.SlotState {
		if run == failing {
			return scheduler.SlotFailed
		}
		return scheduler.SlotSucceeded
	}}
	// The live scheduler had the 10th slot.
	live := from.Add(9 * time.Hour)
	if err := store.ClaimSlot(ctx, checkpoints.Slot{Schedule: "hourly", Time: live, Run: contract.Slot{Schedule: "hourly", Time: live}.RunID(), By: "scheduler"}); err != nil {
		t.Fatal(err)
	}
	c.active = map[string]bool{contract.Slot{Schedule: "hourly", Time: live}.RunID(): false}
	c.final[contract.Slot{Schedule: "hourly", Time: live}.RunID()] = scheduler.SlotSucceeded

	b := &scheduler.Backfill{Store: store, Launch: c, Parallel: 5, Reprocess: scheduler.ReprocessNone, Poll: time.Millisecond}
	run := func() []scheduler.BackfillSlot {
		t.Helper()
		plan, err := b.Plan(ctx, e, from, to)
		if err != nil {
			t.Fatal(err)
		}
		if len(plan) != 50 {
			t.Fatalf("%d slots planned, want 50", len(plan))
		}
		if err := b.Run(ctx, e, plan); err != nil {
			t.Fatal(err)
		}
		return plan
	}
	plan := run()
	started, failed := 0, 0
	for _, sl := range plan {
		if sl.Started {
			started++
		}
		if sl.State == scheduler.SlotFailed {
			failed++
		}
	}
	if started != 49 || failed != 1 || c.count() != 49 {
		t.Errorf("started %d (%d Jobs), %d failed; want 49 (the live slot left alone), 1", started, c.count(), failed)
	}
	if c.maxActive > 5 {
		t.Errorf("%d runs active at once, want at most 5", c.maxActive)
	}

	for _, sl := range run() {
		if sl.Started {
			t.Errorf("run again, the backfill started %s", sl.Run)
		}
	}
	if c.count() != 49 {
		t.Errorf("%d Jobs after the second backfill, want 49", c.count())
	}

	// Reprocess the failed: its Job is replaced, its result deleted.
	c.result = func(string) scheduler.SlotState { return scheduler.SlotSucceeded }
	b.Reprocess = scheduler.ReprocessFailed
	for _, sl := range run() {
		if sl.Started != (sl.Run == failing) {
			t.Errorf("with --reprocess failed, %s started: %v", sl.Run, sl.Started)
		}
		if sl.Run == failing && sl.State != scheduler.SlotSucceeded {
			t.Errorf("the failed run reprocessed ended %s", sl.State)
		}
	}
}
