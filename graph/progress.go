package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
)

// Progress keeps the cursors that tasks save inside a superstep, so that a
// task run again (by a retry, or by a later attempt of the run) skips work it
// has done. A runner stores them; without WithProgress the engine keeps them
// in memory for the node's retries.
type Progress interface {
	// Save stores the task's newest cursor, JSON.
	Save(ctx context.Context, t TaskInfo, cursor []byte) error
	// Load returns the task's newest cursor, or nil if it has none.
	Load(ctx context.Context, t TaskInfo) ([]byte, error)
}

// WithProgress stores the cursors of SaveProgress in p.
func WithProgress(p Progress) RunOption { return func(c *runConfig) { c.progress = p } }

// ErrNoTask is returned by SaveProgress and LoadProgress when ctx is not a
// node's.
var ErrNoTask = errors.New("not called from a node: pass the node's context")

// SaveProgress saves a cursor for the task the node runs as: any value that
// encodes to JSON, saying how far the node got. If the task runs again (a
// retry, or a resumed run), LoadProgress returns the last cursor saved. Save a
// cursor when a unit of work is done, not in a tight loop: with a store, each
// save is a write to it.
func SaveProgress(ctx context.Context, cursor any) error {
	tc, ok := ctx.Value(taskKey{}).(*taskContext)
	if !ok {
		return ErrNoTask
	}
	data, err := json.Marshal(cursor)
	if err != nil {
		return fmt.Errorf("saving progress: the cursor does not encode to JSON: %w", err)
	}
	return tc.progress.save(ctx, tc.info, data)
}

// LoadProgress decodes the task's last saved cursor into cursor, a pointer,
// and reports whether there was one.
func LoadProgress(ctx context.Context, cursor any) (bool, error) {
	tc, ok := ctx.Value(taskKey{}).(*taskContext)
	if !ok {
		return false, ErrNoTask
	}
	data, err := tc.progress.load(ctx, tc.info)
	if err != nil || data == nil {
		return false, err
	}
	if err := json.Unmarshal(data, cursor); err != nil {
		return false, fmt.Errorf("loading progress: the saved cursor %s does not decode into %T: %w", data, cursor, err)
	}
	return true, nil
}

// taskContext is what a node's context carries: the task, and its cursor.
type taskContext struct {
	info     TaskInfo
	progress *taskProgress
}

// taskProgress is one task's newest cursor, shared by its attempts.
type taskProgress struct {
	store  Progress // nil: memory only
	mu     sync.Mutex
	cursor []byte
	loaded bool
}

func (p *taskProgress) save(ctx context.Context, t TaskInfo, data []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.store != nil {
		if err := p.store.Save(ctx, t, data); err != nil {
			return err
		}
	}
	p.cursor, p.loaded = data, true
	return nil
}

func (p *taskProgress) load(ctx context.Context, t TaskInfo) ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.loaded && p.store != nil {
		data, err := p.store.Load(ctx, t)
		if err != nil {
			return nil, err
		}
		p.cursor = data
	}
	p.loaded = true
	return p.cursor, nil
}
