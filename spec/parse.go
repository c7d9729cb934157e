package spec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Limits on what a graph file may ask for.
const (
	MaxFileSize       = 1 << 20 // bytes
	MaxNodes          = 1000
	MaxExprLen        = 4096 // bytes of one CEL expression
	MaxRecursionLimit = 1_000_000
	// MaxCost bounds the cost of one evaluation of an expression, in CEL
	// cost units (about one per operation or element visited).
	MaxCost = 1_000_000
)

// document is a parsed graph file, with positions kept for error messages.
type document struct {
	name           string
	recursionLimit int
	env            []string // spec.env: the process variables the nodes may read
	envPos         pos      // line 0: the file has no spec.env
	envUnread      bool     // spec.env is not a list: no reference can be checked
	state          []*channelSpec
	stateUnread    bool // spec.state is not a mapping: no expression can be checked
	entry          []string
	entryPos       pos
	nodes          []*nodeSpec
	edges          []*edgeSpec
}

type pos struct{ line, col int }

func at(n *yaml.Node) pos { return pos{n.Line, n.Column} }

type channelSpec struct {
	pos
	name       string
	typ        valueType
	reducer    string
	reducerCEL *expr // reducer: {cel: ...}; reducer is "cel"
	def        any
	hasDefault bool
	defPos     pos
}

type nodeSpec struct {
	pos
	name     string
	set      []*assignment
	exec     *execSpec
	http     *httpSpec
	graph    *graphNodeSpec
	retry    *retrySpec
	timeout  time.Duration
	deferred bool
}

// graphNodeSpec is a graph node: a subgraph from another file.
type graphNodeSpec struct {
	file    string
	filePos pos
	input   []*assignment // nil: the channels the two graphs share
	output  []*assignment // nil: likewise
	sub     *Graph        // loaded by the compiler
	index   int           // the node's place in the file, naming its result type
}

// DefaultHTTPTimeout bounds each attempt of an http node that gives no
// timeout: a server that never answers must not hold the run for ever.
const DefaultHTTPTimeout = 5 * time.Minute

// defaultHTTPTimeout is DefaultHTTPTimeout; tests shorten it.
var defaultHTTPTimeout = DefaultHTTPTimeout

// attemptTimeout bounds each attempt: the shorter of the node's timeout and
// its exec or http timeout, which mean the same; an http node without
// either has defaultHTTPTimeout.
func (n *nodeSpec) attemptTimeout() time.Duration {
	d := n.timeout
	for _, t := range []time.Duration{n.execTimeout(), n.httpTimeout()} {
		if t > 0 && (d == 0 || t < d) {
			d = t
		}
	}
	if d == 0 && n.http != nil {
		d = defaultHTTPTimeout
	}
	return d
}

func (n *nodeSpec) execTimeout() time.Duration {
	if n.exec == nil {
		return 0
	}
	return n.exec.timeout
}

func (n *nodeSpec) httpTimeout() time.Duration {
	if n.http == nil {
		return 0
	}
	return n.http.timeout
}

type assignment struct {
	channel string
	expr    expr
}

// expr is the text of a CEL expression and where it stands in the file.
type expr struct {
	pos
	text string
	// block is set for YAML block scalars, whose text starts on the next line.
	block bool
}

type execSpec struct {
	command []string
	env     []entry
	timeout time.Duration
}

type httpSpec struct {
	url     string
	method  string
	headers []entry
	timeout time.Duration
}

type retrySpec struct {
	maxAttempts    int
	initialBackoff time.Duration
	multiplier     float64
	maxBackoff     time.Duration
	jitter         float64
}

type edgeSpec struct {
	pos
	from    []string // several: a waiting edge
	fromPos pos
	to      []string
	toPos   pos
	when    []*caseSpec
	mapTo   *mapSpec
}

type caseSpec struct {
	pos
	cond  *expr // nil: the default case
	to    []string
	toPos pos
}

type mapSpec struct {
	pos
	over  *expr // nil: the parser reported why
	to    string
	toPos pos
	as    string
}

// parser turns YAML into a document, collecting errors.
type parser struct {
	file string
	errs ErrorList
}

func (p *parser) errorf(at pos, format string, args ...any) {
	if len(p.errs) < maxErrors {
		p.errs = append(p.errs, &Error{File: p.file, Line: at.line, Column: at.col, Msg: fmt.Sprintf(format, args...)})
	}
}

