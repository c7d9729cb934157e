package e2e

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// TestPodEnvironment checks what the process kubelet gives a container: env
// from every source, volumes at their absolute mountPaths, the pod's hostname,
// a non-root user and a read-only root filesystem.
func TestPodEnvironment(t *testing.T) {
	ns := namespace(t, nil)
	ctx := t.Context()
	if _, err := cluster.client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "cfg"}, Data: map[string]string{"greeting": "hello"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cluster.client.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "creds"}, Data: map[string][]byte{"password": []byte("s3cret")},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	nonRoot, readOnly := int64(65532), true
	mounts := []corev1.VolumeMount{
		{Name: "cfg", MountPath: "/etc/graphjob-e2e/config"},
		{Name: "creds", MountPath: "/etc/graphjob-e2e/secret", ReadOnly: true},
		{Name: "info", MountPath: "/etc/graphjob-e2e/info"},
		{Name: "scratch", MountPath: "/tmp"},
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "env", Labels: map[string]string{"app": "e2e"}},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Hostname:      "worker-7",
			Volumes: []corev1.Volume{
				{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
				{Name: "creds", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "creds"}}},
				{Name: "info", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
					{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
				}}}},
				{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			},
			Containers: []corev1.Container{
				{
					Name: "nonroot", Image: shellImage, VolumeMounts: mounts,
					SecurityContext: &corev1.SecurityContext{RunAsUser: &nonRoot, RunAsGroup: &nonRoot},
					Command:         []string{"sh", "-c", `echo "uid=$(id -u) gid=$(id -g) host=$(cat /proc/sys/kernel/hostname)"; cat /etc/graphjob-e2e/config/greeting /etc/graphjob-e2e/secret/password /etc/graphjob-e2e/info/labels; echo; echo "$GREETING $PASSWORD $POD_NAME $APP $CFG_greeting $REF"; touch /tmp/nonroot && echo tmp-writable`},
					EnvFrom:         []corev1.EnvFromSource{{Prefix: "CFG_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
					Env: []corev1.EnvVar{
						{Name: "GREETING", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "greeting"}}},
						{Name: "PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}, Key: "password"}}},
						{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
						{Name: "APP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['app']"}}},
						{Name: "REF", Value: "$(GREETING)-$(MISSING)-$$(GREETING)"}, // $(VAR) expansion, as Kubernetes does
					},
				},
				{
					Name: "readonly", Image: shellImage, VolumeMounts: mounts,
					SecurityContext: &corev1.SecurityContext{ReadOnlyRootFilesystem: &readOnly},
					Command:         []string{"sh", "-c", `touch /graphjob-e2e-root 2>/dev/null && echo root-writable || echo root-read-only; touch /tmp/root && echo tmp-writable`},
				},
			},
		},
	}
	if _, err := cluster.client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	done := waitPod(t, ns, "env", func(p *corev1.Pod) bool {
		return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
	})
	if done.Status.Phase != corev1.PodSucceeded {
		t.Errorf("phase %s, want Succeeded", done.Status.Phase)
	}
	want := "uid=65532 gid=65532 host=worker-7\nhellos3cretapp=\"e2e\"\n\nhello s3cret env e2e hello hello-$(MISSING)-$(GREETING)\ntmp-writable\n"
	if got := podLog(t, done, "nonroot"); got != want {
		t.Errorf("nonroot log:\n%s\nwant:\n%s", got, want)
	}
	if got := podLog(t, done, "readonly"); got != "root-read-only\ntmp-writable\n" {
		t.Errorf("readonly log %q", got)
	}
}

