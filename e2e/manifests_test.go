package e2e

import (
	"context"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/graphjob/graphjob/contract"
	"github.com/graphjob/graphjob/e2e/minio"
)

// TestManifests applies manifests/overlays/e2e (kustomize) to the real API
// server: the namespace enforces the restricted standard, the seed's Job
// completes, a Job from its CronJob completes, the submitter's role can
// start runs and cannot read Secrets; the scheduler's Deployment, running as
// its service account, leads with one replica and starts Jobs that the
// admission policy (base/policy.yaml) admits and that complete; and the
// production example passes the server's validation (dry run).
// TestSubmitterPolicy tries what the policy refuses.
func TestManifests(t *testing.T) {
	const ns = "graphjob"
	ctx := t.Context()
	s := minio.StartForTest(t)
	if err := s.CreateBucket(ctx, "runs"); err != nil {
		t.Fatal(err)
	}
	if _, err := cluster.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cluster.client.CoreV1().Namespaces().Delete(context.WithoutCancel(ctx), ns, metav1.DeleteOptions{})
	})
	creds := map[string]string{}
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		creds[k] = v
	}
	if _, err := cluster.client.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "graphjob-store"}, StringData: creds}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The production example, validated by the server before anything is in
	// the namespace (a Job's template cannot change once it exists).
	apply(t, kubectl(t, "kustomize", "../manifests/overlays/example-s3"), "--dry-run=server")
	rendered := kubectl(t, "kustomize", "../manifests/overlays/e2e")
	// The namespace enforces and warns of the restricted standard: neither
	// the Jobs nor the scheduler's Deployment draw a warning.
	if out := apply(t, strings.ReplaceAll(rendered, "MINIO_STORE_URL", s.URL("runs"))); strings.Contains(out, "PodSecurity") {
		t.Errorf("kubectl apply warns:\n%s", out)
	}

	got, err := cluster.client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil || got.Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
		t.Fatalf("namespace %s: %v, labels %v", ns, err, got.Labels)
	}
	waitJob(t, ns, "loop-once", batchv1.JobComplete, time.Minute)
	kubectl(t, "-n", ns, "create", "job", "loop-manual", "--from=cronjob/loop")
	waitJob(t, ns, "loop-manual", batchv1.JobComplete, time.Minute)
	for _, run := range []string{"loop-once", "loop-manual"} {
		show := startAttempt(t, s.Env(), "runs", "show", run, "--store", s.URL("runs"))
		<-show.done
		if show.code != 0 || !strings.Contains(show.stdout.String(), "Status:    succeeded") {
			t.Errorf("runs show %s: exit %d\n%s%s", run, show.code, show.stdout.String(), show.stderr.String())
		}
	}

	// The scheduler as deployed, as its service account: one of its two
	// replicas leads, and its Role is enough for what it does (Jobs every
	// 5 s that complete, the Lease, Events).
	var slots []time.Time
	if err := wait.PollUntilContextTimeout(ctx, time.Second, 90*time.Second, true, func(context.Context) (bool, error) {
		slots, _ = slotJobs(t, ns, "loop-every-5s")
		return len(slots) >= 3, nil
	}); err != nil {
		t.Errorf("the scheduler's Deployment made %d Jobs in 90 s, want 3 or more", len(slots))
	} else {
		waitJob(t, ns, contract.Slot{Schedule: "loop-every-5s", Time: slots[0]}.RunID(), batchv1.JobComplete, time.Minute)
	}
	pods, err := cluster.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=graphjob-scheduler"})
	if err != nil {
		t.Fatal(err)
	}
	leader := leaseHolder(t, ns, "graphjob-scheduler")
	var names []string
	for _, p := range pods.Items {
		names = append(names, p.Name)
		logs := kubectl(t, "-n", ns, "logs", p.Name)
		for line := range strings.Lines(logs) {
			// Two replicas starting at once both try to create the Lease,
			// or to update it; client-go logs the one that loses as an
			// error. Both outcomes are right: one leads, the other waits.
			if strings.Contains(line, "Error initially creating lease lock") && strings.Contains(line, "already exists") ||
				strings.Contains(line, "Failed to update lock") && strings.Contains(line, "the object has been modified") {
				continue
			}
			if strings.Contains(line, "forbidden") || strings.Contains(line, `"level":"error"`) {
				t.Errorf("scheduler pod %s logged an error: %s\n%s", p.Name, line, logs)
			}
		}
	}
	if len(names) != 2 || !slices.Contains(names, leader) {
		t.Errorf("scheduler pods %v, the Lease held by %q: want two, one leading", names, leader)
	}

	submitter := "--as=system:serviceaccount:graphjob:graphjob-submitter"
	for _, tt := range []struct{ verb, resource, want string }{
		{"create", "jobs.batch", "yes"}, {"create", "configmaps", "yes"}, {"get", "pods/log", "yes"},
		{"get", "secrets", "no"}, {"delete", "jobs.batch", "no"}, {"create", "pods", "no"},
	} {
		out, _ := exec.CommandContext(ctx, cluster.cp.Kubectl, "--kubeconfig", cluster.cp.Kubeconfig, "-n", ns, "auth", "can-i", tt.verb, tt.resource, submitter).Output()
		if got := strings.TrimSpace(string(out)); got != tt.want {
			t.Errorf("the submitter can %s %s: %q, want %q", tt.verb, tt.resource, got, tt.want)
		}
	}
	scheduler := "--as=system:serviceaccount:graphjob:graphjob-scheduler"
	for _, tt := range []struct{ verb, resource, want string }{
		{"create", "jobs.batch", "yes"}, {"delete", "jobs.batch", "yes"}, {"get", "configmaps", "yes"},
		{"create", "events.events.k8s.io", "yes"}, {"update", "leases.coordination.k8s.io/graphjob-scheduler", "yes"},
		{"update", "leases.coordination.k8s.io/other", "no"}, {"get", "secrets", "no"}, {"create", "pods", "no"},
		{"create", "configmaps", "no"},
	} {
		out, _ := exec.CommandContext(ctx, cluster.cp.Kubectl, "--kubeconfig", cluster.cp.Kubeconfig, "-n", ns, "auth", "can-i", tt.verb, tt.resource, scheduler).Output()
		if got := strings.TrimSpace(string(out)); got != tt.want {
			t.Errorf("the scheduler can %s %s: %q, want %q", tt.verb, tt.resource, got, tt.want)
		}
	}
}

// apply runs kubectl apply -f - on YAML, and returns what it printed.
func apply(t *testing.T, yaml string, flags ...string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), cluster.cp.Kubectl, append([]string{"--kubeconfig", cluster.cp.Kubeconfig, "apply", "-f", "-"}, flags...)...)
	cmd.Stdin = strings.NewReader(yaml)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl apply %v: %v\n%s", flags, err, out)
	}
	return string(out)
}
