package spec

import (
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/graphjob/graphjob/contract"
	"github.com/graphjob/graphjob/graph"
)

// This file is what a graph may read of graphjob's own environment: the
// process variables it declares (spec.env), read through ${NAME} in an exec
// node's env and an http node's headers, and the few variables every command
// gets. Everything else — the store's credentials first — stays in graphjob.

var (
	envName   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	envPrefix = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*`) // $NAME without braces
)

// passedEnv are the variables of graphjob's environment that every command
// gets: what programs need to run (PATH, HOME, the locale, the time zone,
// temporary files, the terminal), the trace context, and the pod's identity
// and a scheduled run's slot. Variables named LC_* pass too.
var passedEnv = map[string]bool{
	"PATH": true, "HOME": true, "USER": true, "LANG": true, "TZ": true, "TMPDIR": true, "SHELL": true, "TERM": true,
	"TRACEPARENT": true, "TRACESTATE": true,
	contract.EnvJobName: true, contract.EnvNamespace: true, contract.EnvPodName: true, contract.EnvPodUID: true,
	contract.EnvSlotTime: true,
}

// commandEnv is the environment of an exec node's command: the part of
// environ (graphjob's own) that every command gets, the node's env, and what
// graphjob tells the command about its task. Later entries win.
func commandEnv(environ []string, vars []entry, task graph.TaskInfo) []string {
	env := make([]string, 0, len(passedEnv)+len(vars)+4)
	for _, kv := range environ {
		if name, _, _ := strings.Cut(kv, "="); passedEnv[name] || strings.HasPrefix(name, "LC_") {
			env = append(env, kv)
		}
	}
	for _, v := range vars {
		env = append(env, v.name+"="+v.value.expand(os.Getenv))
	}
	return append(env,
		"GRAPHJOB_RUN_ID="+task.RunID, "GRAPHJOB_NODE="+task.Node,
		"GRAPHJOB_STEP="+strconv.Itoa(task.Step), "GRAPHJOB_ATTEMPT="+strconv.Itoa(task.Attempt))
}

// entry is a name and its value: a variable of an exec node's env, or a
// header of an http node.
type entry struct {
	name  string
	value template
}

// template is a value that may read process variables: ${NAME} stands for
// the variable NAME, which spec.env must declare, and $$ for a $.
type template struct {
	pos
	parts []templatePart
}

// templatePart is literal text, or a reference to a process variable.
type templatePart struct {
	text string
	ref  string // the variable's name; "" for text
}

// refs returns the variables the template reads, each once, in order.
func (t template) refs() []string {
	var names []string
	for _, p := range t.parts {
		if p.ref != "" && !slices.Contains(names, p.ref) {
			names = append(names, p.ref)
		}
	}
	return names
}

// expand returns the value, each variable read with getenv.
func (t template) expand(getenv func(string) string) string {
	var b strings.Builder
	for _, p := range t.parts {
		if p.ref != "" {
			b.WriteString(getenv(p.ref))
		} else {
			b.WriteString(p.text)
		}
	}
	return b.String()
}

// template reads a value in which ${NAME} is a process variable and $$ a $.
// Any other $ is an error, so that neither $NAME (which a shell would
// expand) nor a ${ left open is sent as it is.
func (p *parser) template(n *yaml.Node, what string) (template, bool) {
	s, ok := p.str(n, what)
	if !ok {
		return template{}, false
	}
	t := template{pos: at(p.deref(n))}
	var text strings.Builder
	flush := func() {
		if text.Len() > 0 {
			t.parts = append(t.parts, templatePart{text: text.String()})
			text.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		if s[i] != '$' {
			text.WriteByte(s[i])
			continue
		}
		rest := s[i+1:]
		name, _, closed := strings.Cut(strings.TrimPrefix(rest, "{"), "}")
		switch bare := envPrefix.FindString(rest); {
		case strings.HasPrefix(rest, "$"):
			text.WriteByte('$')
			i++
		case strings.HasPrefix(rest, "{") && closed && envName.MatchString(name):
			flush()
			t.parts = append(t.parts, templatePart{ref: name})
			i += len(name) + 2
		case bare != "":
			p.errorf(t.pos, "%s: $%s needs braces; write ${%s} to read the variable, or $$ for a literal $", what, bare, bare)
			return template{}, false
		default:
			p.errorf(t.pos, "%s: a $ must start ${NAME}, a variable the graph declares in spec.env, or be doubled ($$) for a literal $", what)
			return template{}, false
		}
	}
	flush()
	return t, true
}

// envNames reads spec.env: the names of the process variables the graph's
// nodes may read. It returns nil if spec.env is not a list.
func (p *parser) envNames(n *yaml.Node) []string {
	if n = p.deref(n); n.Kind != yaml.SequenceNode {
		p.errorf(at(n), "spec.env must be a list of the process variables the graph reads, such as [API_TOKEN, REGION], not %s", describe(n))
		return nil
	}
	names := []string{}
	first := map[string]int{}
	for _, c := range n.Content {
		s, ok := p.str(c, "a name in spec.env")
		switch {
		case !ok:
		case !envName.MatchString(s):
			p.errorf(at(c), "spec.env: %q is not a variable name; use letters, digits and '_', not starting with a digit", s)
		case first[s] > 0:
			p.errorf(at(c), "%q appears twice in spec.env (first at line %d); keep one", s, first[s])
		default:
			first[s] = c.Line
			names = append(names, s)
		}
	}
	return names
}

// checkEnv reports each ${NAME} of a node's exec env and http headers that
// spec.env does not declare: a graph reads only the process variables it
// declares.
func (c *compiler) checkEnv(n *nodeSpec) {
	if c.doc.envUnread {
		return // the parser said why; every reference would only repeat it
	}
	var entries []entry
	var kind string
	switch {
	case n.exec != nil:
		entries, kind = n.exec.env, "exec env"
	case n.http != nil:
		entries, kind = n.http.headers, "http header"
	}
	for _, e := range entries {
		for _, name := range e.value.refs() {
			if slices.Contains(c.doc.env, name) {
				continue
			}
			if c.doc.envPos.line > 0 {
				c.errorf(e.value.pos, "node %q %s %s reads ${%s}, which spec.env does not declare; add %s to spec.env (line %d)",
					n.name, kind, e.name, name, name, c.doc.envPos.line)
			} else {
				c.errorf(e.value.pos, "node %q %s %s reads ${%s}, which the graph does not declare; declare the process variables it reads under spec: env: [%s]",
					n.name, kind, e.name, name, name)
			}
		}
	}
}
