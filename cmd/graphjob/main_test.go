package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/graphjob/graphjob/contract"
)

// cli runs graphjob with args and returns its exit code, stdout and stderr.
// A run without --store gets a store of its own.
func cli(t testing.TB, ctx context.Context, args ...string) (int, string, string) {
	t.Helper()
	if len(args) > 0 && args[0] == "run" && !slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--store") }) {
		args = append(args, "--store", "file://"+t.TempDir())
	}
	var stdout, stderr bytes.Buffer
	code := execute(ctx, nil, args, strings.NewReader(`{"step": 4}`), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

const loop = "../../examples/loop/graph.yaml"
const fanout = "../../examples/fanout/graph.yaml"

func TestCommands(t *testing.T) {
	broken := writeFile(t, "broken.yaml", "apiVersion: graphjob.dev/v1\nkind: Graph\nmetadata: {name: b}\nspec:\n  entry: a\n  nodes:\n    a: {set: {x: state.y}}\n")
	failing := writeFile(t, "failing.yaml", `apiVersion: graphjob.dev/v1
kind: Graph
metadata: {name: failing}
spec:
  entry: a
  nodes:
    a: {exec: {command: [sh, -c, "echo boom >&2; exit 1"]}}
`)
	input := writeFile(t, "input.json", `{"numbers": [2, 3]}`)
	tests := []struct {
		desc      string
		args      []string
		code      int
		stdout    string // exact, when set
		stderrHas string
		stdoutHas string
	}{
		{"the seed loop", []string{"run", loop}, 0, "{\"done\":true,\"step\":5}\n", "", ""},
		{"one superstep short", []string{"run", loop, "--recursion-limit", "9"}, 3, "", "recursion limit of 9 reached", ""},
		{"a zero limit", []string{"run", loop, "--recursion-limit", "0"}, 2, "", "--recursion-limit 0", ""},
		{"fan-out", []string{"run", fanout}, 0, "{\"count\":3,\"numbers\":[1,2,3],\"results\":[1,4,9]}\n", "", ""},
		{"--set", []string{"run", fanout, "--set", "numbers=[4, 5]"}, 0, "{\"count\":2,\"numbers\":[4,5],\"results\":[16,25]}\n", "", ""},
		{"--input from a file", []string{"run", fanout, "--input", "@" + input}, 0, "{\"count\":2,\"numbers\":[2,3],\"results\":[4,9]}\n", "", ""},
		{"--input from stdin", []string{"run", loop, "--input", "@-"}, 0, "{\"done\":true,\"step\":5}\n", "", ""},
		{"--set after --input", []string{"run", fanout, "--input", `{"numbers": [7]}`, "--set", "numbers=[1]"}, 0, "{\"count\":1,\"numbers\":[1],\"results\":[1]}\n", "", ""},
		{"--input that is not JSON", []string{"run", loop, "--input", "{step: 1}"}, 2, "", "--input: give a JSON object", ""},
		{"--input of an unknown channel", []string{"run", loop, "--input", `{"steps": 1}`}, 2, "", `input "steps" is not a channel of graph loop`, ""},
		{"--set of a wrong type", []string{"run", loop, "--set", "step=abc"}, 2, "", `channel "step": "abc" is not an int`, ""},
		{"--set without =", []string{"run", loop, "--set", "step"}, 2, "", "write CHANNEL=VALUE", ""},
		{"a missing file", []string{"run", "nope.yaml"}, 2, "", "nope.yaml: cannot read the graph file", ""},
		{"an invalid file", []string{"run", broken}, 2, "", broken + `:7:18: node "a" sets "x", which is not a channel; declare it under spec.state (spec.state declares none)`, ""},
		{"a node that fails", []string{"run", failing}, 3, "", `node "a": command sh exited with code 1; its stderr ends: boom`, ""},
		{"no file", []string{"run"}, 2, "", "accepts 1 arg(s)", ""},
		{"an unknown flag", []string{"run", loop, "--nope"}, 2, "", "unknown flag: --nope", ""},
		{"--recursion-limit over the files' cap", []string{"run", loop, "--recursion-limit", "1000001"}, 2, "", "--recursion-limit 1000001: give a number of supersteps between 1 and 1000000", ""},
		{"an unknown command", []string{"fly"}, 2, "", `unknown command "fly"`, ""},
		{"an unknown command, with a suggestion", []string{"rn"}, 2, "", `unknown command "rn" for "graphjob": did you mean run or runs?`, ""},
		{"an unknown subcommand", []string{"runs", "lst"}, 2, "", `unknown command "lst" for "graphjob runs": did you mean list?`, ""},
		{"a bad log format", []string{"run", loop, "--log-format", "xml"}, 2, "", `--log-format "xml"`, ""},
		{"validate", []string{"validate", loop, fanout}, 0, "", "", "fanout/graph.yaml: ok (graph fanout, 3 nodes, sha256:"},
		{"validate a broken file", []string{"validate", loop, broken}, 2, "", broken + ":7:18", "loop/graph.yaml: ok"},
		{"mermaid", []string{"graph", fanout}, 0, "", "", `n0 == "map state.numbers" ==> n1`},
		{"dot", []string{"graph", loop, "--format", "dot"}, 0, "", "", `"decide" -> "END" [style=dashed, label="state.done"];`},
		{"a bad format", []string{"graph", loop, "--format", "png"}, 2, "", `--format "png"`, ""},
		{"render configmap", []string{"render", "configmap", loop, "-n", "batch"}, 0, "", "", "name: graph-loop-4466561b5aef\n  namespace: batch"},
		{"scheduler without --config", []string{"scheduler"}, 2, "", "--config is required", ""},
		{"backfill, a bad --reprocess", []string{"backfill", "nightly", "--reprocess", "some"}, 2, "", `--reprocess "some": use none, failed or all`, ""},
		{"backfill, --parallel 0", []string{"backfill", "nightly", "--parallel", "0"}, 2, "", "--parallel 0: give at least 1", ""},
		{"schedules without --config", []string{"schedules", "list"}, 2, "", "--config is required", ""},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			code, stdout, stderr := cli(t, t.Context(), tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstderr: %s", code, tt.code, stderr)
			}
			if tt.stdout != "" && stdout != tt.stdout {
				t.Errorf("stdout %q, want %q", stdout, tt.stdout)
			}
			if !strings.Contains(stderr, tt.stderrHas) {
				t.Errorf("stderr does not contain %q:\n%s", tt.stderrHas, stderr)
			}
			if !strings.Contains(stdout, tt.stdoutHas) {
				t.Errorf("stdout does not contain %q:\n%s", tt.stdoutHas, stdout)
			}
		})
	}
}

