package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graphjob/graphjob/checkpoints"
	"github.com/graphjob/graphjob/contract"
	"github.com/graphjob/graphjob/graph"
)

// storeWithRun writes a run of three steps into a new file store and returns
// the store's URL and directory.
func storeWithRun(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	url := "file://" + dir
	s, err := checkpoints.Open(t.Context(), url, checkpoints.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.CreateRun(t.Context(), checkpoints.RunRecord{ID: "r1", Graph: checkpoints.GraphRef{Name: "loop", Digest: "sha256:00"}}); err != nil {
		t.Fatal(err)
	}
	var parent *checkpoints.Step
	for i := range 3 {
		cp := graph.Checkpoint{Step: i, Values: map[string]any{"step": int64(i), "done": i == 2},
			Versions: map[string]uint64{"step": uint64(i + 1), "done": 1 + uint64(i/2)}, Next: []graph.Task{{Node: "work"}}}
		if i == 2 {
			cp.Next = nil
		}
		if parent, err = s.Commit(t.Context(), "r1", parent, cp); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutResult(t.Context(), "r1", checkpoints.Result{Status: contract.Succeeded, Step: 2}); err != nil {
		t.Fatal(err)
	}
	for i, end := range []checkpoints.AttemptEnd{{Step: 1, Exit: 1, Error: "storage unreachable"}, {Step: 2}} {
		a, err := s.StartAttempt(t.Context(), "r1", checkpoints.Attempt{From: i - 1, Origin: map[string]string{"pod": "r1-abcde"}})
		if err != nil {
			t.Fatal(err)
		}
		end.N = a.N
		if err := s.EndAttempt(t.Context(), "r1", end); err != nil {
			t.Fatal(err)
		}
	}
	return url, dir
}

func TestCheckpointCommands(t *testing.T) {
	url, dir := storeWithRun(t)
	tests := []struct {
		desc      string
		args      []string
		code      int
		stdout    string // exact, when set
		stdoutHas string
		stderrHas string
	}{
		{"runs list", []string{"runs", "list", "--store", url}, 0, "", "r1   loop   succeeded  2", ""},
		{"checkpoints list", []string{"checkpoints", "list", "r1", "--store", url}, 0, "", "STEP  TIME", ""},
		{"checkpoints show", []string{"checkpoints", "show", "r1", "--store", url}, 0, "{\n  \"done\": true,\n  \"step\": 2\n}\n", "", ""},
		{"checkpoints show --step", []string{"checkpoints", "show", "r1", "--step", "1", "--store", url}, 0, "{\n  \"done\": false,\n  \"step\": 1\n}\n", "", ""},
		{"a step not committed", []string{"checkpoints", "show", "r1", "--step", "7", "--store", url}, 1, "", "", "graphjob: run r1 has no step 7: its committed steps are 0 to 2: not found\n"},
		{"a run not there", []string{"checkpoints", "list", "nope", "--store", url}, 1, "", "", "run nope: object runs/nope/steps/: not found: no committed step"},
		{"runs show", []string{"runs", "show", "r1", "--store", url}, 0, "", "Status:    succeeded\nStep:      2", ""},
		{"runs show: attempts", []string{"runs", "show", "r1", "--store", url}, 0, "", "Attempts:  2\n  #1 ", ""},
		{"runs show: each attempt", []string{"runs", "show", "r1", "--store", url}, 0, "", "from step 0 on r1-abcde, exit 0 at step 2 after", ""},
		{"runs show: why an attempt stopped", []string{"runs", "show", "r1", "--store", url}, 0, "", ": storage unreachable\n  #2 ", ""},
		{"runs history", []string{"runs", "history", "r1", "--store", url}, 0, "", "ATTEMPT  STARTED              WHERE     STEPS  ENDED   LAST SEEN", ""},
		{"a bad -o", []string{"runs", "list", "--store", url, "-o", "yaml"}, 2, "", "", "--output \"yaml\": use table or json"},
		{"a bad run ID", []string{"checkpoints", "show", "../x", "--store", url}, 2, "", "", "run ID \"../x\""},
		{"a bad store", []string{"runs", "list", "--store", "nosuch://x"}, 2, "", "", "--store"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			code, stdout, stderr := cli(t, t.Context(), tt.args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tt.code, stderr)
			}
			if tt.stdout != "" && stdout != tt.stdout {
				t.Errorf("stdout:\n%s\nwant:\n%s", stdout, tt.stdout)
			}
			if !strings.Contains(stdout, tt.stdoutHas) {
				t.Errorf("stdout does not have %q:\n%s", tt.stdoutHas, stdout)
			}
			if !strings.Contains(stderr, tt.stderrHas) {
				t.Errorf("stderr does not have %q:\n%s", tt.stderrHas, stderr)
			}
		})
	}

	t.Run("a succeeded run has no error", func(t *testing.T) {
		_, stdout, _ := cli(t, t.Context(), "runs", "show", "r1", "--store", url)
		if strings.Contains(stdout, "Error:") {
			t.Errorf("the error of an earlier attempt is shown as the run's:\n%s", stdout)
		}
		_, stdout, _ = cli(t, t.Context(), "runs", "show", "r1", "--store", url, "-o", "json")
		if strings.Contains(stdout, `
  "error"`) {
			t.Errorf("the error of an earlier attempt is the run's in JSON:\n%s", stdout)
		}
	})

	t.Run("json", func(t *testing.T) {
		code, stdout, stderr := cli(t, t.Context(), "checkpoints", "list", "r1", "--store", url, "-o", "json")
		var rows []struct {
			Step  int          `json:"step"`
			Tasks []graph.Task `json:"tasks"`
			Bytes int64        `json:"bytes"`
		}
		if code != 0 || json.Unmarshal([]byte(stdout), &rows) != nil || len(rows) != 3 || rows[2].Step != 2 || len(rows[1].Tasks) != 1 || rows[1].Bytes <= 0 {
			t.Fatalf("exit %d, stdout %s, stderr %s", code, stdout, stderr)
		}
		code, stdout, _ = cli(t, t.Context(), "runs", "show", "r1", "--store", url, "-o", "json")
		var show struct {
			ID     string `json:"id"`
			Graph  struct{ Name string }
			Status string         `json:"status"`
			Step   int            `json:"step"`
			State  map[string]any `json:"state"`
		}
		if code != 0 || json.Unmarshal([]byte(stdout), &show) != nil || show.ID != "r1" || show.Graph.Name != "loop" || show.Status != "succeeded" || show.Step != 2 || show.State["done"] != true {
			t.Fatalf("runs show -o json: exit %d, %s", code, stdout)
		}
		code, stdout, _ = cli(t, t.Context(), "runs", "list", "--store", url, "-o", "json")
		var runs []checkpoints.RunInfo
		if code != 0 || json.Unmarshal([]byte(stdout), &runs) != nil || len(runs) != 1 || runs[0].State != contract.Succeeded {
			t.Fatalf("runs list -o json: exit %d, %s", code, stdout)
		}
	})

	t.Run("a flipped byte is reported, not shown", func(t *testing.T) {
		path := filepath.Join(dir, "runs/r1/steps/000000000002")
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		data[len(data)-3] ^= 1
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		code, stdout, stderr := cli(t, t.Context(), "checkpoints", "show", "r1", "--store", url)
		if code != 1 || stdout != "" || !strings.Contains(stderr, "runs/r1/steps/000000000002: corrupt: SHA-256") {
			t.Fatalf("exit %d, stdout %q, stderr %s", code, stdout, stderr)
		}
	})
}

