package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/graphjob/graphjob/contract"
	"github.com/graphjob/graphjob/kube"
	"github.com/graphjob/graphjob/scheduler"
)

// schedulerEnv is a namespace with the store, the graphs' ConfigMaps, and a
// scheduler configuration file naming them.
type schedulerEnv struct {
	jobEnv
	config string
	lease  string
}

// newSchedulerEnv makes the namespace and the configuration of schedules,
// in which graph-loop-4466561b5aef is the seed's loop and graph-slow-REPLACE
// testdata/slow.yaml (a 12 s run).
func newSchedulerEnv(t *testing.T, schedules string) schedulerEnv {
	t.Helper()
	e := schedulerEnv{jobEnv: newJobEnv(t), lease: "sched-" + fmt.Sprint(time.Now().UnixNano()%1e6)}
	for _, file := range []string{"../examples/loop/graph.yaml", "testdata/slow.yaml"} {
		cm := e.graphjob(t, "render", "configmap", file, "-n", e.ns)
		if cm.code != 0 {
			t.Fatalf("render configmap: %s", cm.stderr.String())
		}
		apply(t, cm.stdout.String())
	}
	// The slow graph's ConfigMap name carries its digest.
	cms, err := cluster.client.CoreV1().ConfigMaps(e.ns).List(t.Context(), metav1.ListOptions{LabelSelector: kube.LabelGraph + "=slow"})
	if err != nil || len(cms.Items) != 1 {
		t.Fatalf("the slow graph's ConfigMap: %v", err)
	}
	schedules = strings.ReplaceAll(schedules, "graph-slow-REPLACE", cms.Items[0].Name)
	e.config = filepath.Join(t.TempDir(), "scheduler.yaml")
	config := fmt.Sprintf(`apiVersion: graphjob.dev/v1
kind: SchedulerConfig
store: %s
namespace: %s
job: {image: %q, storeSecret: store}
schedules:
%s`, e.store, e.ns, graphjobImage, schedules)
	if err := os.WriteFile(e.config, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	return e
}

// replica starts a scheduler process named name.
func (e schedulerEnv) replica(t *testing.T, name string, listen string) *attempt {
	t.Helper()
	a := startAttempt(t, append(slices.Clone(e.storeEnv), "GRAPHJOB_POD_NAME="+name), "scheduler", "--config", e.config,
		"--kubeconfig", cluster.cp.Kubeconfig, "--lease", e.lease, "--lease-duration", "4s", "--listen", listen, "--log-format", "json")
	t.Cleanup(func() {
		a.signal(t, syscall.SIGKILL)
		<-a.done
		if t.Failed() {
			t.Logf("scheduler %s:\n%s", name, a.stderr.String())
		}
	})
	return a
}

// slotJobs returns the slots of a schedule's Jobs, oldest first.
func slotJobs(t *testing.T, ns, schedule string) (slots []time.Time, active int) {
	t.Helper()
	jobs, err := cluster.client.BatchV1().Jobs(ns).List(t.Context(), metav1.ListOptions{LabelSelector: kube.LabelSchedule + "=" + schedule})
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs.Items {
		slot, err := time.Parse("20060102T150405Z", j.Labels[kube.LabelSlot])
		if err != nil || j.Name != (contract.Slot{Schedule: schedule, Time: slot}).RunID() {
			t.Fatalf("job %s: slot label %q", j.Name, j.Labels[kube.LabelSlot])
		}
		slots = append(slots, slot)
		if !jobFinished(&j) {
			active++
		}
	}
	slices.SortFunc(slots, time.Time.Compare)
	return slots, active
}

// jobFinished says whether a Job completed or failed.
func jobFinished(j *batchv1.Job) bool {
	for _, c := range j.Status.Conditions {
		if c.Status == corev1.ConditionTrue && (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) {
			return true
		}
	}
	return false
}

// contiguous checks slots every 5 s from the first to the last, each once.
func contiguous(t *testing.T, what string, slots []time.Time) {
	t.Helper()
	for i := 1; i < len(slots); i++ {
		if d := slots[i].Sub(slots[i-1]); d != 5*time.Second {
			t.Errorf("%s: %s then %s: a gap or a duplicate", what, slots[i-1].Format(time.TimeOnly), slots[i].Format(time.TimeOnly))
		}
	}
}

func leaseHolder(t *testing.T, ns, name string) string {
	l, err := cluster.client.CoordinationV1().Leases(ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil || l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestScheduler runs two replicas: a schedule every 5 s makes Jobs that
// complete; the leader killed, the other takes over within the lease with
// no slot missed or run twice; both down 30 s, a restarted replica catches
// up per policy (all: every slot; latest: the last); Forbid with runs
// longer than the period records skipped slots.
func TestScheduler(t *testing.T) {
	e := newSchedulerEnv(t, `  - name: ticks
    graph: {configMap: graph-loop-4466561b5aef}
    schedule: "@every 5s"
    catchup: {policy: all, window: 10m}
  - name: latest
    graph: {configMap: graph-loop-4466561b5aef}
    schedule: "*/5 * * * * *"
    catchup: {policy: latest}
  - name: slow
    graph: {configMap: graph-slow-REPLACE}
    schedule: "@every 5s"
    concurrencyPolicy: Forbid
`)
	metrics := freeAddr(t)
	replicas := map[string]*attempt{"replica-a": e.replica(t, "replica-a", metrics), "replica-b": e.replica(t, "replica-b", "")}
	var first string
	if err := wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		first = leaseHolder(t, "default", e.lease)
		return first != "", nil
	}); err != nil {
		t.Fatal("no replica leads")
	}
	// Jobs every 5 s, which complete.
	if err := wait.PollUntilContextTimeout(t.Context(), time.Second, time.Minute, true, func(context.Context) (bool, error) {
		slots, _ := slotJobs(t, e.ns, "ticks")
		return len(slots) >= 3, nil
	}); err != nil {
		t.Fatal("the scheduler made no Jobs every 5 s")
	}
	slots, _ := slotJobs(t, e.ns, "ticks")
	waitJob(t, e.ns, contract.Slot{Schedule: "ticks", Time: slots[0]}.RunID(), batchv1.JobComplete, time.Minute)
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, err := http.Get("http://" + metrics + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || (path == "/metrics" && !strings.Contains(string(body), `graphjob_scheduler_schedules{state="active"} 3`)) {
			t.Errorf("%s: %s\n%s", path, resp.Status, body)
		}
	}

	// The leader killed: the other takes over within the lease (4 s).
	killed := time.Now()
	replicas[first].signal(t, syscall.SIGKILL)
	var second string
	if err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, 20*time.Second, true, func(context.Context) (bool, error) {
		second = leaseHolder(t, "default", e.lease)
		return second != first && second != "", nil
	}); err != nil {
		t.Fatalf("%s killed, no replica took over", first)
	}
	took := time.Since(killed)
	t.Logf("%s killed; %s leads %v later", first, second, took.Round(100*time.Millisecond))
	if took > 7*time.Second {
		t.Errorf("the takeover took %v, want within the 4 s lease (+ retries of 0.8 s)", took)
	}
	time.Sleep(10 * time.Second)

	// Both down 30 s; one back.
	replicas[second].signal(t, syscall.SIGKILL)
	<-replicas[second].done
	down := time.Now()
	time.Sleep(30 * time.Second)
	latestBefore, _ := slotJobs(t, e.ns, "latest")
	e.replica(t, "replica-c", "")
	time.Sleep(12 * time.Second)

	ticks, _ := slotJobs(t, e.ns, "ticks")
	contiguous(t, "ticks (catch-up all)", ticks)
	if len(ticks) < 12 || ticks[len(ticks)-1].Before(down.Add(30*time.Second)) {
		t.Errorf("ticks: %d slots, the last %v", len(ticks), ticks[len(ticks)-1])
	}
	// latest: of the slots missed while down, the last ran, then every slot.
	latest, _ := slotJobs(t, e.ns, "latest")
	after := latest[len(latestBefore):]
	if len(after) < 2 || after[0].Sub(latestBefore[len(latestBefore)-1]) < 30*time.Second {
		t.Errorf("latest: before the restart up to %v, after %v: want a gap of the slots missed", latestBefore[len(latestBefore)-1], after)
	} else {
		contiguous(t, "latest after the restart", after)
	}

	// Forbid: slots that found the slow run still going are recorded skipped.
	show := e.graphjob(t, "schedules", "show", "slow", "--config", e.config, "--kubeconfig", cluster.cp.Kubeconfig, "--slots", "20", "-o", "json")
	var row struct {
		Last []struct{ State string } `json:"last"`
	}
	if err := json.Unmarshal(show.stdout.Bytes(), &row); err != nil {
		t.Fatalf("schedules show: %v\n%s%s", err, show.stdout.String(), show.stderr.String())
	}
	states := map[string]int{}
	for _, sl := range row.Last {
		states[sl.State]++
	}
	if states["skipped"] < 2 || states["skipped"] < states["succeeded"]+states["running"] {
		t.Errorf("slow (Forbid, 12 s runs every 5 s): last slots %v, want mostly skipped", states)
	}
	_, active := slotJobs(t, e.ns, "slow")
	if active > 1 {
		t.Errorf("slow (Forbid): %d runs active at once", active)
	}
}

