package scheduler

import (
	"container/heap"
	"context"
	"errors"
	"time"

	"github.com/rs/zerolog"
	"k8s.io/utils/clock"

	"github.com/graphjob/graphjob/checkpoints"
)

// Launcher starts the run of a slot: creates its Job. An error is logged;
// the slot stays claimed (a slot runs at most once).
type Launcher interface {
	Launch(ctx context.Context, e *Entry, slot time.Time, run string) error
}

// DefaultHorizon is how far back a restarted scheduler looks for missed
// slots when a schedule's catch-up window does not say.
const DefaultHorizon = 24 * time.Hour

// Scheduler fires the slots of its schedules: at each slot it claims the
// slot in the store (create-only), and if the claim is its own, launches the
// slot's run. Its timer is its own, on an injected clock; robfig/cron only
// computes the slots.
type Scheduler struct {
	Store  *checkpoints.Store
	Launch Launcher
	// Clock is the real clock if nil.
	Clock clock.Clock
	// Horizon is DefaultHorizon if 0.
	Horizon time.Duration
	Log     zerolog.Logger
}

// Run fires the schedules' slots until ctx ends: first the missed slots
// their catch-up rules pick, then each slot as it comes.
func (s *Scheduler) Run(ctx context.Context, entries []*Entry) error {
	clk := s.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	horizon := s.Horizon
	if horizon == 0 {
		horizon = DefaultHorizon
	}
	now := clk.Now()
	due := &slotHeap{}
	for _, e := range entries {
		if e.Suspend {
			s.Log.Info().Str("schedule", e.Name).Msg("schedule suspended")
			continue
		}
		rule := e.Rule
		from := now.Add(-horizon)
		if rule.Window > 0 {
			from = now.Add(-rule.Window)
		}
		// Slots from before the schedule existed are not missed; slots
		// that ran are claimed, and fire skips them.
		since, err := s.Store.ScheduleSince(ctx, e.Name, now)
		if err != nil {
			s.Log.Error().Err(err).Str("schedule", e.Name).Msg("schedule not started")
			continue
		}
		if since.After(from) {
			from = since
		}
		missed := e.Parsed.CatchUp(from, now, rule)
		if len(missed.Run) > 0 || missed.Skipped > 0 {
			s.Log.Info().Str("schedule", e.Name).Int("to_run", len(missed.Run)).Int("skipped", missed.Skipped).Msg("catching up")
		}
		for _, slot := range missed.Run {
			s.fire(ctx, e, slot)
		}
		if next := e.Parsed.Next(now); !next.IsZero() {
			heap.Push(due, dueSlot{at: next, entry: e})
		}
	}
	for due.Len() > 0 {
		next := (*due)[0]
		if wait := next.at.Sub(clk.Now()); wait > 0 {
			t := clk.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C():
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		heap.Pop(due)
		s.fire(ctx, next.entry, next.at)
		if after := next.entry.Parsed.Next(next.at); !after.IsZero() {
			heap.Push(due, dueSlot{at: after, entry: next.entry})
		}
	}
	<-ctx.Done()
	return nil
}

// fire claims a slot and, if the claim is this scheduler's, launches it.
func (s *Scheduler) fire(ctx context.Context, e *Entry, slot time.Time) {
	run := JobName(e.Name, slot)
	log := s.Log.With().Str("schedule", e.Name).Time("slot", slot).Str("run_id", run).Logger()
	err := s.Store.ClaimSlot(ctx, checkpoints.Slot{Schedule: e.Name, Time: slot, Run: run, By: "scheduler"})
	switch {
	case errors.Is(err, checkpoints.ErrExists):
		log.Debug().Msg("slot already claimed")
		return
	case err != nil:
		log.Error().Err(err).Msg("slot not claimed; it is not run")
		return
	}
	if err := s.Launch.Launch(ctx, e, slot, run); err != nil {
		log.Error().Err(err).Msg("slot claimed, its run not started")
		return
	}
	log.Info().Msg("slot fired")
}

// dueSlot is a schedule's next slot.
type dueSlot struct {
	at    time.Time
	entry *Entry
}

// slotHeap orders due slots, earliest first.
type slotHeap []dueSlot

func (h slotHeap) Len() int           { return len(h) }
func (h slotHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h slotHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *slotHeap) Push(x any)        { *h = append(*h, x.(dueSlot)) }
func (h *slotHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
