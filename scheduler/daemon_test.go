package scheduler_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gocloud.dev/blob/memblob"

	"github.com/graphjob/graphjob/checkpoints"
	"github.com/graphjob/graphjob/scheduler"
)

const daemonConfig = `apiVersion: graphjob.dev/v1
kind: SchedulerConfig
store: STORE
schedules:
  - name: a
    graph: {url: s3://graphs/loop.yaml}
    schedule: "*/5 * * * * *"
  - name: b
    graph: {url: s3://graphs/loop.yaml}
    schedule: "B"
`

// recorded collects a daemon's events for the test to wait on.
type recorded struct {
	t  *testing.T
	ch chan scheduler.Event
}

func (r recorded) Event(ev scheduler.Event) {
	r.t.Logf("%s %s %s: %s %v", ev.Reason, ev.Schedule, ev.RunID, ev.Message, ev.Err)
	if ev.Reason == scheduler.ReasonConfigLoaded || ev.Reason == scheduler.ReasonConfigInvalid {
		r.ch <- ev
	}
}

// TestDaemonReloads: a changed file starts again only the schedules that
// changed, a bad one keeps the last good configuration running, and a new
// store starts them all; the slots of a schedule that did not change fire
// on, each once.
func TestDaemonReloads(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	clk := newFakeClock(t0)
	path := filepath.Join(t.TempDir(), "scheduler.yaml")
	write := func(store, b string) {
		t.Helper()
		text := strings.NewReplacer("STORE", store, `"B"`, `"`+b+`"`).Replace(daemonConfig)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	stores := map[string]*checkpoints.Store{}
	l := &launches{}
	events := recorded{t, make(chan scheduler.Event, 10)}
	d := &scheduler.Daemon{
		Path: path, Namespace: "ns", Launch: l, Clock: clk.view(), Events: events,
		Open: func(_ context.Context, url string) (*checkpoints.Store, error) {
			stores[url] = checkpoints.New(memblob.OpenBucket(nil), checkpoints.Options{})
			return stores[url], nil
		},
	}
	write("mem://one", "*/10 * * * * *")
	if err := d.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	loaded := func(want string) {
		t.Helper()
		select {
		case ev := <-events.ch:
			if !strings.Contains(ev.Message, want) {
				t.Fatalf("%s: %q, want %q", ev.Reason, ev.Message, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no configuration loaded in 10 s, want %q", want)
		}
	}
	loaded("2 schedules, 0 suspended, 0 invalid")
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); d.Lead(ctx) }()
	defer func() { cancel(); <-done }()
	step := func(n int) {
		t.Helper()
		for range n {
			waitFor(t, func() bool { return d.Waiting(clk.Now()) })
			clk.Step(time.Second)
		}
		waitFor(t, func() bool { return d.Waiting(clk.Now()) })
	}
	runs := func(schedule string) []string {
		l.mu.Lock()
		defer l.mu.Unlock()
		var out []string
		for _, r := range l.runs {
			if strings.HasPrefix(r, schedule+"-") {
				out = append(out, strings.TrimPrefix(r, schedule+"-20261124-"))
			}
		}
		return out
	}

	reload := func(store, b, want string) {
		t.Helper()
		write(store, b)
		if err := d.Load(t.Context()); err != nil {
			t.Fatal(err)
		}
		loaded(want)
	}
	step(10) // 00:10
	step(2)
	reload("mem://one", "*/3 * * * * *", "started again: b")
	step(5) // 00:17
	reload("mem://one", "not a cron expression", "1 schedules, 0 suspended, 1 invalid")
	step(1)
	reload("mem://one\nschedules: [", "", "configuration not reloaded")
	step(4) // 00:22
	reload("mem://two", "*/3 * * * * *", "started again: all (a new store)")
	step(3) // 00:25

	if got, want := runs("a"), []string{"000005", "000010", "000015", "000020", "000025"}; !slices.Equal(got, want) {
		t.Errorf("a ran %v, want %v: once each slot, through every reload", got, want)
	}
	// b: */10 until 00:12, */3 until 00:17 (00:12 on time as it starts),
	// left out until 00:22, then */3 on the new store, where it is new.
	if got, want := runs("b"), []string{"000010", "000012", "000015", "000024"}; !slices.Equal(got, want) {
		t.Errorf("b ran %v, want %v", got, want)
	}
	if stores["mem://one"] == nil || stores["mem://two"] == nil {
		t.Errorf("stores opened: %v", stores)
	}
}

// waitFor waits for cond, at most 10 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("waited 10 s")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestDaemonWatches: the file is looked at every Reload on the clock, and
// a change is loaded at the next look.
func TestDaemonWatches(t *testing.T) {
	clk := newFakeClock(time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC))
	path := filepath.Join(t.TempDir(), "scheduler.yaml")
	text := strings.NewReplacer("STORE", "mem://", `"B"`, `"@hourly"`).Replace(daemonConfig)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	events := recorded{t, make(chan scheduler.Event, 10)}
	d := &scheduler.Daemon{Path: path, Launch: &launches{}, Clock: clk.view(), Events: events, Reload: time.Minute}
	if err := d.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	<-events.ch
	go d.Watch(t.Context())
	waitFor(t, func() bool { return clk.Waiters() == 1 }) // the ticker
	// Replaced as a mounted ConfigMap's file is: a new file renamed over.
	next := path + ".new"
	if err := os.WriteFile(next, []byte(strings.ReplaceAll(text, "@hourly", "@daily")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(next, path); err != nil {
		t.Fatal(err)
	}
	clk.Step(59 * time.Second)
	select {
	case ev := <-events.ch:
		t.Fatalf("loaded before the minute: %s", ev.Message)
	case <-time.After(100 * time.Millisecond):
	}
	clk.Step(time.Second)
	select {
	case ev := <-events.ch:
		if ev.Reason != scheduler.ReasonConfigLoaded {
			t.Fatalf("%s: %s", ev.Reason, ev.Message)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the changed file was not loaded at the next look")
	}
}
