package spec

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"cel.dev/cel-go/cel"

	"github.com/graphjob/graphjob/graph"
)

// MaxGraphDepth bounds how deep graph nodes nest subgraphs.
const MaxGraphDepth = 8

// loadSubgraphs loads the graph files of the graph nodes, reporting their
// errors as theirs, and returns each subgraph's channels by the node's place
// in the file: the fields of its result.
func (c *compiler) loadSubgraphs() map[int][]*channelSpec {
	results := map[int][]*channelSpec{}
	for i, n := range c.doc.nodes {
		g := n.graph
		if g == nil || g.file == "" {
			continue
		}
		if !c.opts.local || strings.Contains(g.file, "://") {
			c.errorf(g.filePos, "node %q runs graph %s: graph nodes run graph files on the local disk, beside a graph read from it; give the path of a local copy", n.name, g.file)
			continue
		}
		path := g.file
		if !filepath.IsAbs(path) {
			path = filepath.Join(filepath.Dir(c.file), path)
		}
		abs, err := filepath.Abs(path)
		if err != nil {
			c.errorf(g.filePos, "node %q graph file %s: %v", n.name, g.file, err)
			continue
		}
		chain := append(slices.Clone(c.opts.parents), mustAbs(c.file))
		switch {
		case slices.Contains(chain, abs):
			c.errorf(g.filePos, "node %q runs graph %s, which is this graph or one that runs it; a graph cannot contain itself", n.name, g.file)
			continue
		case len(chain) >= MaxGraphDepth:
			c.errorf(g.filePos, "node %q: graph nodes nest more than %d deep", n.name, MaxGraphDepth)
			continue
		}
		o := *c.opts
		o.parents = chain
		sub, err := loadWith(path, o)
		var list ErrorList
		switch {
		case errors.As(err, &list):
			c.errs = append(c.errs, list...) // each names the subgraph's file and line
			continue
		case err != nil:
			c.errorf(g.filePos, "node %q: %v", n.name, err)
			continue
		}
		g.sub, g.index = sub, i
		results[i] = sub.doc.state
	}
	return results
}

func mustAbs(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return path
	}
	return abs
}

// Subgraphs lists the graph files the graph's graph nodes run, and those
// that theirs run, each once, as their nodes name them.
func (g *Graph) Subgraphs() []string {
	var files []string
	for _, n := range g.doc.nodes {
		if n.graph == nil || n.graph.sub == nil {
			continue
		}
		for _, f := range append([]string{n.graph.sub.File}, n.graph.sub.Subgraphs()...) {
			if !slices.Contains(files, f) {
				files = append(files, f)
			}
		}
	}
	return files
}

// subgraphs returns the graph nodes' subgraphs, in file order.
func (c *compiler) subgraphs() []*Graph {
	var subs []*Graph
	for _, n := range c.doc.nodes {
		if n.graph != nil && n.graph.sub != nil {
			subs = append(subs, n.graph.sub)
		}
	}
	return subs
}

// loadWith reads and compiles a graph file with the options of the graph
// that runs it.
func loadWith(path string, o options) (*Graph, error) {
	data, err := ReadLocal(path, MaxFileSize)
	if err != nil {
		return nil, &Error{File: path, Msg: fmt.Sprintf("cannot read the graph file: %v", err)}
	}
	doc, errs := parse(path, data)
	if doc == nil {
		return nil, errs
	}
	return compile(path, data, doc, errs, o)
}

// mapping is one channel of a graph node's input or output, and the
// expression giving it (nil: the channel of the same name).
type mapping struct {
	ch  *channelSpec
	prg *program
}

// graphNode runs the node's subgraph: its input given by the input
// expressions, or the channels the graphs share; the update made of its
// result by the output expressions, or the channels the graphs share.
func (c *compiler) graphNode(env *cel.Env, n *nodeSpec, items []string) graph.NodeFunc[graph.State] {
	g := n.graph
	sub := g.sub
	if sub == nil {
		return nil // reported
	}
	what := fmt.Sprintf("node %q", n.name)
	if g.input == nil || g.output == nil {
		for _, ch := range c.doc.state {
			if sc, ok := sub.channels[ch.name]; ok && sc.typ != ch.typ && sc.typ != typeAny && ch.typ != typeAny {
				c.errorf(n.pos, "%s: channel %q is %s here and %s in graph %s, so it cannot be passed as it is: give graph input and output expressions", what, ch.name, ch.typ, sc.typ, sub.Name)
			}
		}
	}
	inputs := c.mappings(env, g.input, sub.channels, c.byName, sub.doc.state, what+" input", "graph "+sub.Name)
	outEnv, err := env.Extend(cel.Variable("result", cel.ObjectType(resultTypeName(g.index))))
	if err != nil {
		c.errorf(n.pos, "CEL environment: %v", err)
		return nil
	}
	outputs := c.mappings(outEnv, g.output, c.byName, sub.channels, c.doc.state, what+" output", "this graph")
	limit := sub.RecursionLimit
	return func(ctx context.Context, s graph.State) (graph.Update, error) {
		task, _ := graph.TaskFromContext(ctx)
		act := vars(ctx, s, task, items)
		in, err := apply(ctx, inputs, act, s)
		if err != nil {
			return nil, err
		}
		out, err := graph.Subgraph(ctx, sub.Runnable, in, graph.WithRecursionLimit(limit))
		if err != nil {
			return nil, fmt.Errorf("graph %s (%s): %w", sub.Name, sub.File, err)
		}
		act["result"] = out
		return apply(ctx, outputs, act, out)
	}
}

// mappings compiles the expressions of a graph node's input or output,
// which write channels of to; without any, each channel of both graphs is
// copied (graphNode has checked their types).
func (c *compiler) mappings(env *cel.Env, given []*assignment, to, from map[string]*channelSpec, order []*channelSpec, what, toName string) []mapping {
	var out []mapping
	if given == nil {
		for _, ch := range order {
			if _, ok := from[ch.name]; ok {
				out = append(out, mapping{ch: ch})
			}
		}
		return out
	}
	for _, a := range given {
		ch, ok := to[a.channel]
		if !ok {
			c.errorf(a.expr.pos, "%s sets %q, which is not a channel of %s", what, a.channel, toName)
			continue
		}
		want, desc := setType(ch)
		if prg := c.compile(env, a.expr, want, desc); prg != nil {
			out = append(out, mapping{ch: ch, prg: prg})
		}
	}
	return out
}

// apply evaluates mappings: each channel's expression, or the value of the
// channel of the same name in from.
func apply(ctx context.Context, ms []mapping, act map[string]any, from graph.State) (graph.State, error) {
	out := make(graph.State, len(ms))
	for _, m := range ms {
		v, ok := from[m.ch.name]
		if m.prg != nil {
			var err error
			if v, err = m.prg.eval(ctx, act); err != nil {
				return nil, graph.Permanent(err)
			}
		} else if !ok {
			continue
		}
		v, err := writeValue(m.ch, v)
		if err != nil {
			return nil, graph.Permanent(err)
		}
		out[m.ch.name] = v
	}
	return out, nil
}
