package scheduler_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/graphjob/graphjob/scheduler"
)

const config = `apiVersion: graphjob.dev/v1
kind: SchedulerConfig
store: s3://runs?region=eu-central-1
namespace: graphjob
job: {image: ghcr.io/graphjob/graphjob:v0.1.0, storeSecret: graphjob-store}
schedules:
  - name: nightly
    graph: {configMap: graph-loop-4466561b5aef}
    schedule: "30 2 * * *"
    timeZone: Europe/Berlin
    catchup: {policy: all, window: 24h, max: 10}
    dst: {missing: shift}
  - name: bad-zone
    graph: {url: s3://graphs/loop.yaml}
    schedule: "0 * * * *"
    timeZone: Mars/Olympus
  - name: every-5s
    graph: {url: s3://graphs/loop.yaml}
    schedule: "@every 5s"
    concurrencyPolicy: Sometimes
  - name: Two_Graphs
    graph: {url: s3://a.yaml, configMap: b}
    schedule: "0 0 * * *"
  - name: ticks
    graph: {url: s3://graphs/loop.yaml}
    schedule: "*/5 * * * * *"
  - name: ticks
    graph: {url: s3://graphs/loop.yaml}
    schedule: "@hourly"
`

// TestConfig: the good schedules load; each bad one is an error naming the
// file, the line, the schedule and the field, and does not stop the others.
func TestConfig(t *testing.T) {
	c, err := scheduler.ParseConfig("scheduler.yaml", []byte(config))
	if err != nil {
		t.Fatal(err)
	}
	good := c.Entries
	if c == nil || c.Store != "s3://runs?region=eu-central-1" || good[0].Job.Image == "" {
		t.Fatalf("config %+v", c)
	}
	var names []string
	for _, e := range good {
		names = append(names, e.Name)
	}
	if strings.Join(names, " ") != "nightly ticks" {
		t.Errorf("good schedules %v, want nightly and the first ticks", names)
	}
	if rule := good[0].Catchup; rule != (scheduler.Catchup{Policy: scheduler.CatchupAll, Window: 24 * time.Hour, Max: 10}) || good[0].Schedule == nil {
		t.Errorf("nightly: %+v", rule)
	}
	for _, want := range []string{
		`scheduler.yaml:13: schedule bad-zone: timeZone "Mars/Olympus"`,
		`scheduler.yaml:17: schedule every-5s: concurrencyPolicy "Sometimes": use Allow, Forbid or Replace`,
		`scheduler.yaml:21: schedule Two_Graphs: schedule name "Two_Graphs": use 1 to 47`,
		`graph: give configMap or url, one of them`,
		`scheduler.yaml:27: schedule ticks: name "ticks": the schedule on line 24 has it too`,
	} {
		if invalid := fmt.Sprint(c.Invalid); !strings.Contains(invalid, want) {
			t.Errorf("errors do not say %q:\n%v", want, invalid)
		}
	}
	if len(c.Invalid) != 4 {
		t.Errorf("%d schedules invalid, want 4: %v", len(c.Invalid), c.Invalid)
	}

	for _, tt := range []struct{ text, want string }{
		{"apiVersion: graphjob.dev/v1\nkind: SchedulerConfig\nstore: s3://x\nschedule: []\n", "line 4: field schedule not found"},
		{"apiVersion: graphjob.dev/v1\nkind: SchedulerConfig\n", "store is missing"},
		{"kind: Graph\nstore: s3://x\n", "must be graphjob.dev/v1 and SchedulerConfig"},
		{"- a\n", "cannot unmarshal"},
	} {
		if _, err := scheduler.ParseConfig("s.yaml", []byte(tt.text)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: %v, want %q", tt.text, err, tt.want)
		}
	}
}

// TestConfigNotARegularFile: a named pipe given as the configuration is
// refused at once, not waited on.
func TestConfigNotARegularFile(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "scheduler.yaml")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := scheduler.LoadConfig(fifo); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("LoadConfig(FIFO): %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("LoadConfig(FIFO) still reading after a minute")
	}
}
