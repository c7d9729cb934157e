package scheduler_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

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
	run := scheduler.JobName("nightly", slot)
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

	err = j.Launch(ctx, entries[1], slot, scheduler.JobName("hand-made", slot))
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
