package main

import (
	"strings"
	"testing"
)

// TestRunNewID checks that run logs a new run ID only for a graph file and
// input it will run: a mistake in either prints its error alone.
func TestRunNewID(t *testing.T) {
	broken := writeFile(t, "broken.yaml", "apiVersion: graphjob.dev/v1\nkind: Graph\nmetadata: {name: b}\nspec:\n  entry: a\n  nodes:\n    a: {set: {x: state.y}}\n")
	const logged = "new run ID; give it as --run-id to resume this run"
	tests := []struct {
		desc      string
		args      []string
		code      int
		stderrHas string
		logged    bool
	}{
		{"a run", []string{"run", loop}, 0, logged, true},
		{"an invalid file", []string{"run", broken}, 2, broken + `:7:18: node "a" sets "x"`, false},
		{"a missing file", []string{"run", "nope.yaml"}, 2, "nope.yaml: cannot read the graph file", false},
		{"input of a wrong type", []string{"run", loop, "--set", "step=abc"}, 2, `channel "step": "abc" is not an int`, false},
		{"input of an unknown channel", []string{"run", loop, "--input", `{"steps": 1}`}, 2, `input "steps" is not a channel of graph loop`, false},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			code, _, stderr := cli(t, t.Context(), tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.stderrHas) || strings.Contains(stderr, logged) != tt.logged {
				t.Errorf("exit %d (want %d), new run ID logged: %v (want %v)\nstderr:\n%s",
					code, tt.code, strings.Contains(stderr, logged), tt.logged, stderr)
			}
		})
	}
}
