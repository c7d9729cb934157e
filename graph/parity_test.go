package graph_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/graphjob/graphjob/graph"
)

// builder builds the small graphs of LangGraph's own test cases: a State
// graph whose nodes append their name to "items" unless given an update.
type builder struct {
	t *testing.T
	g *graph.StateGraph[graph.State]
}

func newBuilder(t *testing.T, channels map[string]graph.Reducer) *builder {
	b := &builder{t: t, g: graph.New[graph.State]()}
	if channels == nil {
		channels = map[string]graph.Reducer{"items": graph.Append}
	}
	for name, r := range channels {
		must(t, b.g.AddChannel(name, r))
	}
	return b
}

// node adds a node writing u, or its name (with its map item) to "items".
func (b *builder) node(name string, u graph.Update, opts ...graph.NodeOption) *builder {
	must(b.t, b.g.AddNode(name, func(ctx context.Context, _ graph.State) (graph.Update, error) {
		if u != nil {
			return u, nil
		}
		if task, _ := graph.TaskFromContext(ctx); task.HasItem {
			return graph.Update{"items": fmt.Sprintf("%s|%v", name, task.Item)}, nil
		}
		return graph.Update{"items": name}, nil
	}, opts...))
	return b
}

func (b *builder) edge(from string, to ...string) *builder {
	must(b.t, b.g.AddEdge(from, to...))
	return b
}

func (b *builder) join(to string, from ...string) *builder {
	must(b.t, b.g.AddJoin(from, to))
	return b
}

func (b *builder) route(from string, to ...string) *builder {
	must(b.t, b.g.AddConditionalEdges(from, func(context.Context, graph.State) ([]string, error) { return to, nil }))
	return b
}

func (b *builder) send(from, to string, items ...any) *builder {
	must(b.t, b.g.AddMapEdge(from, to, func(context.Context, graph.State) ([]any, error) { return items, nil }))
	return b
}

func (b *builder) compile() *graph.Graph[graph.State] {
	app, err := b.g.Compile()
	must(b.t, err)
	return app
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	out, err := json.Marshal(v)
	must(t, err)
	return string(out)
}

