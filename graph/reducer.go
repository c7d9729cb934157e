package graph

import (
	"fmt"
	"maps"
	"reflect"
)

// A Reducer says how the updates written to a channel in one superstep are
// combined with its current value.
type Reducer struct {
	name string
	// reduce combines cur with the updates, in task order. typ is the
	// channel's Go type, nil for State channels.
	reduce func(typ reflect.Type, cur any, updates []any) (any, error)
	// check reports whether a channel of the Go type can use the reducer.
	kinds []reflect.Kind
}

var (
	// Replace keeps the value written. Two writes in one superstep are a
	// ConflictError. It is the default.
	Replace = Reducer{name: "replace"}
	// Append concatenates: a list written is appended element by element,
	// any other value is appended as one element.
	Append = Reducer{name: "append", reduce: appendValues, kinds: []reflect.Kind{reflect.Slice}}
	// Add sums numbers.
	Add = Reducer{name: "add", reduce: addValues, kinds: []reflect.Kind{
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Float32, reflect.Float64}}
	// Merge sets the keys of each object written, keeping the others.
	Merge = Reducer{name: "merge", reduce: mergeValues, kinds: []reflect.Kind{reflect.Map}}
)

// ReducerByName returns the reducer called name: replace, append, add or merge.
func ReducerByName(name string) (Reducer, bool) {
	for _, r := range []Reducer{Replace, Append, Add, Merge} {
		if r.name == name {
			return r, true
		}
	}
	return Reducer{}, false
}

// String returns the reducer's name.
func (r Reducer) String() string {
	if r.name == "" {
		return Replace.name
	}
	return r.name
}

func (r Reducer) isReplace() bool { return r.reduce == nil }

func (r Reducer) check(t reflect.Type) error {
	if r.isReplace() || t.Kind() == reflect.Interface {
		return nil
	}
	for _, k := range r.kinds {
		if t.Kind() == k && (k != reflect.Map || t.Key().Kind() == reflect.String) {
			return nil
		}
	}
	return fmt.Errorf("reducer %s does not fit type %s", r, t)
}

var anySlice = reflect.TypeFor[[]any]()

func appendValues(typ reflect.Type, cur any, updates []any) (any, error) {
	if typ == nil || typ.Kind() == reflect.Interface {
		typ = anySlice
	}
	n := 0
	curV := reflect.ValueOf(cur)
	if cur != nil {
		if curV.Kind() != reflect.Slice {
			return nil, fmt.Errorf("append: current value is %T, not a list", cur)
		}
		n = curV.Len()
	}
	for _, u := range updates {
		if uv := reflect.ValueOf(u); u != nil && uv.Kind() == reflect.Slice {
			n += uv.Len()
		} else {
			n++
		}
	}
	// A new slice each time: a state handed to nodes earlier must not see
	// later appends through a shared backing array.
	out := reflect.MakeSlice(typ, 0, n)
	elem := typ.Elem()
	add := func(v reflect.Value) error {
		if !v.IsValid() {
			out = reflect.Append(out, reflect.Zero(elem))
			return nil
		}
		cv, err := convert(elem, v.Interface())
		if err != nil {
			return fmt.Errorf("append: %w", err)
		}
		out = reflect.Append(out, cv)
		return nil
	}
	if cur != nil {
		if curV.Type().AssignableTo(typ) {
			out = reflect.AppendSlice(out, curV)
		} else {
			for i := range curV.Len() {
				if err := add(curV.Index(i)); err != nil {
					return nil, err
				}
			}
		}
	}
	for _, u := range updates {
		uv := reflect.ValueOf(u)
		switch {
		case u != nil && uv.Type().AssignableTo(typ):
			out = reflect.AppendSlice(out, uv)
		case u != nil && uv.Kind() == reflect.Slice && (elem.Kind() == reflect.Interface || !uv.Type().AssignableTo(elem)):
			for i := range uv.Len() {
				if err := add(uv.Index(i)); err != nil {
					return nil, err
				}
			}
		default:
			if err := add(uv); err != nil {
				return nil, err
			}
		}
	}
	return out.Interface(), nil
}

func addValues(typ reflect.Type, cur any, updates []any) (any, error) {
	if typ != nil && typ.Kind() != reflect.Interface {
		sum := reflect.New(typ).Elem()
		if cur != nil {
			sum.Set(reflect.ValueOf(cur))
		}
		for _, u := range updates {
			uv, err := convert(typ, u)
			if err != nil {
				return nil, fmt.Errorf("add: %w", err)
			}
			if isFloat(typ.Kind()) {
				sum.SetFloat(sum.Float() + uv.Float())
			} else {
				sum.SetInt(sum.Int() + uv.Int())
			}
		}
		return sum.Interface(), nil
	}
	// State channels: integers stay int64 until a float joins them.
	var isum int64
	var fsum float64
	float := false
	for _, v := range append([]any{cur}, updates...) {
		if v == nil {
			continue
		}
		rv := reflect.ValueOf(v)
		switch {
		case isInt(rv.Kind()):
			isum += rv.Int()
		case isFloat(rv.Kind()):
			fsum += rv.Float()
			float = true
		default:
			return nil, fmt.Errorf("add: %T is not a number", v)
		}
	}
	if float {
		return fsum + float64(isum), nil
	}
	return isum, nil
}

func mergeValues(typ reflect.Type, cur any, updates []any) (any, error) {
	if typ == nil || typ.Kind() == reflect.Interface {
		out := State{}
		for _, v := range append([]any{cur}, updates...) {
			if v == nil {
				continue
			}
			m, ok := v.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("merge: %T is not an object", v)
			}
			maps.Copy(out, m)
		}
		return out, nil
	}
	out := reflect.MakeMap(typ)
	for _, v := range append([]any{cur}, updates...) {
		if v == nil {
			continue
		}
		mv, err := convert(typ, v)
		if err != nil {
			return nil, fmt.Errorf("merge: %w", err)
		}
		for it := mv.MapRange(); it.Next(); {
			out.SetMapIndex(it.Key(), it.Value())
		}
	}
	return out.Interface(), nil
}
