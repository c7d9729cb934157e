package scheduler

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Missing says what becomes of a slot whose wall-clock time does not exist
// in the zone, because the clocks jumped forward over it.
type Missing string

const (
	// MissingSkip drops the slot, as cron and Kubernetes CronJobs do.
	MissingSkip Missing = "skip"
	// MissingShift runs it at the instant the clocks jumped (03:00 when 02:00 to
	// 03:00 is skipped): once for all the slots inside the gap.
	MissingShift Missing = "shift"
)

// A wall-clock time repeated when the clocks go back runs once, at its
// first occurrence: that is not a choice.

// Schedule is a parsed schedule: its slots are the instants its cron
// expression names in its zone.
type Schedule struct {
	expr    string
	loc     *time.Location
	missing Missing
	wall    cron.Schedule // the expression, stepping through wall-clock times (in UTC)
	every   time.Duration // @every: slots every d from the Unix epoch, not wall-clock
}

var parser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Parse parses a cron expression — five fields, or six with seconds first,
// a descriptor such as @daily, or @every DURATION — for the IANA time zone
// zone (UTC if empty).
func Parse(expr, zone string, missing Missing) (*Schedule, error) {
	expr = strings.TrimSpace(expr)
	if strings.HasPrefix(expr, "TZ=") || strings.HasPrefix(expr, "CRON_TZ=") {
		return nil, errors.New("schedule: give the time zone in timeZone, not in the expression")
	}
	if missing == "" {
		missing = MissingSkip
	}
	if missing != MissingSkip && missing != MissingShift {
		return nil, fmt.Errorf("dst.missing %q: use skip or shift", missing)
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return nil, fmt.Errorf("timeZone %q: use an IANA name such as Europe/Berlin: %w", zone, err)
	}
	parsed, err := parser.Parse(expr)
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %w", expr, err)
	}
	s := &Schedule{expr: expr, loc: loc, missing: missing, wall: parsed}
	if every, ok := strings.CutPrefix(expr, "@every "); ok {
		// robfig rounds what it cannot do; say so instead.
		d, err := time.ParseDuration(strings.TrimSpace(every))
		if err != nil || d < time.Second || d%time.Second != 0 {
			return nil, fmt.Errorf("schedule %q: @every takes whole seconds, at least 1s, such as @every 90s", expr)
		}
		s.every = d
	}
	if s.Next(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() && s.Next(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() {
		return nil, fmt.Errorf("schedule %q never fires (such as February 30)", expr)
	}
	return s, nil
}

// String returns the expression and zone.
func (s *Schedule) String() string { return s.expr + " in " + s.loc.String() }

// Location is the schedule's time zone.
func (s *Schedule) Location() *time.Location { return s.loc }

// Missing is what becomes of a wall time the clocks skip.
func (s *Schedule) Missing() Missing { return s.missing }

// Next returns the first slot strictly after t, or the zero time if there is
// none within five years.
func (s *Schedule) Next(t time.Time) time.Time {
	if s.every > 0 {
		return nextEvery(t, s.every)
	}
	// Step through wall-clock times, as if the zone were UTC, from t's, and
	// map each to its instant. (A slot after t never has an earlier wall
	// clock than t: the wall times a fall-back repeats ran at their first
	// occurrence.)
	wall := wallClock(t.In(s.loc))
	limit := t.AddDate(5, 0, 0)
	for {
		wall = s.wall.Next(wall)
		if wall.IsZero() || wall.After(wallClock(limit.In(s.loc)).Add(3*time.Hour)) {
			return time.Time{}
		}
		at, ok := s.instant(wall)
		if ok && at.After(t) {
			return at
		}
	}
}

// Planned is a slot of a range, with what a clock change did to it.
type Planned struct {
	// Time is the slot; zero for a wall time the clocks skipped over (dst
	// missing: skip).
	Time time.Time
	// Note says what a clock change did: "" on ordinary days.
	Note string
}

// Between lists the slots in [from, to) as Next finds them, and the wall
// times a clock change skipped, shifted or repeated, each with a note.
func (s *Schedule) Between(from, to time.Time) []Planned {
	var out []Planned
	last := from.Add(-time.Second)
	if s.every > 0 {
		for t := s.Next(last); !t.IsZero() && t.Before(to); t = s.Next(t) {
			out = append(out, Planned{Time: t})
		}
		return out
	}
	wall, end := wallClock(last.In(s.loc)), wallClock(to.In(s.loc)).Add(3*time.Hour)
	for {
		wall = s.wall.Next(wall)
		if wall.IsZero() || wall.After(end) {
			return out
		}
		at, ok := s.instant(wall)
		shown := wall.Format("2006-01-02 15:04:05")
		var p Planned
		switch {
		case !ok:
			at = gapEnd(wall, s.loc)
			p.Note = fmt.Sprintf("skipped: the clocks jump over %s %s (dst missing: skip)", shown, s.loc)
		case !wallClock(at.In(s.loc)).Equal(wall):
			p.Time = at
			p.Note = fmt.Sprintf("shifted: the clocks jump over %s %s; runs at the jump, %s (dst missing: shift)", shown, s.loc, at.In(s.loc).Format("15:04:05 MST"))
		case twice(wall, at, s.loc):
			p.Time = at
			p.Note = fmt.Sprintf("repeated: %s %s happens twice; runs once, at the first (%s)", shown, s.loc, at.In(s.loc).Format("MST"))
		default:
			p.Time = at
		}
		if !at.Before(to) {
			return out
		}
		if at.Before(from) || (ok && !at.After(last)) {
			continue // before the range, or a shifted time merged with a slot
		}
		out = append(out, p)
		if ok {
			last = at
		}
	}
}

// twice says whether a wall time first reached at comes again later that
// day (the clocks went back over it).
func twice(wall, first time.Time, loc *time.Location) bool {
	_, before := first.In(loc).Zone()
	_, after := wall.Add(26 * time.Hour).In(loc).Zone()
	if after >= before {
		return false
	}
	return wallClock(wall.Add(-time.Duration(after) * time.Second).In(loc)).Equal(wall)
}

// instant is the instant a wall-clock time (UTC fields) is in the zone: its
// first occurrence; for a time the clocks jumped over, the end of the jump
// (Shift) or none (Skip).
func (s *Schedule) instant(wall time.Time) (time.Time, bool) {
	if at, ok := firstOccurrence(wall, s.loc); ok {
		return at, true
	}
	if s.missing == MissingSkip {
		return time.Time{}, false
	}
	return gapEnd(wall, s.loc), true
}

// wallClock returns t's wall-clock fields as a UTC time.
func wallClock(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
}

// firstOccurrence returns the earliest instant whose wall clock in loc is
// wall, if there is one.
func firstOccurrence(wall time.Time, loc *time.Location) (time.Time, bool) {
	var first time.Time
	seen := map[int]bool{}
	for _, probe := range []time.Duration{-26 * time.Hour, 0, 26 * time.Hour} {
		_, offset := wall.Add(probe).In(loc).Zone()
		if seen[offset] {
			continue
		}
		seen[offset] = true
		at := wall.Add(-time.Duration(offset) * time.Second)
		if wallClock(at.In(loc)).Equal(wall) && (first.IsZero() || at.Before(first)) {
			first = at
		}
	}
	return first, !first.IsZero()
}

// gapEnd returns the first instant whose wall clock in loc is after wall: the
// moment the clocks jumped over it.
func gapEnd(wall time.Time, loc *time.Location) time.Time {
	lo, hi := wall.Add(-26*time.Hour), wall.Add(26*time.Hour)
	for hi.Sub(lo) > time.Second {
		mid := lo.Add(hi.Sub(lo) / 2).Truncate(time.Second)
		if wallClock(mid.In(loc)).After(wall) {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi
}

func nextEvery(t time.Time, d time.Duration) time.Time {
	n := t.Unix()/int64(d/time.Second) + 1
	return time.Unix(n*int64(d/time.Second), 0).UTC()
}
