package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/graphjob/graphjob/e2e/minio"
)

// jobEnv is a namespace that enforces the restricted Pod Security Standard,
// a MinIO bucket for the runs, and the Secret holding its credentials.
type jobEnv struct {
	ns, store string
	storeEnv  []string
}

func newJobEnv(t *testing.T) jobEnv {
	t.Helper()
	e := jobEnv{ns: namespace(t, map[string]string{"pod-security.kubernetes.io/enforce": "restricted"})}
	s := minio.StartForTest(t)
	if err := s.CreateBucket(t.Context(), "runs"); err != nil {
		t.Fatal(err)
	}
	e.store, e.storeEnv = s.URL("runs"), s.Env()
	data := map[string]string{}
	for _, kv := range e.storeEnv {
		k, v, _ := strings.Cut(kv, "=")
		data[k] = v
	}
	if _, err := cluster.client.CoreV1().Secrets(e.ns).Create(t.Context(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "store"}, StringData: data,
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return e
}

// graphjob runs the graphjob binary with the store's credentials.
func (e jobEnv) graphjob(t *testing.T, args ...string) *attempt {
	t.Helper()
	a := startAttempt(t, e.storeEnv, args...)
	<-a.done
	return a
}

// submit submits a graph file as Job name, with the pod's environment env.
func (e jobEnv) submit(t *testing.T, file, name string, extra ...string) *attempt {
	t.Helper()
	args := []string{"submit", file, "--name", name, "-n", e.ns, "--kubeconfig", cluster.cp.Kubeconfig,
		"--image", graphjobImage, "--store", e.store, "--store-secret", "store"}
	return e.graphjob(t, append(args, extra...)...)
}

// TestSubmit submits the seed loop: --dry-run creates nothing; --wait
// follows the run to its end and prints its final state; the run's record
// names its Job and pod.
func TestSubmit(t *testing.T) {
	e := newJobEnv(t)
	dry := e.submit(t, "../examples/loop/graph.yaml", "loop-dry", "--dry-run")
	if dry.code != 0 || !strings.Contains(dry.stdout.String(), "kind: Job") {
		t.Fatalf("--dry-run: exit %d\n%s\n%s", dry.code, dry.stdout.String(), dry.stderr.String())
	}
	if jobs, err := cluster.client.BatchV1().Jobs(e.ns).List(t.Context(), metav1.ListOptions{}); err != nil || len(jobs.Items) != 0 {
		t.Fatalf("--dry-run created %d Jobs (%v)", len(jobs.Items), err)
	}
	a := e.submit(t, "../examples/loop/graph.yaml", "loop-e2e", "--wait")
	if a.code != 0 || !strings.Contains(a.stdout.String(), `{"done":true,"step":5}`) {
		t.Fatalf("submit --wait: exit %d\n%s\n%s", a.code, a.stdout.String(), a.stderr.String())
	}
	waitJob(t, e.ns, "loop-e2e", batchv1.JobComplete, time.Minute)
	show := e.graphjob(t, "runs", "show", "loop-e2e", "--store", e.store)
	pods := jobPods(t, e.ns, "loop-e2e")
	if show.code != 0 || len(pods) != 1 || !strings.Contains(show.stdout.String(), "Status:    succeeded") || !strings.Contains(show.stdout.String(), "pod="+pods[0].Name) {
		t.Fatalf("runs show: exit %d\n%s\n%s", show.code, show.stdout.String(), show.stderr.String())
	}
	again := e.submit(t, "../examples/loop/graph.yaml", "loop-e2e")
	if again.code != 2 || !strings.Contains(again.stderr.String(), "give another --name") {
		t.Fatalf("the same run again: exit %d\n%s", again.code, again.stderr.String())
	}
}

// podkill submits testdata/podkill.yaml as Job name.
func (e jobEnv) podkill(t *testing.T, name string, extra ...string) {
	t.Helper()
	if a := e.submit(t, "testdata/podkill.yaml", name, extra...); a.code != 0 {
		t.Fatalf("submit: exit %d\n%s", a.code, a.stderr.String())
	}
}

// podSideEffects counts the "sidefx STEP" lines the job's pods logged, and
// those in logs of pods that are gone.
func podSideEffects(t *testing.T, ns, job string, goneLogs []string) map[int]int {
	t.Helper()
	count := map[int]int{}
	logs := goneLogs
	for _, p := range jobPods(t, ns, job) {
		logs = append(logs, podLog(t, &p, p.Spec.Containers[0].Name))
	}
	for _, log := range logs {
		for line := range strings.Lines(log) {
			var step int
			if i := strings.Index(line, `"stderr":"sidefx `); i >= 0 {
				if _, err := fmt.Sscanf(line[i+len(`"stderr":"sidefx `):], "%d", &step); err == nil {
					count[step]++
				}
			}
		}
	}
	return count
}

// checkOnce checks that steps 1-8 ran once each, and step 4 (in flight when
// the pod stopped) twice, counting the logs of pods that are gone too.
func checkOnce(t *testing.T, ns, job string, goneLogs ...string) {
	t.Helper()
	count := podSideEffects(t, ns, job, goneLogs)
	for step := 1; step <= 8; step++ {
		want := 1
		if step == 4 {
			want = 2
		}
		if count[step] != want {
			t.Errorf("step %d ran %d times, want %d (side effects %v)", step, count[step], want, count)
		}
	}
}

// waitStep4 waits for the first pod of a podkill Job to be at step 4, and
// returns it with what it logged.
func waitStep4(t *testing.T, ns, job string) (corev1.Pod, string) {
	t.Helper()
	var (
		pod corev1.Pod
		log string
	)
	err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		pods := jobPods(t, ns, job)
		if len(pods) == 0 {
			return false, nil
		}
		pod = pods[0]
		var err error
		log, err = cluster.kubelet.Log(&pod, pod.Spec.Containers[0].Name)
		return err == nil && strings.Contains(log, `"stderr":"sidefx 4"`), nil
	})
	if err != nil {
		t.Fatalf("job %s never reached step 4: %v", job, err)
	}
	return pod, log
}

