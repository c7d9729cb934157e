package spec

import (
	"context"
	"fmt"
	"strings"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"cel.dev/cel-go/ext"
)

// stateTypeName is the CEL type of the state variable: an object whose fields
// are the declared channels, so that expressions are type-checked against
// them. A graph node's subgraph result is an object type of its own, named by
// resultTypeName.
const stateTypeName = "graphjob.State"

func resultTypeName(node int) string { return fmt.Sprintf("graphjob.Result%d", node) }

// stateProvider adds the object types of states to CEL's standard types. At
// run time a state is a graph.State map; its fields are read by GetFrom.
type stateProvider struct {
	types.Provider
	objects map[string]*objectType
}

type objectType struct {
	fields map[string]*types.FieldType
	names  []string
}

func newStateProvider(channels []*channelSpec) (*stateProvider, error) {
	base, err := types.NewRegistry()
	if err != nil {
		return nil, err
	}
	p := &stateProvider{Provider: base, objects: map[string]*objectType{}}
	p.add(stateTypeName, channels)
	return p, nil
}

// add declares an object type whose fields are the channels.
func (p *stateProvider) add(typeName string, channels []*channelSpec) {
	o := &objectType{fields: map[string]*types.FieldType{}}
	for _, c := range channels {
		name := c.name
		o.names = append(o.names, name)
		o.fields[name] = &types.FieldType{
			Type: c.typ.cel(),
			IsSet: func(target any) bool {
				m, ok := target.(map[string]any)
				if !ok {
					return false
				}
				_, ok = m[name]
				return ok
			},
			GetFrom: func(target any) (any, error) {
				m, ok := target.(map[string]any)
				if !ok {
					return nil, fmt.Errorf("state is %T, not an object", target)
				}
				return m[name], nil
			},
		}
	}
	p.objects[typeName] = o
}

func (p *stateProvider) FindStructType(name string) (*types.Type, bool) {
	if _, ok := p.objects[name]; ok {
		return types.NewTypeTypeWithParam(types.NewObjectType(name)), true
	}
	return p.Provider.FindStructType(name)
}

func (p *stateProvider) FindStructFieldNames(name string) ([]string, bool) {
	if o, ok := p.objects[name]; ok {
		return o.names, true
	}
	return p.Provider.FindStructFieldNames(name)
}

func (p *stateProvider) FindStructFieldType(name, field string) (*types.FieldType, bool) {
	if o, ok := p.objects[name]; ok {
		ft, ok := o.fields[field]
		return ft, ok
	}
	return p.Provider.FindStructFieldType(name, field)
}

// celLibraries are the extensions every expression has.
func celLibraries() []cel.EnvOption {
	return []cel.EnvOption{ext.Strings(), ext.Math(), ext.Lists(), ext.Encoders()}
}

// envs holds the CEL environments of a graph file: for edges (state), for
// nodes (state, run) and for nodes that map edges target (also the item).
type envs struct {
	edge, node *cel.Env
	channels   []string
}

// newEnvs makes the environments of a graph whose channels are channels and
// whose graph nodes' subgraphs have results of the channels given, by node.
func newEnvs(channels []*channelSpec, results map[int][]*channelSpec) (*envs, error) {
	p, err := newStateProvider(channels)
	if err != nil {
		return nil, err
	}
	for i, chans := range results {
		p.add(resultTypeName(i), chans)
	}
	edge, err := cel.NewEnv(append(celLibraries(),
		cel.CustomTypeProvider(p),
		cel.Variable("state", cel.ObjectType(stateTypeName)),
	)...)
	if err != nil {
		return nil, err
	}
	node, err := edge.Extend(cel.Variable("run", cel.MapType(cel.StringType, cel.DynType)))
	if err != nil {
		return nil, err
	}
	return &envs{edge: edge, node: node, channels: p.objects[stateTypeName].names}, nil
}

// channelList names the declared channels, for error messages.
func (e *envs) channelList() string {
	if len(e.channels) == 0 {
		return "spec.state declares none"
	}
	return "channels: " + strings.Join(e.channels, ", ")
}

// withItems extends env with the item variables of a map target.
func withItems(env *cel.Env, names []string) (*cel.Env, error) {
	opts := make([]cel.EnvOption, len(names))
	for i, n := range names {
		opts[i] = cel.Variable(n, cel.DynType)
	}
	return env.Extend(opts...)
}

// program is a compiled expression.
type program struct {
	expr
	prg cel.Program
}

