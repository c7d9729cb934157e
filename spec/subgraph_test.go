package spec_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graphjob/graphjob/spec"
)

const parentGraph = `apiVersion: graphjob.dev/v1
kind: Graph
metadata: {name: parent}
spec:
  env: [TOKEN]
  state:
    n: {type: int}
  entry: inner
  nodes:
    inner:
      graph: {file: sub/inner.yaml}
`

const innerGraph = `apiVersion: graphjob.dev/v1
kind: Graph
metadata: {name: inner}
spec:
  env: [SIDEFX]
  state:
    n: {type: int}
  entry: a
  nodes:
    a: {set: {n: %s}}
`

// TestGraphNode: a graph node's subgraph file is found beside its parent,
// pins the parent's digest, adds the variables it reads to the parent's, and
// its mistakes are reported in its own file.
func TestGraphNode(t *testing.T) {
	dir := t.TempDir()
	parent, inner := filepath.Join(dir, "graph.yaml"), filepath.Join(dir, "sub", "inner.yaml")
	must(t, os.MkdirAll(filepath.Dir(inner), 0o755))
	must(t, os.WriteFile(parent, []byte(parentGraph), 0o644))
	write := func(expr string) {
		must(t, os.WriteFile(inner, []byte(strings.Replace(innerGraph, "%s", expr, 1)), 0o644))
	}
	write("state.n + 1")
	g, err := spec.Load(parent)
	must(t, err)
	if got, err := run(t, g, map[string]any{"n": 1}); err != nil || got != `{"n":2}` {
		t.Fatalf("run: %s, %v", got, err)
	}
	if strings.Join(g.Env, ",") != "TOKEN,SIDEFX" {
		t.Errorf("env %q, want the subgraph's too", g.Env)
	}
	write("state.n + 2")
	changed, err := spec.Load(parent)
	must(t, err)
	if changed.Digest == g.Digest {
		t.Error("a changed subgraph left its parent's digest as it was")
	}
	write("state.nn")
	_, err = spec.Load(parent)
	if err == nil || !strings.HasPrefix(err.Error(), inner+":10:") || !strings.Contains(err.Error(), "undefined field 'nn'") {
		t.Errorf("an error in the subgraph: %v", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
