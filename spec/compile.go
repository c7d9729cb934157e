package spec

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"

	"github.com/graphjob/graphjob/graph"
)

// compiler turns a document into a graph, collecting errors with positions.
type compiler struct {
	parser
	doc    *document
	opts   *options
	envs   *envs
	byName map[string]*channelSpec
	nodes  map[string]*nodeSpec
}

func (c *compiler) build() *graph.Graph[graph.State] {
	g := graph.New[graph.State]()
	c.channels(g)
	if len(c.doc.nodes) == 0 || c.doc.stateUnread {
		return nil // the parser said why; every name or expression would only repeat it
	}
	envs, err := newEnvs(c.doc.state, c.loadSubgraphs())
	if err != nil {
		c.errorf(pos{}, "CEL environment: %v", err)
		return nil
	}
	c.envs = envs
	c.nodes = map[string]*nodeSpec{}
	items := c.mapItems()
	for _, n := range c.doc.nodes {
		c.node(g, n, items[n.name])
	}
	for _, name := range c.doc.entry {
		if c.checkTarget(c.doc.entryPos, name, "spec.entry") && name == graph.END {
			c.errorf(c.doc.entryPos, "spec.entry cannot be END; name the node that runs first")
		}
	}
	for _, e := range c.doc.edges {
		c.edge(g, e)
	}
	if len(c.errs) > 0 {
		return nil // unreachable nodes would only repeat the errors above
	}
	if len(c.doc.entry) > 0 {
		if err := g.SetEntryPoint(c.doc.entry...); err != nil {
			c.errorf(c.doc.entryPos, "%v", err)
			return nil
		}
	}
	runnable, err := g.Compile()
	if err != nil {
		c.compileErrors(err)
	}
	return runnable
}

// compileErrors reports the graph's own checks with the file's positions.
func (c *compiler) compileErrors(err error) {
	errs := []error{err}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		errs = joined.Unwrap()
	}
	for _, e := range errs {
		if u, ok := errors.AsType[*graph.UnreachableError](e); ok {
			c.errorf(c.nodes[u.Node].pos, "node %q can never run: no edge leads to it from the entry; add an edge to it or remove it", u.Node)
		} else {
			c.errorf(pos{}, "%v", e)
		}
	}
}

func (c *compiler) channels(g *graph.StateGraph[graph.State]) {
	for _, ch := range c.doc.state {
		if ch.hasDefault {
			v, err := ch.typ.coerce(ch.def)
			if err != nil {
				c.errorf(ch.defPos, "channel %q: default %v", ch.name, err)
			}
			ch.def = v
		} else {
			ch.def = ch.typ.zero()
		}
		c.byName[ch.name] = ch
		r, ok := graph.ReducerByName(ch.reducer)
		if ch.reducerCEL != nil {
			r, ok = c.celReducer(ch)
		}
		switch {
		case !ok && ch.reducerCEL != nil: // reported
		case !ok:
			c.errorf(ch.pos, "channel %q: unknown reducer %q; use replace, append, add, merge, messages or {cel: EXPRESSION}", ch.name, ch.reducer)
		case !celIdent.MatchString(ch.name):
			c.errorf(ch.pos, "channel name %q must be a CEL identifier: letters, digits and '_', not starting with a digit", ch.name)
		case !reducerFits(ch.reducer, ch.typ):
			c.errorf(ch.pos, "channel %q: reducer %s does not fit type %s; append and messages need a list, add a number, merge an object", ch.name, ch.reducer, ch.typ)
		default:
			if err := g.AddChannel(ch.name, r, graph.Default(ch.def)); err != nil {
				c.errorf(ch.pos, "channel %q: %v", ch.name, err)
			}
		}
	}
}

