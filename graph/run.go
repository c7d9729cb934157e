package graph

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
)

// Graph is a compiled graph: immutable and safe for concurrent runs.
type Graph[S any] struct {
	access   access[S]
	channels []*channel
	byName   map[string]int
	nodes    map[string]*node[S]
	order    []string
	edges    map[string][]edge[S]
	joins    []join
}

// Task is one unit of work of a superstep: a node, and for map tasks the item.
type Task struct {
	Node    string `json:"node"`
	Item    any    `json:"item,omitempty"`
	HasItem bool   `json:"hasItem,omitempty"`
}

// Checkpoint is a superstep boundary: everything needed to continue a run
// exactly where it stands.
type Checkpoint struct {
	// Step is the number of supersteps completed.
	Step int `json:"step"`
	// Values holds every channel's value.
	Values map[string]any `json:"values"`
	// Versions counts the writes of each channel since the run started; a
	// channel whose version did not change holds the same value.
	Versions map[string]uint64 `json:"versions"`
	// Next lists the tasks due in the next superstep, in order. A run with
	// no tasks due is finished.
	Next []Task `json:"next"`
	// Joins holds, for each waiting edge (AddJoin) some of whose sources
	// have run since its target last ran through it, those sources, by the
	// edge's name ("join:a+b:c").
	Joins map[string][]string `json:"joins,omitempty"`
	// Deferred lists the Deferred nodes that are due once Next is empty.
	Deferred []string `json:"deferred,omitempty"`
	// Appended names the channels whose value the superstep that led here
	// only extended, the previous list with items added at its end, and how
	// many items it added: a store keeps only those. It is not encoded, and
	// empty in the checkpoint Start returns.
	Appended map[string]int `json:"-"`
}

// TaskInfo describes the task a node runs as.
type TaskInfo struct {
	RunID   string // set by WithRunID
	Step    int    // the superstep, counted from 1
	Node    string
	Index   int // the task's position in its superstep
	Tasks   int // the number of tasks in its superstep
	Attempt int // counted from 1
	Item    any // the map item, when HasItem
	HasItem bool
}

type taskKey struct{}

// TaskFromContext returns the task a node runs as.
func TaskFromContext(ctx context.Context) (TaskInfo, bool) {
	if t, ok := ctx.Value(taskKey{}).(*taskContext); ok {
		return t.info, true
	}
	return TaskInfo{}, false
}

// Nodes returns the names of the graph's nodes in the order they were added.
func (g *Graph[S]) Nodes() []string { return slices.Clone(g.order) }

// Invoke runs the graph from input to the end and returns the final state.
func (g *Graph[S]) Invoke(ctx context.Context, input S, opts ...RunOption) (S, error) {
	cp, err := g.Start(ctx, input, opts...)
	if err != nil {
		return input, err
	}
	return g.Resume(ctx, cp, opts...)
}

// Start returns the run's first boundary (step 0): the input applied to the
// empty state, and the tasks that START's edges pick.
//
// The input is an update, applied with each channel's reducer as a node's
// would be (LangGraph's input step): for a State, each key it has; for a
// struct, each field that is not its zero value. A channel never written
// holds its reducer's empty value (an append or messages channel an empty
// list, merge an empty object, add zero) and, in a struct, a nil slice or
// map field an empty one.
func (g *Graph[S]) Start(ctx context.Context, input S, opts ...RunOption) (Checkpoint, error) {
	cfg := newRunConfig(opts)
	r := &run[S]{g: g, cfg: &cfg, state: g.access.clone(*new(S)), versions: make([]uint64, len(g.channels)), joins: map[string][]string{}}
	for _, c := range g.channels {
		if v := c.empty(); v != nil {
			if err := g.access.set(&r.state, c, v); err != nil {
				return Checkpoint{}, fmt.Errorf("channel %q: %w", c.name, err)
			}
		}
	}
	if err := r.apply(0, []Task{{Node: START}}, []Update{g.inputUpdate(input)}); err != nil {
		return Checkpoint{}, fmt.Errorf("input: %w", errors.Unwrap(err))
	}
	for i := range r.versions {
		r.versions[i] = 1
	}
	if err := r.route(ctx, []Task{{Node: START}}); err != nil {
		return Checkpoint{}, err
	}
	return r.checkpoint(), nil
}

