package scheduler_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/graphjob/graphjob/scheduler"
)

// slots returns the slots in (from, to].
func slots(t *testing.T, s *scheduler.Schedule, from, to time.Time) []string {
	t.Helper()
	var out []string
	for at := s.Next(from); !at.IsZero() && !at.After(to); at = s.Next(at) {
		out = append(out, at.UTC().Format(time.RFC3339))
		if len(out) > 1000 {
			t.Fatal("too many slots")
		}
	}
	return out
}

func zone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// TestDST: in 2026 Los Angeles skips 02:00-03:00 on March 8 and repeats
// 01:00-02:00 on November 1; Berlin skips 02:00-03:00 on March 29 and repeats
// 02:00-03:00 on October 25. Slots are in UTC.
func TestDST(t *testing.T) {
	la, berlin := "America/Los_Angeles", "Europe/Berlin"
	tests := []struct {
		desc, expr, zone string
		missing          scheduler.Missing
		from, to         string // local dates
		want             string
	}{
		{"a daily slot in the skipped hour is skipped", "30 2 * * *", la, scheduler.MissingSkip, "2026-03-07", "2026-03-10",
			"2026-03-07T10:30:00Z 2026-03-09T09:30:00Z"},
		{"or runs when the clocks jump", "30 2 * * *", la, scheduler.MissingShift, "2026-03-07", "2026-03-10",
			"2026-03-07T10:30:00Z 2026-03-08T10:00:00Z 2026-03-09T09:30:00Z"},
		{"a daily slot in the repeated hour runs once", "30 1 * * *", la, scheduler.MissingSkip, "2026-10-31", "2026-11-03",
			"2026-10-31T08:30:00Z 2026-11-01T08:30:00Z 2026-11-02T09:30:00Z"},
		{"half-hourly over the gap, skip", "*/30 * * * *", la, scheduler.MissingSkip, "2026-03-08T00:45", "2026-03-08T03:45",
			"2026-03-08T09:00:00Z 2026-03-08T09:30:00Z 2026-03-08T10:00:00Z 2026-03-08T10:30:00Z"},
		{"half-hourly over the gap, shift: the gap's slots run once, with 03:00's", "*/30 * * * *", la, scheduler.MissingShift, "2026-03-08T00:45", "2026-03-08T03:45",
			"2026-03-08T09:00:00Z 2026-03-08T09:30:00Z 2026-03-08T10:00:00Z 2026-03-08T10:30:00Z"},
		{"half-hourly over the repeated hour: its wall times run once", "*/30 * * * *", la, scheduler.MissingSkip, "2026-11-01T00:45", "2026-11-01T02:45",
			"2026-11-01T08:00:00Z 2026-11-01T08:30:00Z 2026-11-01T10:00:00Z 2026-11-01T10:30:00Z"},
		{"Berlin: skipped", "30 2 * * *", berlin, scheduler.MissingSkip, "2026-03-28", "2026-03-31",
			"2026-03-28T01:30:00Z 2026-03-30T00:30:00Z"},
		{"Berlin: shifted", "30 2 * * *", berlin, scheduler.MissingShift, "2026-03-28", "2026-03-31",
			"2026-03-28T01:30:00Z 2026-03-29T01:00:00Z 2026-03-30T00:30:00Z"},
		{"Berlin: repeated, once", "30 2 * * *", berlin, scheduler.MissingShift, "2026-10-24", "2026-10-27",
			"2026-10-24T00:30:00Z 2026-10-25T00:30:00Z 2026-10-26T01:30:00Z"},
		{"Berlin: hourly across the fall-back", "0 * * * *", berlin, scheduler.MissingSkip, "2026-10-25T01:30", "2026-10-25T04:30",
			"2026-10-25T00:00:00Z 2026-10-25T02:00:00Z 2026-10-25T03:00:00Z"},
		{"seconds", "*/20 * * * * *", "UTC", scheduler.MissingSkip, "2026-01-01T00:00", "2026-01-01T00:01",
			"2026-01-01T00:00:20Z 2026-01-01T00:00:40Z 2026-01-01T00:01:00Z"},
		{"a descriptor, in the zone", "@daily", berlin, scheduler.MissingSkip, "2026-07-01", "2026-07-03",
			"2026-07-01T22:00:00Z 2026-07-02T22:00:00Z"},
		{"@every counts from the epoch, not the wall clock", "@every 90m", la, scheduler.MissingSkip, "2026-03-08T00:00", "2026-03-08T04:00",
			"2026-03-08T09:00:00Z 2026-03-08T10:30:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			s, err := scheduler.Parse(tt.expr, tt.zone, tt.missing)
			if err != nil {
				t.Fatal(err)
			}
			layout := "2006-01-02T15:04"
			parse := func(v string) time.Time {
				if len(v) == len("2006-01-02") {
					v += "T00:00"
				}
				at, err := time.ParseInLocation(layout, v, zone(t, tt.zone))
				if err != nil {
					t.Fatal(err)
				}
				return at
			}
			if got := strings.Join(slots(t, s, parse(tt.from), parse(tt.to)), " "); got != tt.want {
				t.Errorf("slots\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ expr, zone, missing, want string }{
		{"61 * * * *", "UTC", "", `schedule "61 * * * *"`},
		{"* * * *", "UTC", "", "expected 5 to 6 fields"},
		{"0 2 * * *", "Mars/Olympus", "", `timeZone "Mars/Olympus"`},
		{"TZ=UTC 0 2 * * *", "", "", "give the time zone in timeZone"},
		{"0 2 * * *", "UTC", "later", `dst.missing "later"`},
		{"0 0 30 2 *", "UTC", "", "never fires"},
		{"@every 10ms", "UTC", "", "whole seconds, at least 1s"},
		{"@every 1500ms", "UTC", "", "whole seconds, at least 1s"},
	}
	for _, tt := range tests {
		if _, err := scheduler.Parse(tt.expr, tt.zone, scheduler.Missing(tt.missing)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q, %q, %q) = %v, want %q", tt.expr, tt.zone, tt.missing, err, tt.want)
		}
	}
}

// TestCatchUp: a schedule every minute, down for n minutes (the last slot
// 30 s ago, so none is on time).
func TestCatchUp(t *testing.T) {
	s, err := scheduler.Parse("* * * * *", "UTC", scheduler.MissingSkip)
	if err != nil {
		t.Fatal(err)
	}
	last := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	policies := []struct {
		name string
		c    scheduler.Catchup
		want func(n int) (run, skipped int)
	}{
		{"none", scheduler.Catchup{Policy: scheduler.CatchupNone}, func(n int) (int, int) { return 0, n }},
		{"latest", scheduler.Catchup{Policy: scheduler.CatchupLatest}, func(n int) (int, int) { return min(n, 1), max(n-1, 0) }},
		{"latest within 10m", scheduler.Catchup{Policy: scheduler.CatchupLatest, Window: 10 * time.Minute}, func(n int) (int, int) { return min(n, 1), max(n-1, 0) }},
		{"all", scheduler.Catchup{Policy: scheduler.CatchupAll}, func(n int) (int, int) { return min(n, 100), max(n-100, 0) }},
		{"all, max 5", scheduler.Catchup{Policy: scheduler.CatchupAll, Max: 5}, func(n int) (int, int) { return min(n, 5), max(n-5, 0) }},
		{"all within 10m", scheduler.Catchup{Policy: scheduler.CatchupAll, Window: 10 * time.Minute}, func(n int) (int, int) { return min(n, 10), max(n-10, 0) }},
	}
	for _, n := range []int{0, 1, 99, 101, 10_000} {
		now := last.Add(time.Duration(n)*time.Minute + 30*time.Second)
		for _, p := range policies {
			t.Run(fmt.Sprintf("%d missed/%s", n, p.name), func(t *testing.T) {
				m := s.CatchUp(last, now, p.c)
				run, skipped := p.want(n)
				if len(m.Run) != run || m.Skipped != skipped {
					t.Fatalf("runs %d, skips %d; want %d, %d", len(m.Run), m.Skipped, run, skipped)
				}
				// The slots that run are the most recent, oldest first.
				for i, at := range m.Run {
					if want := last.Add(time.Duration(n-len(m.Run)+i+1) * time.Minute); !at.Equal(want) {
						t.Errorf("slot %d is %s, want %s", i, at, want)
					}
				}
			})
		}
	}
	// A slot due now is on time: it runs even under none.
	if m := s.CatchUp(last, last.Add(3*time.Minute), scheduler.Catchup{Policy: scheduler.CatchupNone}); len(m.Run) != 1 || m.Skipped != 2 {
		t.Errorf("on time under none: %+v", m)
	}
	if err := (scheduler.Catchup{Policy: "some"}).Check(); err == nil || !strings.Contains(err.Error(), "catchup.policy") {
		t.Errorf("a bad policy: %v", err)
	}
}

// FuzzSchedule: any expression and zone either fails to parse or gives
// strictly increasing slots, each after the time it was asked from.
func FuzzSchedule(f *testing.F) {
	zones := []string{"UTC", "America/Los_Angeles", "Europe/Berlin", "Australia/Lord_Howe", "Asia/Kathmandu", "America/Santiago", "Pacific/Chatham"}
	for _, expr := range []string{"30 2 * * *", "*/7 * * * *", "0 0 29 2 *", "@hourly", "@every 1h30m", "*/13 */5 1-3 * * 0", "0 30 1,2 * * *"} {
		f.Add(expr, uint8(1), int64(1772900000), true)
	}
	f.Fuzz(func(t *testing.T, expr string, z uint8, start int64, shift bool) {
		missing := scheduler.MissingSkip
		if shift {
			missing = scheduler.MissingShift
		}
		s, err := scheduler.Parse(expr, zones[int(z)%len(zones)], missing)
		if err != nil {
			return
		}
		from := time.Unix(start%(4<<30), 0)
		at := from
		var slots []time.Time
		for range 50 {
			next := s.Next(at)
			if next.IsZero() {
				break
			}
			if !next.After(at) {
				t.Fatalf("%s: Next(%s) = %s, not after", s, at, next)
			}
			slots = append(slots, next)
			at = next
		}
		// Between lists what Next finds, notes aside.
		var listed []time.Time
		for _, p := range s.Between(from.Add(time.Second), at.Add(time.Second)) {
			if !p.Time.IsZero() {
				listed = append(listed, p.Time)
			}
		}
		if !slices.EqualFunc(listed, slots, time.Time.Equal) {
			t.Fatalf("%s from %s: Between lists %v, Next finds %v", s, from, listed, slots)
		}
	})
}

// TestBetween: a range over both of Berlin's clock changes notes the slot
// the spring skips or shifts and the one autumn repeats.
func TestBetween(t *testing.T) {
	for _, tt := range []struct {
		missing scheduler.Missing
		want    []string
	}{
		{scheduler.MissingSkip, []string{
			"03-28 02:30 CET", "03-29 skipped: the clocks jump over 2026-03-29 02:30:00 Europe/Berlin (dst missing: skip)", "03-30 02:30 CEST",
			"10-24 02:30 CEST", "10-25 02:30 CEST repeated: 2026-10-25 02:30:00 Europe/Berlin happens twice; runs once, at the first (CEST)", "10-26 02:30 CET",
		}},
		{scheduler.MissingShift, []string{
			"03-28 02:30 CET", "03-29 03:00 CEST shifted: the clocks jump over 2026-03-29 02:30:00 Europe/Berlin; runs at the jump, 03:00:00 CEST (dst missing: shift)", "03-30 02:30 CEST",
			"10-24 02:30 CEST", "10-25 02:30 CEST repeated: 2026-10-25 02:30:00 Europe/Berlin happens twice; runs once, at the first (CEST)", "10-26 02:30 CET",
		}},
	} {
		s, err := scheduler.Parse("30 2 * * *", "Europe/Berlin", tt.missing)
		if err != nil {
			t.Fatal(err)
		}
		berlin, _ := time.LoadLocation("Europe/Berlin")
		var got []string
		for _, r := range [][2]time.Time{
			{time.Date(2026, 3, 28, 0, 0, 0, 0, berlin), time.Date(2026, 3, 31, 0, 0, 0, 0, berlin)},
			{time.Date(2026, 10, 24, 0, 0, 0, 0, berlin), time.Date(2026, 10, 27, 0, 0, 0, 0, berlin)},
		} {
			for i, p := range s.Between(r[0], r[1]) {
				line := r[0].AddDate(0, 0, i).Format("01-02")
				if !p.Time.IsZero() {
					line += " " + p.Time.In(berlin).Format("15:04 MST")
				}
				if p.Note != "" {
					line += " " + p.Note
				}
				got = append(got, line)
			}
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("missing %v:\n got %q\nwant %q", tt.missing, got, tt.want)
		}
	}
}
