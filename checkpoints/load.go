package checkpoints

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sync"

	sigsjson "sigs.k8s.io/json"

	"github.com/graphjob/graphjob/graph"
)

// Snapshot is a run at a committed step: the step's record, the state to
// resume from, and the pending writes of the superstep after it.
type Snapshot struct {
	Step       *Step
	Checkpoint graph.Checkpoint
	// Pending holds the updates of tasks of step Step.Step+1 that finished
	// before the run stopped, in task order.
	Pending []Write
}

// RunRecord reads the run's record.
func (s *Store) RunRecord(ctx context.Context, id string) (*RunRecord, error) {
	if err := CheckRunID(id); err != nil {
		return nil, err
	}
	r := new(RunRecord)
	if _, err := s.getRecord(ctx, id, -1, runKey(id), kindRun, r); err != nil {
		return nil, err
	}
	if r.ID != id {
		return nil, &ObjectError{Run: id, Step: -1, Key: runKey(id), Err: fmt.Errorf("%w: the record is of run %q", ErrCorrupt, r.ID)}
	}
	return r, nil
}

// Result reads the run's terminal result; ErrNotFound if it has none.
func (s *Store) Result(ctx context.Context, run string) (*Result, error) {
	if err := CheckRunID(run); err != nil {
		return nil, err
	}
	r := new(Result)
	if _, err := s.getRecord(ctx, run, -1, resultKey(run), kindResult, r); err != nil {
		return nil, err
	}
	return r, nil
}

// Step reads the record of a committed step.
func (s *Store) Step(ctx context.Context, run string, step int) (*Step, error) {
	if err := CheckRunID(run); err != nil {
		return nil, err
	}
	key := stepKey(run, step)
	st := new(Step)
	obj, err := s.getRecord(ctx, run, step, key, kindStep, st)
	if err != nil {
		return nil, err
	}
	st.Size, st.SHA256 = obj.size(), obj.sum
	if err := checkStep(st, run, step); err != nil {
		return nil, &ObjectError{Run: run, Step: step, Key: key, Err: err}
	}
	return st, nil
}

var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

func checkStep(st *Step, run string, step int) error {
	if st.Run != run || st.Step != step {
		return fmt.Errorf("%w: the record is of run %q step %d", ErrCorrupt, st.Run, st.Step)
	}
	for ch, ref := range st.Channels {
		ok := len(ref.Parts) == 0 && wellFormed(ref)
		if len(ref.Parts) > 0 {
			ok = ref.SHA256 == "" && !ref.Inline && len(ref.Parts) <= maxParts
			var size int64
			for _, p := range ref.Parts {
				ok = ok && len(p.Parts) == 0 && wellFormed(p)
				size += p.Size
			}
			ok = ok && size == ref.Size
		}
		if !ok {
			return fmt.Errorf("%w: channel %q has a malformed reference", ErrCorrupt, ch)
		}
	}
	return nil
}

func wellFormed(ref ValueRef) bool {
	return sha256Hex.MatchString(ref.SHA256) && ref.Size >= 0 && ref.Items >= 0
}

// Load reads the run's state at a committed step, without pending writes.
// A step the run does not have is ErrNotFound, naming the steps it has.
func (s *Store) Load(ctx context.Context, run string, step int) (*Snapshot, error) {
	st, err := s.Step(ctx, run, step)
	if errors.Is(err, ErrNotFound) {
		err = s.noStep(ctx, run, step)
	}
	if err != nil {
		return nil, err
	}
	cp := graph.Checkpoint{Step: step, Values: make(map[string]any, len(st.Channels)), Versions: make(map[string]uint64, len(st.Channels)),
		Next: st.Next, Joins: st.Joins, Deferred: st.Deferred}
	chans := sortedKeys(st.Channels)
	values := make([]any, len(chans))
	holders := &holders{steps: map[int]func() (*Step, error){step: func() (*Step, error) { return st, nil }}}
	err = parallel(len(chans), 8, func(i int) error {
		var err error
		values[i], err = s.value(ctx, run, step, chans[i], st.Channels[chans[i]], holders)
		return err
	})
	if err != nil {
		return nil, err
	}
	for i, ch := range chans {
		cp.Values[ch], cp.Versions[ch] = values[i], st.Channels[ch].Version
	}
	return &Snapshot{Step: st, Checkpoint: cp}, nil
}