// compile type-checks e in env. want is the type the result must have, or
// nil for any; wantDesc says it in words for the error.
func (c *compiler) compile(env *cel.Env, e expr, want func(*cel.Type) bool, wantDesc string) *program {
	ast, iss := env.Compile(e.text)
	if iss.Err() != nil {
		calls := callIDs(env, e.text)
		for _, ce := range iss.Errors() {
			c.errorf(e.celPos(ce.Location.Line(), ce.Location.Column()), "CEL: %s%s", ce.Message, c.hint(ce.Message, calls[ce.ExprID]))
		}
		return nil
	}
	if out := ast.OutputType(); want != nil && !out.IsExactType(cel.DynType) && !want(out) {
		c.errorf(e.pos, "CEL: the expression gives %s, but %s is needed", out, wantDesc)
		return nil
	}
	prg, err := env.Program(ast, cel.CostLimit(MaxCost), cel.InterruptCheckFrequency(100))
	if err != nil {
		c.errorf(e.pos, "CEL: %v", err)
		return nil
	}
	return &program{expr: e, prg: prg}
}

// celPos maps a position inside the expression (line 1-based, column
// 0-based) to the file.
func (e expr) celPos(line, col int) pos {
	if e.block {
		return pos{e.line + line, col + 1}
	}
	if line <= 1 {
		return pos{e.line, e.col + col}
	}
	return pos{e.line + line - 1, col + 1}
}

// callIDs returns the IDs of the function calls in text, or nil if it does not
// parse. CEL reports an unknown function as an undeclared reference, as it
// does an unknown variable; the ID tells them apart.
func callIDs(env *cel.Env, text string) map[int64]bool {
	parsed, iss := env.Parse(text)
	if iss.Err() != nil {
		return nil
	}
	ids := map[int64]bool{}
	for _, call := range celast.MatchDescendants(celast.NavigateAST(parsed.NativeRep()), celast.KindMatcher(celast.CallKind)) {
		ids[call.ID()] = true
	}
	return ids
}

// hint adds what to do to a CEL error; call says the error is about a
// function call.
func (c *compiler) hint(msg string, call bool) string {
	switch {
	case strings.Contains(msg, "undeclared reference") && call:
		return "; unknown function: expressions have CEL's standard functions (https://github.com/google/cel-spec/blob/master/doc/langdef.md#list-of-standard-definitions)" +
			" and those of the strings, math, lists and encoders extensions (https://pkg.go.dev/cel.dev/cel-go/ext)"
	case strings.Contains(msg, "undeclared reference"), strings.Contains(msg, "undefined field"):
		return fmt.Sprintf("; channels are read as state.NAME (%s)", c.envs.channelList())
	case strings.Contains(msg, "found no matching overload"):
		return "; CEL does not mix types: write 1.0 for a float, or convert with int(), double() or string()"
	case strings.Contains(msg, "Syntax error"):
		return "; check the expression's brackets, quotes and operators"
	}
	return ""
}

// eval runs the program and returns its result as a plain value.
func (p *program) eval(ctx context.Context, vars map[string]any) (any, error) {
	out, _, err := p.prg.ContextEval(ctx, vars)
	if err != nil {
		return nil, fmt.Errorf("expression %q (line %d): %w", p.text, p.line, err)
	}
	v, err := native(out)
	if err != nil {
		return nil, fmt.Errorf("expression %q (line %d): %w", p.text, p.line, err)
	}
	return v, nil
}

// native converts a CEL value into the forms channels hold.
func native(v ref.Val) (any, error) {
	switch x := v.(type) {
	case types.Int:
		return int64(x), nil
	case types.Uint:
		if uint64(x) > 1<<63-1 {
			return nil, fmt.Errorf("uint %d does not fit an int", uint64(x))
		}
		return int64(x), nil
	case types.Double:
		return float64(x), nil
	case types.String:
		return string(x), nil
	case types.Bool:
		return bool(x), nil
	case types.Null:
		return nil, nil
	case types.Timestamp:
		return x.Format("2006-01-02T15:04:05.999999999Z07:00"), nil
	case types.Duration:
		return x.String(), nil
	case types.Bytes:
		return nil, fmt.Errorf("bytes cannot be stored in the state; convert them with string() or base64.encode()")
	case *types.Err:
		return nil, x
	case traits.Lister:
		n, ok := x.Size().(types.Int)
		if !ok {
			return nil, fmt.Errorf("list of unknown size")
		}
		out := make([]any, int(n))
		for i := range out {
			e, err := native(x.Get(types.Int(i)))
			if err != nil {
				return nil, err
			}
			out[i] = e
		}
		return out, nil
	case traits.Mapper:
		out := map[string]any{}
		for it := x.Iterator(); it.HasNext() == types.True; {
			k := it.Next()
			ks, ok := k.(types.String)
			if !ok {
				return nil, fmt.Errorf("object keys must be strings, not %s", k.Type())
			}
			e, err := native(x.Get(k))
			if err != nil {
				return nil, err
			}
			out[string(ks)] = e
		}
		return out, nil
	}
	return nil, fmt.Errorf("a CEL %s cannot be stored in the state", v.Type())
}
