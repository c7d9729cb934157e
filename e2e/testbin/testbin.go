package testbin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// Pinned versions.
const (
	KubernetesVersion = "v1.37.2"
	// EtcdVersion is the etcd server release that KubernetesVersion pins.
	EtcdVersion = "v3.7.0"
	// MinIOVersion is a MinIO commit (MinIO tags releases as RELEASE.<date>,
	// which Go modules see as pseudo-versions).
	MinIOVersion = "v0.0.0-20260212201848-7aac2a2c5b7c"
	// LangGraphJSVersion is the @langchain/langgraph release that
	// parity/package-lock.json pins, with everything it needs.
	LangGraphJSVersion = "1.7.3"
)

// Program names.
const (
	KubeAPIServer         = "kube-apiserver"
	KubeControllerManager = "kube-controller-manager"
	KubeScheduler         = "kube-scheduler"
	Kubectl               = "kubectl"
	Etcd                  = "etcd"
	MinIO                 = "minio"
	// LangGraphJS is a directory holding node_modules with LangGraph JS.
	LangGraphJS = "langgraph-js"
)

// group is a set of programs built together.
type group struct {
	dir      string   // the cache subdirectory, keyed by version
	programs []string // what it holds
	about    string   // for the message printed before a build
	build    func(ctx context.Context, out string, log io.Writer) error
	stamp    func() (string, error) // what the build is made from; nil: inputsStamp
}

func groups() []group {
	return []group{
		{
			dir:      "kubernetes-" + KubernetesVersion + "-etcd-" + EtcdVersion,
			programs: []string{KubeAPIServer, KubeControllerManager, KubeScheduler, Kubectl, Etcd},
			about:    fmt.Sprintf("Kubernetes %s (kube-apiserver, kube-controller-manager, kube-scheduler, kubectl) and etcd %s", KubernetesVersion, EtcdVersion),
			build:    buildKubernetes,
		},
		{
			dir:      "minio-" + MinIOVersion,
			programs: []string{MinIO},
			about:    "MinIO " + MinIOVersion,
			build:    buildMinIO,
		},
		{
			dir:      "langgraph-js-" + LangGraphJSVersion,
			programs: []string{LangGraphJS},
			about:    "LangGraph JS " + LangGraphJSVersion + " (npm ci of parity/package-lock.json)",
			build:    installLangGraphJS,
			stamp:    lockStamp,
		},
	}
}

// CacheDir is where built programs are kept.
func CacheDir() (string, error) {
	if d := os.Getenv("GRAPHJOB_TESTBIN_DIR"); d != "" {
		return filepath.Abs(d)
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("testbin: no cache directory (set GRAPHJOB_TESTBIN_DIR): %w", err)
	}
	return filepath.Join(d, "graphjob", "testbin"), nil
}

// Path returns the path of the program, building it (and the programs built
// with it) first if the cache does not hold it. Progress goes to log.
func Path(ctx context.Context, program string, log io.Writer) (string, error) {
	for _, g := range groups() {
		for _, p := range g.programs {
			if p == program {
				dir, err := ensure(ctx, g, log)
				if err != nil {
					return "", err
				}
				return filepath.Join(dir, program), nil
			}
		}
	}
	return "", fmt.Errorf("testbin: unknown program %q", program)
}

// EnsureAll builds every program the cache does not hold.
func EnsureAll(ctx context.Context, log io.Writer) error {
	for _, g := range groups() {
		if _, err := ensure(ctx, g, log); err != nil {
			return err
		}
	}
	return nil
}