// celReducer compiles a channel's reducer: {cel: EXPRESSION}, an expression
// of old (the channel's value) and new (one value written), both of the
// channel's type, giving the new value.
func (c *compiler) celReducer(ch *channelSpec) (graph.Reducer, bool) {
	t := ch.typ.cel()
	env, err := cel.NewEnv(append(celLibraries(), cel.Variable("old", t), cel.Variable("new", t))...)
	if err != nil {
		c.errorf(ch.reducerCEL.pos, "CEL environment: %v", err)
		return graph.Reducer{}, false
	}
	want, desc := setType(ch)
	prg := c.compile(env, *ch.reducerCEL, want, desc)
	if prg == nil {
		return graph.Reducer{}, false
	}
	return graph.NewReducer("cel reducer of "+ch.name, func(old, update any) (any, error) {
		if old == nil {
			old = ch.typ.zero()
		}
		v, err := prg.eval(context.Background(), map[string]any{"old": old, "new": update})
		if err == nil {
			v, err = ch.typ.coerce(v)
		}
		if err != nil {
			return nil, graph.Permanent(err)
		}
		return v, nil
	}), true
}

func reducerFits(reducer string, t valueType) bool {
	switch reducer {
	case "append", "messages":
		return t == typeList || t == typeAny
	case "add":
		return t == typeInt || t == typeFloat || t == typeAny
	case "merge":
		return t == typeObject || t == typeAny
	}
	return true
}

// mapItems returns, for each node that map edges target, the names its item
// goes by.
func (c *compiler) mapItems() map[string][]string {
	items := map[string][]string{}
	for _, e := range c.doc.edges {
		if m := e.mapTo; m != nil && !slices.Contains(items[m.to], m.as) {
			items[m.to] = append(items[m.to], m.as)
		}
	}
	return items
}

func (c *compiler) node(g *graph.StateGraph[graph.State], n *nodeSpec, items []string) {
	c.nodes[n.name] = n // even when misnamed, so that edges to it do not repeat the error
	if !nodeName.MatchString(n.name) || n.name == graph.START || n.name == graph.END {
		c.errorf(n.pos, "node name %q: use letters, digits, '_', '.' and '-', starting with a letter or '_'; START and END are reserved", n.name)
		return
	}
	c.checkEnv(n)
	env := c.envs.node
	if len(items) > 0 {
		var err error
		if env, err = withItems(env, items); err != nil {
			c.errorf(n.pos, "node %q: %v", n.name, err)
			return
		}
	}
	var fn graph.NodeFunc[graph.State]
	switch {
	case n.set != nil:
		fn = c.setNode(env, n, items)
	case n.exec != nil:
		fn = c.execNode(n)
	case n.http != nil:
		fn = c.httpNode(n)
	case n.graph != nil:
		fn = c.graphNode(env, n, items)
	}
	var opts []graph.NodeOption
	if r := n.retry; r != nil {
		opts = append(opts, graph.WithRetry(graph.RetryPolicy{
			MaxAttempts: r.maxAttempts, InitialBackoff: r.initialBackoff, Multiplier: r.multiplier,
			MaxBackoff: r.maxBackoff, Jitter: r.jitter,
		}))
	}
	if d := n.attemptTimeout(); d > 0 {
		opts = append(opts, graph.WithTimeout(d))
	}
	if n.deferred {
		opts = append(opts, graph.Deferred())
	}
	if fn != nil {
		if err := g.AddNode(n.name, fn, opts...); err != nil {
			c.errorf(n.pos, "%v", err)
		}
	}
}

// vars is the CEL activation of a node's task.
func vars(ctx context.Context, s graph.State, task graph.TaskInfo, items []string) map[string]any {
	v := map[string]any{"state": s, "run": map[string]any{
		"id": task.RunID, "step": int64(task.Step), "node": task.Node, "attempt": int64(task.Attempt),
		"slot": slotOf(ctx),
	}}
	for _, name := range items {
		v[name] = task.Item
	}
	return v
}

