package kube_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
	"k8s.io/utils/ptr"

	"github.com/graphjob/graphjob/kube"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const digest = "sha256:4466561b5aefebea8805c8d2f97378fa7f483492357816bc64e2d2de456a6f9d"

// run is the run the golden files render.
func run() kube.Template {
	return kube.Template{
		Name:        "loop-nightly",
		Namespace:   "graphjob",
		Graph:       kube.Graph{Name: "loop", Digest: digest, ConfigMap: kube.ConfigMapName("loop", digest)},
		Image:       "ghcr.io/graphjob/graphjob:v0.1.0",
		Store:       "s3://runs/graphjob?region=eu-central-1",
		StoreSecret: "graphjob-store",
		Input:       `{"step": 1}`,
	}
}

func golden(t *testing.T, name string, objs ...any) {
	t.Helper()
	got, err := kube.YAML(objs...)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./kube -update to write it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from the rendering (go test ./kube -update rewrites it):\n%s", path, got)
	}
}

func TestGolden(t *testing.T) {
	r := run()
	job, err := kube.Job(r)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "job.yaml", kube.ConfigMap(r.Namespace, "loop", digest, []byte("apiVersion: graphjob.dev/v1\n")), job)

	cj, err := kube.CronJob(r, "0 2 * * *", "Europe/Berlin", "")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "cronjob.yaml", cj)

	// A graph read from a URL, on a 1.28 server (no podReplacementPolicy),
	// with every option set.
	r = run()
	r.Graph = kube.Graph{Name: "loop", Digest: digest, URL: "s3://graphs/loop.yaml"}
	r.Server = kube.Version{Major: 1, Minor: 28}
	r.Schedule, r.Slot = "nightly", time.Date(2026, 3, 29, 1, 30, 0, 0, time.UTC)
	r.BackoffLimit, r.ActiveDeadline, r.TTLAfterFinished = ptr.To(int32(2)), time.Hour, ptr.To(24*time.Hour)
	r.DrainTimeout, r.ServiceAccount = 50*time.Second, "graphjob-run"
	r.Env = []corev1.EnvVar{{Name: "MODE", Value: "batch"}, {Name: "API_TOKEN", ValueFrom: &corev1.EnvVarSource{
		SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "api"}, Key: "token"}}}}
	r.EnvFrom = []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "llm-keys"}}}}
	job, err = kube.Job(r)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "job-url-1.28.yaml", job)
}

// TestRestricted evaluates every pod graphjob generates with the restricted
// Pod Security Standard's own checks.
func TestRestricted(t *testing.T) {
	eval, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	r := run()
	job, err := kube.Job(r)
	if err != nil {
		t.Fatal(err)
	}
	cj, err := kube.CronJob(r, "@daily", "", batchv1.AllowConcurrent)
	if err != nil {
		t.Fatal(err)
	}
	r.Graph = kube.Graph{Name: "loop", Digest: digest, URL: "s3://graphs/loop.yaml"}
	r.StoreSecret = ""
	urlJob, err := kube.Job(r)
	if err != nil {
		t.Fatal(err)
	}
	for name, tmpl := range map[string]corev1.PodTemplateSpec{"job": job.Spec.Template, "cronjob": cj.Spec.JobTemplate.Spec.Template, "url": urlJob.Spec.Template} {
		res := policy.AggregateCheckResults(eval.EvaluatePod(api.LevelVersion{Level: api.LevelRestricted, Version: api.LatestVersion()}, &tmpl.ObjectMeta, &tmpl.Spec))
		if !res.Allowed {
			t.Errorf("%s: the restricted standard refuses the pod: %s", name, res.ForbiddenDetail())
		}
	}
}

func TestJobContract(t *testing.T) {
	job, err := kube.Job(run())
	if err != nil {
		t.Fatal(err)
	}
	pod := job.Spec.Template.Spec
	if pod.RestartPolicy != corev1.RestartPolicyNever || *job.Spec.PodReplacementPolicy != batchv1.Failed || *pod.AutomountServiceAccountToken {
		t.Errorf("restartPolicy %s, podReplacementPolicy %v, token mounted %v", pod.RestartPolicy, *job.Spec.PodReplacementPolicy, *pod.AutomountServiceAccountToken)
	}
	if *pod.TerminationGracePeriodSeconds != 30 {
		t.Errorf("grace %d s, want the 25 s drain timeout and 5 s for the last commit", *pod.TerminationGracePeriodSeconds)
	}
	rules := job.Spec.PodFailurePolicy.Rules
	if len(rules) != 3 || rules[0].Action != batchv1.PodFailurePolicyActionFailJob || rules[0].OnExitCodes.Values[0] != 2 || rules[0].OnExitCodes.Values[1] != 3 ||
		rules[1].Action != batchv1.PodFailurePolicyActionIgnore || rules[1].OnExitCodes.Values[0] != 75 ||
		rules[2].Action != batchv1.PodFailurePolicyActionIgnore || rules[2].OnPodConditions[0].Type != corev1.DisruptionTarget {
		t.Errorf("podFailurePolicy does not follow the exit-code contract: %+v", rules)
	}
	if job.Labels[kube.LabelRun] != "loop-nightly" || job.Spec.Template.Labels[kube.LabelGraph] != "loop" {
		t.Errorf("labels %v / %v", job.Labels, job.Spec.Template.Labels)
	}
}

