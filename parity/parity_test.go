package parity_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/graphjob/graphjob/e2e/testbin"
	"github.com/graphjob/graphjob/graph"
	"github.com/graphjob/graphjob/spec"
)

// inputs are the cases' inputs, by name; a case without one starts from
// its graph's defaults.
var inputs = map[string]map[string]any{
	"concurrent_emit_sends":     {"items": []any{"0"}},
	"cond_edge_after_send":      {"items": []any{"0"}},
	"reducer_before_first_node": {"items": "x"},
	"start_when":                {"n": 12},
	"messages": {"messages": []any{
		map[string]any{"role": "user", "content": "hi", "id": "h"},
		map[string]any{"role": "assistant", "content": "A", "id": "a1"},
		map[string]any{"role": "user", "content": "B", "id": "b1"},
	}},
	"messages_remove_all": {"messages": []any{map[string]any{"role": "user", "content": "hi", "id": "h"}}},
}

// outcome is a case's end: its final state, or its error.
type outcome struct {
	State map[string]any `json:"state,omitempty"`
	Error string         `json:"error,omitempty"`
}

func TestLangGraphCases(t *testing.T) {
	if testing.Short() {
		t.Skip("runs LangGraph JS: make parity")
	}
	files, err := filepath.Glob("cases/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no cases: %v", err)
	}
	all := map[string]map[string]any{}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		all[name] = inputs[name]
		if all[name] == nil {
			all[name] = map[string]any{}
		}
	}
	theirs := runLangGraphJS(t, all)
	for name, input := range all {
		t.Run(name, func(t *testing.T) {
			ours := runGraphjob(t, "cases/"+name+".yaml", input)
			if !reflect.DeepEqual(normalize(t, ours), normalize(t, theirs[name])) {
				t.Errorf("graphjob and LangGraph JS differ:\ngraphjob:  %s\nLangGraph: %s", jsonOf(t, ours), jsonOf(t, theirs[name]))
			}
		})
	}
}

// runGraphjob runs a graph file as graphjob run does.
func runGraphjob(t *testing.T, file string, input map[string]any) outcome {
	g, err := spec.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	in, err := g.Input(input)
	if err != nil {
		t.Fatal(err)
	}
	out, err := g.Runnable.Invoke(t.Context(), in, graph.WithRecursionLimit(g.RecursionLimit))
	if err != nil {
		return outcome{Error: err.Error()}
	}
	if msgs, ok := out["messages"].([]any); ok { // compared as LangGraph JS gives them: {type, content, id}
		for i, m := range msgs {
			m := m.(map[string]any)
			typ, _ := m["type"].(string)
			if role, ok := m["role"].(string); ok {
				typ = map[string]string{"user": "human", "assistant": "ai"}[role]
			}
			msgs[i] = map[string]any{"type": typ, "content": m["content"], "id": m["id"]}
		}
	}
	return outcome{State: out}
}

// runLangGraphJS runs every case with LangGraph JS, in one node process.
func runLangGraphJS(t *testing.T, inputs map[string]map[string]any) map[string]outcome {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	dir, err := testbin.Path(ctx, testbin.LangGraphJS, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	// The script runs beside the installed node_modules, where its imports resolve.
	script, err := os.ReadFile("langgraph.mjs")
	if err != nil {
		t.Fatal(err)
	}
	tmp, err := os.MkdirTemp(dir, "run-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	if err := os.WriteFile(filepath.Join(tmp, "langgraph.mjs"), script, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, "node", filepath.Join(tmp, "langgraph.mjs"))
	var stdout, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader([]byte(jsonOf(t, inputs))), &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("LangGraph JS: %v\n%s", err, stderr.Bytes())
	}
	var out map[string]outcome
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("LangGraph JS printed %q: %v", stdout.Bytes(), err)
	}
	return out
}

const testTimeout = 5 * time.Minute // an npm ci on a slow network, then the cases

// normalize makes two outcomes comparable: JSON numbers as float64.
func normalize(t *testing.T, o outcome) any {
	var v any
	if err := json.Unmarshal([]byte(jsonOf(t, o)), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func jsonOf(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
