package checkpoints

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/graphjob/graphjob/contract"
	"github.com/graphjob/graphjob/graph"
)

// CreateRun writes the run's record. If the run already has a record,
// CreateRun returns ErrExists (unless the record is byte for byte the same:
// a retry); read it with Run to decide whether to resume.
func (s *Store) CreateRun(ctx context.Context, r RunRecord) error {
	if err := CheckRunID(r.ID); err != nil {
		return err
	}
	if r.Created.IsZero() {
		r.Created = s.opts.Now().UTC()
	}
	_, err := s.putRecord(ctx, r.ID, -1, runKey(r.ID), kindRun, r)
	return err
}

// Commit makes cp durable as step cp.Step of the run, continuing parent, the
// run's previous step (nil for step 0). It writes the values of the channels
// whose version changed since parent, then the step's record, create-only. If
// another writer committed the step first, Commit returns ErrExists: this
// writer has been fenced and must reload.
func (s *Store) Commit(ctx context.Context, run string, parent *Step, cp graph.Checkpoint) (*Step, error) {
	if err := CheckRunID(run); err != nil {
		return nil, err
	}
	st := &Step{Run: run, Step: cp.Step, Time: s.opts.Now().UTC(), Channels: make(map[string]ValueRef, len(cp.Values)),
		Next: cp.Next, Joins: cp.Joins, Deferred: cp.Deferred}
	switch {
	case parent == nil && cp.Step != 0:
		return nil, fmt.Errorf("run %s: committing step %d needs its parent, step %d", run, cp.Step, cp.Step-1)
	case parent != nil && (parent.Run != run || parent.Step != cp.Step-1):
		return nil, fmt.Errorf("run %s: step %d cannot follow run %s step %d", run, cp.Step, parent.Run, parent.Step)
	case parent != nil:
		st.Parent, st.Tasks = parent.SHA256, parent.Next
	}
	// The changed values are encoded and the state's size checked first, so
	// that a state too large to read back is refused with nothing written.
	chans := sortedKeys(cp.Values)
	refs := make([]ValueRef, len(chans))
	bodies := make([][]byte, len(chans))
	err := parallel(len(chans), 8, func(i int) error {
		var err error
		refs[i], bodies[i], err = s.encodeValue(run, cp.Step, chans[i], cp.Versions[chans[i]], cp.Values[chans[i]], parent)
		return err
	})
	if err != nil {
		return nil, err
	}
	var total int64
	for i, ch := range chans {
		total += refs[i].Size
		if refs[i].Size > s.opts.MaxObjectSize {
			return nil, &TooLargeError{Run: run, Step: cp.Step, Channel: ch, Size: refs[i].Size, Limit: s.opts.MaxObjectSize}
		}
	}
	if total > s.opts.MaxStateSize {
		return nil, &TooLargeError{Run: run, Step: cp.Step, Size: total, Limit: s.opts.MaxStateSize}
	}
	// The values are written concurrently; the step's record, which makes
	// them part of the history, only after all of them.
	sizes := make([]int64, len(chans))
	err = parallel(len(chans), 8, func(i int) error {
		if bodies[i] == nil || refs[i].Inline {
			return nil
		}
		key := valueKey(run, chans[i], refs[i])
		obj := encode(kindValue, key, bodies[i])
		// The key holds the value's hash, so a create that finds the object
		// already there found these very bytes: another writer of the same
		// step produced the same value. Only a step's record decides who won.
		if err := s.create(ctx, key, obj); err != nil {
			return &ObjectError{Run: run, Step: cp.Step, Key: key, Err: err}
		}
		sizes[i] = obj.size()
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i, ch := range chans {
		st.Channels[ch] = refs[i]
		st.Written += sizes[i]
		if refs[i].Inline && bodies[i] != nil {
			if st.Values == nil {
				st.Values = map[string]json.RawMessage{}
			}
			st.Values[ch] = bodies[i]
		}
	}
	obj, err := s.putRecord(ctx, run, cp.Step, stepKey(run, cp.Step), kindStep, st)
	if err != nil {
		return nil, err
	}
	st.Size, st.SHA256 = obj.size(), obj.sum
	return st, nil
}

// encodeValue returns a channel's reference and, unless parent already
// references that version, its value's JSON: a small value goes in the
// step's record (Inline), a larger one in an object of its own.
func (s *Store) encodeValue(run string, step int, ch string, version uint64, v any, parent *Step) (ValueRef, []byte, error) {
	if parent != nil {
		if ref, ok := parent.Channels[ch]; ok && ref.Version == version {
			return ref, nil, nil
		}
	}
	body, err := json.Marshal(v)
	if err != nil {
		return ValueRef{}, nil, fmt.Errorf("run %s, step %d: channel %q: encoding its value as JSON: %w", run, step, ch, err)
	}
	ref := ValueRef{Version: version, SHA256: checksum(body), Size: int64(len(body))}
	if len(body) <= InlineLimit {
		ref.Inline, ref.Step = true, step
	}
	return ref, body, nil
}

// PutWrite makes a finished task's update durable before its superstep is
// committed. A second write for the same task with other content returns
// ErrExists: another attempt finished the task first.
func (s *Store) PutWrite(ctx context.Context, run string, w Write) error {
	if err := CheckRunID(run); err != nil {
		return err
	}
	if w.Step < 1 || w.Index < 0 {
		return fmt.Errorf("run %s: pending write for step %d task %d: steps count from 1, tasks from 0", run, w.Step, w.Index)
	}
	if w.Time.IsZero() {
		w.Time = s.opts.Now().UTC()
	}
	_, err := s.putRecord(ctx, run, w.Step, writeKey(run, w.Step, w.Index), kindWrite, w)
	return err
}

// PutResult writes the run's terminal result. A run has one result: a second,
// different one returns ErrExists.
func (s *Store) PutResult(ctx context.Context, run string, r Result) error {
	if err := CheckRunID(run); err != nil {
		return err
	}
	if !r.Status.Final() {
		return fmt.Errorf("run %s: result status %q: use %q or %q", run, r.Status, contract.Succeeded, contract.Failed)
	}
	if r.Time.IsZero() {
		r.Time = s.opts.Now().UTC()
	}
	_, err := s.putRecord(ctx, run, -1, resultKey(run), kindResult, r)
	return err
}

// putRecord writes a record as JSON, create-only.
func (s *Store) putRecord(ctx context.Context, run string, step int, key string, k kind, v any) (object, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return object{}, fmt.Errorf("run %s: encoding the %s record: %w", run, k, err)
	}
	obj := encode(k, key, body)
	if err := s.create(ctx, key, obj); err != nil {
		return obj, &ObjectError{Run: run, Step: step, Key: key, Err: err}
	}
	return obj, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