// TestPullPolicy: a node keeps the images it pulled, so an image that names
// no fixed version (:latest, no tag) is pulled every time.
func TestPullPolicy(t *testing.T) {
	for image, want := range map[string]corev1.PullPolicy{
		"ghcr.io/graphjob/graphjob:v0.1.0":      corev1.PullIfNotPresent,
		"ghcr.io/graphjob/graphjob:latest":      corev1.PullAlways,
		"ghcr.io/graphjob/graphjob":             corev1.PullAlways,
		"registry.example.com:5000/graphjob":    corev1.PullAlways,
		"registry.example.com:5000/graphjob:v2": corev1.PullIfNotPresent,
		"ghcr.io/graphjob/graphjob@sha256:4466561b5aefebea8805c8d2f97378fa7f483492357816bc64e2d2de456a6f9d": corev1.PullIfNotPresent,
	} {
		r := run()
		r.Image = image
		job, err := kube.Job(r)
		if err != nil {
			t.Fatal(err)
		}
		if got := job.Spec.Template.Spec.Containers[0].ImagePullPolicy; got != want {
			t.Errorf("%s: imagePullPolicy %s, want %s", image, got, want)
		}
	}
}

// TestLongNames: a graph's name may have 63 characters, as a Job's; the
// names made from it (its runs', its ConfigMap's) stay DNS labels short
// enough, and distinct for graphs that differ past the cut.
func TestLongNames(t *testing.T) {
	now := time.Date(2026, 11, 24, 2, 0, 0, 0, time.UTC)
	long := strings.Repeat("a", 55) + "-nightly"
	other := strings.Repeat("a", 55) + "-weekly1"
	for _, tt := range []struct {
		desc   string
		name   func(graph string) string
		maxLen int
	}{
		{"a one-off run", func(g string) string { return kube.DefaultName(g, now, false) }, 63},
		{"a CronJob", func(g string) string { return kube.DefaultName(g, now, true) }, 52},
		{"a ConfigMap", func(g string) string { return kube.ConfigMapName(g, digest) }, 63},
	} {
		got := tt.name(long)
		if msgs := validation.IsDNS1123Label(got); len(msgs) > 0 || len(got) > tt.maxLen {
			t.Errorf("%s: %q (%d characters) is not a DNS label of at most %d: %v", tt.desc, got, len(got), tt.maxLen, msgs)
		}
		if tt.name(other) == got {
			t.Errorf("%s: graphs %s and %s both get %q", tt.desc, long, other, got)
		}
		if !strings.HasPrefix(strings.TrimPrefix(got, "graph-"), strings.Repeat("a", 20)) {
			t.Errorf("%s: %q does not start with the graph's name", tt.desc, got)
		}
	}
	// Names that fit are kept as they are.
	if got := kube.DefaultName("loop", now, false); got != "loop-20261124-020000" {
		t.Errorf("DefaultName(loop) = %q", got)
	}
	if got := kube.ConfigMapName("loop", digest); got != "graph-loop-4466561b5aef" {
		t.Errorf("ConfigMapName(loop) = %q", got)
	}
	r := run()
	r.Name, r.Graph.Name = kube.DefaultName(long, now, false), long
	r.Graph.ConfigMap = kube.ConfigMapName(long, digest)
	if _, err := kube.Job(r); err != nil {
		t.Errorf("the Job of a graph named %s: %v", long, err)
	}
	r.Name = kube.DefaultName(long, now, true)
	if _, err := kube.CronJob(r, "@daily", "", ""); err != nil {
		t.Errorf("the CronJob of a graph named %s: %v", long, err)
	}
}

func TestJobErrors(t *testing.T) {
	tests := []struct {
		desc   string
		change func(*kube.Template)
		want   string
	}{
		{"a name that is not a DNS label", func(r *kube.Template) { r.Name = "Loop_1" }, `name "Loop_1"`},
		{"a name too long", func(r *kube.Template) { r.Name = strings.Repeat("a", 64) }, "at most 63"},
		{"no image", func(r *kube.Template) { r.Image = "" }, "no image"},
		{"no store", func(r *kube.Template) { r.Store = "" }, "no store"},
		{"the pod's own store", func(r *kube.Template) { r.Store = "file:///var/graphjob" }, "the pod's own"},
		{"two graph sources", func(r *kube.Template) { r.Graph.URL = "s3://g/x.yaml" }, "one of them"},
		{"an old server", func(r *kube.Template) { r.Server = kube.Version{Major: 1, Minor: 26} }, "1.27 or newer"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			r := run()
			tt.change(&r)
			if _, err := kube.Job(r); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err %v, want %q", err, tt.want)
			}
		})
	}
	r := run()
	r.Name = strings.Repeat("a", 53)
	if _, err := kube.CronJob(r, "@daily", "", ""); err == nil || !strings.Contains(err.Error(), "at most 52") {
		t.Errorf("a CronJob name of 53: %v", err)
	}
	if _, err := kube.CronJob(run(), "@daily", "Mars/Olympus", ""); err == nil || !strings.Contains(err.Error(), "IANA") {
		t.Errorf("a bad time zone: %v", err)
	}
}