// TestCheckpointsListShowsSubgraphs: the supersteps of a graph node's
// subgraph are listed under the step whose task ran them.
func TestCheckpointsListShowsSubgraphs(t *testing.T) {
	url := "file://" + t.TempDir()
	t.Setenv("SIDEFX", filepath.Join(t.TempDir(), "fx"))
	if code, _, stderr := cli(t, t.Context(), "run", "../../e2e/testdata/subgraph.yaml", "--store", url, "--run-id", "sub"); code != 0 {
		t.Fatalf("run: exit %d\n%s", code, stderr)
	}
	code, stdout, stderr := cli(t, t.Context(), "checkpoints", "list", "sub", "--store", url)
	if code != 0 || !strings.Contains(stdout, "  inner[0] 3 ") || !strings.Contains(stdout, "next: work") || strings.Count(stdout, "inner[0]") != 6 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	_, stdout, _ = cli(t, t.Context(), "checkpoints", "list", "sub", "--store", url, "-o", "json")
	var rows []struct {
		Step     int `json:"step"`
		Subgraph []struct {
			Node string `json:"node"`
			Step int    `json:"step"`
		} `json:"subgraph"`
	}
	if err := json.Unmarshal([]byte(stdout), &rows); err != nil || len(rows) != 3 || len(rows[1].Subgraph) != 6 || rows[1].Subgraph[5].Step != 6 {
		t.Errorf("json: %v\n%s", err, stdout)
	}
}
