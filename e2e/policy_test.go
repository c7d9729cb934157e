package e2e

import (
	"context"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/graphjob/graphjob/e2e/minio"
	"github.com/graphjob/graphjob/kube"
)

// TestSubmitterPolicy applies manifests/overlays/e2e in a namespace of its
// own (less the scheduler's Deployment and the seed's runs) and acts as its
// submitter. The API server refuses, with the policy's message, a Job that
// runs as graphjob-scheduler, Jobs that read or mount a Secret other than
// the store's, a plain kubectl Job (its token would be mounted), and writes
// to ConfigMaps other than graphs' (the scheduler's). It admits the Jobs of
// graphjob render and graphjob submit, the latter for a graph whose name has
// 63 characters, and a Job the scheduler's account makes as the scheduler
// does; they complete. The NetworkPolicies select the pods of every Job,
// plain kubectl ones too, and keep them off the API server, not the
// scheduler.
func TestSubmitterPolicy(t *testing.T) {
	ctx := t.Context()
	s := minio.StartForTest(t)
	if err := s.CreateBucket(ctx, "runs"); err != nil {
		t.Fatal(err)
	}
	store := s.URL("runs")
	ns := namespace(t, nil)
	creds := map[string]string{}
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		creds[k] = v
	}
	for name, data := range map[string]map[string]string{"graphjob-store": creds, "foreign": {"TOKEN": "not the runs'"}} {
		if _, err := cluster.client.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name}, StringData: data}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	apply(t, strings.ReplaceAll(kustomizeIn(t, ns), "MINIO_STORE_URL", store))

	submitter := "system:serviceaccount:" + ns + ":graphjob-submitter"
	render := func(t *testing.T, name string, flags ...string) string {
		t.Helper()
		out, err := exec.CommandContext(ctx, binPath, append([]string{"render", "job", "../examples/loop/graph.yaml", "-n", ns, "--name", name,
			"--image", graphjobImage, "--store", store}, flags...)...).Output()
		if err != nil {
			t.Fatalf("graphjob render job %s: %v", name, err)
		}
		return string(out)
	}
	run := kube.Template{
		Namespace: ns, Image: graphjobImage, Store: store, StoreSecret: "graphjob-store", ServiceAccount: "graphjob-run",
		Graph: kube.Graph{Name: "loop", Digest: loopDigest, ConfigMap: kube.ConfigMapName("loop", loopDigest)},
	}
	// jobYAML is a Job as kube.Job builds it from run, with changes.
	jobYAML := func(t *testing.T, name string, template func(*kube.Template), pod func(*corev1.PodSpec)) string {
		t.Helper()
		r := run
		r.Name = name
		template(&r)
		job, err := kube.Job(r)
		if err != nil {
			t.Fatal(err)
		}
		pod(&job.Spec.Template.Spec)
		out, err := kube.YAML(job)
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}

	// The policies take effect a moment after they are made: until the
	// server refuses a dry run of the first Job below.
	policy := "ValidatingAdmissionPolicy 'graphjob-jobs' with binding 'graphjob-jobs' denied request: "
	asScheduler := render(t, "as-scheduler", "--service-account", "graphjob-scheduler")
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		out, _ := kubectlAs(t, submitter, asScheduler, "apply", "--dry-run=server", "-f", "-")
		return strings.Contains(out, policy), nil
	}); err != nil {
		t.Fatal("the policy graphjob-jobs refuses nothing after 30 s")
	}

	for _, tt := range []struct{ desc, yaml, want string }{
		{"a Job that runs as the scheduler", asScheduler,
			"graphjob's runs run as service account graphjob-run or default, not graphjob-scheduler"},
		{"a Job with a foreign Secret as its store's", render(t, "foreign-store", "--store-secret", "foreign"),
			"graphjob's runs read the Secrets graphjob-store alone (list others in the policy graphjob-jobs), not foreign"},
		{"a Job with a foreign Secret's key", render(t, "foreign-key", "--store-secret", "graphjob-store", "--env", "TOKEN=secret:foreign/TOKEN"),
			"graphjob's runs read the Secrets graphjob-store alone (list others in the policy graphjob-jobs), not foreign"},
		{"a Job that mounts a foreign Secret", jobYAML(t, "foreign-volume", func(*kube.Template) {}, func(pod *corev1.PodSpec) {
			pod.Volumes = append(pod.Volumes, corev1.Volume{Name: "foreign", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "foreign"}}})
			pod.Containers[0].VolumeMounts = append(pod.Containers[0].VolumeMounts, corev1.VolumeMount{Name: "foreign", MountPath: "/var/run/foreign"})
		}), "graphjob's runs mount an emptyDir and their graph's ConfigMap, nothing else: no Secret, projected or host volume"},
		{"a Job with another image", jobYAML(t, "other-image", func(r *kube.Template) { r.Image = shellImage }, func(*corev1.PodSpec) {}),
			"graphjob's runs use the image e2e/graphjob, not " + shellImage},
	} {
		out, err := kubectlAs(t, submitter, tt.yaml, "apply", "-f", "-")
		if err == nil || !strings.Contains(out, policy+tt.want) {
			t.Errorf("%s: kubectl apply as the submitter: %v\n%s\nwant %q", tt.desc, err, out, policy+tt.want)
		}
		t.Logf("%s: %s", tt.desc, lastLine(out))
	}
	for _, tt := range []struct {
		desc string
		args []string
		want string
	}{
		{"a plain kubectl Job", []string{"create", "job", "plain", "--image", graphjobImage, "--", "/graphjob", "run", "s3://graphs/loop.yaml", "--store", store},
			policy + "graphjob's runs do not mount a service-account token: set automountServiceAccountToken: false"},
		{"a patch of the scheduler's ConfigMap", []string{"patch", "configmap", "graphjob-scheduler", "--type=merge", "-p", `{"data":{"scheduler.yaml":"{}"}}`},
			"ValidatingAdmissionPolicy 'graphjob-configmaps' with binding 'graphjob-configmaps' denied request: " +
				"a submitter writes graph ConfigMaps alone (graph-NAME-DIGEST, labelled graphjob.dev/graph, immutable, holding graph.yaml), not graphjob-scheduler"},
		{"a ConfigMap that holds no graph", []string{"create", "configmap", "graph-notes", "--from-literal=notes=x"},
			"ValidatingAdmissionPolicy 'graphjob-configmaps' with binding 'graphjob-configmaps' denied request: " +
				"a submitter writes graph ConfigMaps alone (graph-NAME-DIGEST, labelled graphjob.dev/graph, immutable, holding graph.yaml), not graph-notes"},
	} {
		out, err := kubectlAs(t, submitter, "", append([]string{"-n", ns}, tt.args...)...)
		if err == nil || !strings.Contains(out, tt.want) {
			t.Errorf("%s: kubectl as the submitter: %v\n%s\nwant %q", tt.desc, err, out, tt.want)
		}
		t.Logf("%s: %s", tt.desc, lastLine(out))
	}

	// Admitted: graphjob render | kubectl apply, and graphjob submit, as the
	// submitter; the scheduler's Job, as the scheduler's account.
	if out, err := kubectlAs(t, submitter, render(t, "rendered", "--store-secret", "graphjob-store", "--service-account", "graphjob-run"), "apply", "-f", "-"); err != nil {
		t.Errorf("graphjob render job | kubectl apply as the submitter: %v\n%s", err, out)
	}
	data, err := os.ReadFile("../examples/loop/graph.yaml")
	if err != nil {
		t.Fatal(err)
	}
	long := "a-graph-name-of-63-characters-"
	long += strings.Repeat("l", 63-len(long))
	file := filepath.Join(t.TempDir(), "long.yaml")
	if err := os.WriteFile(file, []byte(strings.Replace(string(data), "name: loop", "name: "+long, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	submit := startAttempt(t, s.Env(), "submit", file, "--kubeconfig", kubeconfigAs(t, submitter), "-n", ns, "--name", "submitted",
		"--image", graphjobImage, "--store", store, "--store-secret", "graphjob-store", "--wait")
	scheduled := jobYAML(t, "scheduled", func(r *kube.Template) {
		r.Schedule, r.Slot = "loop-hourly", time.Date(2026, 11, 24, 2, 0, 0, 0, time.UTC)
	}, func(*corev1.PodSpec) {})
	if out, err := kubectlAs(t, "system:serviceaccount:"+ns+":graphjob-scheduler", scheduled, "create", "-f", "-"); err != nil {
		t.Errorf("the scheduler's Job, as its account: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if !submit.wait(0) {
			_ = submit.cmd.Process.Kill()
			<-submit.done
		}
	})
	if !submit.wait(2 * time.Minute) {
		t.Fatal("graphjob submit --wait has not ended after 2 minutes")
	}
	if submit.code != 0 || !strings.Contains(submit.stdout.String(), `"done":true`) {
		t.Errorf("graphjob submit --wait as the submitter: exit %d\n%s%s", submit.code, submit.stdout.String(), submit.stderr.String())
	}
	for _, name := range []string{"rendered", "scheduled"} {
		waitJob(t, ns, name, batchv1.JobComplete, time.Minute)
	}
	cms, err := cluster.client.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{LabelSelector: kube.LabelGraph + "=" + long})
	if err != nil || len(cms.Items) != 1 || len(cms.Items[0].Name) > 63 {
		t.Errorf("the ConfigMap of graph %s: %v %v", long, err, cms)
	}

	checkNetworkPolicies(t, ns)
}