// TestLangGraphCases runs graphs of LangGraph's test suites; each want is
// what LangGraph JS 1.7 gives for the same graph and input.
func TestLangGraphCases(t *testing.T) {
	tests := []struct {
		desc  string
		build func(*testing.T) *graph.Graph[graph.State]
		input graph.State
		want  string
	}{
		{"fan-out applied by node name", func(t *testing.T) *graph.Graph[graph.State] {
			return newBuilder(t, nil).node("a", nil).node("c", nil).node("b", nil).edge(graph.START, "a").edge("a", "c", "b").compile()
		}, nil, `{"items":["a","b","c"]}`},
		{"edges' tasks before map tasks", func(t *testing.T) *graph.Graph[graph.State] {
			return newBuilder(t, nil).node("a", nil).node("z", nil).node("m", nil).node("y", nil).
				edge(graph.START, "a").edge("a", "z").send("a", "m", 1, 2).edge("a", "y").compile()
		}, nil, `{"items":["a","y","z","m|1","m|2"]}`},
		// LangGraph's node names are digits, ours start with a letter: "1" is n1, and so on; the order is the same.
		{"concurrent emit sends (test_concurrent_emit_sends)", func(t *testing.T) *graph.Graph[graph.State] {
			return newBuilder(t, nil).node("n1", nil).node("n1.1", nil).node("n2", nil).node("n3", nil).node("n3.1", nil).
				edge(graph.START, "n1", "n1.1").send("n1", "n2", 1, 2).route("n1", "n3.1").send("n1.1", "n2", 3, 4).
				route("n2", "n3").compile()
		}, graph.State{"items": []any{"0"}}, `{"items":["0","n1","n1.1","n3.1","n2|1","n2|2","n2|3","n2|4","n3"]}`},
		{"conditional edge after send (test_cond_edge_after_send)", func(t *testing.T) *graph.Graph[graph.State] {
			return newBuilder(t, nil).node("n1", nil).node("n2", nil).node("n3", nil).
				edge(graph.START, "n1").send("n1", "n2", "x", "x").route("n2", "n3").compile()
		}, graph.State{"items": []any{"0"}}, `{"items":["0","n1","n2|x","n2|x","n3"]}`},
		{"send after START", func(t *testing.T) *graph.Graph[graph.State] {
			return newBuilder(t, nil).node("n", nil).send(graph.START, "n", 1, 2).compile()
		}, nil, `{"items":["n|1","n|2"]}`},
		{"join whose sources finish 1 and 3 supersteps apart", func(t *testing.T) *graph.Graph[graph.State] {
			return newBuilder(t, nil).node("a", nil).node("b1", nil).node("b2", nil).node("b3", nil).node("c", nil).
				edge(graph.START, "a", "b1").edge("b1", "b2").edge("b2", "b3").join("c", "a", "b3").compile()
		}, nil, `{"items":["a","b1","b2","b3","c"]}`},
		{"join in a loop waits for both sources each time", func(t *testing.T) *graph.Graph[graph.State] {
			b := newBuilder(t, nil).node("a", nil).node("b", nil).node("slow", nil).node("c", nil).
				edge(graph.START, "a", "b").edge("b", "slow").join("c", "a", "slow")
			must(t, b.g.AddConditionalEdges("c", func(_ context.Context, s graph.State) ([]string, error) {
				if len(s["items"].([]any)) < 8 {
					return []string{"a", "b"}, nil
				}
				return []string{graph.END}, nil
			}))
			return b.compile()
		}, nil, `{"items":["a","b","slow","c","a","b","slow","c"]}`},
		{"defer after a fan-out of uneven depth", func(t *testing.T) *graph.Graph[graph.State] {
			return newBuilder(t, nil).node("a", nil).node("b1", nil).node("b2", nil).node("d", nil, graph.Deferred()).
				edge(graph.START, "a", "b1").edge("b1", "b2").edge("a", "d").edge("b2", "d").compile()
		}, nil, `{"items":["a","b1","b2","d"]}`},
		{"deferred join target", func(t *testing.T) *graph.Graph[graph.State] {
			return newBuilder(t, nil).node("a", nil).node("b", nil).node("b2", nil).node("b3", nil).node("d", nil, graph.Deferred()).
				edge(graph.START, "a", "b").edge("b", "b2").edge("b2", "b3").join("d", "a", "b").compile()
		}, nil, `{"items":["a","b","b2","b3","d"]}`},
		{"input through the reducer: one item appended", func(t *testing.T) *graph.Graph[graph.State] {
			return newBuilder(t, nil).node("a", nil).edge(graph.START, "a").compile()
		}, graph.State{"items": "x"}, `{"items":["x","a"]}`},
		{"a channel never written reads as its empty value", func(t *testing.T) *graph.Graph[graph.State] {
			return newBuilder(t, map[string]graph.Reducer{"items": graph.Append, "n": graph.Add, "o": graph.Merge, "m": graph.Messages, "r": graph.Replace}).
				node("a", graph.Update{}).edge(graph.START, "a").compile()
		}, nil, `{"items":[],"m":[],"n":0,"o":{},"r":null}`},
		{"custom reducer", func(t *testing.T) *graph.Graph[graph.State] {
			concat := graph.NewReducer("concat", func(old, update string) (string, error) { return old + update, nil })
			return newBuilder(t, map[string]graph.Reducer{"s": concat}).node("a", graph.Update{"s": "b"}).node("c", graph.Update{"s": "c"}).
				edge(graph.START, "a", "c").compile()
		}, graph.State{"s": "a"}, `{"s":"abc"}`},
		{"overwrite clears an append channel", func(t *testing.T) *graph.Graph[graph.State] {
			return newBuilder(t, nil).node("a", nil).node("b", graph.Update{"items": graph.Overwrite{Value: []any{"new"}}}).node("c", nil).
				edge(graph.START, "a").edge("a", "b", "c").compile()
		}, graph.State{"items": []any{"in"}}, `{"items":["new"]}`},
		{"overwrite in JSON", func(t *testing.T) *graph.Graph[graph.State] {
			return newBuilder(t, nil).node("a", graph.Update{"items": map[string]any{"__overwrite__": []any{}}}).edge(graph.START, "a").compile()
		}, graph.State{"items": []any{"in"}}, `{"items":[]}`},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			got, err := tt.build(t).Invoke(t.Context(), tt.input)
			must(t, err)
			if s := jsonOf(t, got); s != tt.want {
				t.Errorf("got  %s\nwant %s", s, tt.want)
			}
		})
	}
}

