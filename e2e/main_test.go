package e2e

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/graphjob/graphjob/e2e/controlplane"
	"github.com/graphjob/graphjob/e2e/kubelet"
)

// shellImage runs /bin/sh: `sh -c ...` commands run as in a shell image.
const shellImage = "e2e/shell:1"

// graphjobImage runs the graphjob binary built as the image's (see
// buildGraphjob), as the image's entrypoint does.
const graphjobImage = "e2e/graphjob:1"

// cluster is the control plane and process kubelet shared by this package's
// tests; each test works in a namespace of its own.
var cluster struct {
	cp      *controlplane.ControlPlane
	kubelet *kubelet.Kubelet
	client  kubernetes.Interface
}

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("e2e: skipped in -short mode")
		os.Exit(0)
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute) // a first run builds Kubernetes
	defer cancel()
	start := time.Now()
	if err := buildGraphjob(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(filepath.Dir(binPath))
	cp, err := controlplane.Start(ctx, controlplane.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: control plane:", err)
		return 1
	}
	defer cp.Stop()
	u, _ := url.Parse(cp.Config.Host)
	kl, err := kubelet.Start(ctx, cp.Client, kubelet.Options{
		Images:    map[string]kubelet.Image{shellImage: {Executable: "/bin/sh"}, graphjobImage: {Executable: binPath}},
		APIServer: u.Host,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: kubelet:", err)
		return 1
	}
	defer kl.Stop()
	fmt.Fprintf(os.Stderr, "e2e: cluster ready in %s (kubeconfig %s)\n", time.Since(start).Round(time.Millisecond), cp.Kubeconfig)
	cluster.cp, cluster.kubelet, cluster.client = cp, kl, cp.Client
	code := m.Run()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "e2e: a test failed; the control plane's files stay in %s\n%s", cp.Dir, cp.Logs(30))
	} else {
		defer os.RemoveAll(cp.Dir)
	}
	return code
}

// namespace creates a namespace for the test; see ControlPlane.Namespace.
func namespace(t *testing.T, labels map[string]string) string {
	t.Helper()
	return cluster.cp.Namespace(t, labels)
}

// podLog returns what a pod's container wrote.
func podLog(t *testing.T, pod *corev1.Pod, container string) string {
	t.Helper()
	out, err := cluster.kubelet.Log(pod, container)
	if err != nil {
		t.Fatalf("log of %s/%s: %v", pod.Name, container, err)
	}
	return out
}

// hostDir holds what pods share with the tests: not /tmp, which is an
// emptyDir in graphjob's pods.
const hostDir = "/var/tmp"

// binPath is the graphjob binary TestMain built.
var binPath string

// buildGraphjob builds the graphjob binary as the image has it (static,
// trimmed, stamped), where pods see it: every user can read it (pods run as
// non-root), and not under /tmp (their /tmp is an emptyDir).
func buildGraphjob() error {
	dir, err := os.MkdirTemp(hostDir, "graphjob-e2e-bin-")
	if err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	binPath = filepath.Join(dir, "graphjob")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version=e2e", "-o", binPath, "../cmd/graphjob")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %w\n%s", err, out)
	}
	return nil
}
