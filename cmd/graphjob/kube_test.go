package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestGraphURL runs a graph given as a URL: file:// reads the file; an
// object that is not in its bucket is invalid input (exit 2).
func TestGraphURL(t *testing.T) {
	abs, err := filepath.Abs(loop)
	if err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := cli(t, t.Context(), "run", "file://"+abs)
	if code != 0 || strings.TrimSpace(stdout) != `{"done":true,"step":5}` {
		t.Fatalf("file URL: exit %d, %s\n%s", code, stdout, stderr)
	}
	code, _, stderr = cli(t, t.Context(), "run", "mem://graphs/loop.yaml")
	if code != 2 || !strings.Contains(stderr, "mem://graphs/loop.yaml: cannot read the graph file") {
		t.Fatalf("missing object: exit %d\n%s", code, stderr)
	}
}

func TestRender(t *testing.T) {
	tests := []struct {
		desc      string
		args      []string
		code      int
		stdoutHas string
		stderrHas string
	}{
		{"a job", []string{"render", "job", loop, "--store", "s3://runs", "--name", "loop-1"}, 0, "kind: Job\nmetadata:\n  annotations:\n    graphjob.dev/graph-digest: sha256:", ""},
		{"with its ConfigMap", []string{"render", "job", loop, "--store", "s3://runs"}, 0, "name: graph-loop-", ""},
		{"a graph from a URL has no ConfigMap", []string{"render", "job", loop, "--store", "s3://runs", "--graph-url", "s3://graphs/loop.yaml"}, 0, "apiVersion: batch/v1\nkind: Job", ""},
		{"a cronjob", []string{"render", "cronjob", loop, "--store", "s3://runs", "--schedule", "@daily", "--time-zone", "Europe/Berlin"}, 0, "timeZone: Europe/Berlin", ""},
		{"json", []string{"render", "job", loop, "--store", "s3://runs", "-o", "json"}, 0, `"kind": "List"`, ""},
		{"an old server", []string{"render", "job", loop, "--store", "s3://runs", "--kube-version", "1.28"}, 0, "backoffLimit: 6", ""},
		{"no store", []string{"render", "job", loop}, 2, "", "no store"},
		{"a local store", []string{"render", "job", loop, "--store", "file:///tmp/x"}, 2, "", "the pod's own"},
		{"no schedule", []string{"render", "cronjob", loop, "--store", "s3://runs"}, 2, "", "needs a schedule"},
		{"a bad policy", []string{"render", "cronjob", loop, "--store", "s3://runs", "--schedule", "@daily", "--concurrency-policy", "Sometimes"}, 2, "", "Allow, Forbid or Replace"},
		{"input of the wrong type", []string{"render", "job", loop, "--store", "s3://runs", "--input", `{"step": "x"}`}, 2, "", `--input: invalid graph: input "step": "x" is not an int`},
		{"a bad quantity", []string{"render", "job", loop, "--store", "s3://runs", "--memory", "lots"}, 2, "", "--memory \"lots\""},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			code, stdout, stderr := cli(t, t.Context(), tt.args...)
			if code != tt.code || !strings.Contains(stdout, tt.stdoutHas) || !strings.Contains(stderr, tt.stderrHas) {
				t.Errorf("exit %d (want %d)\nstdout:\n%s\nstderr:\n%s", code, tt.code, stdout, stderr)
			}
		})
	}
	// On 1.28, no podReplacementPolicy.
	_, stdout, _ := cli(t, t.Context(), "render", "job", loop, "--store", "s3://runs", "--kube-version", "1.28")
	if strings.Contains(stdout, "podReplacementPolicy") {
		t.Error("podReplacementPolicy rendered for 1.28")
	}
}
