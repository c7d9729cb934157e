package checkpoints

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Cursor is a task's saved progress inside a superstep not yet committed: how
// far the node got, so that the task run again skips that work. A task's
// cursors are numbered from 1; each save creates the next, so two attempts
// saving for one task cannot both succeed with the same number.
type Cursor struct {
	Step  int    `json:"step"`
	Index int    `json:"index"`
	Node  string `json:"node"`
	// Seq numbers the task's cursors from 1.
	Seq    int             `json:"seq"`
	Cursor json.RawMessage `json:"cursor"`
	Time   time.Time       `json:"time"`
}

func cursorsPrefix(run string, step, index int) string {
	return fmt.Sprintf("%sprogress/%012d/%06d/", runPrefix(run), step, index)
}

func cursorKey(run string, step, index, seq int) string {
	return fmt.Sprintf("%s%09d", cursorsPrefix(run, step, index), seq)
}

// PutCursor saves a task's cursor c.Seq. If another attempt saved that
// number first, it returns ErrExists: this attempt has been fenced.
func (s *Store) PutCursor(ctx context.Context, run string, c Cursor) error {
	if err := CheckRunID(run); err != nil {
		return err
	}
	if c.Step < 1 || c.Index < 0 || c.Seq < 1 {
		return fmt.Errorf("run %s: cursor %d for step %d task %d: steps and cursors count from 1, tasks from 0", run, c.Seq, c.Step, c.Index)
	}
	if !json.Valid(c.Cursor) {
		return fmt.Errorf("run %s: cursor for step %d task %d: %q is not JSON", run, c.Step, c.Index, c.Cursor)
	}
	if c.Time.IsZero() {
		c.Time = s.opts.Now().UTC()
	}
	_, err := s.putRecord(ctx, run, c.Step, cursorKey(run, c.Step, c.Index, c.Seq), kindCursor, c)
	return err
}

// LastCursor returns the newest cursor of a task, or ErrNotFound. It finds it
// by probing, as LastStep does.
func (s *Store) LastCursor(ctx context.Context, run string, step, index int) (*Cursor, error) {
	if err := CheckRunID(run); err != nil {
		return nil, err
	}
	exists := func(seq int) (bool, error) {
		ok, err := s.exists(ctx, cursorKey(run, step, index, seq))
		if err != nil {
			return false, &ObjectError{Run: run, Step: step, Key: cursorKey(run, step, index, seq), Err: err}
		}
		return ok, nil
	}
	if ok, err := exists(1); err != nil || !ok {
		if err == nil {
			err = &ObjectError{Run: run, Step: step, Key: cursorsPrefix(run, step, index), Err: fmt.Errorf("%w: no cursor saved", ErrNotFound)}
		}
		return nil, err
	}
	seq, err := lastOf(1, exists)
	if err != nil {
		return nil, err
	}
	key := cursorKey(run, step, index, seq)
	c := &Cursor{}
	if _, err := s.getRecord(ctx, run, step, key, kindCursor, c); err != nil {
		return nil, err
	}
	if c.Step != step || c.Index != index || c.Seq != seq {
		return nil, &ObjectError{Run: run, Step: step, Key: key, Err: fmt.Errorf("%w: the record is cursor %d of step %d task %d", ErrCorrupt, c.Seq, c.Step, c.Index)}
	}
	return c, nil
}

// lastOf returns the last number of a contiguous range that starts at lo,
// which exists: it doubles the distance until a number does not exist, then
// searches between.
func lastOf(lo int, exists func(int) (bool, error)) (int, error) {
	var hi int
	for d := 1; ; d *= 2 {
		ok, err := exists(lo + d)
		if err != nil {
			return 0, err
		}
		if !ok {
			hi = lo + d
			break
		}
		lo += d
	}
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		ok, err := exists(mid)
		if err != nil {
			return 0, err
		}
		if ok {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo, nil
}

// Cursors returns every cursor the run's tasks saved that retention has not
// deleted, by step, task and number: a subgraph's supersteps are among them
// (graph.Subgraph saves each as its task's progress).
func (s *Store) Cursors(ctx context.Context, run string) ([]Cursor, error) {
	if err := CheckRunID(run); err != nil {
		return nil, err
	}
	prefix := runPrefix(run) + "progress/"
	objs, err := s.list(ctx, prefix, "")
	if err != nil {
		return nil, &ObjectError{Run: run, Step: -1, Key: prefix, Err: err}
	}
	var out []Cursor
	for _, o := range objs {
		var step, index, seq int
		if _, err := fmt.Sscanf(strings.TrimPrefix(o.Key, prefix), "%012d/%06d/%09d", &step, &index, &seq); err != nil || o.Key != cursorKey(run, step, index, seq) {
			continue // not a cursor's key
		}
		c := Cursor{}
		if _, err := s.getRecord(ctx, run, step, o.Key, kindCursor, &c); err != nil {
			return nil, err
		}
		if c.Step != step || c.Index != index || c.Seq != seq {
			return nil, &ObjectError{Run: run, Step: step, Key: o.Key, Err: fmt.Errorf("%w: the record is cursor %d of step %d task %d", ErrCorrupt, c.Seq, c.Step, c.Index)}
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Cursor) int {
		return cmp.Or(cmp.Compare(a.Step, b.Step), cmp.Compare(a.Index, b.Index), cmp.Compare(a.Seq, b.Seq))
	})
	return out, nil
}