// inputUpdate is the update an input makes.
func (g *Graph[S]) inputUpdate(input S) Update {
	if m, ok := any(input).(State); ok {
		return m
	}
	u := Update{}
	for _, c := range g.channels {
		if v := reflect.ValueOf(g.access.get(&input, c)); v.IsValid() && !v.IsZero() {
			u[c.name] = v.Interface()
		}
	}
	return u
}

// Resume continues a run from a boundary until no tasks are due, and returns
// the final state. On error it returns the state at the last boundary reached.
func (g *Graph[S]) Resume(ctx context.Context, cp Checkpoint, opts ...RunOption) (S, error) {
	cfg := newRunConfig(opts)
	r, err := g.restore(cp, &cfg)
	if err != nil {
		var zero S
		return zero, err
	}
	for len(r.next) > 0 {
		if r.step >= cfg.limit {
			names := make([]string, 0, len(r.next))
			for _, t := range r.next {
				if !slices.Contains(names, t.Node) {
					names = append(names, t.Node)
				}
			}
			return r.state, &RecursionLimitError{Limit: cfg.limit, Next: names}
		}
		if err := context.Cause(ctx); err != nil {
			return r.state, fmt.Errorf("run cancelled before step %d: %w", r.step+1, err)
		}
		if err := r.superstep(ctx); err != nil {
			return r.state, err
		}
		if cfg.commit != nil {
			if err := cfg.commit(ctx, r.checkpoint()); err != nil {
				return r.state, err
			}
		}
	}
	return r.state, nil
}

// State returns the state a checkpoint holds, running nothing: the tasks
// it has due are not executed.
func (g *Graph[S]) State(cp Checkpoint) (S, error) {
	r, err := g.restore(Checkpoint{Step: cp.Step, Values: cp.Values, Versions: cp.Versions}, &runConfig{})
	if err != nil {
		var zero S
		return zero, err
	}
	return r.state, nil
}

func (g *Graph[S]) restore(cp Checkpoint, cfg *runConfig) (*run[S], error) {
	r := &run[S]{g: g, cfg: cfg, step: cp.Step, state: g.access.clone(*new(S)), versions: make([]uint64, len(g.channels)), next: cp.Next,
		joins: map[string][]string{}, deferred: slices.Clone(cp.Deferred)}
	for i, c := range g.channels {
		if v, ok := cp.Values[c.name]; ok {
			if err := g.access.set(&r.state, c, v); err != nil {
				return nil, fmt.Errorf("checkpoint at step %d: channel %q: %w", cp.Step, c.name, err)
			}
		}
		r.versions[i] = cp.Versions[c.name]
	}
	for _, t := range cp.Next {
		if g.nodes[t.Node] == nil {
			return nil, fmt.Errorf("checkpoint at step %d: task of unknown node %q", cp.Step, t.Node)
		}
	}
	for _, name := range cp.Deferred {
		if n := g.nodes[name]; n == nil || !n.deferred {
			return nil, fmt.Errorf("checkpoint at step %d: %q is not a deferred node of the graph", cp.Step, name)
		}
	}
	for key, seen := range cp.Joins {
		i := slices.IndexFunc(g.joins, func(j join) bool { return j.key == key })
		if i < 0 {
			return nil, fmt.Errorf("checkpoint at step %d: the graph has no waiting edge %q", cp.Step, key)
		}
		for _, f := range seen {
			if !slices.Contains(g.joins[i].from, f) {
				return nil, fmt.Errorf("checkpoint at step %d: %q is not a source of waiting edge %q", cp.Step, f, key)
			}
		}
		r.joins[key] = slices.Clone(seen)
	}
	for i := range cfg.pending {
		if i < 0 || i >= len(cp.Next) {
			return nil, fmt.Errorf("checkpoint at step %d: a pending update for task %d, of %d tasks", cp.Step, i, len(cp.Next))
		}
	}
	r.pending = cfg.pending
	return r, nil
}

// run is the mutable state of one run.
type run[S any] struct {
	g        *Graph[S]
	cfg      *runConfig
	step     int // supersteps completed
	state    S
	versions []uint64
	next     []Task
	joins    map[string][]string // sources seen, by waiting edge
	deferred []string            // deferred nodes due once next is empty
	appended map[string]int      // the channels the last superstep only extended (Checkpoint.Appended)
	pending  map[int]Update      // updates of the next superstep's tasks that finished before a resume
}