func (c *compiler) setNode(env *cel.Env, n *nodeSpec, items []string) graph.NodeFunc[graph.State] {
	type assign struct {
		ch  *channelSpec
		prg *program
	}
	var assigns []assign
	for _, a := range n.set {
		ch, ok := c.byName[a.channel]
		if !ok {
			c.errorf(a.expr.pos, "node %q sets %q, which is not a channel; declare it under spec.state (%s)",
				n.name, a.channel, c.envs.channelList())
			continue
		}
		want, desc := setType(ch)
		if prg := c.compile(env, a.expr, want, desc); prg != nil {
			assigns = append(assigns, assign{ch, prg})
		}
	}
	return func(ctx context.Context, s graph.State) (graph.Update, error) {
		task, _ := graph.TaskFromContext(ctx)
		act := vars(ctx, s, task, items)
		u := make(graph.Update, len(assigns))
		for _, a := range assigns {
			v, err := a.prg.eval(ctx, act)
			if err != nil {
				return nil, graph.Permanent(err)
			}
			if v, err = writeValue(a.ch, v); err != nil {
				return nil, graph.Permanent(fmt.Errorf("expression %q (line %d): %w", a.prg.text, a.prg.line, err))
			}
			u[a.ch.name] = v
		}
		return u, nil
	}
}

// setType is what a set expression for the channel may give.
func setType(ch *channelSpec) (func(*cel.Type) bool, string) {
	want := ch.typ.cel()
	switch ch.reducer {
	case "append", "messages":
		return nil, ""
	case "add":
		return func(t *cel.Type) bool { return t.IsExactType(cel.IntType) || t.IsExactType(cel.DoubleType) }, "a number for an add channel"
	}
	if ch.typ == typeAny {
		return nil, ""
	}
	return func(t *cel.Type) bool {
		return want.IsAssignableType(t) || (ch.typ == typeFloat && t.IsExactType(cel.IntType))
	}, fmt.Sprintf("%s for channel %q", ch.typ.article(), ch.name)
}

// writeValue checks a value written to a channel: the channel's type for
// replace and a CEL reducer, a number for add, an object for merge, anything
// for append (a list is appended element by element) and messages (whose
// reducer checks them).
func writeValue(ch *channelSpec, v any) (any, error) {
	if m, ok := v.(map[string]any); ok && len(m) == 1 && m[graph.OverwriteKey] != nil {
		// An overwrite sets the channel whatever its reducer: a value of its type.
		out, err := ch.typ.coerce(m[graph.OverwriteKey])
		if err != nil {
			return nil, fmt.Errorf("channel %q: overwrite: %w", ch.name, err)
		}
		return graph.Overwrite{Value: out}, nil
	}
	switch ch.reducer {
	case "append", "messages":
		return v, nil
	case "add":
		switch v.(type) {
		case int64, float64:
			return v, nil
		}
		return nil, fmt.Errorf("channel %q adds numbers, and %s is not one", ch.name, describeValue(v))
	case "merge":
		if _, ok := v.(map[string]any); !ok {
			return nil, fmt.Errorf("channel %q merges objects, and %s is not one", ch.name, describeValue(v))
		}
		return v, nil
	}
	out, err := ch.typ.coerce(v)
	if err != nil {
		return nil, fmt.Errorf("channel %q: %w", ch.name, err)
	}
	return out, nil
}

// checkTarget reports whether name is a node or END.
func (c *compiler) checkTarget(at pos, name, what string) bool {
	if name == graph.END || c.nodes[name] != nil {
		return true
	}
	c.errorf(at, "%s names %q, which is not a node; the nodes are %s (or END)", what, name, strings.Join(c.nodeNames(), ", "))
	return false
}

func (c *compiler) nodeNames() []string {
	names := make([]string, 0, len(c.doc.nodes))
	for _, n := range c.doc.nodes {
		names = append(names, n.name)
	}
	return names
}

