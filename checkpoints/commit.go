package checkpoints

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
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
		refs[i], bodies[i], err = s.encodeValue(run, cp.Step, chans[i], cp.Versions[chans[i]], cp.Values[chans[i]], parent, cp.Appended[chans[i]])
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
		ref := refs[i].written()
		if bodies[i] == nil || ref.Inline {
			return nil
		}
		key := valueKey(run, chans[i], ref)
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
		if refs[i].written().Inline && bodies[i] != nil {
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
// references that version, the JSON to write: a small value goes in the
// step's record (Inline), a larger one in an object of its own. A list that
// the step extended by appended items gets a part holding them (see
// ValueRef.Parts).
func (s *Store) encodeValue(run string, step int, ch string, version uint64, v any, parent *Step, appended int) (ValueRef, []byte, error) {
	if parent != nil {
		prev, ok := parent.Channels[ch]
		if ok && prev.Version == version {
			return prev, nil, nil
		}
		if ok && appended > 0 {
			if ref, body, err := s.encodeParts(step, version, v, prev, appended); ref.Parts != nil || err != nil {
				return ref, body, channelError(run, step, ch, err)
			}
		}
	}
	ref, body, err := encodeRef(step, version, v)
	return ref, body, channelError(run, step, ch, err)
}

func channelError(run string, step int, ch string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("run %s, step %d: channel %q: encoding its value as JSON: %w", run, step, ch, err)
}

func encodeRef(step int, version uint64, v any) (ValueRef, []byte, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return ValueRef{}, nil, err
	}
	return newRef(step, version, body), body, nil
}

// newRef locates body, written by step: in the step's record if small.
func newRef(step int, version uint64, body []byte) ValueRef {
	ref := ValueRef{Version: version, SHA256: checksum(body), Size: int64(len(body))}
	if len(body) <= InlineLimit {
		ref.Inline, ref.Step = true, step
	}
	return ref
}

// maxParts bounds the parts of a list: past it, the whole list is written.
const maxParts = 48

// encodeParts keeps list v, prev with appended items added at its end, in
// parts: prev's parts (prev itself when it has none) and one holding the
// new items. The last parts are merged into that one while they are not
// larger than twice what it holds, so that the sizes of the parts fall
// geometrically: a list of n items has O(log n) parts, and an item is
// written again O(log n) times in all. A zero ref (no Parts) means: write the
// whole list, which is also what happens when the merge takes every part.
func (s *Store) encodeParts(step int, version uint64, v any, prev ValueRef, appended int) (ValueRef, []byte, error) {
	list := reflect.ValueOf(v)
	if list.Kind() != reflect.Slice || list.Len() < appended {
		return ValueRef{}, nil, nil
	}
	parts := prev.Parts
	if len(parts) == 0 {
		p := prev
		p.Items = list.Len() - appended
		parts = []ValueRef{p}
	}
	items := 0
	for _, p := range parts {
		items += p.Items
	}
	if items != list.Len()-appended { // not the list the engine extended
		return ValueRef{}, nil, nil
	}
	from := items
	body, err := json.Marshal(list.Slice(from, list.Len()).Interface())
	if err != nil {
		return ValueRef{}, nil, err
	}
	j, size := len(parts), int64(len(body))
	for j > 0 && parts[j-1].Size <= 2*size {
		j--
		size += parts[j].Size
		from -= parts[j].Items
	}
	if j == 0 || j >= maxParts {
		return ValueRef{}, nil, nil
	}
	if j < len(parts) {
		if body, err = json.Marshal(list.Slice(from, list.Len()).Interface()); err != nil {
			return ValueRef{}, nil, err
		}
	}
	part := newRef(step, version, body)
	part.Items = list.Len() - from
	ref := ValueRef{Version: version, Parts: append(slices.Clone(parts[:j]), part)}
	for _, p := range ref.Parts {
		ref.Size += p.Size
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
