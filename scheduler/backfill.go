package scheduler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/graphjob/graphjob/checkpoints"
	"github.com/graphjob/graphjob/contract"
	"k8s.io/utils/clock"
)

// Reprocess says which slots that ran a backfill runs again.
type Reprocess string

const (
	// ReprocessNone runs only the slots never claimed.
	ReprocessNone Reprocess = "none"
	// ReprocessFailed also resumes the runs that failed or were lost, from
	// their last checkpoint.
	ReprocessFailed Reprocess = "failed"
	// ReprocessAll also runs every other slot again, from the start.
	ReprocessAll Reprocess = "all"
)

// SlotState is where a slot is: a run's state (contract.RunState), or
// what a slot has before or instead of a run.
type SlotState string

// The states of a slot.
const (
	SlotNone      SlotState = "none"                        // the slot was never claimed
	SlotSkipped   SlotState = "skipped"                     // claimed as skipped (Forbid)
	SlotPending   SlotState = "pending"                     // claimed; no Job, no result
	SlotRunning   SlotState = SlotState(contract.Running)   // its Job has not finished
	SlotSucceeded SlotState = SlotState(contract.Succeeded) // its run succeeded
	SlotFailed    SlotState = SlotState(contract.Failed)    // its run, or its Job, failed
	SlotUnknown   SlotState = SlotState(contract.Unknown)   // its run has no result, its Job is out of reach
)

// BackfillSlot is a slot of a backfill: what was found and what became of it.
type BackfillSlot struct {
	Time time.Time `json:"slot"`
	Run  string    `json:"run"`
	// Note says what a clock change did to the slot.
	Note string `json:"note,omitempty"`
	// Found is the slot's state before the backfill, State its last.
	Found SlotState `json:"found"`
	State SlotState `json:"state"`
	// Started says this backfill created the slot's Job.
	Started bool `json:"started"`
	// Skipped says a clock change left no slot here (dst missing: skip).
	Skipped bool `json:"dstSkipped,omitempty"`
}

// Backfill runs a schedule's slots over a range of time, with the slots'
// own identities: a slot the live scheduler or an earlier backfill claimed
// is not run again (unless Reprocess says), so a backfill can be run again
// after an interruption and creates only what is missing.
type Backfill struct {
	Store  *checkpoints.Store
	Launch StateLauncher
	// Parallel bounds the slots' runs active at once (1 if 0).
	Parallel  int
	Reprocess Reprocess
	// Poll is how often active runs are looked at (1 s if 0).
	Poll time.Duration
	// Progress, if set, is called whenever a run starts or ends.
	Progress func(slots []BackfillSlot)
	// Clock times the polls; the real clock if nil.
	Clock clock.Clock
}

// StateLauncher is a Launcher that also tells where a run is.
type StateLauncher interface {
	Launcher
	// State returns SlotRunning, SlotSucceeded, SlotFailed, or
	// SlotNone for a run without a Job.
	State(ctx context.Context, e *Entry, run string) (SlotState, error)
}

// Plan lists the slots of [from, to) and where each is.
func (b *Backfill) Plan(ctx context.Context, e *Entry, from, to time.Time) ([]BackfillSlot, error) {
	claimed, err := b.Store.SlotTimes(ctx, e.Name, from, to)
	if err != nil {
		return nil, err
	}
	isClaimed := make(map[time.Time]bool, len(claimed))
	for _, t := range claimed {
		isClaimed[t] = true
	}
	var out []BackfillSlot
	for _, p := range e.Schedule.Between(from, to) {
		sl := BackfillSlot{Time: p.Time, Note: p.Note, Found: SlotNone, Skipped: p.Time.IsZero()}
		if sl.Skipped {
			sl.Found, sl.State = SlotSkipped, SlotSkipped
			out = append(out, sl)
			continue
		}
		sl.Run = contract.Slot{Schedule: e.Name, Time: p.Time}.RunID()
		if isClaimed[p.Time] {
			if sl.Found, err = b.SlotState(ctx, e, p.Time); err != nil {
				return nil, err
			}
		}
		sl.State = sl.Found
		out = append(out, sl)
	}
	return out, nil
}

