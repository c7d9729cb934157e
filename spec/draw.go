package spec

import (
	"fmt"
	"strings"

	"github.com/graphjob/graphjob/graph"
)

// drawEdge is one arrow of a drawing.
type drawEdge struct {
	from, to, label string
	kind            string // static, when, map
}

func (g *Graph) drawEdges() []drawEdge {
	var out []drawEdge
	for _, n := range g.doc.entry {
		out = append(out, drawEdge{from: graph.START, to: n, kind: "static"})
	}
	for _, e := range g.doc.edges {
		if len(e.from) > 1 { // a waiting edge: an arrow from each source, labelled
			for _, f := range e.from {
				out = append(out, drawEdge{from: f, to: e.to[0], label: "join", kind: "static"})
			}
			continue
		}
		for _, t := range e.to {
			out = append(out, drawEdge{from: e.from[0], to: t, kind: "static"})
		}
		for _, cs := range e.when {
			label := "else"
			if cs.cond != nil {
				label = cs.cond.text
			}
			for _, t := range cs.to {
				out = append(out, drawEdge{from: e.from[0], to: t, label: label, kind: "when"})
			}
		}
		if m := e.mapTo; m != nil {
			out = append(out, drawEdge{from: e.from[0], to: m.to, label: "map " + m.over.text, kind: "map"})
		}
	}
	return out
}

func (g *Graph) nodeKind(name string) string {
	for _, n := range g.doc.nodes {
		if n.name == name {
			switch {
			case n.exec != nil:
				return "exec"
			case n.http != nil:
				return "http"
			}
			return "set"
		}
	}
	return ""
}

// Mermaid draws the graph as a Mermaid flowchart: solid arrows for static
// edges, dotted arrows labelled with their condition for when edges, thick
// arrows for map edges.
func (g *Graph) Mermaid() string {
	var b strings.Builder
	ids := map[string]string{graph.START: "start_", graph.END: "end_"}
	b.WriteString("flowchart TD\n")
	b.WriteString("  start_([START])\n")
	for i, n := range g.doc.nodes {
		ids[n.name] = fmt.Sprintf("n%d", i)
		fmt.Fprintf(&b, "  n%d[\"%s (%s)\"]\n", i, mermaidText(n.name), g.nodeKind(n.name))
	}
	b.WriteString("  end_([END])\n")
	for _, e := range g.drawEdges() {
		from, to, label := ids[e.from], ids[e.to], mermaidText(e.label)
		switch e.kind {
		case "when":
			fmt.Fprintf(&b, "  %s -. \"%s\" .-> %s\n", from, label, to)
		case "map":
			fmt.Fprintf(&b, "  %s == \"%s\" ==> %s\n", from, label, to)
		default:
			fmt.Fprintf(&b, "  %s --> %s\n", from, to)
		}
	}
	return b.String()
}

func mermaidText(s string) string {
	return strings.NewReplacer(`"`, "#quot;", "\n", " ", "<", "#lt;", ">", "#gt;").Replace(s)
}

// DOT draws the graph in Graphviz's DOT language: solid edges for static
// edges, dashed edges labelled with their condition for when edges, bold
// edges for map edges.
func (g *Graph) DOT() string {
	var b strings.Builder
	fmt.Fprintf(&b, "digraph %s {\n", dotQuote(g.Name))
	b.WriteString("  node [shape=box];\n")
	fmt.Fprintf(&b, "  %s [shape=circle];\n  %s [shape=doublecircle];\n", dotQuote(graph.START), dotQuote(graph.END))
	for _, n := range g.doc.nodes {
		fmt.Fprintf(&b, "  %s [label=%s];\n", dotQuote(n.name), dotQuote(n.name+"\n"+g.nodeKind(n.name)))
	}
	for _, e := range g.drawEdges() {
		attrs := ""
		switch e.kind {
		case "when":
			attrs = fmt.Sprintf(" [style=dashed, label=%s]", dotQuote(e.label))
		case "map":
			attrs = fmt.Sprintf(" [style=bold, label=%s]", dotQuote(e.label))
		}
		fmt.Fprintf(&b, "  %s -> %s%s;\n", dotQuote(e.from), dotQuote(e.to), attrs)
	}
	b.WriteString("}\n")
	return b.String()
}

func dotQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}
