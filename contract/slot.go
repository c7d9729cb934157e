package contract

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Slot is a schedule's slot: the schedule and the instant it names. It is
// the one identity of a scheduled run, whoever starts it (the live
// scheduler, a backfill), in every form it takes.
type Slot struct {
	Schedule string
	Time     time.Time
}

const (
	// MaxScheduleName is the longest schedule name: a slot's run ID adds
	// "-YYYYMMDD-HHMMSS", and a Job's name is a DNS label of 63 characters.
	MaxScheduleName = 63 - len("-20060102-150405")
	runIDTime       = "20060102-150405"
	stampTime       = "20060102T150405Z"
)

var scheduleName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

// CheckScheduleName returns an error unless name can name a schedule.
func CheckScheduleName(name string) error {
	if len(name) > MaxScheduleName || !scheduleName.MatchString(name) {
		return fmt.Errorf("schedule name %q: use 1 to %d lower-case letters, digits and '-', starting and ending with a letter or digit", name, MaxScheduleName)
	}
	return nil
}

// RunID is the slot's run ID, which is also its Job's name: the schedule
// and the slot's UTC time to the second, such as nightly-20261124-020000.
func (s Slot) RunID() string { return s.Schedule + "-" + s.Time.UTC().Format(runIDTime) }

// Stamp is the slot's time as its store key and its Job's label hold it,
// such as 20261124T020000Z: sortable, and a valid label value.
func (s Slot) Stamp() string { return s.Time.UTC().Format(stampTime) }

// ParseStamp reads a Stamp.
func ParseStamp(stamp string) (time.Time, error) {
	t, err := time.Parse(stampTime, stamp)
	if err != nil {
		return time.Time{}, fmt.Errorf("slot %q: want a UTC time such as 20261124T020000Z", stamp)
	}
	return t, nil
}

// SlotTimeValue is the slot's time as EnvSlotTime carries it: RFC 3339, UTC.
func (s Slot) SlotTimeValue() string { return s.Time.UTC().Format(time.RFC3339) }

// ParseSlotTime reads a slot time given as EnvSlotTime carries it, or as a
// user writes one (RFC 3339, with any offset).
func ParseSlotTime(v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, strings.TrimSpace(v))
	if err != nil {
		return time.Time{}, fmt.Errorf("slot time %q: want an RFC 3339 time, such as 2026-11-24T02:00:00Z", v)
	}
	return t.UTC(), nil
}
