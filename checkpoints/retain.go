package checkpoints

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Retained counts what Retain deleted.
type Retained struct {
	Steps, Values, Writes, Cursors int
}

// Retain deletes the run's steps older than the last keep (keep ≥ 1; the
// latest step is never deleted), the values only those steps referenced, and
// the pending writes and cursors of committed steps. It is safe while the run is being
// written: a value newer than the last committed step may be about to be
// referenced and is kept. Steps are deleted oldest first, so an interrupted
// Retain leaves a loadable run.
func (s *Store) Retain(ctx context.Context, run string, keep int) (Retained, error) {
	var done Retained
	if keep < 1 {
		return done, fmt.Errorf("run %s: retention must keep at least 1 step, not %d", run, keep)
	}
	last, err := s.LastStep(ctx, run)
	if err != nil {
		return done, err
	}
	first := max(0, last-keep+1)
	kept := map[string]bool{}
	newest := map[string]uint64{} // per channel, the version of the last step
	for n := last; n >= first; n-- {
		st, err := s.Step(ctx, run, n)
		if errors.Is(err, ErrNotFound) {
			break // already deleted by an earlier Retain
		}
		if err != nil {
			return done, err
		}
		for ch, ref := range st.Channels {
			if n == last {
				newest[escapeChannel(ch)] = ref.Version
			}
			refs := []ValueRef{ref}
			if len(ref.Parts) > 0 {
				refs = ref.Parts
			}
			for _, r := range refs {
				key := valueKey(run, ch, r)
				seen := kept[key] // kept steps share values: each is spilled once
				kept[key] = true
				if r.Inline && r.Step < first && !seen {
					if err := s.spill(ctx, run, ch, r); err != nil {
						return done, err
					}
				}
			}
		}
	}
	// The floor marker lets LastStep start from the first kept step without
	// listing the history; it is written before any step goes.
	if first > 0 {
		if _, err := s.putRecord(ctx, run, first, floorKey(run, first), kindFloor, struct {
			Step int `json:"step"`
		}{first}); err != nil {
			return done, err
		}
	}
	steps, err := s.list(ctx, stepsPrefix(run), "")
	if err != nil {
		return done, &ObjectError{Run: run, Step: -1, Key: stepsPrefix(run), Err: err}
	}
	for _, o := range steps {
		if n, ok := parseNumber(o.Key, stepsPrefix(run)); ok && n < first {
			if err := s.remove(ctx, o.Key); err != nil {
				return done, &ObjectError{Run: run, Step: n, Key: o.Key, Err: err}
			}
			done.Steps++
		}
	}
	values, err := s.list(ctx, valuesPrefix(run), "")
	if err != nil {
		return done, &ObjectError{Run: run, Step: -1, Key: valuesPrefix(run), Err: err}
	}
	for _, o := range values {
		ch, version, ok := parseValueKey(o.Key, valuesPrefix(run))
		if !ok || kept[o.Key] || version > newest[ch] {
			continue
		}
		if err := s.remove(ctx, o.Key); err != nil {
			return done, &ObjectError{Run: run, Step: -1, Key: o.Key, Err: err}
		}
		done.Values++
	}
	if done.Writes, err = s.removeByStep(ctx, run, "writes/", last); err != nil {
		return done, err
	}
	if done.Cursors, err = s.removeByStep(ctx, run, "progress/", last); err != nil {
		return done, err
	}
	return done, s.removeOldFloors(ctx, run, first)
}

// spill copies an inline value that a kept step references out of the
// record of the step that wrote it, which is about to go, into an object of
// its own, where loading finds it once the record is gone.
func (s *Store) spill(ctx context.Context, run, ch string, ref ValueRef) error {
	key := valueKey(run, ch, ref)
	if ok, err := s.exists(ctx, key); ok || err != nil {
		if err != nil {
			return &ObjectError{Run: run, Step: ref.Step, Key: key, Err: err}
		}
		return nil
	}
	st, err := s.Step(ctx, run, ref.Step)
	if err != nil {
		return err
	}
	body := st.Values[ch]
	obj := encode(kindValue, key, body)
	if body == nil || obj.sum != ref.SHA256 {
		return &ObjectError{Run: run, Step: ref.Step, Key: stepKey(run, ref.Step), Err: fmt.Errorf("%w: the record does not hold the value of channel %q that later steps reference", ErrCorrupt, ch)}
	}
	if err := s.create(ctx, key, obj); err != nil {
		return &ObjectError{Run: run, Step: ref.Step, Key: key, Err: err}
	}
	return nil
}

