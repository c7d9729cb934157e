package main

import (
	"strings"
	"testing"
	"time"

	"github.com/graphjob/graphjob/checkpoints"
	"github.com/graphjob/graphjob/contract"
)

// TestSchedulesWithoutACluster: with no kubeconfig anywhere, schedules
// list and show and a backfill's dry run plan from the store alone, the
// states of Jobs unknown; a backfill itself still needs the cluster.
func TestSchedulesWithoutACluster(t *testing.T) {
	t.Setenv("KUBECONFIG", "")
	t.Setenv("HOME", t.TempDir()) // no ~/.kube/config
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	dir := t.TempDir()
	config := writeFile(t, "scheduler.yaml", `apiVersion: graphjob.dev/v1
kind: SchedulerConfig
store: file://`+dir+`
schedules:
  - name: hourly
    graph: {url: s3://graphs/loop.yaml}
    schedule: "@hourly"
`)
	// Two slots claimed: one whose run succeeded, one without a result.
	s, err := checkpoints.Open(t.Context(), "file://"+dir, checkpoints.Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Hour)
	done, open := contract.Slot{Schedule: "hourly", Time: now.Add(-2 * time.Hour)}, contract.Slot{Schedule: "hourly", Time: now.Add(-time.Hour)}
	for _, sl := range []contract.Slot{done, open} {
		if err := s.ClaimSlot(t.Context(), checkpoints.Slot{Schedule: sl.Schedule, Time: sl.Time, Run: sl.RunID(), By: "scheduler"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutResult(t.Context(), done.RunID(), checkpoints.Result{Status: contract.Succeeded}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	from, to := now.Add(-3*time.Hour).Format(time.RFC3339), now.Format(time.RFC3339)
	tests := []struct {
		desc      string
		args      []string
		code      int
		stdoutHas []string
		stderrHas string
	}{
		{"schedules list", []string{"schedules", "list", "--config", config}, 0, []string{"hourly", "unknown"}, ""},
		{"schedules show", []string{"schedules", "show", "hourly", "--config", config}, 0, []string{done.RunID() + "  succeeded", open.RunID() + "  unknown"}, ""},
		{"backfill --dry-run", []string{"backfill", "hourly", "--config", config, "--from", from, "--to", to, "--dry-run"}, 0,
			[]string{done.RunID() + "  succeeded  keep", open.RunID() + "  unknown", "3 slots; 1 to start"}, ""},
		{"backfill", []string{"backfill", "hourly", "--config", config, "--from", from, "--to", to}, 2, nil, "no kubeconfig found"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			code, stdout, stderr := cli(t, t.Context(), tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.stderrHas) {
				t.Fatalf("exit %d, want %d with %q; stderr:\n%s", code, tt.code, tt.stderrHas, stderr)
			}
			for _, want := range tt.stdoutHas {
				if !strings.Contains(stdout, want) {
					t.Errorf("stdout does not have %q:\n%s", want, stdout)
				}
			}
		})
	}
}
