package scheduler

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/graphjob/graphjob/checkpoints"
	"github.com/graphjob/graphjob/contract"
)

// Status is a schedule as `graphjob schedules` shows it: its next slots,
// and its last claimed slots, newest first, with where each is.
type Status struct {
	Name      string       `json:"name"`
	Schedule  string       `json:"schedule"`
	Suspended bool         `json:"suspended"`
	Next      []time.Time  `json:"next"`
	Last      []SlotStatus `json:"last"`
	Error     string       `json:"error,omitempty"`
}

// SlotStatus is a slot and where it is.
type SlotStatus struct {
	Time  time.Time `json:"slot"`
	Run   string    `json:"run"`
	State SlotState `json:"state"`
}

// ScheduleStatus reads a schedule's next n slots after now and its last n
// claimed slots, looking back at most 31 days.
func ScheduleStatus(ctx context.Context, store *checkpoints.Store, jobs StateLauncher, e *Entry, n int, now time.Time) (Status, error) {
	st := Status{Name: e.Name, Schedule: e.Schedule.String(), Suspended: e.Suspend}
	for t := now; len(st.Next) < n; {
		if t = e.Schedule.Next(t); t.IsZero() {
			break
		}
		st.Next = append(st.Next, t)
	}
	// An hour back, a day, then 31 days: most schedules need one listing.
	var times []time.Time
	for _, back := range []time.Duration{time.Hour, 24 * time.Hour, 31 * 24 * time.Hour} {
		var err error
		if times, err = store.SlotTimes(ctx, e.Name, now.Add(-back), now.Add(time.Second)); err != nil {
			return st, err
		}
		if len(times) >= n {
			break
		}
	}
	for _, t := range times[max(len(times)-n, 0):] {
		state, err := slotState(ctx, store, jobs, e, t)
		if err != nil {
			return st, err
		}
		st.Last = append(st.Last, SlotStatus{Time: t, Run: contract.Slot{Schedule: e.Name, Time: t}.RunID(), State: state})
	}
	slices.Reverse(st.Last)
	return st, nil
}

// slotState finds where a claimed slot is: its record, its run's status,
// and, for a run not ended, its Job.
func slotState(ctx context.Context, store *checkpoints.Store, jobs StateLauncher, e *Entry, slot time.Time) (SlotState, error) {
	rec, err := store.Slot(ctx, e.Name, slot)
	if err != nil {
		return "", err
	}
	if rec.Skipped != "" {
		return SlotSkipped, nil
	}
	status, err := store.Status(ctx, rec.Run)
	if err == nil && status.State.Final() {
		return SlotState(status.State), nil
	}
	if err != nil && !errors.Is(err, checkpoints.ErrNotFound) {
		return "", err
	}
	// Not ended: its Job says whether it runs or waits for one.
	st, err := jobs.State(ctx, e, rec.Run)
	if err != nil {
		return "", err
	}
	if st == SlotNone {
		return SlotPending, nil
	}
	return st, nil
}

// ParseTime reads a time as a user gives one for a range of slots: RFC
// 3339, or a date with an optional time of day in loc (the schedule's
// zone).
func ParseTime(v string, loc *time.Location) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q: give RFC 3339 (2026-10-01T00:00:00Z) or YYYY-MM-DD[THH:MM[:SS]] in the schedule's zone (%s)", v, loc)
}

// Offline stands for a cluster that cannot be reached: where a run has no
// result, the state of its Job is SlotUnknown. A plan made with it (a
// backfill's dry run, the schedules' status) comes from the store alone; it
// starts and stops nothing.
type Offline struct{}

var errOffline = errors.New("no cluster: give --kubeconfig, or set KUBECONFIG")

// Launch fails: there is no cluster.
func (Offline) Launch(context.Context, *Entry, time.Time, string) error { return errOffline }

// Active fails: there is no cluster.
func (Offline) Active(context.Context, *Entry) ([]string, error) { return nil, errOffline }

// Stop fails: there is no cluster.
func (Offline) Stop(context.Context, *Entry, string) error { return errOffline }

// State is SlotUnknown.
func (Offline) State(context.Context, *Entry, string) (SlotState, error) { return SlotUnknown, nil }