func (r *run[S]) checkpoint() Checkpoint {
	cp := Checkpoint{
		Step:     r.step,
		Values:   make(map[string]any, len(r.g.channels)),
		Versions: make(map[string]uint64, len(r.g.channels)),
		Next:     slices.Clone(r.next),
		Deferred: slices.Clone(r.deferred),
		Appended: r.appended,
	}
	for key, seen := range r.joins {
		if cp.Joins == nil {
			cp.Joins = make(map[string][]string, len(r.joins))
		}
		cp.Joins[key] = slices.Clone(seen)
	}
	for i, c := range r.g.channels {
		cp.Values[c.name] = r.g.access.get(&r.state, c)
		cp.Versions[c.name] = r.versions[i]
	}
	return cp
}

// superstep runs the tasks due, applies their updates and picks the next tasks.
func (r *run[S]) superstep(ctx context.Context) error {
	step, tasks, h := r.step+1, r.next, &r.cfg.hooks
	start := r.cfg.clock.Now()
	if h.StepStart != nil {
		h.StepStart(ctx, step, tasks)
	}
	err := r.execute(ctx, step, tasks)
	r.pending = nil
	if h.StepEnd != nil {
		h.StepEnd(ctx, step, tasks, r.cfg.clock.Now().Sub(start), err)
	}
	return err
}

func (r *run[S]) execute(ctx context.Context, step int, tasks []Task) error {
	updates, err := r.runTasks(ctx, step, tasks)
	if err != nil {
		return err
	}
	if err := r.apply(step, tasks, updates); err != nil {
		return err
	}
	r.step = step
	return r.route(ctx, tasks)
}

// runTasks runs the tasks concurrently, at most cfg.concurrency at once, and
// returns their updates in task order. The first task to fail cancels the
// others; its error is the step's error.
func (r *run[S]) runTasks(ctx context.Context, step int, tasks []Task) ([]Update, error) {
	updates := make([]Update, len(tasks))
	if len(tasks) == 1 {
		u, err := r.runTask(ctx, step, 0, tasks)
		updates[0] = u
		return updates, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		failOnce sync.Once
		failure  error
	)
	for range min(len(tasks), r.cfg.concurrency) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(tasks) || ctx.Err() != nil {
					return
				}
				u, err := r.runTask(ctx, step, i, tasks)
				if err != nil {
					failOnce.Do(func() { failure = err; cancel(err) })
					return
				}
				updates[i] = u
			}
		})
	}
	wg.Wait()
	return updates, failure
}

// runTask runs one task with its node's retry policy, unless its update is
// pending from before a resume.
func (r *run[S]) runTask(ctx context.Context, step, index int, tasks []Task) (Update, error) {
	if u, ok := r.pending[index]; ok {
		return u, nil
	}
	t := tasks[index]
	n := r.g.nodes[t.Node]
	info := TaskInfo{RunID: r.cfg.runID, Step: step, Node: t.Node, Index: index, Tasks: len(tasks), Item: t.Item, HasItem: t.HasItem}
	progress := &taskProgress{store: r.cfg.progress}
	attempts := n.retry.attempts()
	for info.Attempt = 1; ; info.Attempt++ {
		u, err := r.attempt(ctx, n, &taskContext{info: info, progress: progress})
		if err == nil {
			if done := r.cfg.taskDone; done != nil {
				if err := done(ctx, info, u); err != nil {
					return nil, fmt.Errorf("step %d: node %q: %w", step, t.Node, err)
				}
			}
			return u, nil
		}
		if cause := context.Cause(ctx); cause != nil {
			return nil, fmt.Errorf("step %d: node %q stopped: %w", step, t.Node, cause)
		}
		if info.Attempt >= attempts || !n.retry.retryable(err) {
			return nil, &NodeError{Node: t.Node, Step: step, Attempts: info.Attempt, Err: err}
		}
		if err := sleep(ctx, r.cfg.clock, n.retry.backoff(info.Attempt, r.cfg.rand)); err != nil {
			return nil, fmt.Errorf("step %d: node %q stopped: %w", step, t.Node, err)
		}
	}
}

