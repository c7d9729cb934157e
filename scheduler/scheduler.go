package scheduler

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/utils/clock"

	"github.com/graphjob/graphjob/checkpoints"
)

// Launcher starts and stops the runs of slots: Jobs makes them Kubernetes
// Jobs.
type Launcher interface {
	// Launch starts the run of a slot. A run started already (its Job
	// exists) is no error: the run is the slot's, whoever made it.
	Launch(ctx context.Context, e *Entry, slot time.Time, run string) error
	// Active lists the schedule's runs that have not finished.
	Active(ctx context.Context, e *Entry) ([]string, error)
	// Stop stops a run of the schedule (concurrencyPolicy Replace).
	Stop(ctx context.Context, e *Entry, run string) error
}

// Events are told what operators should see about a schedule, such as
// Kubernetes Events. Warning is false for normal events.
type Events interface {
	Event(schedule string, warning bool, reason, message string)
}

const (
	// DefaultHorizon is how far back a restarted scheduler looks for missed
	// slots when a schedule's catch-up window does not say.
	DefaultHorizon = 24 * time.Hour
	// DefaultWorkers is how many slots fire at once.
	DefaultWorkers = 32
	// launchTries bounds the tries to start a claimed slot's run: with
	// backoff from 1 s doubling, about four minutes. A restart tries again.
	launchTries = 9
)

// Scheduler fires the slots of its schedules: at each slot it claims the
// slot in the store (create-only), and if the claim is its own, launches the
// slot's run. Its timer is its own, on an injected clock; robfig/cron only
// computes the slots. A schedule's slots fire in order, one at a time;
// different schedules' fire in parallel, on Workers workers.
type Scheduler struct {
	Store  *checkpoints.Store
	Launch Launcher
	// By names this scheduler in the slots it claims; "scheduler" if empty.
	By string
	// Clock is the real clock if nil.
	Clock clock.Clock
	// Horizon is DefaultHorizon if 0.
	Horizon time.Duration
	// Workers is DefaultWorkers if 0.
	Workers int
	Log     zerolog.Logger
	// Metrics and Events are optional.
	Metrics *Metrics
	Events  Events

	busy atomic.Int64
}

// Busy returns how many catch-ups and slots Run handed to its workers are
// unfinished: 0 when the scheduler only waits for the next slot.
func (s *Scheduler) Busy() int { return int(s.busy.Load()) }

// firing is work for a worker: a slot to fire, or (slot zero) a schedule
// to start at now, which catches up on the slots it missed until then.
type firing struct {
	entry *Entry
	slot  time.Time
	now   time.Time
	tries int // earlier tries to launch it
	// retryAt is when a retry is due.
	retryAt time.Time
}

// at is when the firing is due.
func (f firing) at() time.Time {
	if f.tries > 0 {
		return f.retryAt
	}
	return f.slot
}

// Run fires the schedules' slots until ctx ends: first the missed slots
// their catch-up rules pick, then each slot as it comes.
func (s *Scheduler) Run(ctx context.Context, entries []*Entry) error {
	clk := s.clock()
	n := s.Workers
	if n <= 0 {
		n = DefaultWorkers
	}
	r := &retries{wake: make(chan struct{}, 1)}
	queues := make([]chan firing, n)
	var wg sync.WaitGroup
	for i := range queues {
		queues[i] = make(chan firing, 64)
		wg.Go(func() {
			for f := range queues[i] {
				s.work(ctx, f, r)
			}
		})
	}
	defer func() {
		for _, q := range queues {
			close(q)
		}
		wg.Wait()
	}()
	dispatch := func(f firing) bool {
		h := fnv.New32a()
		h.Write([]byte(f.entry.Name))
		s.busy.Add(1)
		select {
		case queues[h.Sum32()%uint32(n)] <- f:
			return true
		case <-ctx.Done():
			s.busy.Add(-1)
			return false
		}
	}

	now := clk.Now()
	due := &slotHeap{}
	for _, e := range entries {
		if e.Suspend {
			s.Log.Info().Str("schedule", e.Name).Msg("schedule suspended")
			continue
		}
		if !dispatch(firing{entry: e, now: now}) {
			return nil
		}
		if next := e.Parsed.Next(now); !next.IsZero() {
			heap.Push(due, firing{entry: e, slot: next})
		}
	}
	for {
		var (
			t     clock.Timer
			timer <-chan time.Time
		)
		if due.Len() > 0 {
			if wait := (*due)[0].at().Sub(clk.Now()); wait > 0 {
				t = clk.NewTimer(wait)
				timer = t.C()
			} else {
				timer = closed
			}
		}
		select {
		case <-ctx.Done():
		case <-r.wake:
			for _, f := range r.take() {
				heap.Push(due, f)
				s.busy.Add(-1)
			}
		case <-timer:
		}
		if t != nil {
			t.Stop()
		}
		if ctx.Err() != nil {
			return nil
		}
		now := clk.Now()
		for due.Len() > 0 && !(*due)[0].at().After(now) {
			f := heap.Pop(due).(firing)
			if !dispatch(f) {
				return nil
			}
			if f.tries > 0 {
				continue
			}
			if next := f.entry.Parsed.Next(f.slot); !next.IsZero() {
				heap.Push(due, firing{entry: f.entry, slot: next})
			}
		}
	}
}

