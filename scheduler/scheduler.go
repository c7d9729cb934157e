package scheduler

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/graphjob/graphjob/checkpoints"
	"github.com/graphjob/graphjob/contract"
)

// Launcher starts and stops the runs of slots: Jobs makes them Kubernetes
// Jobs.
type Launcher interface {
	// Launch starts the run of a slot. A run started already (its Job
	// exists) is no error: the run is the slot's, whoever made it. A
	// *TerminalError says trying again cannot help.
	Launch(ctx context.Context, e *Entry, slot time.Time, runID string) error
	// Active lists the IDs of the schedule's runs that have not finished.
	Active(ctx context.Context, e *Entry) ([]string, error)
	// Stop stops a run of the schedule (concurrencyPolicy Replace).
	Stop(ctx context.Context, e *Entry, runID string) error
}

const (
	// DefaultHorizon is how far back a restarted scheduler looks for missed
	// slots when a schedule's catch-up window does not say.
	DefaultHorizon = 24 * time.Hour
	// DefaultWorkers is how many schedules fire slots at once.
	DefaultWorkers = 32
	// launchTries bounds the tries to start a claimed slot's run: with
	// backoff from retryBase doubling, about four minutes. A restart tries
	// again.
	launchTries = 9
	retryBase   = time.Second
)

// Scheduler fires the slots of its schedules: at each slot it claims the
// slot in the store (create-only), and if the claim is its own, launches the
// slot's run. Its work loop is client-go's rate-limiting workqueue, keyed by
// schedule as Kubernetes' CronJob controller's: a schedule waits in it for
// its next slot (AddAfter) or, after a transient error, for its backoff
// (AddRateLimited), so one schedule's slots fire in order, and different
// schedules' in parallel on Workers workers. robfig/cron only computes the
// slots; the clock is injected.
//
// Set the exported fields before Run; Set may be called at any time.
type Scheduler struct {
	Store  *checkpoints.Store
	Launch Launcher
	// By names this scheduler in the slots it claims; "scheduler" if empty.
	By string
	// Clock is the real clock if nil.
	Clock clock.WithTicker
	// Horizon is DefaultHorizon if 0.
	Horizon time.Duration
	// Workers is DefaultWorkers if 0.
	Workers int
	// Metrics and Events are optional.
	Metrics *Metrics
	Events  Events

	once      sync.Once
	queue     workqueue.TypedRateLimitingInterface[string]
	mu        sync.Mutex
	schedules map[string]*schedule
}

// schedule is a schedule's entry and where its firing is. Only the worker
// that holds the schedule's key in the queue changes it; wake is read by
// Waiting under the Scheduler's mutex.
type schedule struct {
	entry *Entry
	// started: the missed slots were caught up on.
	started bool
	// due are slots to fire, oldest first; next is the first slot after
	// them, not due yet.
	due  []time.Time
	next time.Time
	// wake is when the schedule's key comes out of the queue again; zero
	// while it is due or being worked on.
	wake time.Time
}

func (s *Scheduler) init() {
	s.once.Do(func() {
		if s.Clock == nil {
			s.Clock = clock.RealClock{}
		}
		s.queue = workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](retryBase, retryBase<<(launchTries-1)),
			workqueue.TypedRateLimitingQueueConfig[string]{Clock: s.Clock},
		)
		if s.schedules == nil {
			s.schedules = map[string]*schedule{}
		}
	})
}

// Set makes entries the scheduler's schedules: a new or changed one is
// started again (caught up from its last claimed slot, then fired as it
// comes), one left out or suspended stops, an unchanged one goes on as it
// was. It returns the names of the schedules started.
func (s *Scheduler) Set(entries []*Entry) []string {
	s.init()
	s.mu.Lock()
	defer s.mu.Unlock()
	var started []string
	keep := map[string]bool{}
	for _, e := range entries {
		if e.Suspend {
			continue
		}
		keep[e.Name] = true
		if old := s.schedules[e.Name]; old != nil && old.entry.Equal(e) {
			continue
		}
		s.schedules[e.Name] = &schedule{entry: e}
		s.queue.Forget(e.Name)
		s.queue.Add(e.Name)
		started = append(started, e.Name)
	}
	for name := range s.schedules {
		if !keep[name] {
			delete(s.schedules, name) // its key, when it comes, finds nothing
		}
	}
	return started
}

// waiting reports whether, at now, every schedule waits for a time still to
// come: a slot or a retry. Tests on a fake clock move it only then.
func (s *Scheduler) waiting(now time.Time) bool {
	s.init()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sc := range s.schedules {
		if !sc.wake.After(now) {
			return false
		}
	}
	return true
}

