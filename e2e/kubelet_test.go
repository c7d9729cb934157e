package e2e

import (
	"slices"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