// TestMessages runs LangGraph's add_messages cases; wants are LangGraph JS's.
func TestMessages(t *testing.T) {
	msg := func(role, content, id string) map[string]any {
		return map[string]any{"role": role, "content": content, "id": id}
	}
	remove := func(id string) map[string]any { return map[string]any{"type": "remove", "id": id} }
	tests := []struct {
		desc    string
		updates map[string]any // node -> messages written, the nodes running in one superstep
		input   []any
		want    string
		err     string
	}{
		{"add, replace by id and remove from two tasks of one superstep", map[string]any{
			"a": []any{msg("assistant", "A2", "a1"), remove("b1")},
			"b": msg("user", "B3", "b3"),
		}, []any{msg("user", "hi", "h"), msg("assistant", "A", "a1"), msg("user", "B", "b1")},
			`[{"content":"hi","id":"h","role":"user"},{"content":"A2","id":"a1","role":"assistant"},{"content":"B3","id":"b3","role":"user"}]`, ""},
		{"remove all", map[string]any{"a": []any{remove(graph.RemoveAll), msg("assistant", "fresh", "f")}},
			[]any{msg("user", "hi", "h")}, `[{"content":"fresh","id":"f","role":"assistant"}]`, ""},
		{"LangChain-style messages are kept as given", map[string]any{"a": map[string]any{"type": "ai", "content": "yes", "id": "y"}},
			[]any{map[string]any{"type": "human", "content": "q", "id": "q"}}, `[{"content":"q","id":"q","type":"human"},{"content":"yes","id":"y","type":"ai"}]`, ""},
		{"removing an unknown id", map[string]any{"a": remove("nope")}, []any{"hi"}, "", `a removal of message "nope", which is not in the channel`},
		{"not a message", map[string]any{"a": map[string]any{"content": "x"}}, nil, "", "neither role nor type"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			b := newBuilder(t, map[string]graph.Reducer{"messages": graph.Messages})
			var names []string
			for name, u := range tt.updates {
				b.node(name, graph.Update{"messages": u})
				names = append(names, name)
			}
			got, err := b.edge(graph.START, names...).compile().Invoke(t.Context(), graph.State{"messages": tt.input})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			must(t, err)
			if s := jsonOf(t, got["messages"]); s != tt.want {
				t.Errorf("got  %s\nwant %s", s, tt.want)
			}
		})
	}
}

// TestMessageIDs: messages written without an id get one, the same when the
// step runs again (a resumed run), different for each message.
func TestMessageIDs(t *testing.T) {
	app := newBuilder(t, map[string]graph.Reducer{"messages": graph.Messages}).
		node("a", graph.Update{"messages": []any{"one", map[string]any{"role": "assistant", "content": "two"}}}).
		edge(graph.START, "a").compile()
	run := func() []any {
		got, err := app.Invoke(t.Context(), graph.State{"messages": "zero"}, graph.WithRunID("r1"))
		must(t, err)
		return got["messages"].([]any)
	}
	first, again := run(), run()
	if jsonOf(t, first) != jsonOf(t, again) {
		t.Errorf("ids differ between two runs of the same step:\n%s\n%s", jsonOf(t, first), jsonOf(t, again))
	}
	ids := map[any]bool{}
	for _, m := range first {
		ids[m.(map[string]any)["id"]] = true
	}
	if len(first) != 3 || len(ids) != 3 || first[0].(map[string]any)["type"] != "human" {
		t.Errorf("messages %s: want three, a human first, each its own id", jsonOf(t, first))
	}
}

