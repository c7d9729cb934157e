package controlplane

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	krand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/graphjob/graphjob/e2e/process"
	"github.com/graphjob/graphjob/e2e/testbin"
)

// ControlPlane is a running control plane.
type ControlPlane struct {
	// Dir holds the data, certificates, logs (NAME.log) and Kubeconfig.
	Dir string
	// Kubeconfig is the path of an admin kubeconfig.
	Kubeconfig string
	// Config and Client act as the cluster's administrator.
	Config *rest.Config
	Client kubernetes.Interface
	// Kubectl is the path of the kubectl built with the control plane.
	Kubectl string

	procs []*process.Process
}

// Options configure Start.
type Options struct {
	// Dir is where the control plane keeps its files; a new temporary
	// directory when empty.
	Dir string
	// Log receives the messages of the first, slow build of the binaries.
	// Default os.Stderr.
	Log io.Writer
}

// Start builds the binaries if needed and starts the control plane. It
// returns when the API server is ready and the controllers run.
func Start(ctx context.Context, opts Options) (cp *ControlPlane, err error) {
	if opts.Log == nil {
		opts.Log = os.Stderr
	}
	bins := map[string]string{}
	for _, p := range []string{testbin.Etcd, testbin.KubeAPIServer, testbin.KubeControllerManager, testbin.KubeScheduler, testbin.Kubectl} {
		if bins[p], err = testbin.Path(ctx, p, opts.Log); err != nil {
			return nil, err
		}
	}
	dir := opts.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "graphjob-controlplane-"); err != nil {
			return nil, err
		}
	}
	started := &ControlPlane{Dir: dir, Kubectl: bins[testbin.Kubectl]}
	defer func() {
		if err != nil {
			started.Stop()
		}
	}()
	cp = started
	ports, err := process.FreePorts(5)
	if err != nil {
		return nil, err
	}
	etcdPort, peerPort, apiPort, kcmPort, schedPort := ports[0], ports[1], ports[2], ports[3], ports[4]
	token, err := cp.writeCredentials()
	if err != nil {
		return nil, err
	}

	etcdURL := "http://127.0.0.1:" + strconv.Itoa(etcdPort)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(peerPort)
	etcd, err := cp.start(testbin.Etcd, bins,
		"--name=default", "--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=default="+peerURL, "--unsafe-no-fsync", "--log-level=warn")
	if err != nil {
		return nil, err
	}
	if err := etcd.WaitReady(ctx, etcdURL+"/health", ""); err != nil {
		return nil, err
	}

	apiURL := "https://127.0.0.1:" + strconv.Itoa(apiPort)
	certDir := filepath.Join(dir, "apiserver")
	api, err := cp.start(testbin.KubeAPIServer, bins,
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--secure-port="+strconv.Itoa(apiPort),
		"--cert-dir="+certDir,
		"--token-auth-file="+filepath.Join(dir, "tokens.csv"),
		"--authorization-mode=RBAC",
		"--enable-admission-plugins=PodSecurity",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+filepath.Join(dir, "sa.key"),
		"--service-account-signing-key-file="+filepath.Join(dir, "sa.key"),
		"--service-cluster-ip-range=10.0.0.0/24",
		"--kubelet-preferred-address-types=InternalIP",
		"--endpoint-reconciler-type=none", // it refuses loopback addresses, and pods reach the API at 127.0.0.1 anyway
	)
	if err != nil {
		return nil, err
	}
	if err := api.WaitReady(ctx, apiURL+"/readyz", token); err != nil {
		return nil, err
	}
	if err := cp.writeKubeconfig(apiURL, filepath.Join(certDir, "apiserver.crt"), token); err != nil {
		return nil, err
	}

	kcm, err := cp.start(testbin.KubeControllerManager, bins, append(cp.componentArgs("kcm", kcmPort),
		"--controllers=job-controller,cronjob-controller,garbage-collector-controller,ttl-after-finished-controller,"+
			"namespace-controller,serviceaccount-controller,serviceaccount-token-controller,root-ca-certificate-publisher-controller,"+
			"deployment-controller,replicaset-controller,disruption-controller,endpointslice-controller,pod-garbage-collector-controller",
		"--service-account-private-key-file="+filepath.Join(dir, "sa.key"),
		"--root-ca-file="+filepath.Join(certDir, "apiserver.crt"),
		"--use-service-account-credentials=false",
	)...)
	if err != nil {
		return nil, err
	}
	sched, err := cp.start(testbin.KubeScheduler, bins, cp.componentArgs("scheduler", schedPort)...)
	if err != nil {
		return nil, err
	}
	if err := kcm.WaitReady(ctx, "https://127.0.0.1:"+strconv.Itoa(kcmPort)+"/healthz", ""); err != nil {
		return nil, err
	}
	if err := sched.WaitReady(ctx, "https://127.0.0.1:"+strconv.Itoa(schedPort)+"/healthz", ""); err != nil {
		return nil, err
	}
	return cp, nil
}

