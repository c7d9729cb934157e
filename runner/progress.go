package runner

import (
	"context"
	"errors"

	"github.com/graphjob/graphjob/checkpoints"
	"github.com/graphjob/graphjob/graph"
)

// The committer is the engine's graph.Progress: it stores the cursors nodes
// save, and gives a task run again the newest one.
//
// Only the first superstep an attempt runs can have cursors from an earlier
// attempt: a cursor of step N is stored only once step N-1 is committed, and
// this attempt started from the last committed step.

// Load returns the task's newest stored cursor, or nil.
func (c *committer) Load(ctx context.Context, t graph.TaskInfo) ([]byte, error) {
	cur, err := c.lastCursor(ctx, t)
	if err != nil || cur == nil {
		return nil, err
	}
	if cur.Node != t.Node {
		c.log.Warn().Int("step", t.Step).Str("node", t.Node).Str("saved_by", cur.Node).Msg("ignoring a cursor saved by another node")
		return nil, nil
	}
	c.log.Info().Int("step", t.Step).Str("node", t.Node).Int("cursor", cur.Seq).Msg("the task resumes from its saved cursor")
	return cur.Cursor, nil
}

// lastCursor reads the task's newest cursor once, and remembers its number.
func (c *committer) lastCursor(ctx context.Context, t graph.TaskInfo) (*checkpoints.Cursor, error) {
	k := task{t.Step, t.Index}
	c.mu.Lock()
	_, known := c.seqs[k]
	c.mu.Unlock()
	if known || t.Step != c.first {
		return nil, nil
	}
	cur, err := c.store.LastCursor(ctx, c.run, t.Step, t.Index)
	if errors.Is(err, checkpoints.ErrNotFound) {
		cur, err = &checkpoints.Cursor{}, nil
	}
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seqs[k] = cur.Seq
	if cur.Seq == 0 {
		return nil, nil
	}
	return cur, nil
}

// Save stores the task's newest cursor; with Exit durability it is kept until
// the run drains.
func (c *committer) Save(ctx context.Context, t graph.TaskInfo, cursor []byte) error {
	cur := checkpoints.Cursor{Step: t.Step, Index: t.Index, Node: t.Node, Cursor: cursor}
	if c.mode == Exit {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.cursors == nil {
			c.cursors = map[task]checkpoints.Cursor{}
		}
		c.cursors[task{t.Step, t.Index}] = cur
		return nil
	}
	if c.previousLost() {
		return nil
	}
	return c.putCursor(context.WithoutCancel(ctx), cur)
}

// putCursor stores a cursor with the task's next number. If another attempt
// took that number, this attempt is fenced: the run stops.
func (c *committer) putCursor(ctx context.Context, cur checkpoints.Cursor) error {
	if _, err := c.lastCursor(ctx, graph.TaskInfo{Step: cur.Step, Index: cur.Index}); err != nil {
		return err
	}
	k := task{cur.Step, cur.Index}
	c.mu.Lock()
	cur.Seq = c.seqs[k] + 1
	c.mu.Unlock()
	err := c.store.PutCursor(ctx, c.run, cur)
	if errors.Is(err, checkpoints.ErrExists) {
		fenced := &FencedError{Run: c.run, Err: err}
		c.fence(fenced)
		return fenced
	}
	if err != nil {
		c.log.Warn().Err(err).Int("step", cur.Step).Str("node", cur.Node).Msg("cursor not saved")
		return err
	}
	c.mu.Lock()
	c.seqs[k] = cur.Seq
	c.mu.Unlock()
	return nil
}
