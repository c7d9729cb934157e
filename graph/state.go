package graph

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"reflect"
	"strings"
)

// State is the state type of graphs whose channels are declared at run time,
// with AddChannel, rather than by the fields of a struct. YAML graphs use it.
// Values are JSON-like: nil, bool, int64, float64, string, []any and
// map[string]any.
type State = map[string]any

// Update is a node's partial update: channel name to the value written. The
// value is combined with the channel's current value by its reducer.
type Update = map[string]any

// channel is one named slot of the state.
type channel struct {
	name    string
	reducer Reducer
	typ     reflect.Type // the value's Go type; nil for State channels, which hold any value
	field   int          // struct field index; -1 for State channels
	def     any          // set by Default
	hasDef  bool
}

// empty is the channel's value before anything is written to it: its
// Default, its reducer's empty value, or for a struct field an empty slice or
// map rather than nil; nil for none.
func (c *channel) empty() any {
	if c.hasDef {
		return cloneJSON(c.def)
	}
	if c.reducer.empty != nil {
		return c.reducer.empty(c.typ)
	}
	switch {
	case c.typ == nil:
		return nil
	case c.typ.Kind() == reflect.Slice:
		return reflect.MakeSlice(c.typ, 0, 0).Interface()
	case c.typ.Kind() == reflect.Map:
		return reflect.MakeMap(c.typ).Interface()
	}
	return nil
}

// access reads and writes channels of a state of type S.
type access[S any] interface {
	get(s *S, c *channel) any
	set(s *S, c *channel, v any) error
	// clone returns a copy of s that can be written without changing s.
	clone(s S) S
}

// structAccess keeps each channel in a field of a struct.
type structAccess[S any] struct{}

func (structAccess[S]) get(s *S, c *channel) any {
	return reflect.ValueOf(s).Elem().Field(c.field).Interface()
}

func (structAccess[S]) set(s *S, c *channel, v any) error {
	rv, err := convert(c.typ, v)
	if err != nil {
		return err
	}
	reflect.ValueOf(s).Elem().Field(c.field).Set(rv)
	return nil
}

func (structAccess[S]) clone(s S) S { return s }

// mapAccess keeps each channel under its name in a State.
type mapAccess[S any] struct{}

func (mapAccess[S]) get(s *S, c *channel) any { return any(*s).(State)[c.name] }

func (mapAccess[S]) set(s *S, c *channel, v any) error {
	m := any(*s).(State)
	m[c.name] = v
	return nil
}

func (mapAccess[S]) clone(s S) S {
	m := any(s).(State)
	if m == nil {
		return any(State{}).(S)
	}
	return any(maps.Clone(m)).(S)
}

// channelsOf derives the channels of a struct state type from its exported
// fields. The channel's name is the field's json name; the `reducer` tag
// picks its reducer.
func channelsOf(t reflect.Type) ([]*channel, error) {
	var chans []*channel
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name := f.Name
		if tag, ok := f.Tag.Lookup("json"); ok {
			n, _, _ := strings.Cut(tag, ",")
			if n == "-" {
				continue
			}
			if n != "" {
				name = n
			}
		}
		r := Replace
		if tag, ok := f.Tag.Lookup("reducer"); ok {
			var found bool
			if r, found = ReducerByName(tag); !found {
				return nil, invalidf("field %s of %s: unknown reducer %q; use replace, append, add or merge", f.Name, t, tag)
			}
		}
		if err := r.check(f.Type); err != nil {
			return nil, invalidf("field %s of %s: %v", f.Name, t, err)
		}
		chans = append(chans, &channel{name: name, reducer: r, typ: f.Type, field: i})
	}
	return chans, nil
}

// convert turns v into a value of type t: as is when assignable, by a
// lossless numeric conversion, or through JSON (a checkpoint read back, an
// exec node's output).
func convert(t reflect.Type, v any) (reflect.Value, error) {
	if v == nil {
		return reflect.Zero(t), nil
	}
	rv := reflect.ValueOf(v)
	if rv.Type().AssignableTo(t) {
		return rv, nil
	}
	if out, ok := convertNumber(t, rv); ok {
		return out, nil
	}
	b, err := json.Marshal(v)
	if err == nil {
		out := reflect.New(t)
		if err = json.Unmarshal(b, out.Interface()); err == nil {
			return out.Elem(), nil
		}
	}
	return reflect.Value{}, fmt.Errorf("cannot use %T as %s", v, t)
}

// convertNumber converts between Go number types when no value is lost.
func convertNumber(t reflect.Type, rv reflect.Value) (reflect.Value, bool) {
	switch {
	case isInt(t.Kind()) && isInt(rv.Kind()):
		out := reflect.New(t).Elem()
		out.SetInt(rv.Int())
		return out, !out.OverflowInt(rv.Int())
	case isInt(t.Kind()) && isFloat(rv.Kind()):
		f := rv.Float()
		if f != math.Trunc(f) || f < math.MinInt64 || f >= math.MaxInt64 {
			return reflect.Value{}, false
		}
		out := reflect.New(t).Elem()
		if out.OverflowInt(int64(f)) {
			return reflect.Value{}, false
		}
		out.SetInt(int64(f))
		return out, true
	case isFloat(t.Kind()) && (isInt(rv.Kind()) || isFloat(rv.Kind())):
		out := reflect.New(t).Elem()
		if isInt(rv.Kind()) {
			out.SetFloat(float64(rv.Int()))
		} else {
			out.SetFloat(rv.Float())
		}
		return out, true
	}
	return reflect.Value{}, false
}

func isInt(k reflect.Kind) bool { return k >= reflect.Int && k <= reflect.Int64 }

func isFloat(k reflect.Kind) bool { return k == reflect.Float32 || k == reflect.Float64 }

// cloneJSON copies the lists and objects of a JSON-like value.
func cloneJSON(v any) any {
	switch x := v.(type) {
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = cloneJSON(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = cloneJSON(e)
		}
		return out
	}
	return v
}
