package checkpoints

import (
	"encoding/json"
	"reflect"

	"github.com/graphjob/graphjob/graph"
)

// CheckUpdate refuses, before anything is stored, a task's update whose
// value for a channel could not be committed: its JSON over MaxObjectSize.
// It measures from below without encoding (strings without their escapes,
// numbers as one digit), so it is cheap next to the commit, which checks
// exactly; it stops a value that grows without bound (a list doubled each
// step) before it fills the memory. The error is a *TooLargeError.
func (s *Store) CheckUpdate(run string, step int, u graph.Update) error {
	limit := s.opts.MaxObjectSize
	for ch, v := range u {
		if n := jsonSize(reflect.ValueOf(v), limit); n > limit {
			return &TooLargeError{Run: run, Step: step, Channel: ch, Size: n, Limit: limit}
		}
	}
	return nil
}

// jsonSize estimates the size of v's JSON from below, and stops counting
// once it is over limit.
func jsonSize(v reflect.Value, limit int64) int64 {
	switch v.Kind() {
	case reflect.Invalid:
		return 4 // null
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return 4
		}
		return jsonSize(v.Elem(), limit)
	case reflect.String:
		if v.Type() == reflect.TypeFor[json.Number]() {
			return int64(v.Len())
		}
		return int64(v.Len()) + 2
	case reflect.Bool:
		return 4
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8 {
			return int64(v.Len())*4/3 + 2 // base64
		}
		n := int64(2)
		for i := range v.Len() {
			if n += jsonSize(v.Index(i), limit-n) + 1; n > limit {
				return n
			}
		}
		return n
	case reflect.Map:
		n := int64(2)
		for it := v.MapRange(); it.Next(); {
			key := int64(2) // a key is a string: "…"
			if it.Key().Kind() == reflect.String {
				key += int64(it.Key().Len())
			}
			if n += key + jsonSize(it.Value(), limit-n) + 2; n > limit {
				return n
			}
		}
		return n
	case reflect.Struct:
		n := int64(2)
		for i := range v.NumField() {
			if !v.Type().Field(i).IsExported() {
				continue
			}
			if n += int64(len(v.Type().Field(i).Name)) + 4 + jsonSize(v.Field(i), limit-n); n > limit {
				return n
			}
		}
		return n
	}
	return 1 // a number: at least a digit
}