// removeOldFloors deletes the floor markers below first.
func (s *Store) removeOldFloors(ctx context.Context, run string, first int) error {
	floors, err := s.list(ctx, floorsPrefix(run), "")
	if err != nil {
		return &ObjectError{Run: run, Step: -1, Key: floorsPrefix(run), Err: err}
	}
	for _, o := range floors {
		if n, ok := parseNumber(o.Key, floorsPrefix(run)); ok && n < first {
			if err := s.remove(ctx, o.Key); err != nil {
				return &ObjectError{Run: run, Step: -1, Key: o.Key, Err: err}
			}
		}
	}
	return nil
}

// removeByStep deletes the pending writes or cursors (dir) of steps up to
// last: a committed step holds their updates, and ends their work.
func (s *Store) removeByStep(ctx context.Context, run, dir string, last int) (int, error) {
	prefix := runPrefix(run) + dir
	objs, err := s.list(ctx, prefix, "")
	if err != nil {
		return 0, &ObjectError{Run: run, Step: -1, Key: prefix, Err: err}
	}
	removed := 0
	for _, o := range objs {
		step, _, _ := strings.Cut(strings.TrimPrefix(o.Key, prefix), "/")
		if n, err := strconv.Atoi(step); err != nil || n > last {
			continue
		}
		if err := s.remove(ctx, o.Key); err != nil {
			return removed, &ObjectError{Run: run, Step: -1, Key: o.Key, Err: err}
		}
		removed++
	}
	return removed, nil
}

// parseValueKey splits a value's key into its escaped channel and version.
func parseValueKey(key, prefix string) (string, uint64, bool) {
	ch, rest, ok := strings.Cut(strings.TrimPrefix(key, prefix), "/")
	if !ok {
		return "", 0, false
	}
	v, _, ok := strings.Cut(rest, "-")
	if !ok {
		return "", 0, false
	}
	version, err := strconv.ParseUint(v, 10, 64)
	return ch, version, err == nil
}

// Delete deletes everything the run stored. The steps go first, oldest
// first, and the run record last, so an interrupted Delete never leaves an
// older step looking like the latest. Do not delete a run that is running.
func (s *Store) Delete(ctx context.Context, run string) error {
	if err := CheckRunID(run); err != nil {
		return err
	}
	objs, err := s.list(ctx, runPrefix(run), "")
	if err != nil {
		return &ObjectError{Run: run, Step: -1, Key: runPrefix(run), Err: err}
	}
	if len(objs) == 0 {
		return &ObjectError{Run: run, Step: -1, Key: runPrefix(run), Err: fmt.Errorf("%w: no such run", ErrNotFound)}
	}
	rank := func(key string) int {
		switch {
		case strings.HasPrefix(key, stepsPrefix(run)):
			return 0
		case key == runKey(run):
			return 2
		}
		return 1
	}
	for r := range 3 {
		for _, o := range objs {
			if rank(o.Key) != r {
				continue
			}
			if err := s.remove(ctx, o.Key); err != nil {
				return &ObjectError{Run: run, Step: -1, Key: o.Key, Err: err}
			}
		}
	}
	return nil
}

// DeleteResult deletes the run's terminal result so that a failed run can be
// tried again. It is the one deletion of a live record; only a user's explicit
// request (--retry-failed) should make it.
func (s *Store) DeleteResult(ctx context.Context, run string) error {
	if err := CheckRunID(run); err != nil {
		return err
	}
	if err := s.remove(ctx, resultKey(run)); err != nil {
		return &ObjectError{Run: run, Step: -1, Key: resultKey(run), Err: err}
	}
	return nil
}