// attempt calls the node once, under its timeout, turning a panic into an
// error.
func (r *run[S]) attempt(ctx context.Context, n *node[S], tc *taskContext) (u Update, err error) {
	h, info := &r.cfg.hooks, tc.info
	if h.NodeStart != nil {
		h.NodeStart(ctx, info)
	}
	start := r.cfg.clock.Now()
	nctx := context.WithValue(ctx, taskKey{}, tc)
	if n.timeout > 0 {
		var cancel context.CancelCauseFunc
		nctx, cancel = context.WithCancelCause(nctx)
		done := make(chan struct{})
		go func() {
			select {
			case <-r.cfg.clock.After(n.timeout):
				cancel(&TimeoutError{After: n.timeout})
			case <-done:
			}
		}()
		defer func() {
			close(done)
			var te *TimeoutError
			if cause := context.Cause(nctx); err != nil && errors.As(cause, &te) && !errors.As(err, &te) {
				err = fmt.Errorf("%w: %w", te, err)
			}
			cancel(nil)
		}()
	}
	defer func() {
		if p := recover(); p != nil {
			err = Permanent(fmt.Errorf("panic: %v\n%s", p, debug.Stack()))
		}
		if h.NodeEnd != nil {
			h.NodeEnd(ctx, info, r.cfg.clock.Now().Sub(start), err)
		}
	}()
	return n.fn(nctx, r.state)
}

// apply combines the tasks' updates, in task order, into a new state.
func (r *run[S]) apply(step int, tasks []Task, updates []Update) error {
	chans := r.g.channels
	writes := make([][]any, len(chans))
	writers := make([][2]int, len(chans)) // the first two writers of each channel
	for ti, u := range updates {
		matched := 0
		for ci, c := range chans {
			v, ok := u[c.name]
			if !ok {
				continue
			}
			matched++
			if len(writes[ci]) < 2 {
				writers[ci][len(writes[ci])] = ti
			}
			writes[ci] = append(writes[ci], v)
		}
		if matched < len(u) {
			return &NodeError{Node: tasks[ti].Node, Step: step, Attempts: 1, Err: r.unknownChannels(u)}
		}
	}
	state := r.g.access.clone(r.state)
	r.appended = nil
	for ci, ws := range writes {
		if len(ws) == 0 {
			continue
		}
		c := chans[ci]
		var cur any
		if !c.reducer.isReplace() {
			cur = r.g.access.get(&state, c)
		}
		v, extended, err := r.reduce(step, c, cur, ws)
		if extended && reflect.ValueOf(cur).Kind() == reflect.Slice {
			if n := lenOf(v) - lenOf(cur); n > 0 {
				if r.appended == nil {
					r.appended = map[string]int{}
				}
				r.appended[c.name] = n
			}
		}
		if err == nil {
			err = r.g.access.set(&state, c, v)
		} else if c.reducer.isReplace() && len(ws) > 1 {
			return &ConflictError{Step: step, Channel: c.name, Nodes: [2]string{tasks[writers[ci][0]].Node, tasks[writers[ci][1]].Node}}
		}
		if err != nil {
			return &NodeError{Node: tasks[writers[ci][0]].Node, Step: step, Attempts: 1, Err: fmt.Errorf("channel %q: %w", c.name, err)}
		}
		r.versions[ci]++
	}
	r.state = state
	return nil
}

// reduce combines the writes of one channel in a superstep with its value,
// and reports whether the result only extends the list it had. An Overwrite
// sets the value, whatever the other writes.
func (r *run[S]) reduce(step int, c *channel, cur any, ws []any) (any, bool, error) {
	for i, w := range ws {
		if v, ok := overwriteOf(w); ok {
			for _, later := range ws[i+1:] {
				if _, again := overwriteOf(later); again {
					return nil, false, Permanent(fmt.Errorf("two overwrites in one superstep; write it once"))
				}
			}
			return v, false, nil
		}
	}
	if c.reducer.isReplace() {
		if len(ws) > 1 {
			return nil, false, errConflict
		}
		return ws[0], false, nil
	}
	rc := &reduction{typ: c.typ, run: r.cfg.runID, step: step, channel: c.name}
	v, err := c.reducer.reduce(rc, cur, ws)
	return v, rc.extended, err
}

