package scheduler

import (
	"fmt"
	"time"
)

// Policy says which slots missed while the scheduler was not running are
// run when it is back.
type Policy string

const (
	// CatchupNone runs no missed slot: the scheduler goes on from the next one.
	CatchupNone Policy = "none"
	// CatchupLatest runs the most recent missed slot (within the window).
	CatchupLatest Policy = "latest"
	// CatchupAll runs every missed slot within the window, oldest first, up to Max
	// (the most recent Max).
	CatchupAll Policy = "all"
)

// Catchup is a schedule's catch-up rule.
type Catchup struct {
	Policy Policy
	// Window bounds how old a missed slot may be and still run; no bound
	// if 0.
	Window time.Duration
	// Max bounds the slots All runs at once; DefaultMax if 0.
	Max int
}

// DefaultMax is All's bound when Max is not given.
const DefaultMax = 100

// String describes the rule, such as "all within 24h0m0s, at most 100".
func (c Catchup) String() string {
	switch c.Policy {
	case "", CatchupNone:
		return "none"
	case CatchupLatest:
		if c.Window > 0 {
			return fmt.Sprintf("latest within %v", c.Window)
		}
		return "latest"
	}
	max := c.Max
	if max == 0 {
		max = DefaultMax
	}
	if c.Window > 0 {
		return fmt.Sprintf("all within %v, at most %d", c.Window, max)
	}
	return fmt.Sprintf("all, at most %d", max)
}

// Check returns an error naming the field that is wrong.
func (c Catchup) Check() error {
	switch c.Policy {
	case "", CatchupNone, CatchupLatest, CatchupAll:
	default:
		return fmt.Errorf("catchup.policy %q: use none, latest or all", c.Policy)
	}
	if c.Window < 0 {
		return fmt.Errorf("catchup.window %s: give a duration of 0 (no bound) or more", c.Window)
	}
	if c.Max < 0 {
		return fmt.Errorf("catchup.max %d: give 0 (the default, %d) or more", c.Max, DefaultMax)
	}
	return nil
}

// Missed is what a catch-up decides: the slots to run now, oldest first,
// and how many due slots it skips.
type Missed struct {
	Run     []time.Time
	Skipped int
}

// CatchUp returns which of the slots of s after last (the last slot that
// fired, or when the schedule was made) and up to now run under c. A slot
// less than a second old is on time, not missed: it runs under every
// policy. None runs only that one; Latest runs the most recent slot within
// the window; All runs every slot within the window, the most recent Max.
func (s *Schedule) CatchUp(last, now time.Time, c Catchup) Missed {
	keep := 1
	if c.Policy == CatchupAll {
		keep = c.Max
		if keep == 0 {
			keep = DefaultMax
		}
	}
	var m Missed
	for t := s.Next(last); !t.IsZero() && !t.After(now); t = s.Next(t) {
		age := now.Sub(t)
		eligible := age < time.Second ||
			(c.Policy == CatchupLatest || c.Policy == CatchupAll) && (c.Window == 0 || age <= c.Window)
		if !eligible {
			m.Skipped++
			continue
		}
		m.Run = append(m.Run, t)
		if len(m.Run) > keep {
			m.Run = m.Run[1:]
			m.Skipped++
		}
	}
	return m
}
