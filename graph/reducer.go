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
	// reduce combines cur with the updates, in task order.
	reduce func(rc *reduction, cur any, updates []any) (any, error)
	// kinds are the kinds of Go types the reducer fits; typ, when set, is
	// the one type it fits (a NewReducer's).
	kinds []reflect.Kind
	typ   reflect.Type
	// empty is the value of a channel never written, nil for none.
	empty func(typ reflect.Type) any
}

// reduction is what a reducer knows besides the values: the channel's Go
// type (nil for State channels) and, for the messages reducer's new message
// IDs, the run, step and channel. A reducer whose result is the current list
// with items added at its end says so in extended, so that a store can keep
// only the items added.
type reduction struct {
	typ      reflect.Type
	run      string
	step     int
	channel  string
	ids      int // message IDs given so far
	extended bool
}

var (
	// Replace keeps the value written. Two writes in one superstep are a
	// ConflictError. It is the default.
	Replace = Reducer{name: "replace"}
	// Append concatenates: a list written is appended element by element,
	// any other value is appended as one element.
	Append = Reducer{name: "append", reduce: appendValues, kinds: []reflect.Kind{reflect.Slice}, empty: emptyList}
	// Add sums numbers.
	Add = Reducer{name: "add", reduce: addValues, kinds: []reflect.Kind{
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Float32, reflect.Float64}, empty: emptyNumber}
	// Merge sets the keys of each object written, keeping the others.
	Merge = Reducer{name: "merge", reduce: mergeValues, kinds: []reflect.Kind{reflect.Map}, empty: emptyObject}
	// Messages keeps a conversation as LangGraph's add_messages does; see
	// the package documentation.
	Messages = Reducer{name: "messages", reduce: addMessages, kinds: []reflect.Kind{reflect.Slice}, empty: emptyList}
)

// ReducerByName returns the reducer called name: replace, append, add,
// merge or messages.
func ReducerByName(name string) (Reducer, bool) {
	for _, r := range []Reducer{Replace, Append, Add, Merge, Messages} {
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
	if r.typ != nil {
		if t == r.typ || r.typ.Kind() == reflect.Interface && t.Kind() == reflect.Interface {
			return nil
		}
		return fmt.Errorf("reducer %s works on %s, not %s", r, r.typ, t)
	}
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

func appendValues(rc *reduction, cur any, updates []any) (any, error) {
	typ := rc.typ
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
	rc.extended = true
	return out.Interface(), nil
}

func addValues(rc *reduction, cur any, updates []any) (any, error) {
	typ := rc.typ
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

func mergeValues(rc *reduction, cur any, updates []any) (any, error) {
	typ := rc.typ
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

// emptyList, emptyNumber and emptyObject are the values of channels never
// written, as LangGraph's: an append channel reads as an empty list, not as
// null. typ is nil for State channels.
func emptyList(typ reflect.Type) any {
	if typ == nil || typ.Kind() == reflect.Interface {
		return []any{}
	}
	return reflect.MakeSlice(typ, 0, 0).Interface()
}

func emptyNumber(typ reflect.Type) any {
	if typ == nil || typ.Kind() == reflect.Interface {
		return int64(0)
	}
	return reflect.Zero(typ).Interface()
}

func emptyObject(typ reflect.Type) any {
	if typ == nil || typ.Kind() == reflect.Interface {
		return State{}
	}
	return reflect.MakeMap(typ).Interface()
}

// NewReducer returns a reducer that folds each update written to a channel
// into its value with fn, in task order (LangGraph's reducer functions). T
// is the channel's type (any for State channels); an update is converted to
// U, and a channel never written is T's zero value. name is how errors and
// descriptions call it.
func NewReducer[T, U any](name string, fn func(old T, update U) (T, error)) Reducer {
	t, u := reflect.TypeFor[T](), reflect.TypeFor[U]()
	return Reducer{name: name, typ: t, reduce: func(_ *reduction, cur any, updates []any) (any, error) {
		var acc T
		if cur != nil {
			cv, err := convert(t, cur)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			acc = cv.Interface().(T)
		}
		for _, up := range updates {
			var uv U
			if up != nil {
				v, err := convert(u, up)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", name, err)
				}
				uv = v.Interface().(U)
			}
			var err error
			if acc, err = fn(acc, uv); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
		}
		return acc, nil
	}}
}

// Overwrite is an update that sets a channel to Value whatever its reducer:
// an append or messages channel is cleared this way (LangGraph's Overwrite).
// The other writes of the channel in that superstep are ignored; two
// Overwrites of one channel in one superstep are an error. In JSON (an exec
// or http node's output) it is {"__overwrite__": value}.
type Overwrite struct {
	Value any
}

// OverwriteKey is the key of an Overwrite's JSON form: {"__overwrite__": value}.
const OverwriteKey = "__overwrite__"

// overwriteOf reports whether v is an Overwrite, in Go or JSON form.
func overwriteOf(v any) (any, bool) {
	switch o := v.(type) {
	case Overwrite:
		return o.Value, true
	case *Overwrite:
		return o.Value, o != nil
	case map[string]any:
		if x, ok := o[OverwriteKey]; ok && len(o) == 1 {
			return x, true
		}
	}
	return nil, false
}