// lenOf is the length of a list, 0 for anything else.
func lenOf(v any) int {
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Slice {
		return rv.Len()
	}
	return 0
}

var errConflict = errors.New("conflicting writes")

func (r *run[S]) unknownChannels(u Update) error {
	var unknown []string
	for name := range u {
		if _, ok := r.g.byName[name]; !ok {
			unknown = append(unknown, name)
		}
	}
	slices.Sort(unknown)
	return Permanent(fmt.Errorf("update of unknown channels %q; the state has %q", unknown, r.channelNames()))
}

func (r *run[S]) channelNames() []string {
	names := make([]string, len(r.g.channels))
	for i, c := range r.g.channels {
		names[i] = c.name
	}
	return names
}

// route follows the edges of the nodes the tasks ran and sets the tasks due
// next, in LangGraph's order: the nodes that edges made due, by name, then the
// map tasks, in the order their edges gave them. Each source's edges are
// followed once per superstep, in task order, against the state after it. A
// node made due several times is due once; a Deferred node waits until nothing
// else is due.
func (r *run[S]) route(ctx context.Context, tasks []Task) error {
	var dueBuf, ranBuf [8]string // most supersteps have a few nodes: no allocation
	due, ran := dueBuf[:0], ranBuf[:0]
	var mapped []Task
	trigger := func(name string) {
		switch {
		case name == END:
		case r.g.nodes[name].deferred:
			if !slices.Contains(r.deferred, name) {
				r.deferred = append(r.deferred, name)
			}
		case !slices.Contains(due, name):
			due = append(due, name)
		}
	}
	for _, t := range tasks {
		if slices.Contains(ran, t.Node) {
			continue
		}
		ran = append(ran, t.Node)
		for _, e := range r.g.edges[t.Node] {
			switch e.kind {
			case staticEdge:
				for _, to := range e.to {
					trigger(to)
				}
			case conditionalEdge:
				to, err := e.route(ctx, r.state)
				if err != nil {
					return r.routeError(t.Node, fmt.Errorf("routing: %w", err))
				}
				for _, name := range to {
					if err := r.checkDestination(e, name); err != nil {
						return r.routeError(t.Node, err)
					}
					trigger(name)
				}
			case mapEdge:
				items, err := e.items(ctx, r.state)
				if err != nil {
					return r.routeError(t.Node, fmt.Errorf("map items: %w", err))
				}
				if n := len(mapped) + len(items); n > r.cfg.maxTasks {
					return r.routeError(t.Node, fmt.Errorf("map items: %d items for %q make %d tasks in the next superstep, over the limit of %d (WithMaxTasks; --max-tasks): split the work into batches, or raise the limit",
						len(items), e.to[0], n, r.cfg.maxTasks))
				}
				for _, it := range items {
					mapped = append(mapped, Task{Node: e.to[0], Item: it, HasItem: true})
				}
			}
		}
	}
	for _, j := range r.g.joins {
		seen := r.joins[j.key]
		for _, f := range j.from {
			if slices.Contains(ran, f) && !slices.Contains(seen, f) {
				seen = append(seen, f)
			}
		}
		switch {
		case len(seen) == len(j.from):
			delete(r.joins, j.key)
			trigger(j.to)
		case len(seen) > 0:
			slices.Sort(seen)
			r.joins[j.key] = seen
		}
	}
	slices.Sort(due)
	if len(due) == 0 && len(mapped) == 0 {
		due, r.deferred = r.deferred, nil
		slices.Sort(due)
	}
	r.next = make([]Task, 0, len(due)+len(mapped))
	for _, name := range due {
		r.next = append(r.next, Task{Node: name})
	}
	r.next = append(r.next, mapped...)
	return nil
}

func (r *run[S]) checkDestination(e edge[S], name string) error {
	if len(e.to) > 0 && !slices.Contains(e.to, name) {
		return fmt.Errorf("router returned %q, which is not among its destinations %q", name, e.to)
	}
	if name != END && r.g.nodes[name] == nil {
		return fmt.Errorf("router returned unknown node %q", name)
	}
	return nil
}

func (r *run[S]) routeError(node string, err error) error {
	if node == START {
		return fmt.Errorf("entry: %w", err)
	}
	return &NodeError{Node: node, Step: r.step, Attempts: 1, Err: err}
}
