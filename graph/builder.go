package graph

import (
	"context"
	"errors"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"
)

const (
	// START is the pseudo-node a run begins at: edges from START pick the
	// first nodes.
	START = "START"
	// END is the pseudo-node a branch finishes at.
	END = "END"
)

// NodeFunc is a node: it reads the state and returns a partial update. It
// must not change the state it is given; values in it may be shared with other
// tasks. The task it runs as (step, attempt, map item) is TaskFromContext(ctx).
type NodeFunc[S any] func(ctx context.Context, state S) (Update, error)

// Router picks the next nodes after a node ran, from the state after its
// superstep. It returns node names, or END.
type Router[S any] func(ctx context.Context, state S) ([]string, error)

// ItemsFunc lists the items of a map edge: the target node runs once per item,
// in one superstep. Items must be JSON values for runs to be checkpointed.
type ItemsFunc[S any] func(ctx context.Context, state S) ([]any, error)

// StateGraph builds a graph over the state type S: a struct whose exported
// fields are the channels, or State with channels declared by AddChannel.
// Its methods report a mistake at once; the first mistake is also returned
// by Compile, so a builder whose errors were not checked cannot compile.
type StateGraph[S any] struct {
	access   access[S]
	channels []*channel
	nodes    map[string]*node[S]
	order    []string             // node names in the order they were added
	edges    map[string][]edge[S] // by source node, in the order they were added
	joins    []join
	err      error
}

type node[S any] struct {
	name     string
	fn       NodeFunc[S]
	retry    RetryPolicy
	timeout  time.Duration
	deferred bool
}

// join is a waiting edge: to runs once all of from have run.
type join struct {
	key  string // "join:a+b:c", as LangGraph names the channel
	from []string
	to   string
}

type edgeKind int

const (
	staticEdge edgeKind = iota
	conditionalEdge
	mapEdge
)

type edge[S any] struct {
	kind  edgeKind
	to    []string // static: the targets; conditional: the declared destinations; map: the target
	route Router[S]
	items ItemsFunc[S]
}

// A NodeOption configures one node.
type NodeOption func(*nodeOptions)

type nodeOptions struct {
	retry    RetryPolicy
	timeout  time.Duration
	deferred bool
}

// WithRetry sets the node's retry policy. Without it a node runs once.
func WithRetry(p RetryPolicy) NodeOption { return func(o *nodeOptions) { o.retry = p } }

// WithTimeout bounds each attempt of the node. The node's context is
// cancelled with a TimeoutError as cause when d has passed.
func WithTimeout(d time.Duration) NodeOption { return func(o *nodeOptions) { o.timeout = d } }

// Deferred makes the node wait, once an edge has made it due, until nothing
// else is left to run (LangGraph's defer=True): it runs after every branch of
// a fan-out has finished, however uneven their depths. A deferred node made
// due several times before it runs runs once.
func Deferred() NodeOption { return func(o *nodeOptions) { o.deferred = true } }

var validName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)

// New returns an empty graph over S. For a struct S, each exported field is a
// channel named by its json tag (or field name), with the reducer named by its
// `reducer` tag (replace when absent):
//
//	type State struct {
//		Step    int   `json:"step"`
//		Results []int `json:"results" reducer:"append"`
//	}
func New[S any]() *StateGraph[S] {
	g := &StateGraph[S]{nodes: map[string]*node[S]{}, edges: map[string][]edge[S]{}}
	t := reflect.TypeFor[S]()
	switch {
	case t == reflect.TypeFor[State]():
		g.access = mapAccess[S]{}
	case t.Kind() == reflect.Struct:
		g.access = structAccess[S]{}
		g.channels, g.err = channelsOf(t)
	default:
		g.access = structAccess[S]{}
		g.err = invalidf("state type %s is neither a struct nor graph.State", t)
	}
	return g
}

func (g *StateGraph[S]) fail(err error) error {
	if g.err == nil {
		g.err = err
	}
	return err
}

// A ChannelOption configures one channel.
type ChannelOption func(*channel)

