package checkpoints

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/graphjob/graphjob/contract"
)

// Slot records that a schedule's slot was started. It is written
// create-only before the slot's Job is created, so a slot runs once: not
// twice across scheduler restarts, leader changes, the Job's garbage
// collection, or a backfill over the live schedule.
type Slot struct {
	Schedule string    `json:"schedule"`
	Time     time.Time `json:"time"`
	// Run is the slot's run (its Job's name).
	Run string `json:"run"`
	// By says who claimed it: "scheduler", "backfill".
	By string `json:"by"`
	// Skipped says the slot was not run, and why (concurrencyPolicy Forbid,
	// the catch-up policy).
	Skipped string    `json:"skipped,omitempty"`
	Claimed time.Time `json:"claimed"`
}

func schedulePrefix(schedule string) string { return "schedules/" + schedule + "/" }
func slotsPrefix(schedule string) string    { return schedulePrefix(schedule) + "slots/" }

func checkSchedule(name string) error { return contract.CheckScheduleName(name) }

func slotKey(schedule string, t time.Time) string {
	return slotsPrefix(schedule) + contract.Slot{Schedule: schedule, Time: t}.Stamp()
}

// ClaimSlot records a slot. If the slot was claimed before (by anyone, with
// other content), it returns ErrExists: the slot is someone else's.
func (s *Store) ClaimSlot(ctx context.Context, sl Slot) error {
	if err := checkSchedule(sl.Schedule); err != nil {
		return err
	}
	if sl.Time.IsZero() || sl.Time.Truncate(time.Second) != sl.Time {
		return fmt.Errorf("schedule %s: slot time %v: slots fall on whole seconds", sl.Schedule, sl.Time)
	}
	sl.Time = sl.Time.UTC()
	if sl.Claimed.IsZero() {
		sl.Claimed = s.opts.Now().UTC()
	}
	_, err := s.putRecord(ctx, sl.Run, -1, slotKey(sl.Schedule, sl.Time), kindSlot, sl)
	return err
}

// Slot reads a slot's record; ErrNotFound if it was never claimed.
func (s *Store) Slot(ctx context.Context, schedule string, t time.Time) (*Slot, error) {
	if err := checkSchedule(schedule); err != nil {
		return nil, err
	}
	sl := new(Slot)
	if _, err := s.getRecord(ctx, "", -1, slotKey(schedule, t), kindSlot, sl); err != nil {
		return nil, err
	}
	return sl, nil
}

// Slots lists a schedule's claimed slots in [from, to), oldest first.
func (s *Store) Slots(ctx context.Context, schedule string, from, to time.Time) ([]Slot, error) {
	times, err := s.SlotTimes(ctx, schedule, from, to)
	if err != nil {
		return nil, err
	}
	out := make([]Slot, len(times))
	for i, t := range times {
		if _, err := s.getRecord(ctx, "", -1, slotKey(schedule, t), kindSlot, &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// SlotTimes lists the times of a schedule's claimed slots in [from, to),
// oldest first, without reading their records: one listing, of the keys
// that share the range's common prefix (its year, month or day).
func (s *Store) SlotTimes(ctx context.Context, schedule string, from, to time.Time) ([]time.Time, error) {
	if err := checkSchedule(schedule); err != nil {
		return nil, err
	}
	prefix := slotsPrefix(schedule)
	if to.After(from) {
		a, b := contract.Slot{Time: from}.Stamp(), contract.Slot{Time: to.Add(-time.Second)}.Stamp()
		n := 0
		for n < len(a) && a[n] == b[n] {
			n++
		}
		prefix += a[:n]
	}
	objs, err := s.list(ctx, prefix, "")
	if err != nil {
		return nil, &ObjectError{Run: "", Step: -1, Key: prefix, Err: err}
	}
	var out []time.Time
	for _, o := range objs {
		t, err := contract.ParseStamp(strings.TrimPrefix(o.Key, slotsPrefix(schedule)))
		if err != nil || t.Before(from) || !t.Before(to) {
			continue
		}
		out = append(out, t)
	}
	return out, nil
}

// ScheduleSince returns when a schedule was first seen: the time of its
// record, written (create-only) with now if it has none. A scheduler catches
// up only on slots after it, so a new schedule has nothing to catch up. A
// known schedule costs one read.
func (s *Store) ScheduleSince(ctx context.Context, schedule string, now time.Time) (time.Time, error) {
	if err := checkSchedule(schedule); err != nil {
		return time.Time{}, err
	}
	key := schedulePrefix(schedule) + "since"
	var rec struct {
		Schedule string    `json:"schedule"`
		Since    time.Time `json:"since"`
	}
	_, err := s.getRecord(ctx, "", -1, key, kindSince, &rec)
	if !errors.Is(err, ErrNotFound) {
		return rec.Since, err
	}
	rec.Schedule, rec.Since = schedule, now.UTC()
	_, err = s.putRecord(ctx, "", -1, key, kindSince, rec)
	if errors.Is(err, ErrExists) { // another scheduler's, written since the read
		_, err = s.getRecord(ctx, "", -1, key, kindSince, &rec)
	}
	return rec.Since, err
}