// value reads and checks one channel value: from the record of the step
// that wrote it (read once per Load through holders), or its own object. An
// inline value whose step retention deleted is in its own object too. A list
// kept in parts is read part by part.
func (s *Store) value(ctx context.Context, run string, step int, ch string, ref ValueRef, holders *holders) (any, error) {
	if len(ref.Parts) > 0 {
		return s.parts(ctx, run, step, ch, ref, holders)
	}
	key := valueKey(run, ch, ref)
	var body []byte
	if ref.Inline {
		holder, err := holders.get(ref.Step, func() (*Step, error) { return s.Step(ctx, run, ref.Step) })
		switch {
		case err == nil:
			body, key = holder.Values[ch], stepKey(run, ref.Step)
			if body == nil {
				return nil, &ObjectError{Run: run, Step: step, Key: key, Err: fmt.Errorf("%w: dangling reference: the record holds no value of channel %q", ErrCorrupt, ch)}
			}
		case !errors.Is(err, ErrNotFound):
			return nil, err
		}
	}
	var sum string
	if body == nil {
		data, err := s.read(ctx, key)
		if errors.Is(err, ErrNotFound) {
			err = fmt.Errorf("%w: dangling reference: channel %q version %d is missing (deleted outside graphjob?)", ErrCorrupt, ch, ref.Version)
		}
		if err == nil {
			body, sum, err = decode(data, kindValue, key)
		}
		if err != nil {
			return nil, &ObjectError{Run: run, Step: step, Key: key, Err: err}
		}
	} else {
		sum = checksum(body)
	}
	var err error
	if sum != ref.SHA256 || int64(len(body)) != ref.Size {
		err = fmt.Errorf("%w: holds sha256:%s (%d bytes) for channel %q, the step references sha256:%s (%d bytes)", ErrCorrupt, sum, len(body), ch, ref.SHA256, ref.Size)
	}
	var v any
	if err == nil {
		err = unmarshal(body, &v)
	}
	if err != nil {
		return nil, &ObjectError{Run: run, Step: step, Key: key, Err: err}
	}
	return v, nil
}