// Default sets the value a channel has before anything is written to it,
// instead of its reducer's empty value. Each run starts from its own copy of
// lists and objects (JSON-like values); other values are shared and must not
// be changed.
func Default(v any) ChannelOption {
	return func(c *channel) { c.def, c.hasDef = v, true }
}

// AddChannel declares a channel of a State graph, or sets the reducer of a
// struct graph's channel.
func (g *StateGraph[S]) AddChannel(name string, r Reducer, opts ...ChannelOption) error {
	if !validName.MatchString(name) {
		return g.fail(invalidf("channel name %q: use letters, digits, '_', '.' and '-', starting with a letter or '_'", name))
	}
	if c := g.channel(name); c != nil {
		if c.typ == nil {
			return g.fail(invalidf("channel %q is declared twice", name))
		}
		if err := r.check(c.typ); err != nil {
			return g.fail(invalidf("channel %q: %v", name, err))
		}
		c.reducer = r
		for _, o := range opts {
			o(c)
		}
		if c.hasDef {
			if _, err := convert(c.typ, c.def); err != nil {
				return g.fail(invalidf("channel %q: default: %v", name, err))
			}
		}
		return nil
	}
	if _, ok := g.access.(mapAccess[S]); !ok {
		return g.fail(invalidf("channel %q: the state struct has no such field", name))
	}
	c := &channel{name: name, reducer: r, field: -1}
	for _, o := range opts {
		o(c)
	}
	g.channels = append(g.channels, c)
	return nil
}

func (g *StateGraph[S]) channel(name string) *channel {
	for _, c := range g.channels {
		if c.name == name {
			return c
		}
	}
	return nil
}

// AddNode adds a node. Names are unique; START and END are reserved.
func (g *StateGraph[S]) AddNode(name string, fn NodeFunc[S], opts ...NodeOption) error {
	switch {
	case name == START || name == END:
		return g.fail(invalidf("node name %q is reserved", name))
	case !validName.MatchString(name):
		return g.fail(invalidf("node name %q: use letters, digits, '_', '.' and '-', starting with a letter or '_'", name))
	case g.nodes[name] != nil:
		return g.fail(invalidf("node %q is added twice", name))
	case fn == nil:
		return g.fail(invalidf("node %q has no function", name))
	}
	var o nodeOptions
	for _, opt := range opts {
		opt(&o)
	}
	if err := o.retry.validate(); err != nil {
		return g.fail(invalidf("node %q: %v", name, err))
	}
	if o.timeout < 0 {
		return g.fail(invalidf("node %q: negative timeout %s", name, o.timeout))
	}
	g.nodes[name] = &node[S]{name: name, fn: fn, retry: o.retry, timeout: o.timeout, deferred: o.deferred}
	g.order = append(g.order, name)
	return nil
}

// SetEntryPoint makes the nodes run first: AddEdge(START, names...).
func (g *StateGraph[S]) SetEntryPoint(names ...string) error { return g.AddEdge(START, names...) }

// AddEdge makes every node in to run in the superstep after from. Several
// targets run in parallel; END finishes the branch.
func (g *StateGraph[S]) AddEdge(from string, to ...string) error {
	if len(to) == 0 {
		return g.fail(invalidf("edge from %q has no target", from))
	}
	if err := g.checkEdge(from, to...); err != nil {
		return err
	}
	g.edges[from] = append(g.edges[from], edge[S]{kind: staticEdge, to: to})
	return nil
}

// AddJoin adds a waiting edge (LangGraph's add_edge([a, b], c)): to runs
// once, in the superstep after every node in from has run since to last
// ran through this edge, however many supersteps apart they finish. The
// sources seen so far are part of every Checkpoint.
func (g *StateGraph[S]) AddJoin(from []string, to string) error {
	if len(from) == 0 {
		return g.fail(invalidf("join to %q has no sources", to))
	}
	if to == END {
		return g.fail(invalidf("join from %q cannot target END: it would run nothing", from))
	}
	for i, f := range from {
		if slices.Contains(from[:i], f) {
			return g.fail(invalidf("join to %q names source %q twice", to, f))
		}
		if err := g.checkEdge(f, to); err != nil {
			return err
		}
	}
	key := "join:" + strings.Join(from, "+") + ":" + to
	if slices.ContainsFunc(g.joins, func(j join) bool { return j.key == key }) {
		return g.fail(invalidf("join from %q to %q is added twice", from, to))
	}
	g.joins = append(g.joins, join{key: key, from: slices.Clone(from), to: to})
	return nil
}