func parse(file string, data []byte) (*document, ErrorList) {
	p := &parser{file: file}
	if len(data) > MaxFileSize {
		p.errorf(pos{}, "file is %d bytes, larger than the limit of %d; split the graph or move data out of it", len(data), MaxFileSize)
		return nil, p.errs
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	err := dec.Decode(&root)
	if errors.Is(err, io.EOF) {
		p.errorf(pos{}, "file is empty; a graph file starts with apiVersion: graphjob.dev/v1 and kind: Graph")
		return nil, p.errs
	}
	var first *yaml.Node
	var extra yaml.Node
	extraErr := io.EOF
	if err == nil {
		first, extraErr = root.Content[0], dec.Decode(&extra)
	}
	// An error about a file that is no graph file at all quotes none of it:
	// it may be anything given by mistake, such as a password file or a key.
	isYAML := err == nil && (extraErr == nil || errors.Is(extraErr, io.EOF))
	if why := p.notGraph(first, isYAML, data); why != "" {
		p.errorf(pos{}, "not a graph file: %s", why)
		return nil, p.errs
	}
	if err != nil {
		p.yamlError(err)
		return nil, p.errs
	}
	if extraErr == nil {
		p.errorf(at(&extra), "a second YAML document; a graph file holds one graph")
	} else if !errors.Is(extraErr, io.EOF) {
		p.yamlError(extraErr)
	}
	doc := p.document(first)
	p.sortErrors()
	return doc, p.errs
}

func (p *parser) document(root *yaml.Node) *document {
	if root = p.deref(root); root.Kind != yaml.MappingNode {
		p.errorf(at(root), "the file must be a mapping that starts with apiVersion: graphjob.dev/v1 and kind: Graph, not %s", describe(root))
		return nil
	}
	f := p.fields(root, "the file", "apiVersion", "kind", "metadata", "spec")
	top := at(root)
	if v, ok := f["apiVersion"]; !ok {
		p.errorf(top, "apiVersion is missing; add apiVersion: graphjob.dev/v1")
	} else if s, _ := p.str(v, "apiVersion"); s != "graphjob.dev/v1" {
		p.errorf(at(v), "apiVersion %q is not supported; use graphjob.dev/v1", s)
	}
	if v, ok := f["kind"]; !ok {
		p.errorf(top, "kind is missing; add kind: Graph")
	} else if s, _ := p.str(v, "kind"); s != "Graph" {
		p.errorf(at(v), "kind %q is not supported; use Graph", s)
	}
	doc := &document{}
	if v, ok := f["metadata"]; !ok {
		p.errorf(top, "metadata is missing; add metadata: {name: my-graph}")
	} else {
		m := p.fields(v, "metadata", "name", "labels", "annotations")
		if nv, ok := m["name"]; !ok {
			p.errorf(at(v), "metadata.name is missing; name the graph")
		} else if s, ok := p.str(nv, "metadata.name"); ok {
			if !dnsLabel.MatchString(s) || len(s) > 63 {
				p.errorf(at(nv), "metadata.name %q must be at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit", s)
			}
			doc.name = s
		}
	}
	v, ok := f["spec"]
	if !ok {
		p.errorf(top, "spec is missing; a graph needs spec.entry, spec.nodes and spec.edges")
		return doc
	}
	p.spec(v, doc)
	return doc
}

func (p *parser) spec(n *yaml.Node, doc *document) {
	f := p.fields(n, "spec", "recursionLimit", "env", "state", "entry", "nodes", "edges")
	doc.recursionLimit = 25
	if v, ok := f["recursionLimit"]; ok {
		if l, ok := p.integer(v, "spec.recursionLimit"); ok {
			if l < 1 || l > MaxRecursionLimit {
				p.errorf(at(v), "spec.recursionLimit %d must be between 1 and %d", l, MaxRecursionLimit)
			}
			doc.recursionLimit = l
		}
	}
	if v, ok := f["env"]; ok {
		doc.env, doc.envPos = p.envNames(v), at(v)
		doc.envUnread = doc.env == nil
	}
	if v, ok := f["state"]; ok {
		doc.stateUnread = p.deref(v).Kind != yaml.MappingNode
		for _, kv := range p.pairs(v, "spec.state") {
			doc.state = append(doc.state, p.channel(kv))
		}
	}
	if v, ok := f["entry"]; ok {
		doc.entry, doc.entryPos = p.names(v, "spec.entry"), at(v)
	} else {
		doc.entryPos = at(n) // the compiler asks for it unless an edge leaves START
	}
	if v, ok := f["nodes"]; ok {
		kvs := p.pairs(v, "spec.nodes")
		if len(kvs) == 0 && p.deref(v).Kind == yaml.MappingNode {
			p.errorf(at(v), "spec.nodes is empty; a graph needs at least one node")
		}
		if len(kvs) > MaxNodes {
			p.errorf(at(v), "spec.nodes has %d nodes, more than the limit of %d", len(kvs), MaxNodes)
			return
		}
		for _, kv := range kvs {
			doc.nodes = append(doc.nodes, p.node(kv))
		}
	} else {
		p.errorf(at(n), "spec.nodes is missing; a graph needs at least one node")
	}
	if v, ok := f["edges"]; ok {
		if v = p.deref(v); v.Kind != yaml.SequenceNode {
			p.errorf(at(v), "spec.edges must be a list of edges (- from: a ...), not %s", describe(v))
			return
		}
		for _, e := range v.Content {
			doc.edges = append(doc.edges, p.edge(e))
		}
	}
	if _, ok := f["entry"]; !ok && !slices.ContainsFunc(doc.edges, func(e *edgeSpec) bool { return slices.Contains(e.from, "START") }) {
		p.errorf(at(n), "spec.entry is missing; name the node that runs first, or add an edge from START")
	}
}

func (p *parser) channel(kv pair) *channelSpec {
	c := &channelSpec{pos: kv.pos, name: kv.key, typ: typeAny, reducer: "replace"}
	f := p.fields(kv.value, fmt.Sprintf("state channel %q", kv.key), "type", "reducer", "default")
	if v, ok := f["type"]; ok {
		if s, ok := p.str(v, "type"); ok {
			t, found := parseType(s)
			if !found {
				p.errorf(at(v), "channel %q: unknown type %q; use int, float, string, bool, list, object or any", kv.key, s)
			}
			c.typ = t
		}
	}
	if v, ok := f["reducer"]; ok {
		if p.deref(v).Kind == yaml.MappingNode {
			what := fmt.Sprintf("channel %q reducer", kv.key)
			if e, ok := p.fields(v, what, "cel")["cel"]; !ok {
				p.errorf(at(v), "%s: give cel: with an expression of old and new, such as cel: old + new", what)
			} else if x, ok := p.expr(e, what+" cel"); ok {
				c.reducer, c.reducerCEL = "cel", &x
			}
		} else if s, ok := p.str(v, "reducer"); ok {
			c.reducer = s
		}
	}
	if v, ok := f["default"]; ok {
		var d any
		if err := p.deref(v).Decode(&d); err != nil {
			p.errorf(at(v), "channel %q: default: %v", kv.key, err)
		} else {
			c.def, c.hasDefault, c.defPos = normalize(d), true, at(v)
		}
	}
	return c
}

func (p *parser) node(kv pair) *nodeSpec {
	what := fmt.Sprintf("node %q", kv.key)
	n := &nodeSpec{pos: kv.pos, name: kv.key}
	f := p.fields(kv.value, what, "set", "exec", "http", "graph", "retry", "timeout", "defer")
	var kinds []string
	if v, ok := f["set"]; ok {
		kinds = append(kinds, "set")
		n.set = []*assignment{} // a set node with no assignments is a valid no-op
		for _, a := range p.pairs(v, what+" set") {
			if e, ok := p.expr(a.value, "expression"); ok {
				n.set = append(n.set, &assignment{channel: a.key, expr: e})
			}
		}
	}
	if v, ok := f["exec"]; ok {
		kinds = append(kinds, "exec")
		n.exec = p.exec(v, what)
	}
	if v, ok := f["http"]; ok {
		kinds = append(kinds, "http")
		n.http = p.http(v, what)
	}
	if v, ok := f["graph"]; ok {
		kinds = append(kinds, "graph")
		n.graph = p.graphNode(v, what)
	}
	switch len(kinds) {
	case 0:
		p.errorf(kv.pos, "%s must have exactly one of set, exec, http or graph", what)
	case 1:
	case 2:
		p.errorf(kv.pos, "%s has both %s and %s, but a node does one thing; keep one and move the other into a node of its own", what, kinds[0], kinds[1])
	default:
		p.errorf(kv.pos, "%s has %s, but a node does one thing; keep one and move the others into nodes of their own", what, strings.Join(kinds, ", "))
	}
	if v, ok := f["retry"]; ok {
		n.retry = p.retry(v, what)
	}
	if v, ok := f["timeout"]; ok {
		n.timeout = p.duration(v, what+" timeout")
	}
	if v, ok := f["defer"]; ok {
		if err := p.deref(v).Decode(&n.deferred); err != nil || p.deref(v).Tag != "!!bool" {
			p.errorf(at(v), "%s defer must be true or false", what)
		}
	}
	return n
}

func (p *parser) exec(n *yaml.Node, what string) *execSpec {
	what += " exec"
	f := p.fields(n, what, "command", "env", "timeout")
	e := &execSpec{}
	if v, ok := f["command"]; ok {
		if v = p.deref(v); v.Kind != yaml.SequenceNode || len(v.Content) == 0 {
			p.errorf(at(v), "%s command must be a non-empty list of arguments, such as [python3, step.py]; no shell is used", what)
		} else {
			for _, a := range v.Content {
				if s, ok := p.str(a, "a command argument"); ok {
					e.command = append(e.command, s)
				}
			}
		}
	} else {
		p.errorf(at(n), "%s needs command: [program, args...]", what)
	}
	if v, ok := f["env"]; ok {
		for _, kv := range p.pairs(v, what+" env") {
			if t, ok := p.template(kv.value, what+" env "+kv.key); ok {
				e.env = append(e.env, entry{kv.key, t})
			}
		}
	}
	if v, ok := f["timeout"]; ok {
		e.timeout = p.duration(v, what+" timeout")
	}
	return e
}

func (p *parser) http(n *yaml.Node, what string) *httpSpec {
	what += " http"
	f := p.fields(n, what, "url", "method", "headers", "timeout")
	h := &httpSpec{method: "POST"}
	if v, ok := f["url"]; ok {
		if s, ok := p.str(v, "url"); ok {
			if !strings.HasPrefix(s, "http://") && !strings.HasPrefix(s, "https://") {
				p.errorf(at(v), "%s url %q must start with http:// or https://", what, s)
			}
			h.url = s
		}
	} else {
		p.errorf(at(n), "%s needs url: https://...", what)
	}
	if v, ok := f["method"]; ok {
		if s, ok := p.str(v, "method"); ok {
			h.method = strings.ToUpper(s)
			if h.method != "POST" && h.method != "PUT" && h.method != "PATCH" {
				p.errorf(at(v), "%s method %q: the request has a body, so use POST, PUT or PATCH", what, s)
			}
		}
	}
	if v, ok := f["headers"]; ok {
		for _, kv := range p.pairs(v, what+" headers") {
			if t, ok := p.template(kv.value, what+" header "+kv.key); ok {
				h.headers = append(h.headers, entry{kv.key, t})
			}
		}
	}
	if v, ok := f["timeout"]; ok {
		h.timeout = p.duration(v, what+" timeout")
	}
	return h
}

func (p *parser) graphNode(n *yaml.Node, what string) *graphNodeSpec {
	what += " graph"
	f := p.fields(n, what, "file", "input", "output")
	g := &graphNodeSpec{}
	if v, ok := f["file"]; ok {
		g.file, _ = p.str(v, what+" file")
		g.filePos = at(v)
	} else {
		p.errorf(at(n), "%s needs file: the graph file to run, a path relative to this one", what)
	}
	for _, m := range []struct {
		key string
		to  *[]*assignment
	}{{"input", &g.input}, {"output", &g.output}} {
		v, ok := f[m.key]
		if !ok {
			continue
		}
		*m.to = []*assignment{}
		for _, a := range p.pairs(v, what+" "+m.key) {
			if e, ok := p.expr(a.value, "expression"); ok {
				*m.to = append(*m.to, &assignment{channel: a.key, expr: e})
			}
		}
	}
	return g
}

func (p *parser) retry(n *yaml.Node, what string) *retrySpec {
	what += " retry"
	f := p.fields(n, what, "maxAttempts", "initialBackoff", "multiplier", "maxBackoff", "jitter")
	r := &retrySpec{}
	if v, ok := f["maxAttempts"]; ok {
		if a, ok := p.integer(v, what+" maxAttempts"); ok && a < 1 {
			p.errorf(at(v), "%s maxAttempts must be at least 1", what)
		} else {
			r.maxAttempts = a
		}
	}
	if v, ok := f["initialBackoff"]; ok {
		r.initialBackoff = p.duration(v, what+" initialBackoff")
	}
	if v, ok := f["maxBackoff"]; ok {
		r.maxBackoff = p.duration(v, what+" maxBackoff")
	}
	if v, ok := f["multiplier"]; ok {
		if m, ok := p.number(v, what+" multiplier"); ok && m < 1 {
			p.errorf(at(v), "%s multiplier must be at least 1", what)
		} else {
			r.multiplier = m
		}
	}
	if v, ok := f["jitter"]; ok {
		if j, ok := p.number(v, what+" jitter"); ok && (j < 0 || j > 1) {
			p.errorf(at(v), "%s jitter must be between 0 and 1", what)
		} else {
			r.jitter = j
		}
	}
	return r
}

func (p *parser) edge(n *yaml.Node) *edgeSpec {
	e := &edgeSpec{pos: at(n)}
	f := p.fields(n, "an edge", "from", "to", "when", "map")
	if v, ok := f["from"]; ok {
		e.from, e.fromPos = p.names(v, "from"), at(v)
	} else {
		p.errorf(at(n), "edge has no from; name the node it leaves")
	}
	kinds := 0
	if v, ok := f["to"]; ok {
		kinds++
		e.to, e.toPos = p.names(v, "to"), at(v)
	}
	if v, ok := f["when"]; ok {
		kinds++
		if v = p.deref(v); v.Kind != yaml.SequenceNode || len(v.Content) == 0 {
			p.errorf(at(v), "when must be a list of cases, each with if: (a CEL condition) and to: (a node or END); the last may omit if")
		} else {
			for i, c := range v.Content {
				cs := p.whenCase(c)
				if cs.cond == nil && i != len(v.Content)-1 {
					p.errorf(cs.pos, "only the last case of when may omit if; the cases after it could never be chosen")
				}
				e.when = append(e.when, cs)
			}
		}
	}
	if v, ok := f["map"]; ok {
		kinds++
		e.mapTo = p.mapEdge(v)
	}
	switch {
	case kinds != 1:
		p.errorf(at(n), "edge from %s must have exactly one of to, when or map", e.fromText())
	case len(e.from) > 1 && len(e.to) != 1:
		p.errorf(at(n), "edge from %s waits for all of them, so it leads to one node: give to: NODE (when and map leave one node)", e.fromText())
	}
	return e
}

// fromText names the edge's sources in messages: "a", or [a, b].
func (e *edgeSpec) fromText() string {
	if len(e.from) == 1 {
		return strconv.Quote(e.from[0])
	}
	return "[" + strings.Join(e.from, ", ") + "]"
}

func (p *parser) whenCase(n *yaml.Node) *caseSpec {
	c := &caseSpec{pos: at(n)}
	f := p.fields(n, "a when case", "if", "to")
	if v, ok := f["if"]; ok {
		if e, ok := p.expr(v, "if"); ok {
			c.cond = &e
		}
	}
	if v, ok := f["to"]; ok {
		c.to, c.toPos = p.names(v, "to"), at(v)
	} else {
		p.errorf(at(n), "when case has no to; name the node it leads to, or END")
	}
	return c
}

func (p *parser) mapEdge(n *yaml.Node) *mapSpec {
	m := &mapSpec{pos: at(n), as: "item"}
	f := p.fields(n, "map", "over", "to", "as")
	if v, ok := f["over"]; ok {
		if e, ok := p.expr(v, "over"); ok {
			m.over = &e
		}
	} else {
		p.errorf(at(n), "map has no over; give a CEL expression for the list to map over")
	}
	if v, ok := f["to"]; ok {
		m.to, _ = p.str(v, "to")
		m.toPos = at(v)
	} else {
		p.errorf(at(n), "map has no to; name the node that runs once per item")
	}
	if v, ok := f["as"]; ok {
		if s, ok := p.str(v, "as"); ok {
			if !celIdent.MatchString(s) || reservedVars[s] {
				p.errorf(at(v), "map as %q must be a CEL identifier other than state and run", s)
			} else {
				m.as = s
			}
		}
	}
	return m
}
