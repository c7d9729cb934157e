package checkpoints

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/graphjob/graphjob/contract"
	"github.com/graphjob/graphjob/graph"
)

// StaleAfter is how long a run whose last attempt recorded no end may go
// without writing before its state is contract.Unknown, not Running.
const StaleAfter = 15 * time.Minute

// RunStatus is where a run is, derived from its records alone.
type RunStatus struct {
	State contract.RunState `json:"status"`
	// Step is the last committed step; -1 before the first commit.
	Step int `json:"step"`
	// Error says why the run failed; for a run without a result, why its
	// last attempt stopped, or why its records cannot be read.
	Error string `json:"error,omitempty"`
	// LastSeen is when an attempt last wrote: it started, committed a step
	// or ended.
	LastSeen time.Time `json:"lastSeen,omitzero"`
}

// status derives a run's status from its result (nil if none), when its
// record was created, its last committed step (nil if none) and its
// attempts, at now. It is the one place that does: every listing and view
// of a run calls it.
func status(res *Result, created time.Time, last *Step, attempts []Attempt, now time.Time) RunStatus {
	st := RunStatus{Step: -1, LastSeen: created}
	if last != nil {
		st.Step, st.LastSeen = last.Step, last.Time
	}
	var a *Attempt
	if n := len(attempts); n > 0 {
		a = &attempts[n-1]
		st.LastSeen = later(st.LastSeen, a.Started)
		if a.End != nil {
			st.LastSeen = later(st.LastSeen, a.End.Ended)
		}
	}
	switch {
	case res != nil && last != nil && res.Step != last.Step:
		st.State, st.Error = contract.Unknown, fmt.Sprintf("its result is of step %d, and its history ends at step %d: damaged (a step deleted, or a result copied from elsewhere)", res.Step, last.Step)
	case res != nil:
		st.State, st.Error = res.Status, res.Error
		st.LastSeen = later(st.LastSeen, res.Time)
	case a != nil && a.End != nil:
		st.State, st.Error = contract.Interrupted, a.End.Error
	case now.Sub(st.LastSeen) > StaleAfter:
		st.State = contract.Unknown
	default:
		st.State = contract.Running
	}
	return st
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// Status reads where a run is. A run that was never started has
// ErrNotFound; one whose records cannot be read is Unknown with the error.
func (s *Store) Status(ctx context.Context, id string) (RunStatus, error) {
	res, err := s.Result(ctx, id)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return unreadable(err), nil
	}
	var created time.Time
	if res == nil {
		rec, err := s.RunRecord(ctx, id)
		if errors.Is(err, ErrNotFound) {
			return RunStatus{}, err
		}
		if err != nil {
			return unreadable(err), nil
		}
		created = rec.Created
	}
	var last *Step
	if n, err := s.LastStep(ctx, id); err == nil {
		if last, err = s.Step(ctx, id, n); err != nil {
			return unreadable(err), nil
		}
	} else if !errors.Is(err, ErrNotFound) {
		return unreadable(err), nil
	}
	attempts, err := s.Attempts(ctx, id)
	if err != nil {
		return unreadable(err), nil
	}
	return status(res, created, last, attempts, s.opts.Now()), nil
}

func unreadable(err error) RunStatus {
	return RunStatus{State: contract.Unknown, Step: -1, Error: err.Error()}
}

// RunView is what is known of a run: its record, where it is, its attempts
// and its state at its last committed step.
type RunView struct {
	*RunRecord
	RunStatus
	LastCommit time.Time    `json:"lastCommit"`
	Next       []graph.Task `json:"next"`
	// Pending counts the tasks of the next step that finished already.
	Pending  int            `json:"pendingTasks"`
	Attempts []Attempt      `json:"attempts"`
	Values   map[string]any `json:"state,omitempty"`
}

// View reads what is known of a run. Every object read is verified: a
// damaged one is an error.
func (s *Store) View(ctx context.Context, id string) (*RunView, error) {
	rec, err := s.RunRecord(ctx, id)
	if err != nil {
		return nil, err
	}
	v := &RunView{RunRecord: rec}
	if v.Attempts, err = s.Attempts(ctx, id); err != nil {
		return nil, err
	}
	res, err := s.Result(ctx, id)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	snap, err := s.Latest(ctx, id)
	switch {
	case err == nil:
		v.LastCommit, v.Next, v.Pending, v.Values = snap.Step.Time, snap.Checkpoint.Next, len(snap.Pending), snap.Checkpoint.Values
	case !errors.Is(err, ErrNotFound):
		return nil, err
	}
	var last *Step
	if snap != nil {
		last = snap.Step
	}
	v.RunStatus = status(res, rec.Created, last, v.Attempts, s.opts.Now())
	return v, nil
}
