package runner

import (
	"context"
	"errors"
	"sync"

	"github.com/rs/zerolog"

	"github.com/graphjob/graphjob/checkpoints"
	"github.com/graphjob/graphjob/graph"
)

// committer makes a run's supersteps and pending writes durable, in the
// order and at the times its durability mode says.
type committer struct {
	store *checkpoints.Store
	run   string
	mode  Durability
	log   zerolog.Logger
	drain <-chan struct{} // closed when the run must drain

	parent   *checkpoints.Step   // the last committed step
	inflight chan error          // Async: the outcome of the commit in flight
	buffered []graph.Checkpoint  // Exit: steps reached, not committed
	mu       sync.Mutex          // guards writes
	writes   []checkpoints.Write // Exit: pending writes not stored
}

// begin returns where the run starts: its last committed step and pending
// writes, or a new step 0, committed.
func (c *committer) begin(ctx context.Context, start func(context.Context) (graph.Checkpoint, error)) (graph.Checkpoint, map[int]graph.Update, error) {
	snap, err := c.store.Latest(ctx, c.run)
	if errors.Is(err, checkpoints.ErrNotFound) {
		cp, err := start(ctx)
		if err != nil {
			return cp, nil, err
		}
		return cp, nil, c.put(ctx, cp)
	}
	if err != nil {
		return graph.Checkpoint{}, nil, err
	}
	c.parent = snap.Step
	pending := make(map[int]graph.Update, len(snap.Pending))
	for _, w := range snap.Pending {
		pending[w.Index] = w.Update
	}
	c.log.Info().Int("step", snap.Step.Step).Int("pending_tasks", len(pending)).Msg("resuming from the last committed step")
	return snap.Checkpoint, pending, nil
}

// commit is the engine's WithCommit: it runs after every superstep.
func (c *committer) commit(ctx context.Context, cp graph.Checkpoint) error {
	switch c.mode {
	case Sync:
		if err := c.put(ctx, cp); err != nil {
			return err
		}
	case Async:
		if err := c.wait(); err != nil {
			return err
		}
		c.inflight = make(chan error, 1)
		go func(done chan<- error) { done <- c.put(context.WithoutCancel(ctx), cp) }(c.inflight)
	case Exit:
		c.buffered = append(c.buffered, cp)
	}
	if c.draining() {
		if err := c.flush(context.WithoutCancel(ctx)); err != nil {
			return err
		}
		return ErrDrained
	}
	return nil
}

// taskDone is the engine's WithTaskDone: a finished task's update is stored
// at once, so that a run stopped inside the step does not run it again.
func (c *committer) taskDone(ctx context.Context, t graph.TaskInfo, u graph.Update) error {
	w := checkpoints.Write{Step: t.Step, Index: t.Index, Task: graph.Task{Node: t.Node, Item: t.Item, HasItem: t.HasItem}, Update: u}
	if c.mode == Exit {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.writes = append(c.writes, w)
		return nil
	}
	return c.putWrite(context.WithoutCancel(ctx), w)
}

func (c *committer) putWrite(ctx context.Context, w checkpoints.Write) error {
	err := c.store.PutWrite(ctx, c.run, w)
	switch {
	case errors.Is(err, checkpoints.ErrExists):
		// Another attempt running at the same time finished the task first.
		// Its update is as good as this one; the step's commit decides which
		// attempt goes on.
		c.log.Warn().Int("step", w.Step).Str("node", w.Task.Node).Msg("another attempt stored this task's update first")
	case err != nil:
		// The step's commit carries the update anyway; losing the pending
		// write only means the task runs again if this attempt dies first.
		c.log.Warn().Err(err).Int("step", w.Step).Str("node", w.Task.Node).Msg("pending write not stored")
	}
	return nil
}

// put commits one step after the last.
func (c *committer) put(ctx context.Context, cp graph.Checkpoint) error {
	st, err := c.store.Commit(ctx, c.run, c.parent, cp)
	if errors.Is(err, checkpoints.ErrExists) {
		return &FencedError{Run: c.run, Err: err}
	}
	if err != nil {
		return err
	}
	c.parent = st
	c.log.Debug().Int("step", st.Step).Int64("bytes", st.Bytes()).Msg("step committed")
	return nil
}

// draining reports whether the run was told to drain.
func (c *committer) draining() bool {
	select {
	case <-c.drain:
		return true
	default:
		return false
	}
}

// wait waits for the commit in flight, if any.
func (c *committer) wait() error {
	if c.inflight == nil {
		return nil
	}
	err := <-c.inflight
	c.inflight = nil
	return err
}

// flush commits what is in flight or buffered, then the pending writes of the
// step after the last.
func (c *committer) flush(ctx context.Context) error {
	if err := c.wait(); err != nil {
		return err
	}
	for len(c.buffered) > 0 {
		if err := c.put(ctx, c.buffered[0]); err != nil {
			return err
		}
		c.buffered = c.buffered[1:]
	}
	c.mu.Lock()
	writes := c.writes
	c.writes = nil
	c.mu.Unlock()
	for _, w := range writes {
		if c.parent != nil && w.Step == c.parent.Step+1 {
			if err := c.putWrite(ctx, w); err != nil {
				return err
			}
		}
	}
	return nil
}

// end makes what finished durable and writes the result the run's outcome
// calls for. It works on after ctx is cancelled: a second signal stops tasks,
// not the saving of what they finished.
func (c *committer) end(ctx context.Context, runErr error) error {
	cancelled := ctx.Err() != nil
	ctx = context.WithoutCancel(ctx)
	flushErr := c.flush(ctx)
	var fenced *FencedError
	switch {
	case errors.As(runErr, &fenced) || errors.As(flushErr, &fenced):
		return errors.Join(runErr, flushErr)
	case flushErr != nil:
		return flushErr
	case runErr == nil:
		err := c.store.PutResult(ctx, c.run, checkpoints.Result{Status: checkpoints.Succeeded, Step: c.parent.Step})
		if errors.Is(err, checkpoints.ErrExists) {
			return &FencedError{Run: c.run, Err: err}
		}
		return err
	case errors.Is(runErr, ErrDrained) || c.draining() || cancelled:
		c.log.Info().Int("step", c.parent.Step).Msg("drained: the last committed step is where the next attempt resumes")
		return ErrDrained
	case failedForGood(runErr):
		err := c.store.PutResult(ctx, c.run, checkpoints.Result{Status: checkpoints.Failed, Step: c.parent.Step, Error: runErr.Error()})
		return errors.Join(runErr, err)
	}
	return runErr
}