// checkNetworkPolicies evaluates the namespace's NetworkPolicies, as the
// server holds them, for the pods of a plain kubectl Job (labels taken from
// a real one), of a graphjob Job and of the scheduler.
func checkNetworkPolicies(t *testing.T, ns string) {
	ctx := t.Context()
	pols, err := cluster.client.NetworkingV1().NetworkPolicies(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	plainNS := namespace(t, nil)
	kubectl(t, "-n", plainNS, "create", "job", "plain", "--image", shellImage, "--", "sh", "-c", "true")
	waitJob(t, plainNS, "plain", batchv1.JobComplete, time.Minute)
	pods := map[string]map[string]string{}
	for _, p := range []struct{ desc, ns, job string }{{"a plain kubectl Job's pod", plainNS, "plain"}, {"graphjob's Job's pod", ns, "rendered"}} {
		list, err := cluster.client.CoreV1().Pods(p.ns).List(ctx, metav1.ListOptions{LabelSelector: batchv1.JobNameLabel + "=" + p.job})
		if err != nil || len(list.Items) == 0 {
			t.Fatalf("the pods of job %s/%s: %v", p.ns, p.job, err)
		}
		pods[p.desc] = list.Items[0].Labels
	}
	// The scheduler's pod, as its Deployment labels it.
	pods["the scheduler's pod"] = map[string]string{"app.kubernetes.io/name": "graphjob-scheduler", "pod-template-hash": "5d4f8c7b9"}

	svc, err := cluster.client.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	host, err := url.Parse(cluster.cp.Config.Host)
	if err != nil {
		t.Fatal(err)
	}
	// Where a pod finds the API server: the kubernetes Service, this control
	// plane, a kubeadm control-plane node, an EKS control plane's interface
	// in the VPC.
	apiServers := []netip.AddrPort{netip.MustParseAddrPort(svc.Spec.ClusterIP + ":443"), netip.MustParseAddrPort(host.Host),
		netip.MustParseAddrPort("192.168.10.2:6443"), netip.MustParseAddrPort("172.20.33.7:443")}
	s3 := netip.MustParseAddrPort("52.219.170.13:443")
	dns := netip.MustParseAddrPort("10.0.0.10:53")
	for name, podLabels := range pods {
		isRun := name != "the scheduler's pod"
		if !selectedForEgress(t, pols.Items, podLabels) {
			t.Errorf("%s (%v): no NetworkPolicy selects it", name, podLabels)
			continue
		}
		if !egressAllowed(t, pols.Items, podLabels, corev1.ProtocolUDP, dns) || !egressAllowed(t, pols.Items, podLabels, corev1.ProtocolTCP, s3) {
			t.Errorf("%s: DNS or the store (%s) refused", name, s3)
		}
		for _, api := range apiServers {
			if api == netip.MustParseAddrPort(host.Host) && !isRun {
				continue // the scheduler reaches API servers on 443 and 6443, not this one's port
			}
			if got := egressAllowed(t, pols.Items, podLabels, corev1.ProtocolTCP, api); got == isRun {
				t.Errorf("%s: egress to the API server at %s allowed: %v, want %v", name, api, got, !isRun)
			}
		}
	}
}

func selectedForEgress(t *testing.T, pols []networkingv1.NetworkPolicy, podLabels map[string]string) bool {
	return slices.ContainsFunc(pols, func(p networkingv1.NetworkPolicy) bool {
		return selects(t, p, podLabels) && slices.Contains(p.Spec.PolicyTypes, networkingv1.PolicyTypeEgress)
	})
}

func selects(t *testing.T, p networkingv1.NetworkPolicy, podLabels map[string]string) bool {
	sel, err := metav1.LabelSelectorAsSelector(&p.Spec.PodSelector)
	if err != nil {
		t.Fatalf("networkpolicy %s: %v", p.Name, err)
	}
	return sel.Matches(labels.Set(podLabels))
}

// egressAllowed reports whether the NetworkPolicies let a pod with these
// labels connect to an address outside the cluster's pods, as the
// NetworkPolicy API defines it: a pod no policy selects for egress may
// connect anywhere; one that is selected, where a rule of a policy that
// selects it allows.
func egressAllowed(t *testing.T, pols []networkingv1.NetworkPolicy, podLabels map[string]string, proto corev1.Protocol, to netip.AddrPort) bool {
	if !selectedForEgress(t, pols, podLabels) {
		return true
	}
	for _, p := range pols {
		if !selects(t, p, podLabels) || !slices.Contains(p.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) {
			continue
		}
		for _, rule := range p.Spec.Egress {
			if portAllowed(rule.Ports, proto, int32(to.Port())) && peerAllowed(t, rule.To, to.Addr()) {
				return true
			}
		}
	}
	return false
}

func portAllowed(ports []networkingv1.NetworkPolicyPort, proto corev1.Protocol, port int32) bool {
	if len(ports) == 0 {
		return true
	}
	return slices.ContainsFunc(ports, func(p networkingv1.NetworkPolicyPort) bool {
		if (p.Protocol == nil && proto != corev1.ProtocolTCP) || (p.Protocol != nil && *p.Protocol != proto) {
			return false
		}
		switch {
		case p.Port == nil:
			return true
		case p.EndPort != nil:
			return p.Port.IntVal <= port && port <= *p.EndPort
		}
		return p.Port.IntVal == port
	})
}

// peerAllowed: an address that is no pod's matches ipBlock peers alone.
func peerAllowed(t *testing.T, peers []networkingv1.NetworkPolicyPeer, addr netip.Addr) bool {
	if len(peers) == 0 {
		return true
	}
	in := func(cidr string) bool {
		prefix, err := netip.ParsePrefix(cidr)
		if err != nil {
			t.Fatalf("cidr %q: %v", cidr, err)
		}
		return prefix.Contains(addr)
	}
	return slices.ContainsFunc(peers, func(p networkingv1.NetworkPolicyPeer) bool {
		return p.IPBlock != nil && in(p.IPBlock.CIDR) && !slices.ContainsFunc(p.IPBlock.Except, in)
	})
}

// loopDigest is the digest of examples/loop/graph.yaml, whose ConfigMap
// manifests/base/loop.yaml holds.
const loopDigest = "sha256:4466561b5aefebea8805c8d2f97378fa7f483492357816bc64e2d2de456a6f9d"

// kustomizeIn renders manifests/overlays/e2e into namespace ns, less the
// scheduler's Deployment and the seed's CronJob and Job.
func kustomizeIn(t *testing.T, ns string) string {
	t.Helper()
	dir := t.TempDir()
	overlay, err := filepath.Abs("../manifests/overlays/e2e")
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(dir, overlay) // kustomize takes relative paths alone
	if err != nil {
		t.Fatal(err)
	}
	var patches strings.Builder
	for _, obj := range []string{"apps/v1 Deployment graphjob-scheduler", "batch/v1 CronJob loop", "batch/v1 Job loop-once"} {
		f := strings.Fields(obj)
		patches.WriteString("  - patch: |-\n      $patch: delete\n      apiVersion: " + f[0] + "\n      kind: " + f[1] + "\n      metadata: {name: " + f[2] + "}\n")
	}
	k := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: " + ns + "\nresources:\n  - " + rel + "\npatches:\n" + patches.String()
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k), 0o644); err != nil {
		t.Fatal(err)
	}
	return kubectl(t, "kustomize", dir)
}

// kubectlAs runs kubectl as user (--as), with stdin, and returns what it
// printed.
func kubectlAs(t *testing.T, user, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), cluster.cp.Kubectl, append([]string{"--kubeconfig", cluster.cp.Kubeconfig, "--as", user}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// kubeconfigAs writes a kubeconfig that acts as user (kubectl's --as), for
// graphjob's own commands.
func kubeconfigAs(t *testing.T, user string) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(cluster.cp.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, auth := range cfg.AuthInfos {
		auth.Impersonate = user
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}