// TestJoinResumedBetweenSources stops a run after one source of a join has
// run: resumed from that checkpoint, through JSON, the join waits for the
// other source and its target runs once.
func TestJoinResumedBetweenSources(t *testing.T) {
	app := newBuilder(t, nil).node("a", nil).node("b1", nil).node("b2", nil).node("c", nil).
		edge(graph.START, "a", "b1").edge("b1", "b2").join("c", "a", "b2").compile()
	stop := errors.New("stop")
	var cp graph.Checkpoint
	_, err := app.Invoke(t.Context(), nil, graph.WithCommit(func(_ context.Context, c graph.Checkpoint) error {
		cp = c
		return stop
	}))
	if !errors.Is(err, stop) || cp.Step != 1 || jsonOf(t, cp.Joins) != `{"join:a+b2:c":["a"]}` {
		t.Fatalf("stopped at step %d with joins %s, %v; want step 1 with a seen", cp.Step, jsonOf(t, cp.Joins), err)
	}
	var back graph.Checkpoint
	must(t, json.Unmarshal([]byte(jsonOf(t, cp)), &back))
	got, err := app.Resume(t.Context(), back)
	must(t, err)
	if s := jsonOf(t, got); s != `{"items":["a","b1","b2","c"]}` {
		t.Errorf("got %s", s)
	}
	back.Joins = map[string][]string{"join:x+y:c": {"x"}}
	if _, err := app.Resume(t.Context(), back); err == nil || !strings.Contains(err.Error(), `no waiting edge "join:x+y:c"`) {
		t.Errorf("a checkpoint naming an unknown join: %v", err)
	}
}

// TestDeferredIsCheckpointed stops a run while a deferred node waits.
func TestDeferredIsCheckpointed(t *testing.T) {
	app := newBuilder(t, nil).node("a", nil).node("b1", nil).node("b2", nil).node("d", nil, graph.Deferred()).
		edge(graph.START, "a", "b1").edge("b1", "b2").edge("a", "d").compile()
	var cps []graph.Checkpoint
	_, err := app.Invoke(t.Context(), nil, graph.WithCommit(func(_ context.Context, c graph.Checkpoint) error {
		cps = append(cps, c)
		return nil
	}))
	must(t, err)
	if len(cps) != 3 || jsonOf(t, cps[0].Deferred) != `["d"]` || cps[1].Deferred != nil || cps[1].Next[0].Node != "d" {
		t.Fatalf("checkpoints %s", jsonOf(t, cps))
	}
	var back graph.Checkpoint
	must(t, json.Unmarshal([]byte(jsonOf(t, cps[0])), &back))
	got, err := app.Resume(t.Context(), back)
	must(t, err)
	if s := jsonOf(t, got); s != `{"items":["a","b1","b2","d"]}` {
		t.Errorf("resumed: %s", s)
	}
}

func TestJoinBuildErrors(t *testing.T) {
	b := newBuilder(t, nil).node("a", nil).node("b", nil)
	for _, tc := range []struct {
		from []string
		to   string
		err  string
	}{
		{nil, "a", "has no sources"},
		{[]string{"a", "a"}, "b", `names source "a" twice`},
		{[]string{"a", "x"}, "b", `unknown node "x"`},
		{[]string{"a", "b"}, graph.END, "cannot target END"},
	} {
		if err := b.g.AddJoin(tc.from, tc.to); err == nil || !errors.Is(err, graph.ErrInvalidGraph) || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("AddJoin(%q, %q) = %v, want %q", tc.from, tc.to, err, tc.err)
		}
	}
	// A join one of whose sources can never run leaves its target unreachable.
	b = newBuilder(t, nil).node("a", nil).node("b", nil).node("c", nil).edge(graph.START, "a").join("c", "a", "b")
	if _, err := b.g.Compile(); err == nil || !strings.Contains(err.Error(), `node "b" can never run`) || !strings.Contains(err.Error(), `node "c" can never run`) {
		t.Errorf("compile: %v", err)
	}
}