// componentArgs are the flags kube-controller-manager and kube-scheduler
// share: the admin kubeconfig, no leader election, HTTPS on 127.0.0.1:port.
func (cp *ControlPlane) componentArgs(name string, port int) []string {
	return []string{
		"--kubeconfig=" + cp.Kubeconfig,
		"--authentication-kubeconfig=" + cp.Kubeconfig, "--authorization-kubeconfig=" + cp.Kubeconfig,
		"--leader-elect=false",
		"--bind-address=127.0.0.1", "--secure-port=" + strconv.Itoa(port), "--cert-dir=" + filepath.Join(cp.Dir, name),
	}
}

func (cp *ControlPlane) start(name string, bins map[string]string, args ...string) (*process.Process, error) {
	p, err := process.Start(cp.Dir, name, bins[name], args...)
	if err != nil {
		return nil, err
	}
	cp.procs = append(cp.procs, p)
	return p, nil
}

// writeCredentials writes the service-account signing key and the token
// file, and returns the administrator's token.
func (cp *ControlPlane) writeCredentials() (string, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", err
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	if err := os.WriteFile(filepath.Join(cp.Dir, "sa.key"), keyPEM, 0o600); err != nil {
		return "", err
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	token := hex.EncodeToString(b)
	line := token + ",admin,admin,system:masters\n"
	return token, os.WriteFile(filepath.Join(cp.Dir, "tokens.csv"), []byte(line), 0o600)
}

func (cp *ControlPlane) writeKubeconfig(server, caFile, token string) error {
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["graphjob-e2e"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["graphjob-e2e"] = &clientcmdapi.Context{Cluster: "graphjob-e2e", AuthInfo: "admin"}
	cfg.CurrentContext = "graphjob-e2e"
	cp.Kubeconfig = filepath.Join(cp.Dir, "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, cp.Kubeconfig); err != nil {
		return err
	}
	if cp.Config, err = clientcmd.BuildConfigFromFlags("", cp.Kubeconfig); err != nil {
		return err
	}
	cp.Config.QPS, cp.Config.Burst = 200, 400
	cp.Client, err = kubernetes.NewForConfig(cp.Config)
	return err
}

// Stop stops the servers, the last started first.
func (cp *ControlPlane) Stop() {
	for i := len(cp.procs) - 1; i >= 0; i-- {
		cp.procs[i].Stop(10 * time.Second)
	}
}

// Logs returns the last lines of every server's log, for a failed test.
func (cp *ControlPlane) Logs(lines int) string {
	var b strings.Builder
	for _, p := range cp.procs {
		fmt.Fprintf(&b, "==> %s (%s) <==\n%s\n", p.Name, p.Log, p.Tail(lines))
	}
	return b.String()
}

// Namespace creates a namespace for a test, deleted when the test ends, and
// waits until its default service account exists (pods need it).
func (cp *ControlPlane) Namespace(t testing.TB, labels map[string]string) string {
	t.Helper()
	name := strings.Trim(nonName.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	name = fmt.Sprintf("%.40s-%s", name, krand.String(5))
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if _, err := cp.Client.CoreV1().Namespaces().Create(t.Context(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cp.Client.CoreV1().Namespaces().Delete(context.WithoutCancel(t.Context()), name, metav1.DeleteOptions{})
	})
	err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := cp.Client.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("namespace %s has no default service account: %v", name, err)
	}
	return name
}

var nonName = regexp.MustCompile(`[^a-z0-9]+`)