var closed = func() chan time.Time { c := make(chan time.Time); close(c); return c }()

func (s *Scheduler) clock() clock.Clock {
	if s.Clock == nil {
		return clock.RealClock{}
	}
	return s.Clock
}

// work does a firing on its schedule's worker. Once ctx ends, the slots
// dispatched still fire (they are due), but not retried; catch-ups stop.
func (s *Scheduler) work(ctx context.Context, f firing, r *retries) {
	defer s.busy.Add(-1)
	if f.slot.IsZero() {
		if ctx.Err() == nil {
			s.catchUp(ctx, f.entry, f.now, r)
		}
		return
	}
	stopping := ctx.Err() != nil
	if f.tries == 0 {
		s.Metrics.fired(s.clock().Since(f.slot))
	}
	if err := s.fire(context.WithoutCancel(ctx), f.entry, f.slot); err != nil && !stopping {
		s.retry(f, err, r)
	}
}

// retry hands a slot whose firing failed back to the loop, to fire again
// after a backoff, or gives up on it after launchTries.
func (s *Scheduler) retry(f firing, err error, r *retries) {
	f.tries++
	log := s.Log.Error().Err(err).Str("schedule", f.entry.Name).Time("slot", f.slot).Int("tries", f.tries)
	slot := f.slot.UTC().Format(time.RFC3339)
	if f.tries >= launchTries {
		log.Msg("slot not started; giving up until the scheduler restarts")
		s.event(f.entry, true, "SlotNotStarted", fmt.Sprintf("slot %s not started after %d tries: %v", slot, f.tries, err))
		return
	}
	log.Msg("slot not started; trying again")
	if f.tries == 1 {
		s.event(f.entry, true, "SlotNotStarted", fmt.Sprintf("slot %s not started yet (trying again): %v", slot, err))
	}
	f.retryAt = s.clock().Now().Add(time.Second << (f.tries - 1))
	s.busy.Add(1) // until the loop takes it
	r.add(f)
}

// catchUp starts a schedule: it fires the missed slots its catch-up rule
// picks and were not claimed, and launches the run of the newest claimed
// slots that have none (their scheduler stopped between claim and launch).
func (s *Scheduler) catchUp(ctx context.Context, e *Entry, now time.Time, r *retries) {
	log := s.Log.With().Str("schedule", e.Name).Logger()
	horizon := s.Horizon
	if horizon == 0 {
		horizon = DefaultHorizon
	}
	if e.Rule.Window > 0 {
		horizon = e.Rule.Window
	}
	from := now.Add(-horizon)
	// Slots from before the schedule existed are not missed.
	since, err := s.Store.ScheduleSince(ctx, e.Name, now)
	if err != nil {
		log.Error().Err(err).Msg("schedule not caught up")
		s.event(e, true, "CatchUpFailed", err.Error())
		return
	}
	if since.After(from) {
		from = since
	}
	times, err := s.Store.SlotTimes(ctx, e.Name, from, now.Add(time.Second))
	if err != nil {
		log.Error().Err(err).Msg("schedule not caught up")
		s.event(e, true, "CatchUpFailed", err.Error())
		return
	}
	claimed := make(map[time.Time]bool, len(times))
	for _, t := range times {
		claimed[t] = true
	}
	for i := len(times) - 1; i >= 0; i-- {
		started, err := s.started(ctx, e, times[i])
		if err != nil {
			log.Error().Err(err).Time("slot", times[i]).Msg("claimed slot not checked")
			break
		}
		if started {
			break
		}
		if err := s.Launch.Launch(ctx, e, times[i], JobName(e.Name, times[i])); err != nil {
			s.retry(firing{entry: e, slot: times[i]}, err, r)
			break
		}
		log.Info().Time("slot", times[i]).Msg("claimed slot had no run: started")
	}
	// Missed slots are those after the last that was claimed.
	if n := len(times); n > 0 && times[n-1].After(from) {
		from = times[n-1]
	}
	missed := e.Parsed.CatchUp(from, now, e.Rule)
	var run []time.Time
	for _, t := range missed.Run {
		if !claimed[t] {
			run = append(run, t)
		}
	}
	if len(run) > 0 || missed.Skipped > 0 {
		log.Info().Int("to_run", len(run)).Int("skipped", missed.Skipped).Msg("catching up")
	}
	s.Metrics.caughtUp(len(run), missed.Skipped)
	for _, t := range run {
		if ctx.Err() != nil {
			return
		}
		if err := s.fire(ctx, e, t); err != nil && ctx.Err() == nil {
			s.retry(firing{entry: e, slot: t}, err, r)
		}
	}
}

