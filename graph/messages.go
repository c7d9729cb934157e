package graph

import (
	"crypto/sha256"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
)

// RemoveAll is the ID of a removal that clears a messages channel: the
// messages written after it, in the same update, are the channel's new value.
const RemoveAll = "__remove_all__"

var messageList = reflect.TypeFor[[]any]()

// addMessages is the Messages reducer, LangGraph's add_messages. A message
// is an object: OpenAI-style {"role", "content"} or LangChain-style {"type",
// "content"}, kept as given; a string is a human message. A message without
// an "id" gets one. A message whose id is already in the channel replaces
// that message where it stands; {"type": "remove", "id": ID} removes it, and
// an ID that is not there is an error; an id of RemoveAll drops every
// message before it. Each update is applied in task order.
func addMessages(rc *reduction, cur any, updates []any) (any, error) {
	msgs, assigned, err := messagesOf(cur, rc)
	if err != nil {
		return nil, err
	}
	// Extended, unless a message of the list was given an ID, replaced or
	// removed.
	extended := !assigned
	for _, u := range updates {
		right, _, err := messagesOf(u, rc)
		if err != nil {
			return nil, err
		}
		var appended bool
		if msgs, appended, err = mergeMessages(msgs, right); err != nil {
			return nil, err
		}
		extended = extended && appended
	}
	rc.extended = extended
	out := make([]any, len(msgs))
	for i, m := range msgs {
		out[i] = m
	}
	if rc.typ == nil || rc.typ == messageList || rc.typ.Kind() == reflect.Interface {
		return out, nil
	}
	v, err := convert(rc.typ, out)
	if err != nil {
		return nil, fmt.Errorf("messages: %w", err)
	}
	return v.Interface(), nil
}

// mergeMessages applies one update's messages to the list, as add_messages
// applies its right-hand side to its left, and reports whether it only added
// messages at the end.
func mergeMessages(left, right []map[string]any) ([]map[string]any, bool, error) {
	for i := len(right) - 1; i >= 0; i-- {
		if isRemoval(right[i]) && right[i]["id"] == RemoveAll {
			return right[i+1:], false, nil
		}
	}
	merged := append(make([]map[string]any, 0, len(left)+len(right)), left...)
	at := make(map[string]int, len(merged))
	for i, m := range merged {
		at[m["id"].(string)] = i
	}
	removed := map[string]bool{}
	appended := true
	for _, m := range right {
		id := m["id"].(string)
		i, known := at[id]
		switch {
		case known && isRemoval(m):
			removed[id] = true
		case known:
			delete(removed, id)
			merged[i] = m
			appended = appended && i >= len(left) // a message of this update replaced
		case isRemoval(m):
			return nil, false, fmt.Errorf("messages: a removal of message %q, which is not in the channel", id)
		default:
			at[id] = len(merged)
			merged = append(merged, m)
		}
	}
	if len(removed) == 0 {
		return merged, appended, nil
	}
	kept := merged[:0]
	for _, m := range merged {
		if !removed[m["id"].(string)] {
			kept = append(kept, m)
		}
	}
	return kept, false, nil
}

func isRemoval(m map[string]any) bool { return m["type"] == "remove" }

// messagesOf reads a value written to a messages channel: a message, or a
// list of them. Messages without an ID get one from rc (assigned says so),
// in a copy: values are never changed in place.
func messagesOf(v any, rc *reduction) (msgs []map[string]any, assigned bool, err error) {
	if v == nil {
		return nil, false, nil
	}
	var items []any
	rv := reflect.ValueOf(v)
	switch {
	case rv.Kind() == reflect.Slice:
		items = make([]any, rv.Len())
		for i := range items {
			items[i] = rv.Index(i).Interface()
		}
	default:
		items = []any{v}
	}
	msgs = make([]map[string]any, 0, len(items))
	for _, it := range items {
		m, err := messageOf(it)
		if err != nil {
			return nil, false, err
		}
		switch id, has := m["id"]; {
		case isRemoval(m) && (!has || id == nil || id == ""):
			return nil, false, fmt.Errorf("messages: a removal without an id")
		case !has || id == nil || id == "":
			m = maps.Clone(m)
			m["id"] = rc.newID()
			assigned = true
		case reflect.TypeOf(id).Kind() != reflect.String:
			return nil, false, fmt.Errorf("messages: message id %v is %T, not a string", id, id)
		}
		msgs = append(msgs, m)
	}
	return msgs, assigned, nil
}

func messageOf(v any) (map[string]any, error) {
	switch m := v.(type) {
	case string:
		return map[string]any{"type": "human", "content": m}, nil
	case map[string]any:
		if _, role := m["role"]; !role {
			if _, typ := m["type"]; !typ {
				return nil, fmt.Errorf("messages: %s has neither role nor type; write {\"role\": \"user\", \"content\": ...} or {\"type\": \"human\", \"content\": ...}", describe(m))
			}
		}
		return m, nil
	}
	cv, err := convert(reflect.TypeFor[map[string]any](), v)
	if err != nil {
		return nil, fmt.Errorf("messages: %T is not a message: write a string or an object with role or type, and content", v)
	}
	return messageOf(cv.Interface())
}

func describe(m map[string]any) string {
	keys := slices.Sorted(maps.Keys(m))
	if len(keys) > 4 {
		keys = append(keys[:4], "…")
	}
	return "an object with " + strings.Join(keys, ", ")
}

// newID gives a message of the step's channel an ID: derived from the run,
// the step and the channel, so that a step run again after a resume gives
// its messages the same IDs, and shaped as a UUID (version 8), as
// LangGraph's are.
func (rc *reduction) newID() string {
	rc.ids++
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%d\x00%s\x00%d", rc.run, rc.step, rc.channel, rc.ids))
	sum[6] = sum[6]&0x0f | 0x80
	sum[8] = sum[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", sum[0:4], sum[4:6], sum[6:8], sum[8:10], sum[10:16])
}