// ensure returns the group's directory, building it under a file lock unless
// a complete build with the same inputs is there.
func ensure(ctx context.Context, g group, log io.Writer) (string, error) {
	cache, err := CacheDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, g.dir)
	stampOf := inputsStamp
	if g.stamp != nil {
		stampOf = g.stamp
	}
	stamp, err := stampOf()
	if err != nil {
		return "", err
	}
	if complete(dir, stamp) {
		return dir, nil
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", fmt.Errorf("testbin: %w", err)
	}
	unlock, err := lock(ctx, filepath.Join(cache, g.dir+".lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	if complete(dir, stamp) { // built by another process while we waited
		return dir, nil
	}
	fmt.Fprintf(log, "testbin: building %s from source through the Go module proxy into %s.\n"+
		"testbin: this happens once per machine and version and takes about 10 minutes on 2 cores; later runs reuse the build.\n", g.about, dir)
	start := time.Now()
	tmp, err := os.MkdirTemp(cache, g.dir+".tmp-")
	if err != nil {
		return "", fmt.Errorf("testbin: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := g.build(ctx, tmp, log); err != nil {
		return "", fmt.Errorf("testbin: building %s: %w", g.about, err)
	}
	if err := os.WriteFile(filepath.Join(tmp, ".complete"), []byte(stamp), 0o644); err != nil {
		return "", fmt.Errorf("testbin: %w", err)
	}
	_ = os.RemoveAll(dir)
	if err := os.Rename(tmp, dir); err != nil {
		return "", fmt.Errorf("testbin: %w", err)
	}
	fmt.Fprintf(log, "testbin: built %s in %s.\n", g.about, time.Since(start).Round(time.Second))
	return dir, nil
}

func complete(dir, stamp string) bool {
	b, err := os.ReadFile(filepath.Join(dir, ".complete"))
	return err == nil && string(b) == stamp
}

// inputsStamp identifies what a build is made from: the pinned module files
// and the Go toolchain.
func inputsStamp() (string, error) {
	h := sha256.New()
	for _, f := range []string{"go.mod", "go.sum"} {
		b, err := os.ReadFile(filepath.Join(kubeModuleDir(), f))
		if err != nil {
			return "", fmt.Errorf("testbin: %w", err)
		}
		h.Write(b)
	}
	fmt.Fprintf(h, "%s %s %s", MinIOVersion, runtime.Version(), runtime.GOARCH)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// parityDir is the repository's parity/ directory, which pins LangGraph JS.
func parityDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "parity")
}

// lockStamp identifies an install of LangGraph JS: the lockfile and Node's version.
func lockStamp() (string, error) {
	b, err := os.ReadFile(filepath.Join(parityDir(), "package-lock.json"))
	if err != nil {
		return "", fmt.Errorf("testbin: %w", err)
	}
	node, err := exec.Command("node", "--version").Output()
	if err != nil {
		return "", fmt.Errorf("testbin: LangGraph JS needs Node.js 20 or later on the PATH: %w", err)
	}
	sum := sha256.Sum256(append(b, node...))
	return hex.EncodeToString(sum[:]), nil
}

// installLangGraphJS installs the packages parity/package-lock.json pins
// into out/langgraph-js/node_modules, running none of their scripts.
func installLangGraphJS(ctx context.Context, out string, log io.Writer) error {
	dir := filepath.Join(out, LangGraphJS)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, f := range []string{"package.json", "package-lock.json"} {
		b, err := os.ReadFile(filepath.Join(parityDir(), f))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			return err
		}
	}
	cmd := exec.CommandContext(ctx, "npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund")
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, log, log
	return cmd.Run()
}

// kubeModuleDir is the kube/ module beside this file's source.
func kubeModuleDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "kube")
}

// lock takes an exclusive flock on path, waiting while ctx allows.
func lock(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("testbin: %w", err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("testbin: locking %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("testbin: waiting for another build: %w", ctx.Err())
		case <-time.After(time.Second):
		}
	}
}

func buildKubernetes(ctx context.Context, out string, log io.Writer) error {
	v := "k8s.io/component-base/version"
	minor := strings.Split(KubernetesVersion, ".")[1]
	ldflags := strings.Join([]string{"-s", "-w",
		"-X", v + ".gitVersion=" + KubernetesVersion, "-X", v + ".gitMajor=1", "-X", v + ".gitMinor=" + minor,
		"-X", v + ".gitTreeState=clean", "-X", v + ".buildDate=1970-01-01T00:00:00Z",
	}, " ")
	cmd := goCommand(ctx, log, "build", "-trimpath", "-ldflags", ldflags, "-o", out+string(filepath.Separator),
		"k8s.io/kubernetes/cmd/kube-apiserver", "k8s.io/kubernetes/cmd/kube-controller-manager",
		"k8s.io/kubernetes/cmd/kube-scheduler", "k8s.io/kubernetes/cmd/kubectl", "./etcd")
	cmd.Dir = kubeModuleDir()
	return cmd.Run()
}

func buildMinIO(ctx context.Context, out string, log io.Writer) error {
	cmd := goCommand(ctx, log, "install", "-trimpath", "-ldflags", "-s -w", "github.com/minio/minio@"+MinIOVersion)
	cmd.Env = append(cmd.Env, "GOBIN="+out)
	cmd.Dir = out
	return cmd.Run()
}

func goCommand(ctx context.Context, log io.Writer, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "go", args...) // go test puts its own go first on PATH
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=-mod=readonly -buildvcs=false")
	cmd.Stdout, cmd.Stderr = log, log
	return cmd
}