// started says whether a claimed slot needs nothing more: it was skipped,
// or its run has started (its run record exists).
func (s *Scheduler) started(ctx context.Context, e *Entry, slot time.Time) (bool, error) {
	sl, err := s.Store.Slot(ctx, e.Name, slot)
	if err != nil {
		return false, err
	}
	if sl.Skipped != "" {
		return true, nil
	}
	_, err = s.Store.Run(ctx, sl.Run)
	if errors.Is(err, checkpoints.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// fire claims a slot and, if the claim is this scheduler's, launches its run
// as the schedule's concurrency policy says. A slot claimed before is
// launched again only if its run never started (launching is idempotent:
// the Job's name is the slot's). An error means the slot should be fired
// again later.
func (s *Scheduler) fire(ctx context.Context, e *Entry, slot time.Time) error {
	run := JobName(e.Name, slot)
	log := s.Log.With().Str("schedule", e.Name).Time("slot", slot).Str("run_id", run).Logger()
	claim := checkpoints.Slot{Schedule: e.Name, Time: slot, Run: run, By: s.By}
	if claim.By == "" {
		claim.By = "scheduler"
	}
	var active []string
	if e.ConcurrencyPolicy == batchv1.ForbidConcurrent || e.ConcurrencyPolicy == batchv1.ReplaceConcurrent {
		var err error
		if active, err = s.Launch.Active(ctx, e); err != nil {
			return fmt.Errorf("listing the schedule's active runs: %w", err)
		}
		if e.ConcurrencyPolicy == batchv1.ForbidConcurrent && len(active) > 0 {
			claim.Skipped = "concurrencyPolicy Forbid: " + strings.Join(active, ", ") + " still running"
		}
	}
	err := s.Store.ClaimSlot(ctx, claim)
	switch {
	case errors.Is(err, checkpoints.ErrExists):
		started, err := s.started(ctx, e, slot)
		if err != nil || started {
			log.Debug().Err(err).Msg("slot claimed before")
			return err
		}
		log.Info().Msg("slot claimed before, its run not started")
	case err != nil:
		return fmt.Errorf("claiming the slot: %w", err)
	case claim.Skipped != "":
		log.Info().Str("reason", claim.Skipped).Msg("slot skipped")
		s.Metrics.skipped()
		s.event(e, false, "SlotSkipped", fmt.Sprintf("slot %s skipped: %s", slot.UTC().Format(time.RFC3339), claim.Skipped))
		return nil
	}
	if e.ConcurrencyPolicy == batchv1.ReplaceConcurrent {
		for _, old := range active {
			if old == run {
				continue // the slot's own Job, made by an earlier try
			}
			if err := s.Launch.Stop(ctx, e, old); err != nil {
				return fmt.Errorf("replacing run %s: %w", old, err)
			}
			log.Info().Str("replaced", old).Msg("run stopped: concurrencyPolicy Replace")
		}
	}
	if err := s.Launch.Launch(ctx, e, slot, run); err != nil {
		s.Metrics.launchFailed()
		return err
	}
	s.Metrics.launched()
	log.Info().Msg("slot fired")
	return nil
}

func (s *Scheduler) event(e *Entry, warning bool, reason, msg string) {
	if s.Events != nil {
		s.Events.Event(e.Name, warning, reason, msg)
	}
}

// retries holds the firings to try again, for the loop to take.
type retries struct {
	mu   sync.Mutex
	list []firing
	wake chan struct{}
}

func (r *retries) add(f firing) {
	r.mu.Lock()
	r.list = append(r.list, f)
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *retries) take() []firing {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := r.list
	r.list = nil
	return l
}

// slotHeap orders firings, earliest first.
type slotHeap []firing

func (h slotHeap) Len() int           { return len(h) }
func (h slotHeap) Less(i, j int) bool { return h[i].at().Before(h[j].at()) }
func (h slotHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *slotHeap) Push(x any)        { *h = append(*h, x.(firing)) }
func (h *slotHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
