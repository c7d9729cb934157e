package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/graphjob/graphjob/contract"
	"k8s.io/utils/clock"

	"github.com/rs/zerolog"

	"github.com/graphjob/graphjob/checkpoints"
	"github.com/graphjob/graphjob/graph"
)

// Durability says when supersteps are committed.
type Durability string

const (
	// Sync commits step k before step k+1 starts: a crash loses at most the
	// step in flight (less its pending writes).
	Sync Durability = "sync"
	// Async commits step k while step k+1 runs, in order; the run waits for
	// the commit of step k before committing k+1.
	Async Durability = "async"
	// Exit commits only when the run ends or drains: a crash loses
	// everything since the start of this attempt.
	Exit Durability = "exit"
)

// ParseDurability checks a --durability value.
func ParseDurability(s string) (Durability, error) {
	switch d := Durability(s); d {
	case Sync, Async, Exit:
		return d, nil
	}
	return "", &InvalidError{fmt.Errorf("--durability %q: use sync, async or exit", s)}
}

// Options describe one run.
type Options struct {
	Store *checkpoints.Store
	// ID is the run's ID (see ResolveID).
	ID string
	// Graph names the graph and pins its content; a resumed run must match.
	Graph checkpoints.GraphRef
	// InputGiven says the caller gave input explicitly: a resumed run whose
	// recorded input differs is refused.
	InputGiven bool
	// Origin says what started the run, for the run record.
	Origin map[string]string
	// Durability defaults to Sync.
	Durability Durability
	// Drain, when it closes, makes the run drain: no new superstep starts,
	// running tasks get DrainTimeout (default contract.DefaultDrainTimeout), what
	// finished is committed, and Run returns ErrDrained. Cancelling ctx
	// instead stops tasks at once; what finished is still committed.
	Drain        <-chan struct{}
	DrainTimeout time.Duration
	// RetryFailed runs a failed run again; AllowGraphChange resumes a run
	// whose graph changed.
	RetryFailed, AllowGraphChange bool
	// RunOptions go to the engine (recursion limit, concurrency, hooks).
	RunOptions []graph.RunOption
	Log        zerolog.Logger
	// Clock times drains and the engine's retries; the real clock if nil.
	Clock clock.Clock
}