// exitCodes lists the exit codes of the Job's pods, oldest first.
func exitCodes(t *testing.T, ns, job string) []int32 {
	t.Helper()
	pods := jobPods(t, ns, job)
	slices.SortFunc(pods, func(a, b corev1.Pod) int { return a.CreationTimestamp.Compare(b.CreationTimestamp.Time) })
	var codes []int32
	for _, p := range pods {
		for _, c := range p.Status.ContainerStatuses {
			if c.State.Terminated != nil {
				codes = append(codes, c.State.Terminated.ExitCode)
			}
		}
	}
	return codes
}

// TestKilledPodResumes: the run's process is SIGKILLed mid-run; the Job
// controller makes a new pod, which resumes: committed steps do not run
// again.
func TestKilledPodResumes(t *testing.T) {
	e := newJobEnv(t)
	e.podkill(t, "killed", "--env", "SIG=KILL")
	waitJob(t, e.ns, "killed", batchv1.JobComplete, 2*time.Minute)
	checkOnce(t, e.ns, "killed")
	if codes := exitCodes(t, e.ns, "killed"); len(codes) != 2 || codes[1] != 0 {
		t.Errorf("pods exited %v, want a killed one then 0", codes)
	}
}

// TestDeletedPodDrains deletes a run's pod mid-run: graphjob gets SIGTERM,
// drains and exits 75, which does not count against backoffLimit (0 here);
// the replacement resumes.
func TestDeletedPodDrains(t *testing.T) {
	e := newJobEnv(t)
	// Followed by submit --wait, which Ctrl-C stops; the run goes on.
	follow := startAttempt(t, e.storeEnv, "submit", "testdata/podkill.yaml", "--name", "deleted", "-n", e.ns, "--kubeconfig", cluster.cp.Kubeconfig,
		"--image", graphjobImage, "--store", e.store, "--store-secret", "store", "--backoff-limit", "0", "--wait")
	pod, log := waitStep4(t, e.ns, "deleted")
	follow.signal(t, syscall.SIGINT)
	if !follow.wait(10*time.Second) || follow.code != 0 || !strings.Contains(follow.stderr.String(), "stopped following; the run goes on") {
		t.Fatalf("submit --wait after Ctrl-C: exit %d\n%s", follow.code, follow.stderr.String())
	}
	if job, err := cluster.client.BatchV1().Jobs(e.ns).Get(t.Context(), "deleted", metav1.GetOptions{}); err != nil || job.Status.Active != 1 {
		t.Fatalf("after Ctrl-C the Job has %d active pods (%v), want its run going on", job.Status.Active, err)
	}
	if err := cluster.client.CoreV1().Pods(e.ns).Delete(t.Context(), pod.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitJob(t, e.ns, "deleted", batchv1.JobComplete, 2*time.Minute)
	checkOnce(t, e.ns, "deleted", log)
}

// TestEvictedPodResumes evicts a run's pod: it is marked DisruptionTarget,
// which the Job ignores; the replacement resumes.
func TestEvictedPodResumes(t *testing.T) {
	e := newJobEnv(t)
	e.podkill(t, "evicted", "--backoff-limit", "0")
	pod, log := waitStep4(t, e.ns, "evicted")
	if err := cluster.client.PolicyV1().Evictions(e.ns).Evict(t.Context(), &policyv1.Eviction{
		ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: e.ns},
	}); err != nil {
		t.Fatal(err)
	}
	waitJob(t, e.ns, "evicted", batchv1.JobComplete, 2*time.Minute)
	checkOnce(t, e.ns, "evicted", log)
}

