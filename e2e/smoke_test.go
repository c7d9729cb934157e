package e2e

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// kubectl runs the kubectl built with the control plane and returns its
// output.
func kubectl(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), cluster.cp.Kubectl, append([]string{"--kubeconfig", cluster.cp.Kubeconfig}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// waitJob waits until the Job has a condition of the type set to True.
func waitJob(t *testing.T, ns, name string, cond batchv1.JobConditionType, timeout time.Duration) *batchv1.Job {
	t.Helper()
	var job *batchv1.Job
	err := wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		var err error
		if job, err = cluster.client.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{}); err != nil {
			return false, nil
		}
		for _, c := range job.Status.Conditions {
			if c.Type == cond && c.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("job %s/%s never had condition %s: %v\nstatus: %+v", ns, name, cond, err, job)
	}
	return job
}

func jobPods(t *testing.T, ns, job string) []corev1.Pod {
	t.Helper()
	pods, err := cluster.client.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=" + job})
	if err != nil {
		t.Fatal(err)
	}
	return pods.Items
}

func shellJob(ns, name, script string, backoffLimit int32) *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: batchv1.JobSpec{
			BackoffLimit: &backoffLimit,
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				Containers:    []corev1.Container{{Name: "main", Image: shellImage, Command: []string{"sh", "-c", script}}},
			}},
		},
	}
}

func TestKubectlCreateJobCompletes(t *testing.T) {
	ns := namespace(t, nil)
	kubectl(t, "-n", ns, "create", "job", "hello", "--image="+shellImage, "--", "sh", "-c", "echo hello from $HOSTNAME")
	waitJob(t, ns, "hello", batchv1.JobComplete, time.Minute)
	pods := jobPods(t, ns, "hello")
	if len(pods) != 1 {
		t.Fatalf("%d pods, want 1", len(pods))
	}
	want := "hello from " + pods[0].Name + "\n"
	if got := podLog(t, &pods[0], "hello"); got != want {
		t.Errorf("log %q, want %q", got, want)
	}
	// The same through the API server and the kubelet's log endpoint.
	if got := kubectl(t, "-n", ns, "logs", "job/hello"); got != want {
		t.Errorf("kubectl logs: %q, want %q", got, want)
	}
	if cs := pods[0].Status.ContainerStatuses; len(cs) != 1 || cs[0].State.Terminated == nil || cs[0].State.Terminated.ExitCode != 0 {
		t.Errorf("container status %+v, want terminated with 0", cs)
	}
}

func TestPodFailurePolicyFailsTheJob(t *testing.T) {
	ns := namespace(t, nil)
	job := shellJob(ns, "fail42", "exit 42", 5)
	job.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
		Action:      batchv1.PodFailurePolicyActionFailJob,
		OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{42}},
	}}}
	if _, err := cluster.client.BatchV1().Jobs(ns).Create(t.Context(), job, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	got := waitJob(t, ns, "fail42", batchv1.JobFailed, time.Minute)
	if reason := failedReason(got); reason != batchv1.JobReasonPodFailurePolicy {
		t.Errorf("failure reason %q, want %s", reason, batchv1.JobReasonPodFailurePolicy)
	}
	if pods := jobPods(t, ns, "fail42"); len(pods) != 1 {
		t.Errorf("%d pods, want 1: FailJob must not retry", len(pods))
	}
}

func TestBackoffLimitRetries(t *testing.T) {
	ns := namespace(t, nil)
	if _, err := cluster.client.BatchV1().Jobs(ns).Create(t.Context(), shellJob(ns, "flaky", "exit 1", 2), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	got := waitJob(t, ns, "flaky", batchv1.JobFailed, 2*time.Minute)
	if reason := failedReason(got); reason != batchv1.JobReasonBackoffLimitExceeded {
		t.Errorf("failure reason %q, want %s", reason, batchv1.JobReasonBackoffLimitExceeded)
	}
	if pods := jobPods(t, ns, "flaky"); len(pods) != 3 {
		t.Errorf("%d pods, want 3 (the first and backoffLimit 2 retries)", len(pods))
	}
}

func failedReason(job *batchv1.Job) string {
	for _, c := range job.Status.Conditions {
		if c.Type == batchv1.JobFailed {
			return c.Reason
		}
	}
	return ""
}

func TestDeletionSendsSIGTERMAndHonoursGrace(t *testing.T) {
	ns := namespace(t, nil)
	tests := []struct {
		desc   string
		script string
		grace  int64
		minGap time.Duration
		log    string
	}{
		{"a process that exits on SIGTERM", "trap 'echo got TERM; exit 0' TERM; echo started; sleep 300 & wait", 30, 0, "started\ngot TERM\n"},
		{"a process that ignores SIGTERM is killed after the grace period", "trap 'echo ignoring TERM' TERM; echo started; while true; do sleep 0.1; done", 3, 3 * time.Second, "started\nignoring TERM\n"},
	}
	for i, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: "term-" + string(rune('a'+i)), Namespace: ns},
				Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever, TerminationGracePeriodSeconds: &tt.grace,
					Containers: []corev1.Container{{Name: "main", Image: shellImage, Command: []string{"sh", "-c", tt.script}}},
				},
			}
			pods := cluster.client.CoreV1().Pods(ns)
			created, err := pods.Create(t.Context(), pod, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			waitPod(t, ns, pod.Name, func(p *corev1.Pod) bool {
				return p.Status.Phase == corev1.PodRunning && strings.Contains(podLog(t, p, "main"), "started")
			})
			deleted := time.Now()
			if err := pods.Delete(t.Context(), pod.Name, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			waitGone(t, ns, pod.Name)
			if gap := time.Since(deleted); gap < tt.minGap {
				t.Errorf("removed after %s, before the grace period of %s", gap, tt.minGap)
			}
			if got := podLog(t, created, "main"); got != tt.log {
				t.Errorf("log %q, want %q", got, tt.log)
			}
		})
	}
}

func waitPod(t *testing.T, ns, name string, ok func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		var err error
		if pod, err = cluster.client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{}); err != nil {
			return false, nil
		}
		return ok(pod), nil
	})
	if err != nil {
		t.Fatalf("pod %s/%s: %v; last seen %+v", ns, name, err, pod)
	}
	return pod
}

func TestCronJobCreatesAJobThatCompletes(t *testing.T) {
	ns := namespace(t, nil)
	kubectl(t, "-n", ns, "create", "cronjob", "tick", "--image="+shellImage, "--schedule=* * * * *", "--", "sh", "-c", "echo tick")
	var jobs *batchv1.JobList
	err := wait.PollUntilContextTimeout(t.Context(), time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		var err error
		jobs, err = cluster.client.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{})
		return err == nil && len(jobs.Items) > 0, nil
	})
	if err != nil {
		t.Fatalf("the CronJob created no Job: %v", err)
	}
	waitJob(t, ns, jobs.Items[0].Name, batchv1.JobComplete, time.Minute)
}

func TestRestrictedNamespaceRefusesNonCompliantPods(t *testing.T) {
	ns := namespace(t, map[string]string{"pod-security.kubernetes.io/enforce": "restricted"})
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "lax"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: shellImage, Command: []string{"true"}}}},
	}
	_, err := cluster.client.CoreV1().Pods(ns).Create(t.Context(), pod, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `violates PodSecurity "restricted:latest"`) {
		t.Fatalf("err = %v, want a PodSecurity refusal", err)
	}
}