// parts reads a list kept in parts and joins them.
func (s *Store) parts(ctx context.Context, run string, step int, ch string, ref ValueRef, holders *holders) (any, error) {
	lists := make([][]any, len(ref.Parts))
	err := parallel(len(ref.Parts), 8, func(i int) error {
		p := ref.Parts[i]
		v, err := s.value(ctx, run, step, ch, p, holders)
		if err != nil {
			return err
		}
		var ok bool
		if lists[i], ok = v.([]any); !ok || len(lists[i]) != p.Items {
			return &ObjectError{Run: run, Step: step, Key: valueKey(run, ch, p), Err: fmt.Errorf("%w: part %d of channel %q is not a list of %d items", ErrCorrupt, i, ch, p.Items)}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return slices.Concat(lists...), nil
}

// holders reads each step record that holds inline values once.
type holders struct {
	mu    sync.Mutex
	steps map[int]func() (*Step, error)
}

func (h *holders) get(step int, read func() (*Step, error)) (*Step, error) {
	h.mu.Lock()
	f, ok := h.steps[step]
	if !ok {
		f = sync.OnceValues(read)
		h.steps[step] = f
	}
	h.mu.Unlock()
	return f()
}

// Latest reads the run's last committed step and its pending writes.
func (s *Store) Latest(ctx context.Context, run string) (*Snapshot, error) {
	last, err := s.LastStep(ctx, run)
	if err != nil {
		return nil, err
	}
	snap, err := s.Load(ctx, run, last)
	if err != nil {
		return nil, err
	}
	// The head follows the step before it (a step replaced outside
	// graphjob breaks the link); History checks every link.
	if last > 0 {
		prev, err := s.Step(ctx, run, last-1)
		switch {
		case err == nil && prev.SHA256 != snap.Step.Parent:
			return nil, &ObjectError{Run: run, Step: last, Key: stepKey(run, last), Err: fmt.Errorf("%w: does not follow step %d: history is not one chain", ErrCorrupt, last-1)}
		case err != nil && !errors.Is(err, ErrNotFound): // retention may have taken it
			return nil, err
		}
	}
	if snap.Pending, err = s.Writes(ctx, run, last+1); err != nil {
		return nil, err
	}
	next := snap.Checkpoint.Next
	for _, w := range snap.Pending {
		if w.Index >= len(next) || next[w.Index].Node != w.Task.Node {
			return nil, &ObjectError{Run: run, Step: w.Step, Key: writeKey(run, w.Step, w.Index),
				Err: fmt.Errorf("%w: a pending write of node %q for task %d, which step %d does not schedule", ErrCorrupt, w.Task.Node, w.Index, last)}
		}
	}
	return snap, nil
}

// Writes reads the pending writes of a superstep, in task order.
func (s *Store) Writes(ctx context.Context, run string, step int) ([]Write, error) {
	if err := CheckRunID(run); err != nil {
		return nil, err
	}
	prefix := writesPrefix(run, step)
	objs, err := s.list(ctx, prefix, "")
	if err != nil {
		return nil, &ObjectError{Run: run, Step: step, Key: prefix, Err: err}
	}
	writes := make([]Write, 0, len(objs))
	for _, o := range objs {
		index, ok := parseNumber(o.Key, prefix)
		if !ok {
			return nil, &ObjectError{Run: run, Step: step, Key: o.Key, Err: fmt.Errorf("%w: not a pending write's name", ErrCorrupt)}
		}
		var w Write
		if _, err := s.getRecord(ctx, run, step, o.Key, kindWrite, &w); err != nil {
			return nil, err
		}
		if w.Step != step || w.Index != index {
			return nil, &ObjectError{Run: run, Step: step, Key: o.Key, Err: fmt.Errorf("%w: the record is of step %d task %d", ErrCorrupt, w.Step, w.Index)}
		}
		writes = append(writes, w)
	}
	return writes, nil
}

// LastStep returns the number of the run's last committed step, or
// ErrNotFound if it has none. It lists the names of the run's steps (one
// request a thousand; on file://, one read of the directory) rather than
// probing for the last, so that a step missing in the middle of the history
// — damage: graphjob never leaves one — cannot hide the steps after it, nor
// go unseen: a gap between the first step (0, or the floor retention left)
// and the last is ErrCorrupt, naming the missing step.
func (s *Store) LastStep(ctx context.Context, run string) (int, error) {
	steps, err := s.chain(ctx, run)
	if err != nil {
		return 0, err
	}
	return steps[len(steps)-1], nil
}

// chain returns the numbers of the run's steps from its first to its last,
// after checking that none is missing between them.
func (s *Store) chain(ctx context.Context, run string) ([]int, error) {
	first, steps, err := s.steps(ctx, run)
	if err != nil {
		return nil, err
	}
	steps = steps[slices.Index(steps, first):]
	last := steps[len(steps)-1]
	for i, n := range steps {
		if want := first + i; n != want {
			return nil, &ObjectError{Run: run, Step: want, Key: stepKey(run, want),
				Err: fmt.Errorf("%w: step %d is missing, though step %d exists: the history has a gap (deleted outside graphjob?); nothing after it can be trusted or resumed", ErrCorrupt, want, last)}
		}
	}
	return steps, nil
}

// steps lists the numbers of a run's committed steps, sorted, and its first
// step: 0, else the newest floor retention left whose step exists. A run
// whose step 0 is gone without a floor to say why has lost it: ErrCorrupt.
func (s *Store) steps(ctx context.Context, run string) (first int, steps []int, err error) {
	if err := CheckRunID(run); err != nil {
		return 0, nil, err
	}
	prefix := stepsPrefix(run)
	objs, err := s.list(ctx, prefix, "")
	if err != nil {
		return 0, nil, &ObjectError{Run: run, Step: -1, Key: prefix, Err: err}
	}
	for _, o := range objs {
		n, ok := parseNumber(o.Key, prefix)
		if !ok {
			return 0, nil, &ObjectError{Run: run, Step: -1, Key: o.Key, Err: fmt.Errorf("%w: not a step's name", ErrCorrupt)}
		}
		steps = append(steps, n)
	}
	if len(steps) == 0 {
		return 0, nil, &ObjectError{Run: run, Step: -1, Key: prefix, Err: fmt.Errorf("%w: no committed step", ErrNotFound)}
	}
	slices.Sort(steps)
	if steps[0] == 0 {
		return 0, steps, nil
	}
	floors, err := s.list(ctx, floorsPrefix(run), "")
	if err != nil {
		return 0, nil, &ObjectError{Run: run, Step: -1, Key: floorsPrefix(run), Err: err}
	}
	for i := len(floors) - 1; i >= 0; i-- {
		if n, ok := parseNumber(floors[i].Key, floorsPrefix(run)); ok {
			if _, found := slices.BinarySearch(steps, n); found {
				return n, steps, nil
			}
		}
	}
	return 0, nil, &ObjectError{Run: run, Step: 0, Key: stepKey(run, 0),
		Err: fmt.Errorf("%w: step 0 is missing, and no retention floor says why: the history lost its start (deleted outside graphjob?); its first step is %d", ErrCorrupt, steps[0])}
}

// getRecord reads and checks a record, decoding it into v.
func (s *Store) getRecord(ctx context.Context, run string, step int, key string, k kind, v any) (object, error) {
	data, err := s.read(ctx, key)
	if err != nil {
		return object{}, &ObjectError{Run: run, Step: step, Key: key, Err: err}
	}
	body, sum, err := decode(data, k, key)
	if err == nil {
		err = unmarshal(body, v)
	}
	if err != nil {
		return object{}, &ObjectError{Run: run, Step: step, Key: key, Err: err}
	}
	return object{header: data[:len(data)-len(body)], body: body, sum: sum}, nil
}

// unmarshal decodes JSON as channels hold it: integers as int64, other
// numbers as float64. Field names match exactly.
func unmarshal(body []byte, v any) error {
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(body, v); err != nil {
		return fmt.Errorf("%w: malformed JSON: %w", ErrCorrupt, err)
	}
	return nil
}

// noStep is the error for a step the run has not: it names the steps the
// run has, or says it has none.
func (s *Store) noStep(ctx context.Context, run string, step int) error {
	have := "it has no committed step"
	if first, steps, err := s.steps(ctx, run); err == nil {
		have = fmt.Sprintf("its committed steps are %d to %d", first, steps[len(steps)-1])
	}
	return fmt.Errorf("run %s has no step %d: %s: %w", run, step, have, ErrNotFound)
}
