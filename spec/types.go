package spec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"cel.dev/cel-go/cel"
)

// valueType is a channel's declared type.
type valueType string

const (
	typeInt    valueType = "int"
	typeFloat  valueType = "float"
	typeString valueType = "string"
	typeBool   valueType = "bool"
	typeList   valueType = "list"
	typeObject valueType = "object"
	typeAny    valueType = "any"
)

func parseType(s string) (valueType, bool) {
	switch t := valueType(s); t {
	case typeInt, typeFloat, typeString, typeBool, typeList, typeObject, typeAny:
		return t, true
	}
	return typeAny, false
}

// cel returns the CEL type of the channel's values.
func (t valueType) cel() *cel.Type {
	switch t {
	case typeInt:
		return cel.IntType
	case typeFloat:
		return cel.DoubleType
	case typeString:
		return cel.StringType
	case typeBool:
		return cel.BoolType
	case typeList:
		return cel.ListType(cel.DynType)
	case typeObject:
		return cel.MapType(cel.StringType, cel.DynType)
	}
	return cel.DynType
}

// zero is the value of a channel with no default.
func (t valueType) zero() any {
	switch t {
	case typeInt:
		return int64(0)
	case typeFloat:
		return 0.0
	case typeString:
		return ""
	case typeBool:
		return false
	case typeList:
		return []any{}
	case typeObject:
		return map[string]any{}
	}
	return nil
}

// coerce checks that v, a normalized JSON-like value, fits the type, and
// returns it in the type's representation (an integral float for an int
// channel becomes int64; an int for a float channel becomes float64).
func (t valueType) coerce(v any) (any, error) {
	switch t {
	case typeAny:
		return v, nil
	case typeInt:
		switch n := v.(type) {
		case int64:
			return n, nil
		case float64:
			if n == math.Trunc(n) && math.Abs(n) < 1<<63 {
				return int64(n), nil
			}
		}
	case typeFloat:
		switch n := v.(type) {
		case int64:
			return float64(n), nil
		case float64:
			return n, nil
		}
	case typeString:
		if s, ok := v.(string); ok {
			return s, nil
		}
	case typeBool:
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case typeList:
		if l, ok := v.([]any); ok {
			return l, nil
		}
	case typeObject:
		if m, ok := v.(map[string]any); ok {
			return m, nil
		}
	}
	return nil, fmt.Errorf("%s is not %s", describeValue(v), t.article())
}

func (t valueType) article() string {
	switch t {
	case typeInt:
		return "an int"
	case typeObject:
		return "an object"
	case typeAny:
		return "any value"
	}
	return "a " + string(t)
}

func describeValue(v any) string {
	b, err := json.Marshal(v)
	if err != nil || len(b) > 40 {
		return fmt.Sprintf("a %T", v)
	}
	return string(b)
}

// parseText reads a command-line value for a channel of this type: JSON, or
// for strings the text itself.
func (t valueType) parseText(s string) (any, error) {
	if t == typeString {
		if strings.HasPrefix(s, `"`) {
			var out string
			if err := json.Unmarshal([]byte(s), &out); err == nil {
				return out, nil
			}
		}
		return s, nil
	}
	v, err := decodeJSON([]byte(s))
	if err != nil {
		if t == typeAny {
			return s, nil
		}
		return nil, fmt.Errorf("%q is not %s", s, t.article())
	}
	return t.coerce(v)
}

// decodeJSON decodes JSON into normalized values: integers as int64, other
// numbers as float64.
func decodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("more than one JSON value")
	}
	return normalize(v), nil
}

// normalize turns decoded YAML or JSON into the value forms channels hold:
// nil, bool, int64, float64, string, []any, map[string]any.
func normalize(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case int:
		return int64(x)
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x)
		}
		return float64(x)
	case float32:
		return float64(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normalize(e)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[fmt.Sprint(k)] = normalize(e)
		}
		return out
	}
	return v
}

var (
	dnsLabel     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	nodeName     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)
	celIdent     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	reservedVars = map[string]bool{"state": true, "run": true}
)