// TestLogs checks that logs off a terminal are JSON lines carrying the run's
// fields, and that exec nodes' stderr reaches them.
func TestLogs(t *testing.T) {
	file := writeFile(t, "talk.yaml", `apiVersion: graphjob.dev/v1
kind: Graph
metadata: {name: talk}
spec:
  entry: a
  nodes:
    a: {exec: {command: [sh, -c, "echo line one >&2; printf 'no newline' >&2"]}}
`)
	code, _, stderr := cli(t, t.Context(), "run", file, "--run-id", "nightly-1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var msgs, outputs []string
	for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if rec["run_id"] != "nightly-1" || rec["graph"] != "talk" {
			t.Errorf("log line lacks run_id or graph: %q", line)
		}
		msgs = append(msgs, rec["message"].(string))
		if s, ok := rec["stderr"].(string); ok {
			outputs = append(outputs, s)
		}
	}
	if strings.Join(msgs, ",") != "run started,node output,node output,step done,run succeeded" {
		t.Errorf("messages %q", msgs)
	}
	if strings.Join(outputs, "|") != "line one|no newline" {
		t.Errorf("exec stderr lines %q", outputs)
	}
}

func TestCancelStopsTheRun(t *testing.T) {
	file := writeFile(t, "slow.yaml", `apiVersion: graphjob.dev/v1
kind: Graph
metadata: {name: slow}
spec:
  entry: a
  nodes:
    a: {exec: {command: [sleep, "60"]}}
`)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	code, _, stderr := cli(t, ctx, "run", file)
	if code != contract.ExitDrained || time.Since(start) > 20*time.Second {
		t.Fatalf("exit %d after %s: %s", code, time.Since(start), stderr)
	}
}

// TestMemoryLimitBoundsValues: under a memory limit (GOMEMLIMIT, which a
// Job's pod has), a value that doubles every step fails the run for good
// once its JSON is over a 32nd of the limit, before it can fill the memory;
// --max-object-size given says otherwise.
func TestMemoryLimitBoundsValues(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(64 << 20))
	file := writeFile(t, "double.yaml", `apiVersion: graphjob.dev/v1
kind: Graph
metadata: {name: double}
spec:
  recursionLimit: 40
  state:
    l: {type: list}
  entry: double
  nodes:
    double:
      set: {l: state.l + state.l}
  edges:
    - {from: double, to: double}
`)
	input := `{"l": ["` + strings.Repeat("x", 1000) + `"]}`
	code, _, stderr := cli(t, t.Context(), "run", file, "--input", input)
	if code != 3 || !strings.Contains(stderr, `channel \"l\" is`) || !strings.Contains(stderr, "over the limit of 2097152 bytes") {
		t.Errorf("under a 64 MiB limit: exit %d\n%s", code, lastLine(stderr))
	}
	code, _, stderr = cli(t, t.Context(), "run", file, "--input", input, "--max-object-size", "4194304")
	if code != 3 || !strings.Contains(stderr, "over the limit of 4194304 bytes") {
		t.Errorf("with --max-object-size: exit %d\n%s", code, lastLine(stderr))
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