// TestFailedRunFailsTheJob: a node that fails for good makes the run exit 3,
// which fails the Job at once (PodFailurePolicy), with no further pod; submit
// --wait exits 3 too.
func TestFailedRunFailsTheJob(t *testing.T) {
	e := newJobEnv(t)
	a := e.submit(t, "testdata/fails.yaml", "fails", "--wait")
	if a.code != 3 || !strings.Contains(a.stderr.String(), "the input is bad") {
		t.Fatalf("submit --wait: exit %d, want 3\n%s", a.code, a.stderr.String())
	}
	job := waitJob(t, e.ns, "fails", batchv1.JobFailed, time.Minute)
	if reason := failedReason(job); reason != batchv1.JobReasonPodFailurePolicy {
		t.Errorf("the Job failed with %q, want %s", reason, batchv1.JobReasonPodFailurePolicy)
	}
	if codes := exitCodes(t, e.ns, "fails"); !slices.Equal(codes, []int32{3}) {
		t.Errorf("pods exited %v, want one with 3", codes)
	}
}

// TestCronJobAndKubectl: a CronJob from graphjob render fires and its Job
// completes; kubectl create job --from=cronjob/... starts a run of it at
// once; and a plain kubectl create job running graphjob run (no ConfigMap,
// no labels, no env: the graph and the store are given as arguments) has a
// pod that is killed mid-run, and its next pod resumes the run named after
// the Job, found from the pod's hostname.
func TestCronJobAndKubectl(t *testing.T) {
	e := newJobEnv(t)
	render := e.graphjob(t, "render", "cronjob", "../examples/loop/graph.yaml", "--name", "loop", "--schedule", "* * * * *", "-n", e.ns,
		"--image", graphjobImage, "--store", e.store, "--store-secret", "store")
	if render.code != 0 {
		t.Fatalf("render: exit %d\n%s", render.code, render.stderr.String())
	}
	apply(t, render.stdout.String())
	kubectl(t, "-n", e.ns, "create", "job", "loop-now", "--from=cronjob/loop")
	waitJob(t, e.ns, "loop-now", batchv1.JobComplete, time.Minute)
	var scheduled string
	err := wait.PollUntilContextTimeout(t.Context(), time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		jobs, err := cluster.client.BatchV1().Jobs(e.ns).List(ctx, metav1.ListOptions{})
		for _, j := range jobs.Items {
			if j.Name != "loop-now" {
				scheduled = j.Name
			}
		}
		return err == nil && scheduled != "", nil
	})
	if err != nil {
		t.Fatalf("the CronJob created no Job: %v", err)
	}
	waitJob(t, e.ns, scheduled, batchv1.JobComplete, time.Minute)
	for _, run := range []string{"loop-now", scheduled} {
		if show := e.graphjob(t, "runs", "show", run, "--store", e.store); show.code != 0 || !strings.Contains(show.stdout.String(), "Status:    succeeded") {
			t.Errorf("runs show %s: exit %d\n%s%s", run, show.code, show.stdout.String(), show.stderr.String())
		}
	}

	// A plain Job: its pods run as root, so not in the restricted namespace.
	ns := namespace(t, nil)
	dir := sharedDir(t)
	graph, err := filepath.Abs("testdata/podkill.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// The signal reaches the pod through the graph: kubectl create job sets
	// no environment.
	data, err := os.ReadFile(graph)
	if err != nil {
		t.Fatal(err)
	}
	graph = filepath.Join(dir, "podkill.yaml")
	if err := os.WriteFile(graph, []byte(strings.ReplaceAll(string(data), `"$SIG"`, "KILL")), 0o644); err != nil {
		t.Fatal(err)
	}
	kubectl(t, "-n", ns, "create", "job", "plain", "--image="+graphjobImage, "--", "graphjob", "run", graph, "--store", "file://"+dir+"/store")
	waitJob(t, ns, "plain", batchv1.JobComplete, 2*time.Minute)
	checkOnce(t, ns, "plain")
	show := e.graphjob(t, "runs", "show", "plain", "--store", "file://"+dir+"/store")
	if show.code != 0 || !strings.Contains(show.stdout.String(), "Attempts:  2") {
		t.Errorf("runs show plain: exit %d\n%s%s", show.code, show.stdout.String(), show.stderr.String())
	}
}

// sharedDir returns a directory under hostDir that pods can write to.
func sharedDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp(hostDir, "graphjob-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	return dir
}
