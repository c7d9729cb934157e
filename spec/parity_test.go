package spec_test

import (
	"strings"
	"testing"
)

// TestLangGraphFeatures runs, as graph files, the cases of LangGraph's test
// suites that graph/'s TestLangGraphCases runs in Go; each want is what
// LangGraph JS 1.7 gives for the same graph and input.
func TestLangGraphFeatures(t *testing.T) {
	tests := []struct {
		desc  string
		spec  string
		input map[string]any
		want  string
		err   string
	}{
		{
			desc: "a waiting edge whose sources finish 1 and 3 supersteps apart",
			spec: `
  state:
    items: {type: list, reducer: append}
  entry: [a, b1]
  nodes:
    a: {set: {items: "'a'"}}
    b1: {set: {items: "'b1'"}}
    b2: {set: {items: "'b2'"}}
    b3: {set: {items: "'b3'"}}
    c: {set: {items: "'c'"}}
  edges:
    - {from: b1, to: b2}
    - {from: b2, to: b3}
    - {from: [a, b3], to: c}
`,
			want: `{"items":["a","b1","b2","b3","c"]}`,
		},
		{
			desc: "a deferred node runs after a fan-out of uneven depth",
			spec: `
  state:
    items: {type: list, reducer: append}
  nodes:
    a: {set: {items: "'a'"}}
    b1: {set: {items: "'b1'"}}
    b2: {set: {items: "'b2'"}}
    d: {set: {items: "'d'"}, defer: true}
  edges:
    - {from: START, to: [a, b1]}
    - {from: b1, to: b2}
    - {from: a, to: d}
    - {from: b2, to: d}
`,
			want: `{"items":["a","b1","b2","d"]}`,
		},
		{
			desc: "a when edge from START",
			spec: `
  state:
    n: {type: int}
    items: {type: list, reducer: append}
  nodes:
    small: {set: {items: "'small'"}}
    big: {set: {items: "'big'"}}
  edges:
    - from: START
      when:
        - {if: state.n > 10, to: big}
        - to: small
`,
			input: map[string]any{"n": 12},
			want:  `{"items":["big"],"n":12}`,
		},
		{
			desc: "a map edge from START (Send after START)",
			spec: `
  state:
    items: {type: list, reducer: append}
  nodes:
    n: {set: {items: "'n|' + string(item)"}}
  edges:
    - from: START
      map: {over: "[1, 2]", to: n}
`,
			want: `{"items":["n|1","n|2"]}`,
		},
		{
			desc: "the input goes through the reducers: one item appended, a number added",
			spec: `
  state:
    items: {type: list, reducer: append, default: [first]}
    total: {type: int, reducer: add, default: 10}
  entry: a
  nodes:
    a: {set: {items: "'a'", total: "1"}}
`,
			input: map[string]any{"items": "x", "total": 5},
			want:  `{"items":["first","x","a"],"total":16}`,
		},
		{
			desc: "a CEL reducer that concatenates strings",
			spec: `
  state:
    s: {type: string, reducer: {cel: "old + new"}, default: a}
  entry: [b, c]
  nodes:
    b: {set: {s: "'b'"}}
    c: {set: {s: "'c'"}}
`,
			want: `{"s":"abc"}`,
		},
		{
			desc: "messages: added, replaced by id, removed",
			spec: `
  state:
    messages: {type: list, reducer: messages}
  entry: [a, b]
  nodes:
    a: {set: {messages: "[{'role': 'assistant', 'content': 'A2', 'id': 'a1'}, {'type': 'remove', 'id': 'b1'}]"}}
    b: {set: {messages: "{'role': 'user', 'content': 'B3', 'id': 'b3'}"}}
`,
			input: map[string]any{"messages": []any{
				map[string]any{"role": "user", "content": "hi", "id": "h"},
				map[string]any{"role": "assistant", "content": "A", "id": "a1"},
				map[string]any{"role": "user", "content": "B", "id": "b1"},
			}},
			want: `{"messages":[{"content":"hi","id":"h","role":"user"},{"content":"A2","id":"a1","role":"assistant"},{"content":"B3","id":"b3","role":"user"}]}`,
		},
		{
			desc: "an overwrite clears an append channel",
			spec: `
  state:
    items: {type: list, reducer: append, default: [old]}
  entry: a
  nodes:
    a: {set: {items: "{'__overwrite__': ['new']}"}}
`,
			want: `{"items":["new"]}`,
		},
		{
			desc: "an overwrite of the wrong type",
			spec: `
  state:
    items: {type: list, reducer: append}
  entry: a
  nodes:
    a: {set: {items: "{'__overwrite__': 1}"}}
`,
			err: `channel "items": overwrite: 1 is not a list`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			got, err := run(t, load(t, tt.spec), tt.input)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %s, %v; want %s", got, err, tt.want)
			}
		})
	}
}