// Run executes the run to its end, resuming it if it has history, and returns
// its final state. See ExitCode for what its errors mean.
func Run[S any](ctx context.Context, g *graph.Graph[S], input S, o Options) (S, error) {
	var zero S
	s, log := o.Store, o.Log
	if o.Durability == "" {
		o.Durability = Sync
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = contract.DefaultDrainTimeout
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if err := record(ctx, s, input, o); err != nil {
		return zero, err
	}
	res, err := s.Result(ctx, o.ID)
	switch {
	case err == nil && res.Status == contract.Succeeded:
		log.Info().Int("step", res.Step).Msg("run already complete; reporting its result")
		snap, err := s.Latest(ctx, o.ID)
		if err != nil {
			return zero, err
		}
		if snap.Step.Step != res.Step {
			return zero, fmt.Errorf("run %s: %w: its result is of step %d, and its history ends at step %d (a step deleted, or a result copied from elsewhere)", o.ID, checkpoints.ErrCorrupt, res.Step, snap.Step.Step)
		}
		// The stored state, as it is: a result ends the run, even if its
		// last step has tasks due (it never runs a node again).
		return g.State(snap.Checkpoint)
	case err == nil && !o.RetryFailed:
		return zero, &FailedError{Run: o.ID, Result: *res}
	case err == nil:
		log.Warn().Str("error", res.Error).Msg("running a failed run again (--retry-failed)")
		if err := s.DeleteResult(ctx, o.ID); err != nil {
			return zero, err
		}
	case !errors.Is(err, checkpoints.ErrNotFound):
		return zero, err
	}

	snap, err := s.Latest(ctx, o.ID)
	if err != nil && !errors.Is(err, checkpoints.ErrNotFound) {
		return zero, err
	}
	from := -1
	if snap != nil {
		from = snap.Step.Step
	}
	att, err := s.StartAttempt(ctx, o.ID, checkpoints.Attempt{From: from, Origin: o.Origin})
	if err != nil {
		return zero, err
	}
	log = log.With().Int("attempt", att.N).Logger()
	ctx = log.WithContext(ctx)
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	c := &committer{store: s, run: o.ID, mode: o.Durability, log: log, drain: o.Drain, fence: cancel}
	cp, pending, err := c.begin(ctx, snap, func(ctx context.Context) (graph.Checkpoint, error) {
		return g.Start(ctx, input, o.RunOptions...)
	})
	if err != nil {
		c.endAttempt(ctx, att.N, err)
		return zero, err
	}
	stopDrain := c.watchDrain(runCtx, o.Clock, o.DrainTimeout, cancel)
	defer stopDrain()
	opts := append(append([]graph.RunOption{graph.WithClock(o.Clock)}, o.RunOptions...),
		graph.WithRunID(o.ID), graph.WithCommit(c.commit), graph.WithTaskDone(c.taskDone),
		graph.WithPending(pending), graph.WithProgress(c))
	final, err := g.Resume(runCtx, cp, opts...)
	err = c.end(ctx, err, context.Cause(runCtx))
	c.endAttempt(ctx, att.N, err)
	return final, err
}

// record writes the run record, or checks the one a previous attempt wrote.
func record[S any](ctx context.Context, s *checkpoints.Store, input S, o Options) error {
	in, err := toMap(input)
	if err != nil {
		return err
	}
	err = s.CreateRun(ctx, checkpoints.RunRecord{ID: o.ID, Graph: o.Graph, Input: in, Origin: o.Origin})
	if !errors.Is(err, checkpoints.ErrExists) {
		return err
	}
	prev, err := s.RunRecord(ctx, o.ID)
	if err != nil {
		return err
	}
	if prev.Graph.Digest != o.Graph.Digest && !o.AllowGraphChange {
		return &InvalidError{fmt.Errorf("run %s was started with graph %s (%s) and the graph is now %s (%s): resuming it with a changed graph needs --allow-graph-change, or start a new run with another --run-id",
			o.ID, prev.Graph.Name, prev.Graph.Digest, o.Graph.Name, o.Graph.Digest)}
	}
	if o.InputGiven {
		a, _ := json.Marshal(prev.Input)
		b, _ := json.Marshal(in)
		if !bytes.Equal(a, b) {
			return &InvalidError{fmt.Errorf("run %s was started with input %s; resuming it with another input (%s) is refused: drop --input/--set to resume, or start a new run with another --run-id", o.ID, a, b)}
		}
	}
	o.Log.Info().Str("started", prev.Created.Format(time.RFC3339)).Msg("resuming run")
	return nil
}

// toMap turns a state into its JSON object form, as the record keeps it.
func toMap[S any](s S) (map[string]any, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("encoding the input: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("the state is not a JSON object: %w", err)
	}
	return m, nil
}

// watchDrain gives running tasks timeout after the drain starts, then
// cancels them. (The commit after the step running sees the drain itself.)
func (c *committer) watchDrain(ctx context.Context, clk clock.Clock, timeout time.Duration, cancel context.CancelCauseFunc) (stop func()) {
	done := make(chan struct{})
	go func() {
		select {
		case <-c.drain:
		case <-done:
			return
		}
		c.log.Info().Dur("drain_timeout", timeout).Msg("draining: no new steps; running tasks may finish")
		t := clk.NewTimer(timeout)
		defer t.Stop()
		select {
		case <-t.C():
			c.log.Warn().Msg("drain timeout: cancelling running tasks")
			cancel(ErrDrained)
		case <-done:
		case <-ctx.Done():
		}
	}()
	return func() { close(done) }
}
