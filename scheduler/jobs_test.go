package scheduler_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gocloud.dev/blob/memblob"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/graphjob/graphjob/checkpoints"
	"github.com/graphjob/graphjob/contract"
	"github.com/graphjob/graphjob/kube"
	"github.com/graphjob/graphjob/scheduler"
)

// TestJobs: a slot's Job carries the schedule, the slot and the overrides;
// made twice it is made once; Active leaves finished Jobs out; Stop deletes.
func TestJobs(t *testing.T) {
	ctx := t.Context()
	cfg, err := scheduler.ParseConfig("s.yaml", []byte(`apiVersion: graphjob.dev/v1
kind: SchedulerConfig
store: s3://runs
namespace: batch
job: {storeSecret: creds, env: [{name: MODE, value: nightly}, {name: TOKEN, secret: api, key: token}]}
schedules:
  - name: nightly
    graph: {configMap: graph-loop-4466561b5aef}
    schedule: "30 2 * * *"
    input: {limit: 3}
    job: {memory: 1Gi, image: example/graphjob:v1, ttlAfterFinished: 24h}
  - name: hand-made
    graph: {configMap: by-hand}
    schedule: "@hourly"
`))
	if err != nil || len(cfg.Invalid) > 0 {
		t.Fatal(err, cfg.Invalid)
	}
	entries := cfg.Entries
	client := fake.NewClientset(
		kube.ConfigMap("batch", "loop", "sha256:4466561b5aef00", []byte("not read")),
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "by-hand", Namespace: "batch"}, Data: map[string]string{"other.yaml": ""}},
	)
	j := &scheduler.Jobs{Client: client, Image: "default/graphjob:v0", Describe: func([]byte) (string, string, error) {
		t.Error("a ConfigMap made by graphjob was parsed")
		return "", "", nil
	}}
	slot := time.Date(2026, 11, 24, 1, 30, 0, 0, time.UTC)
	run := contract.Slot{Schedule: "nightly", Time: slot}.RunID()
	for range 2 {
		if err := j.Launch(ctx, entries[0], slot, run); err != nil {
			t.Fatal(err)
		}
	}
	job, err := client.BatchV1().Jobs("batch").Get(ctx, run, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := job.Spec.Template.Spec.Containers[0]
	env := map[string]corev1.EnvVar{}
	for _, v := range c.Env {
		env[v.Name] = v
	}
	switch {
	case job.Labels[kube.LabelSchedule] != "nightly" || job.Labels[kube.LabelSlot] != "20261124T013000Z":
		t.Errorf("labels %v", job.Labels)
	case env["GRAPHJOB_SLOT_TIME"].Value != "2026-11-24T01:30:00Z" || env["MODE"].Value != "nightly" || env["TOKEN"].ValueFrom.SecretKeyRef.Name != "api":
		t.Errorf("env %v", c.Env)
	case c.Image != "example/graphjob:v1" || c.Resources.Requests.Memory().String() != "1Gi" || *job.Spec.TTLSecondsAfterFinished != 86400:
		t.Errorf("overrides: image %s, resources %v, ttl %v", c.Image, c.Resources, job.Spec.TTLSecondsAfterFinished)
	case !slices.Contains(c.Args, `{"limit":3}`) || len(c.EnvFrom) != 1:
		t.Errorf("args %v, envFrom %v", c.Args, c.EnvFrom)
	}

	err = j.Launch(ctx, entries[1], slot, contract.Slot{Schedule: "hand-made", Time: slot}.RunID())
	if err == nil || !strings.Contains(err.Error(), "configmap batch/by-hand: it has no graph.yaml") {
		t.Errorf("a ConfigMap without the graph: %v", err)
	}

	done := job.DeepCopy()
	done.Name = "nightly-20261123-013000"
	done.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}
	if _, err := client.BatchV1().Jobs("batch").Create(ctx, done, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	active, err := j.Active(ctx, entries[0])
	if err != nil || !slices.Equal(active, []string{run}) {
		t.Errorf("active %v, %v; want %s alone", active, err, run)
	}
	if err := j.Stop(ctx, entries[0], run); err != nil {
		t.Fatal(err)
	}
	if err := j.Stop(context.Background(), entries[0], run); err != nil {
		t.Errorf("stopping a stopped run: %v", err)
	}
	if active, _ := j.Active(ctx, entries[0]); len(active) != 0 {
		t.Errorf("active after Stop: %v", active)
	}
}

// TestRefusedJobIsTerminal: a Job the API server refuses (422) fails its
// slot once, with a Warning and a failed result, and is not tried again;
// the next slot is tried, and a transient error (500) is retried.
func TestRefusedJobIsTerminal(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	store := checkpoints.New(memblob.OpenBucket(nil), checkpoints.Options{})
	client := fake.NewClientset(kube.ConfigMap("ns", "loop", "sha256:4466561b5aef00", []byte("not read")))
	var creates atomic.Int32
	refuse := apierrors.NewInvalid(schema.GroupKind{Group: "batch", Kind: "Job"}, "x", field.ErrorList{field.Invalid(field.NewPath("spec"), "x", "bad")})
	client.PrependReactor("create", "jobs", func(k8stesting.Action) (bool, runtime.Object, error) {
		switch creates.Add(1) {
		case 1:
			return true, nil, refuse
		case 2:
			return true, nil, apierrors.NewInternalError(errors.New("etcd is away"))
		}
		return false, nil, nil
	})
	e := entry(t, "hourly", "@every 1m", scheduler.Catchup{})
	e.Graph.ConfigMap, e.Job.Namespace = kube.ConfigMapName("loop", "sha256:4466561b5aef00"), "ns"
	e.Job.Store, e.Job.Image = "s3://runs", "graphjob:test"
	events := &warnings{}
	clk := newFakeClock(t0)
	s := &scheduler.Scheduler{Store: store, Launch: &scheduler.Jobs{Client: client}, Clock: clk.view(), Events: events}
	s.Set([]*scheduler.Entry{e})
	r := &schedulers{t: t, clk: clk, s: []*scheduler.Scheduler{s}}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Run(ctx, nil) }()
	defer func() { cancel(); <-done }()
	r.wait()

	r.step(61 * time.Second) // 01:00 refused; 01:01 nothing
	if creates.Load() != 1 || events.count(scheduler.ReasonSlotFailed) != 1 {
		t.Fatalf("%d creates, %d SlotFailed warnings after a 422, want 1 and 1: %v", creates.Load(), events.count(scheduler.ReasonSlotFailed), events.list)
	}
	res, err := store.Result(t.Context(), "hourly-20261124-000100")
	if err != nil || res.Status != contract.Failed || !strings.Contains(res.Error, "refuses") {
		t.Errorf("the refused slot's result: %+v, %v", res, err)
	}
	r.step(5 * time.Minute) // 02:00 fails (500), retried at 02:01; then 03:00 .. 06:00
	if creates.Load() != 7 || events.count(scheduler.ReasonSlotFailed) != 1 || events.count(scheduler.ReasonSlotNotStarted) != 1 {
		t.Errorf("%d creates, %v; want the refused slot once, the 500 twice, and 4 more", creates.Load(), events.list)
	}
}

// warnings records the reasons of a scheduler's warnings.
type warnings struct {
	mu   sync.Mutex
	list []string
}

func (w *warnings) Event(ev scheduler.Event) {
	if ev.Warning {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.list = append(w.list, ev.Reason)
	}
}

func (w *warnings) count(reason string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, r := range w.list {
		if r == reason {
			n++
		}
	}
	return n
}