func (c *compiler) edge(g *graph.StateGraph[graph.State], e *edgeSpec) {
	ok := len(e.from) > 0 // none: the parser said why
	for _, f := range e.from {
		ok = c.checkSource(e.fromPos, f) && ok
	}
	for _, t := range e.to {
		ok = c.checkTarget(e.toPos, t, "edge to") && ok
	}
	if !ok {
		return
	}
	var err error
	switch from := e.from[0]; {
	case len(e.from) > 1:
		if len(e.to) == 1 { // otherwise the parser said why
			err = g.AddJoin(e.from, e.to[0])
		}
	case len(e.to) > 0:
		err = g.AddEdge(from, e.to...)
	case e.when != nil:
		err = c.whenEdge(g, e, from)
	case e.mapTo != nil:
		err = c.mapEdge(g, e, from)
	}
	if err != nil && len(c.errs) == 0 { // otherwise a node the edge names had errors, reported
		c.errorf(e.pos, "%s", strings.TrimPrefix(err.Error(), graph.ErrInvalidGraph.Error()+": "))
	}
}

// checkSource reports whether name is a node or START.
func (c *compiler) checkSource(at pos, name string) bool {
	switch {
	case name == graph.START || c.nodes[name] != nil:
		return true
	case name == graph.END:
		c.errorf(at, "an edge cannot start at END")
	default:
		c.errorf(at, "edge from names %q, which is not a node; the nodes are %s (or START)", name, strings.Join(c.nodeNames(), ", "))
	}
	return false
}

func (c *compiler) whenEdge(g *graph.StateGraph[graph.State], e *edgeSpec, from string) error {
	type branch struct {
		cond *program
		to   []string
	}
	var branches []branch
	var dests []string
	isBool := func(t *cel.Type) bool { return t.IsExactType(cel.BoolType) }
	for _, cs := range e.when {
		b := branch{to: cs.to}
		if cs.cond != nil {
			if b.cond = c.compile(c.envs.edge, *cs.cond, isBool, "a bool for if"); b.cond == nil {
				continue
			}
		}
		for _, t := range cs.to {
			if c.checkTarget(cs.toPos, t, "when case") && !slices.Contains(dests, t) {
				dests = append(dests, t)
			}
		}
		branches = append(branches, b)
	}
	if len(c.errs) > 0 {
		return nil
	}
	line := e.line
	route := func(ctx context.Context, s graph.State) ([]string, error) {
		act := map[string]any{"state": s}
		for _, b := range branches {
			if b.cond == nil {
				return b.to, nil
			}
			v, err := b.cond.eval(ctx, act)
			if err != nil {
				return nil, graph.Permanent(err)
			}
			if ok, isB := v.(bool); !isB {
				return nil, graph.Permanent(fmt.Errorf("if %q gave %s, not a bool", b.cond.text, describeValue(v)))
			} else if ok {
				return b.to, nil
			}
		}
		return nil, graph.Permanent(fmt.Errorf("no case of the when edge from %q (line %d) matched; add a last case without if, such as `- to: END`", from, line))
	}
	return g.AddConditionalEdges(from, route, dests...)
}

func (c *compiler) mapEdge(g *graph.StateGraph[graph.State], e *edgeSpec, from string) error {
	m := e.mapTo
	if m.to == "" || !c.checkTarget(m.toPos, m.to, "map to") {
		return nil // an empty to was reported by the parser
	}
	if m.to == graph.END {
		c.errorf(m.toPos, "map to END: a map edge runs a node once per item; name that node")
		return nil
	}
	if m.over == nil {
		return nil // reported by the parser
	}
	isList := func(t *cel.Type) bool { return t.Kind() == types.ListKind }
	over := c.compile(c.envs.edge, *m.over, isList, "a list for map over")
	if over == nil {
		return nil
	}
	return g.AddMapEdge(from, m.to, func(ctx context.Context, s graph.State) ([]any, error) {
		v, err := over.eval(ctx, map[string]any{"state": s})
		if err != nil {
			return nil, graph.Permanent(err)
		}
		items, ok := v.([]any)
		if !ok {
			return nil, graph.Permanent(fmt.Errorf("map over %q gave %s, not a list", over.text, describeValue(v)))
		}
		return items, nil
	})
}
