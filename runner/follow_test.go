package runner_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	"gocloud.dev/blob/memblob"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/graphjob/graphjob/checkpoints"
	"github.com/graphjob/graphjob/contract"
	"github.com/graphjob/graphjob/graph"
	"github.com/graphjob/graphjob/runner"
)

// TestFollow: every committed step is reported once, the last ones too
// (committed as the process ended), and the outcome is the stored result's;
// a run without one ends with the process's error.
func TestFollow(t *testing.T) {
	s := checkpoints.New(memblob.OpenBucket(nil), checkpoints.Options{})
	ctx := t.Context()
	must(t, s.CreateRun(ctx, checkpoints.RunRecord{ID: "r"}))
	var parent *checkpoints.Step
	commit := func(i int) {
		var err error
		parent, err = s.Commit(ctx, "r", parent, graph.Checkpoint{Step: i, Values: map[string]any{"n": int64(i)}, Versions: map[string]uint64{"n": uint64(i + 1)}, Next: []graph.Task{{Node: "work"}}})
		must(t, err)
	}
	commit(0)
	clk := clocktesting.NewFakeClock(time.Now())
	looks := 0
	ended := func(context.Context) (bool, error) {
		looks++
		switch looks {
		case 1:
			commit(1)
			go func() { // the next tick, once Follow waits for it
				for !clk.HasWaiters() {
					time.Sleep(time.Millisecond)
				}
				clk.Step(time.Second)
			}()
			return false, nil
		default:
			commit(2)
			commit(3)
			must(t, s.PutResult(ctx, "r", checkpoints.Result{Status: contract.Succeeded, Step: 3}))
			return true, nil
		}
	}
	var reported []int
	final, err := runner.Follow(ctx, clk, s, "r", ended, func(st *checkpoints.Step) { reported = append(reported, st.Step) })
	if err != nil || !maps.Equal(final, map[string]any{"n": int64(3)}) || !slices.Equal(reported, []int{1, 2, 3}) {
		t.Errorf("Follow = %v, %v; steps reported %v, want 1, 2 and 3 once each", final, err, reported)
	}

	// A process that ended without a result: its error.
	gone := errors.New("job r failed")
	must(t, s.CreateRun(ctx, checkpoints.RunRecord{ID: "q"}))
	if _, err := runner.Follow(ctx, clk, s, "q", func(context.Context) (bool, error) { return true, gone }, func(*checkpoints.Step) {}); !errors.Is(err, gone) {
		t.Errorf("Follow of a run without a result: %v", err)
	}
}