// AddConditionalEdges routes from a node to the nodes the router returns.
// destinations lists every name the router may return (END included), so that
// Compile can check the graph and a router returning anything else fails; with
// no destinations the router may name any node.
func (g *StateGraph[S]) AddConditionalEdges(from string, route Router[S], destinations ...string) error {
	if route == nil {
		return g.fail(invalidf("conditional edge from %q has no router", from))
	}
	if err := g.checkEdge(from, destinations...); err != nil {
		return err
	}
	g.edges[from] = append(g.edges[from], edge[S]{kind: conditionalEdge, to: destinations, route: route})
	return nil
}

// AddMapEdge runs node to once per item that items returns, all in the
// superstep after from. Each task sees its item as TaskFromContext(ctx).Item.
func (g *StateGraph[S]) AddMapEdge(from, to string, items ItemsFunc[S]) error {
	if items == nil {
		return g.fail(invalidf("map edge from %q has no items function", from))
	}
	if to == END {
		return g.fail(invalidf("map edge from %q cannot target END", from))
	}
	if err := g.checkEdge(from, to); err != nil {
		return err
	}
	g.edges[from] = append(g.edges[from], edge[S]{kind: mapEdge, to: []string{to}, items: items})
	return nil
}

func (g *StateGraph[S]) checkEdge(from string, to ...string) error {
	if from == END {
		return g.fail(invalidf("an edge cannot start at END"))
	}
	if from != START && g.nodes[from] == nil {
		return g.fail(invalidf("edge from unknown node %q", from))
	}
	for _, t := range to {
		if t == START {
			return g.fail(invalidf("edge from %q to START: START cannot be a target", from))
		}
		if t != END && g.nodes[t] == nil {
			return g.fail(invalidf("edge from %q to unknown node %q", from, t))
		}
	}
	return nil
}

// Compile checks the whole graph and returns its immutable, runnable form.
// It reports every problem it finds: a graph without an entry point, nodes
// that can never run.
func (g *StateGraph[S]) Compile() (*Graph[S], error) {
	if g.err != nil {
		return nil, g.err
	}
	if len(g.edges[START]) == 0 {
		return nil, invalidf("no entry point: call SetEntryPoint or AddEdge(START, ...)")
	}
	reached := map[string]bool{START: true}
	queue := []string{START}
	reach := func(t string) {
		if t != END && !reached[t] {
			reached[t] = true
			queue = append(queue, t)
		}
	}
	for len(queue) > 0 {
		for len(queue) > 0 {
			n := queue[0]
			queue = queue[1:]
			for _, e := range g.edges[n] {
				to := e.to
				if e.kind == conditionalEdge && len(to) == 0 {
					to = g.order
				}
				for _, t := range to {
					reach(t)
				}
			}
		}
		// A join's target is reached once all its sources are.
		for _, j := range g.joins {
			if !slices.ContainsFunc(j.from, func(f string) bool { return !reached[f] }) {
				reach(j.to)
			}
		}
	}
	var errs []error
	for _, n := range g.order {
		if !reached[n] {
			errs = append(errs, &UnreachableError{Node: n})
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	c := &Graph[S]{
		access:   g.access,
		channels: make([]*channel, len(g.channels)),
		byName:   make(map[string]int, len(g.channels)),
		nodes:    make(map[string]*node[S], len(g.nodes)),
		order:    append([]string(nil), g.order...),
		edges:    make(map[string][]edge[S], len(g.edges)),
		joins:    slices.Clone(g.joins),
	}
	for i, ch := range g.channels {
		cc := *ch
		c.channels[i] = &cc
		c.byName[ch.name] = i
	}
	for name, n := range g.nodes {
		nn := *n
		c.nodes[name] = &nn
	}
	for from, es := range g.edges {
		c.edges[from] = append([]edge[S](nil), es...)
	}
	return c, nil
}