// SlotState finds where a claimed slot is: its record, its run's status,
// its Job.
func (b *Backfill) SlotState(ctx context.Context, e *Entry, slot time.Time) (SlotState, error) {
	return slotState(ctx, b.Store, b.Launch, e, slot)
}

// Todo says whether the backfill starts a slot's run.
func (b *Backfill) Todo(sl BackfillSlot) bool {
	switch sl.Found {
	case SlotNone, SlotPending:
		return true
	case SlotFailed:
		return b.Reprocess == ReprocessFailed || b.Reprocess == ReprocessAll
	case SlotSucceeded:
		return b.Reprocess == ReprocessAll
	}
	return false
}

// Run starts the planned slots' runs, at most Parallel active at once
// (those found running count), and waits for them to end. It returns when
// every run it waits for has ended, or when ctx ends (the runs go on; run
// the backfill again to wait for them).
func (b *Backfill) Run(ctx context.Context, e *Entry, slots []BackfillSlot) error {
	parallel, poll := max(b.Parallel, 1), b.Poll
	if poll == 0 {
		poll = time.Second
	}
	active := map[int]bool{}
	for i, sl := range slots {
		if sl.Found == SlotRunning {
			active[i] = true
		}
	}
	next := 0
	for {
		for len(active) < parallel && next < len(slots) {
			i := next
			next++
			if !b.Todo(slots[i]) {
				continue
			}
			started, err := b.start(ctx, e, slots[i])
			if err != nil {
				return fmt.Errorf("slot %s: %w", slots[i].Time.UTC().Format(time.RFC3339), err)
			}
			// A slot claimed meanwhile by the live scheduler is its run, not
			// ours; the backfill waits for it all the same.
			slots[i].Started, slots[i].State = started, SlotRunning
			active[i] = true
			b.progress(slots)
		}
		if len(active) == 0 && next >= len(slots) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-b.clock().After(poll):
		}
		for i := range active {
			st, err := b.Launch.State(ctx, e, slots[i].Run)
			if err != nil {
				return err
			}
			if st == SlotRunning {
				continue
			}
			if st == SlotNone {
				st = SlotPending // the Job was deleted
			}
			slots[i].State = st
			delete(active, i)
			b.progress(slots)
		}
	}
}

// start claims a slot, or readies a claimed one for its run again, and
// launches its run. It returns false if someone else claimed it first.
func (b *Backfill) start(ctx context.Context, e *Entry, sl BackfillSlot) (bool, error) {
	switch sl.Found {
	case SlotNone:
		err := b.Store.ClaimSlot(ctx, checkpoints.Slot{Schedule: e.Name, Time: sl.Time, Run: sl.Run, By: "backfill"})
		if errors.Is(err, checkpoints.ErrExists) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
	case SlotFailed, SlotSucceeded:
		// The Job of the earlier run goes first: the new one has its name.
		if err := b.Launch.Stop(ctx, e, sl.Run); err != nil {
			return false, err
		}
		for {
			st, err := b.Launch.State(ctx, e, sl.Run)
			if err != nil {
				return false, err
			}
			if st == SlotNone {
				break
			}
			select {
			case <-ctx.Done():
				return false, ctx.Err()
			case <-b.clock().After(100 * time.Millisecond):
			}
		}
		var err error
		if sl.Found == SlotFailed && b.Reprocess == ReprocessFailed {
			err = b.Store.DeleteResult(ctx, sl.Run) // resumes from its last checkpoint
		} else {
			err = b.Store.Delete(ctx, sl.Run) // starts again from the start
		}
		if err != nil && !errors.Is(err, checkpoints.ErrNotFound) {
			return false, err
		}
	}
	return true, b.Launch.Launch(ctx, e, sl.Time, sl.Run)
}

func (b *Backfill) clock() clock.Clock {
	if b.Clock == nil {
		return clock.RealClock{}
	}
	return b.Clock
}

func (b *Backfill) progress(slots []BackfillSlot) {
	if b.Progress != nil {
		b.Progress(slots)
	}
}