// Run fires the slots of the schedules Set gave (and of entries, if any,
// set first) until ctx ends. A slot whose firing has begun is finished.
func (s *Scheduler) Run(ctx context.Context, entries []*Entry) error {
	s.init()
	if entries != nil {
		s.Set(entries)
	}
	n := s.Workers
	if n <= 0 {
		n = DefaultWorkers
	}
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for s.next(ctx) {
			}
		})
	}
	<-ctx.Done()
	s.queue.ShutDown()
	wg.Wait()
	return nil
}

// next works on the next schedule that is due; false once the queue is
// shut down.
func (s *Scheduler) next(ctx context.Context) bool {
	name, shutdown := s.queue.Get()
	if shutdown {
		return false
	}
	defer s.queue.Done(name)
	s.mu.Lock()
	sc := s.schedules[name]
	if sc != nil {
		sc.wake = time.Time{}
	}
	s.mu.Unlock()
	if sc == nil || ctx.Err() != nil {
		return true
	}
	wake := s.sync(ctx, name, sc)
	s.mu.Lock()
	sc.wake = wake
	s.mu.Unlock()
	return true
}

// sync fires a schedule's due slots, in order, and queues the schedule
// again for its next slot, or for a retry after a transient error. It
// returns when the schedule's key comes out of the queue again.
func (s *Scheduler) sync(ctx context.Context, name string, sc *schedule) time.Time {
	e := sc.entry
	now := s.Clock.Now()
	if !sc.started {
		due, err := s.catchUp(ctx, e, now)
		if err != nil {
			s.event(Event{Schedule: name, Warning: true, Reason: ReasonCatchUpFailed, Message: "schedule not caught up; trying again", Err: err})
			return s.retry(name, now)
		}
		sc.due, sc.next, sc.started = due, e.Schedule.Next(now), true
	}
	for !sc.next.IsZero() && !sc.next.After(now) {
		sc.due = append(sc.due, sc.next)
		s.Metrics.fired(now.Sub(sc.next))
		sc.next = e.Schedule.Next(sc.next)
	}
	for len(sc.due) > 0 {
		if ctx.Err() != nil {
			return time.Time{} // the next leader catches up
		}
		slot := sc.due[0]
		// A slot whose firing begins is fired whole: claim and launch.
		if err := s.fire(context.WithoutCancel(ctx), e, slot); err != nil {
			if !s.failed(ctx, e, slot, err) {
				return s.retry(name, now)
			}
		}
		s.queue.Forget(name)
		sc.due = sc.due[1:]
	}
	if sc.next.IsZero() {
		return time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC) // no slot will come
	}
	s.queue.AddAfter(name, sc.next.Sub(now))
	return sc.next
}

// retry queues a schedule again after the backoff of its transient errors
// and returns when it comes out.
func (s *Scheduler) retry(name string, now time.Time) time.Time {
	s.queue.AddRateLimited(name)
	// The rate limiter's delay: retryBase doubling with each requeue.
	return now.Add(retryBase << min(s.queue.NumRequeues(name)-1, launchTries-1))
}

// failed handles a slot that did not start. A user's mistake (a
// *TerminalError) fails the slot's run for good: a Warning and a failed
// result, which backfill --reprocess failed can start again. A transient
// error is tried again (false), until launchTries; then the slot waits for
// a restart.
func (s *Scheduler) failed(ctx context.Context, e *Entry, slot time.Time, err error) bool {
	ev := Event{Schedule: e.Name, Slot: slot, RunID: contract.Slot{Schedule: e.Name, Time: slot}.RunID(), Warning: true, Reason: ReasonSlotFailed, Err: err}
	if _, ok := errors.AsType[*TerminalError](err); ok {
		ev.Message = "slot failed: its run cannot start"
		res := checkpoints.Result{Status: contract.Failed, Error: "not started: " + err.Error()}
		if err := s.Store.PutResult(ctx, ev.RunID, res); err != nil && !errors.Is(err, checkpoints.ErrExists) {
			ev.Message += "; its failed result was not recorded: " + err.Error()
		}
		s.event(ev)
		return true
	}
	tries := s.queue.NumRequeues(e.Name) + 1
	ev.Reason = ReasonSlotNotStarted
	switch {
	case tries >= launchTries:
		ev.Message = fmt.Sprintf("slot not started after %d tries; giving up on it: a restart starts it if no later slot has started, else graphjob backfill does", tries)
		s.event(ev)
		return true
	case tries == 1:
		ev.Message = "slot not started yet; trying again"
	default:
		ev.Warning, ev.Message = false, fmt.Sprintf("slot not started (try %d); trying again", tries)
	}
	s.event(ev)
	return false
}

