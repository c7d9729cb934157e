package spec

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// This file reads YAML nodes into values, reporting what does not fit with
// the node's position.

// sortErrors puts the errors in file order.
func (p *parser) sortErrors() {
	slices.SortStableFunc(p.errs, func(a, b *Error) int {
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return a.Column - b.Column
	})
}

// graphMarks finds, in a file's text, an apiVersion of graphjob.dev or kind
// Graph: the marks of a graph file, if a broken one.
var graphMarks = regexp.MustCompile(`apiVersion["']?\s*:\s*["']?graphjob\.dev/|kind["']?\s*:\s*["']?Graph\b`)

// notGraph says why a file is not a graph file at all, or returns "" for a
// graph file, however broken: a YAML mapping with an apiVersion of
// graphjob.dev or kind Graph. first is the file's first YAML document (nil
// if it is not YAML); isYAML says the whole file is. When the first document
// is no mapping, the file's text must have those marks.
func (p *parser) notGraph(first *yaml.Node, isYAML bool, data []byte) string {
	const notYAML = "it is not YAML; a graph file is YAML that starts with apiVersion: graphjob.dev/v1 and kind: Graph"
	if first != nil {
		if n := p.deref(first); n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i].Value, p.deref(n.Content[i+1])
				if v.Kind == yaml.ScalarNode && ((k == "apiVersion" && strings.HasPrefix(v.Value, "graphjob.dev/")) || (k == "kind" && v.Value == "Graph")) {
					return ""
				}
			}
			if !isYAML {
				return notYAML
			}
			return "it has neither apiVersion: graphjob.dev/v1 nor kind: Graph; a graph file starts with both"
		}
	}
	switch {
	case graphMarks.Match(data):
		return ""
	case !isYAML:
		return notYAML
	}
	return "it is YAML but not a mapping; a graph file is a mapping that starts with apiVersion: graphjob.dev/v1 and kind: Graph"
}

// yamlError turns a YAML syntax error ("yaml: line 3: ...") into an Error.
func (p *parser) yamlError(err error) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	var line int
	if n, _ := fmt.Sscanf(msg, "line %d:", &line); n == 1 {
		_, msg, _ = strings.Cut(msg, ": ")
		p.errorf(pos{line, 1}, "YAML syntax: %s", msg)
		return
	}
	p.errorf(pos{}, "YAML syntax: %s", msg)
}

// fields reads a mapping whose keys are fixed names, reporting unknown and
// repeated keys.
func (p *parser) fields(n *yaml.Node, what string, allowed ...string) map[string]*yaml.Node {
	out := map[string]*yaml.Node{}
	for _, kv := range p.pairs(n, what) {
		if !slices.Contains(allowed, kv.key) {
			p.errorf(kv.pos, "unknown field %q in %s; the fields are %s", kv.key, what, strings.Join(allowed, ", "))
			continue
		}
		out[kv.key] = kv.value
	}
	return out
}

// pairs reads a mapping in file order, reporting repeated keys.
func (p *parser) pairs(n *yaml.Node, what string) []pair {
	n = p.deref(n)
	if n.Kind != yaml.MappingNode {
		p.errorf(at(n), "%s must be a mapping (key: value lines), not %s", what, describe(n))
		return nil
	}
	var out []pair
	seen := map[string]pos{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.errorf(at(k), "a key in %s must be a plain name", what)
			continue
		}
		if first, ok := seen[k.Value]; ok {
			p.errorf(at(k), "%q appears twice in %s (first at line %d); keep one", k.Value, what, first.line)
			continue
		}
		seen[k.Value] = at(k)
		out = append(out, pair{at(k), k.Value, v})
	}
	return out
}

// deref follows a YAML alias.
func (p *parser) deref(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		return n.Alias
	}
	return n
}

func (p *parser) str(n *yaml.Node, what string) (string, bool) {
	if n = p.deref(n); n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		p.errorf(at(n), "%s must be a string, not %s", what, describe(n))
		return "", false
	}
	return n.Value, true
}

func (p *parser) integer(n *yaml.Node, what string) (int, bool) {
	var v int
	if n = p.deref(n); n.Kind != yaml.ScalarNode || n.Tag != "!!int" || n.Decode(&v) != nil {
		p.errorf(at(n), "%s must be a whole number, not %s", what, describe(n))
		return 0, false
	}
	return v, true
}

func (p *parser) number(n *yaml.Node, what string) (float64, bool) {
	var v float64
	if n = p.deref(n); n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") || n.Decode(&v) != nil {
		p.errorf(at(n), "%s must be a number, not %s", what, describe(n))
		return 0, false
	}
	return v, true
}

// duration reads a positive duration; 0 after reporting an error.
func (p *parser) duration(n *yaml.Node, what string) time.Duration {
	s, ok := p.str(n, what)
	if !ok {
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		p.errorf(at(n), "%s must be a positive duration such as 30s, 5m or 1h30m, not %q", what, s)
		return 0
	}
	return d
}

// names reads one name or a list of names.
func (p *parser) names(n *yaml.Node, what string) []string {
	n = p.deref(n)
	if n.Kind == yaml.SequenceNode {
		if len(n.Content) == 0 {
			p.errorf(at(n), "%s is an empty list; name at least one node, or END", what)
		}
		var out []string
		for _, c := range n.Content {
			if s, ok := p.str(c, what); ok {
				out = append(out, s)
			}
		}
		return out
	}
	if s, ok := p.str(n, what); ok {
		return []string{s}
	}
	return nil
}

func (p *parser) expr(n *yaml.Node, what string) (expr, bool) {
	n = p.deref(n)
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		p.errorf(at(n), "%s must be a CEL expression, not %s", what, describe(n))
		return expr{}, false
	}
	if len(n.Value) > MaxExprLen {
		p.errorf(at(n), "%s is %d bytes, longer than the limit of %d; move the logic into an exec node", what, len(n.Value), MaxExprLen)
		return expr{}, false
	}
	return expr{pos: at(n), text: n.Value, block: n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0}, true
}

type pair struct {
	pos
	key   string
	value *yaml.Node
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "empty"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "an alias"
}