func TestIndexedJobGetsItsCompletionIndex(t *testing.T) {
	ns := namespace(t, nil)
	job := shellJob(ns, "indexed", "echo index=$JOB_COMPLETION_INDEX", 0)
	mode, two := batchv1.IndexedCompletion, int32(2)
	job.Spec.CompletionMode, job.Spec.Completions, job.Spec.Parallelism = &mode, &two, &two
	if _, err := cluster.client.BatchV1().Jobs(ns).Create(t.Context(), job, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitJob(t, ns, "indexed", batchv1.JobComplete, time.Minute)
	var logs []string
	for _, p := range jobPods(t, ns, "indexed") {
		logs = append(logs, strings.TrimSpace(podLog(t, &p, "main")))
	}
	slices.Sort(logs)
	if !slices.Equal(logs, []string{"index=0", "index=1"}) {
		t.Errorf("logs %q, want index=0 and index=1", logs)
	}
}

// TestEvictionMarksTheDisruption evicts a running pod through the Eviction
// API: the pod sees SIGTERM, carries the DisruptionTarget condition the API
// server adds, and is removed.
func TestEvictionMarksTheDisruption(t *testing.T) {
	ns := namespace(t, nil)
	grace := int64(30)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "evicted"},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever, TerminationGracePeriodSeconds: &grace,
			Containers: []corev1.Container{{Name: "main", Image: shellImage,
				Command: []string{"sh", "-c", "trap 'echo got TERM; sleep 1; exit 143' TERM; echo started; sleep 300 & wait"}}},
		},
	}
	pods := cluster.client.CoreV1().Pods(ns)
	created, err := pods.Create(t.Context(), pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitPod(t, ns, "evicted", func(p *corev1.Pod) bool {
		return p.Status.Phase == corev1.PodRunning && strings.Contains(podLog(t, p, "main"), "started")
	})
	eviction := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: "evicted", Namespace: ns}}
	if err := pods.EvictV1(t.Context(), eviction); err != nil {
		t.Fatal(err)
	}
	// While it drains, the pod carries the condition a podFailurePolicy can match.
	terminating := waitPod(t, ns, "evicted", func(p *corev1.Pod) bool { return p.DeletionTimestamp != nil })
	if !hasCondition(terminating, corev1.DisruptionTarget) {
		t.Errorf("conditions %+v lack DisruptionTarget", terminating.Status.Conditions)
	}
	waitGone(t, ns, "evicted")
	if got := podLog(t, created, "main"); got != "started\ngot TERM\n" {
		t.Errorf("log %q", got)
	}
}

func hasCondition(p *corev1.Pod, t corev1.PodConditionType) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == t && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func waitGone(t *testing.T, ns, name string) {
	t.Helper()
	err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := cluster.client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		t.Fatalf("pod %s/%s not removed: %v", ns, name, err)
	}
}

// TestRestartOnFailure runs a container that fails once, then succeeds: the
// kubelet restarts it in place.
func TestRestartOnFailure(t *testing.T) {
	ns := namespace(t, nil)
	state := t.TempDir()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "retry"},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyOnFailure,
			Volumes:       []corev1.Volume{{Name: "state", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: state}}}},
			Containers: []corev1.Container{{Name: "main", Image: shellImage,
				VolumeMounts: []corev1.VolumeMount{{Name: "state", MountPath: "/state"}},
				Command:      []string{"sh", "-c", "if [ -e /state/ran ]; then echo second; exit 0; fi; touch /state/ran; echo first; exit 3"}}},
		},
	}
	if _, err := cluster.client.CoreV1().Pods(ns).Create(t.Context(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	done := waitPod(t, ns, "retry", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
	if cs := done.Status.ContainerStatuses; len(cs) != 1 || cs[0].RestartCount != 1 {
		t.Errorf("container statuses %+v, want one restart", cs)
	}
	if got := podLog(t, done, "main"); got != "first\nsecond\n" {
		t.Errorf("log %q", got)
	}
	if got := kubectl(t, "-n", ns, "logs", "retry", "--tail=1"); got != "second\n" {
		t.Errorf("kubectl logs --tail=1: %q", got)
	}
}

// TestManyPodsAtOnce runs a Job of 20 pods in parallel.
func TestManyPodsAtOnce(t *testing.T) {
	ns := namespace(t, nil)
	job := shellJob(ns, "wide", "sleep 1; echo done", 0)
	n := int32(20)
	job.Spec.Completions, job.Spec.Parallelism = &n, &n
	if _, err := cluster.client.BatchV1().Jobs(ns).Create(t.Context(), job, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	got := waitJob(t, ns, "wide", batchv1.JobComplete, 2*time.Minute)
	if got.Status.Succeeded != n {
		t.Errorf("%d pods succeeded, want %d", got.Status.Succeeded, n)
	}
}