// catchUp starts a schedule at now: it returns the missed slots its
// catch-up rule picks that were not claimed, and the newest claimed slots
// that have no run (their scheduler stopped between claim and launch),
// oldest first.
func (s *Scheduler) catchUp(ctx context.Context, e *Entry, now time.Time) ([]time.Time, error) {
	horizon := s.Horizon
	if horizon == 0 {
		horizon = DefaultHorizon
	}
	if e.Catchup.Window > 0 {
		horizon = e.Catchup.Window
	}
	from := now.Add(-horizon)
	// Slots from before the schedule existed are not missed.
	since, err := s.Store.ScheduleSince(ctx, e.Name, now)
	if err != nil {
		return nil, err
	}
	if since.After(from) {
		from = since
	}
	times, err := s.Store.SlotTimes(ctx, e.Name, from, now.Add(time.Second))
	if err != nil {
		return nil, err
	}
	claimed := make(map[time.Time]bool, len(times))
	for _, t := range times {
		claimed[t] = true
	}
	var orphans []time.Time
	for i := len(times) - 1; i >= 0; i-- {
		started, err := s.settled(ctx, e, times[i])
		if err != nil {
			return nil, err
		}
		if started {
			break
		}
		orphans = append([]time.Time{times[i]}, orphans...)
	}
	// Missed slots are those after the last that was claimed.
	if n := len(times); n > 0 && times[n-1].After(from) {
		from = times[n-1]
	}
	missed := e.Schedule.CatchUp(from, now, e.Catchup)
	due := orphans
	for _, t := range missed.Run {
		if !claimed[t] {
			due = append(due, t)
		}
	}
	if len(due) > 0 || missed.Skipped > 0 {
		s.event(Event{Schedule: e.Name, Reason: ReasonCatchingUp,
			Message: fmt.Sprintf("catching up: %d slots to run (%d claimed without a run), %d skipped by catch-up %s", len(due), len(orphans), missed.Skipped, e.Catchup)})
	}
	s.Metrics.caughtUp(len(due)-len(orphans), missed.Skipped)
	return due, nil
}

// settled says whether a claimed slot needs nothing more: it was skipped,
// or its run has a status (it started, or failed to start for good).
func (s *Scheduler) settled(ctx context.Context, e *Entry, slot time.Time) (bool, error) {
	sl, err := s.Store.Slot(ctx, e.Name, slot)
	if err != nil {
		return false, err
	}
	if sl.Skipped != "" {
		return true, nil
	}
	_, err = s.Store.Status(ctx, sl.Run)
	if errors.Is(err, checkpoints.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// fire claims a slot and, if the claim is this scheduler's, launches its run
// as the schedule's concurrency policy says. A slot claimed before is
// launched again only if its run never started (launching is idempotent:
// the Job's name is the slot's).
func (s *Scheduler) fire(ctx context.Context, e *Entry, slot time.Time) error {
	runID := contract.Slot{Schedule: e.Name, Time: slot}.RunID()
	ev := Event{Schedule: e.Name, Slot: slot, RunID: runID}
	claim := checkpoints.Slot{Schedule: e.Name, Time: slot, Run: runID, By: s.By}
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
		settled, err := s.settled(ctx, e, slot)
		if err != nil || settled {
			return err
		}
		ev.Reason, ev.Message = ReasonSlotOrphaned, "slot claimed before, its run not started: starting it"
		s.event(ev)
	case err != nil:
		return fmt.Errorf("claiming the slot: %w", err)
	case claim.Skipped != "":
		ev.Reason, ev.Message = ReasonSlotSkipped, "slot skipped: "+claim.Skipped
		s.Metrics.skipped()
		s.event(ev)
		return nil
	}
	if e.ConcurrencyPolicy == batchv1.ReplaceConcurrent {
		for _, old := range active {
			if old == runID {
				continue // the slot's own Job, made by an earlier try
			}
			if err := s.Launch.Stop(ctx, e, old); err != nil {
				return fmt.Errorf("replacing run %s: %w", old, err)
			}
			s.event(Event{Schedule: e.Name, Slot: slot, RunID: old, Reason: ReasonRunReplaced, Message: "run stopped: concurrencyPolicy Replace"})
		}
	}
	if err := s.Launch.Launch(ctx, e, slot, runID); err != nil {
		s.Metrics.launchFailed()
		return err
	}
	s.Metrics.launched()
	ev.Reason, ev.Message = ReasonSlotStarted, "slot fired: its run started"
	s.event(ev)
	return nil
}

func (s *Scheduler) event(ev Event) {
	if s.Events != nil {
		s.Events.Event(ev)
	}
}
