package runner

import (
	"context"
	"errors"
	"sync"

	"github.com/rs/zerolog"

	"github.com/graphjob/graphjob/checkpoints"
	"github.com/graphjob/graphjob/contract"
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
	fence context.CancelCauseFunc

	parent   *checkpoints.Step  // the last committed step
	first    int                // the first step this attempt runs
	inflight *inflight          // Async: the commit in flight
	buffered []graph.Checkpoint // Exit: steps reached, not committed

	mu      sync.Mutex // guards what follows
	writes  []checkpoints.Write
	cursors map[task]checkpoints.Cursor // Exit: each task's newest cursor
	seqs    map[task]int                // the number of each task's newest stored cursor
}

// inflight is an Async commit.
type inflight struct {
	done chan struct{}
	err  error
}

// task names a task of a superstep.
type task struct{ step, index int }

// begin returns where the run starts: its last committed step snap and
// pending writes, or, with no snap, a new step 0, committed.
func (c *committer) begin(ctx context.Context, snap *checkpoints.Snapshot, start func(context.Context) (graph.Checkpoint, error)) (graph.Checkpoint, map[int]graph.Update, error) {
	c.seqs = map[task]int{}
	if snap == nil {
		c.first = 1
		cp, err := start(ctx)
		if err != nil {
			return cp, nil, err
		}
		return cp, nil, c.put(ctx, cp)
	}
	c.parent, c.first = snap.Step, snap.Step.Step+1
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
		f := &inflight{done: make(chan struct{})}
		c.inflight = f
		go func() {
			f.err = c.put(context.WithoutCancel(ctx), cp)
			close(f.done)
		}()
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
// at once, so that a run stopped inside the step does not run it again. The
// task of a step of one is not: the step's commit follows at once.
func (c *committer) taskDone(ctx context.Context, t graph.TaskInfo, u graph.Update) error {
	if err := c.store.CheckUpdate(c.run, t.Step, u); err != nil {
		return err
	}
	if t.Tasks == 1 {
		return nil
	}
	w := checkpoints.Write{Step: t.Step, Index: t.Index, Task: graph.Task{Node: t.Node, Item: t.Item, HasItem: t.HasItem}, Update: u}
	if c.mode == Exit {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.writes = append(c.writes, w)
		return nil
	}
	if c.previousLost() {
		return nil
	}
	return c.putWrite(context.WithoutCancel(ctx), w)
}

// previousLost waits for the commit of the step before the tasks running
// (Async), and reports whether it failed. A task's write or cursor is stored
// only once that step is committed: a resumed run must find none made on a
// state it does not resume from.
func (c *committer) previousLost() bool {
	f := c.inflight // set before the tasks started, not changed while they run
	if f == nil {
		return false
	}
	<-f.done
	return f.err != nil
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
	c.mu.Lock()
	for k := range c.seqs {
		if k.step <= st.Step {
			delete(c.seqs, k) // the step's work is done
		}
	}
	c.mu.Unlock()
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
	f := c.inflight
	if f == nil {
		return nil
	}
	<-f.done
	c.inflight = nil
	return f.err
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
	writes, cursors := c.writes, c.cursors
	c.writes, c.cursors = nil, nil
	c.mu.Unlock()
	if c.parent == nil {
		return nil
	}
	for _, w := range writes {
		if w.Step == c.parent.Step+1 {
			if err := c.putWrite(ctx, w); err != nil {
				return err
			}
		}
	}
	for _, cur := range cursors {
		if cur.Step == c.parent.Step+1 {
			if err := c.putCursor(ctx, cur); err != nil {
				return err
			}
		}
	}
	return nil
}

// end makes what finished durable and writes the result the run's outcome
// calls for. It works on after ctx is cancelled: a second signal stops tasks,
// not the saving of what they finished.
func (c *committer) end(ctx context.Context, runErr, cause error) error {
	cancelled := ctx.Err() != nil
	ctx = context.WithoutCancel(ctx)
	flushErr := c.flush(ctx)
	if flushErr != nil && failedForGood(flushErr) {
		runErr, flushErr = flushErr, nil // a state too large to commit: the run fails
	}
	var fenced *FencedError
	switch {
	case errors.As(cause, &fenced) && !errors.As(runErr, &fenced):
		return errors.Join(cause, runErr, flushErr)
	case errors.As(runErr, &fenced) || errors.As(flushErr, &fenced):
		return errors.Join(runErr, flushErr)
	case flushErr != nil:
		return flushErr
	case runErr == nil:
		err := c.store.PutResult(ctx, c.run, checkpoints.Result{Status: contract.Succeeded, Step: c.parent.Step})
		if errors.Is(err, checkpoints.ErrExists) {
			return &FencedError{Run: c.run, Err: err}
		}
		return err
	case errors.Is(runErr, ErrDrained) || c.draining() || cancelled:
		c.log.Info().Int("step", c.parent.Step).Msg("drained: the last committed step is where the next attempt resumes")
		return ErrDrained
	case failedForGood(runErr):
		err := c.store.PutResult(ctx, c.run, checkpoints.Result{Status: contract.Failed, Step: c.parent.Step, Error: runErr.Error()})
		return errors.Join(runErr, err)
	}
	return runErr
}

// endAttempt records how the attempt ended.
func (c *committer) endAttempt(ctx context.Context, n int, err error) {
	e := checkpoints.AttemptEnd{N: n, Step: -1, Exit: ExitCode(err)}
	if c.parent != nil {
		e.Step = c.parent.Step
	}
	if err != nil {
		e.Error = err.Error()
	}
	if err := c.store.EndAttempt(context.WithoutCancel(ctx), c.run, e); err != nil {
		c.log.Warn().Err(err).Msg("the end of this attempt was not recorded")
	}
}