// TestBackfill: 50 slots with --parallel 5 end with 50 completed runs,
// never more than 5 active; run again, it creates nothing.
func TestBackfill(t *testing.T) {
	e := newSchedulerEnv(t, `  - name: bf
    graph: {configMap: graph-loop-4466561b5aef}
    schedule: "*/10 * * * *"
    suspend: true
`)
	from := time.Date(2026, 3, 28, 20, 0, 0, 0, time.UTC)
	to := from.Add(500 * time.Minute)
	var (
		mu        sync.Mutex
		maxActive int
	)
	ctx, stop := context.WithCancel(t.Context())
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for ctx.Err() == nil {
			_, active := slotJobs(t, e.ns, "bf")
			mu.Lock()
			maxActive = max(maxActive, active)
			mu.Unlock()
			time.Sleep(100 * time.Millisecond)
		}
	}()
	args := []string{"backfill", "bf", "--config", e.config, "--kubeconfig", cluster.cp.Kubeconfig,
		"--from", from.Format(time.RFC3339), "--to", to.Format(time.RFC3339), "--parallel", "5", "-o", "json"}
	start := time.Now()
	bf := e.graphjob(t, args...)
	stop()
	<-watched
	var plan []scheduler.BackfillSlot
	if err := json.Unmarshal(bf.stdout.Bytes(), &plan); bf.code != 0 || err != nil {
		t.Fatalf("backfill: exit %d, %v\n%s", bf.code, err, bf.stderr.String())
	}
	t.Logf("50 slots, 5 at once: %v", time.Since(start).Round(time.Second))
	succeeded := 0
	for _, sl := range plan {
		if sl.Started && sl.State == scheduler.SlotSucceeded {
			succeeded++
		}
	}
	slots, _ := slotJobs(t, e.ns, "bf")
	if len(plan) != 50 || succeeded != 50 || len(slots) != 50 {
		t.Errorf("%d slots planned, %d started and succeeded, %d Jobs; want 50 each", len(plan), succeeded, len(slots))
	}
	if maxActive > 5 {
		t.Errorf("%d runs active at once, want at most 5", maxActive)
	}
	again := e.graphjob(t, args...)
	if err := json.Unmarshal(again.stdout.Bytes(), &plan); again.code != 0 || err != nil {
		t.Fatalf("backfill again: exit %d, %v\n%s", again.code, err, again.stderr.String())
	}
	for _, sl := range plan {
		if sl.Started || sl.Found != scheduler.SlotSucceeded {
			t.Errorf("backfill again: %s found %s, started %v", sl.Run, sl.Found, sl.Started)
		}
	}
	if slots, _ := slotJobs(t, e.ns, "bf"); len(slots) != 50 {
		t.Errorf("%d Jobs after the second backfill, want 50", len(slots))
	}
}
