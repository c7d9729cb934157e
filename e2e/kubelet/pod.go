package kubelet

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// podRunner runs one pod's containers as processes.
type podRunner struct {
	k   *Kubelet
	pod *corev1.Pod
	dir string

	killOnce sync.Once
	killed   chan struct{}
	grace    time.Duration
}

func newPodRunner(k *Kubelet, pod *corev1.Pod) *podRunner {
	return &podRunner{k: k, pod: pod.DeepCopy(), dir: filepath.Join(k.opts.Dir, string(pod.UID)), killed: make(chan struct{})}
}

// kill stops the pod: SIGTERM to its processes, SIGKILL after grace.
func (r *podRunner) kill(grace time.Duration) {
	r.killOnce.Do(func() {
		r.grace = grace
		close(r.killed)
	})
}

func (r *podRunner) isKilled() bool {
	select {
	case <-r.killed:
		return true
	default:
		return false
	}
}

// run runs the pod to its end and reports its final phase.
func (r *podRunner) run(ctx context.Context) {
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		r.waiting(ctx, "CreateContainerConfigError", err.Error())
		return
	}
	// As the kubelet does, retry what volumes need (a ConfigMap, a Secret)
	// until it exists or the pod is deleted.
	var mounts map[string]string
	for {
		var err error
		if mounts, err = r.prepareVolumes(ctx); err == nil {
			break
		}
		r.waiting(ctx, "CreateContainerConfigError", err.Error())
		select {
		case <-r.killed:
			return
		case <-time.After(time.Second):
		}
	}
	start := metav1.Now()
	r.setStatus(ctx, func(s *corev1.PodStatus) {
		s.StartTime, s.HostIP, s.PodIP = &start, "127.0.0.1", "127.0.0.1"
		s.HostIPs, s.PodIPs = []corev1.HostIP{{IP: "127.0.0.1"}}, []corev1.PodIP{{IP: "127.0.0.1"}}
		s.Phase = corev1.PodPending
	})
	for _, c := range r.pod.Spec.InitContainers {
		if code := r.runContainer(ctx, c, mounts, true); code != 0 {
			r.finish(ctx, corev1.PodFailed)
			return
		}
	}
	codes := make([]int, len(r.pod.Spec.Containers))
	var wg sync.WaitGroup
	for i, c := range r.pod.Spec.Containers {
		wg.Go(func() { codes[i] = r.runContainer(ctx, c, mounts, false) })
	}
	wg.Wait()
	phase := corev1.PodSucceeded
	for _, code := range codes {
		if code != 0 {
			phase = corev1.PodFailed
		}
	}
	r.finish(ctx, phase)
}

// runContainer runs a container, restarting it as its pod's restartPolicy
// says, and returns its last exit code.
func (r *podRunner) runContainer(ctx context.Context, c corev1.Container, mounts map[string]string, initContainer bool) int {
	restarts := int32(0)
	for backoff := 100 * time.Millisecond; ; backoff = min(2*backoff, 5*time.Second) {
		code := r.runOnce(ctx, c, mounts, restarts, initContainer)
		policy := r.pod.Spec.RestartPolicy
		again := policy == corev1.RestartPolicyAlways && !initContainer || policy != corev1.RestartPolicyNever && code != 0
		if !again || r.isKilled() {
			return code
		}
		select {
		case <-r.killed:
			return code
		case <-time.After(backoff):
		}
		restarts++
	}
}

func (r *podRunner) runOnce(ctx context.Context, c corev1.Container, mounts map[string]string, restarts int32, initContainer bool) int {
	cmd, err := r.command(ctx, c, mounts)
	if err != nil {
		r.containerStatus(ctx, c, initContainer, corev1.ContainerStatus{RestartCount: restarts, State: corev1.ContainerState{
			Waiting: &corev1.ContainerStateWaiting{Reason: "CreateContainerConfigError", Message: err.Error()}}})
		return 128
	}
	logFile, err := os.OpenFile(filepath.Join(r.dir, c.Name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 128
	}
	defer logFile.Close()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if r.isKilled() {
		return 137
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(logFile, "kubelet: %v\n", err)
		return 128
	}
	started := metav1.Now()
	r.containerStatus(ctx, c, initContainer, corev1.ContainerStatus{
		RestartCount: restarts, Ready: !initContainer, Started: new(true),
		ContainerID: "process://" + strconv.Itoa(cmd.Process.Pid),
		State:       corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: started}},
	})
	if !initContainer {
		r.setStatus(ctx, func(s *corev1.PodStatus) {
			s.Phase = corev1.PodRunning
			for _, t := range []corev1.PodConditionType{corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady} {
				setCondition(s, t, corev1.ConditionTrue, "")
			}
		})
	}
	exited := make(chan struct{})
	go r.stopOnKill(cmd.Process.Pid, exited)
	err = cmd.Wait()
	close(exited)
	code := exitCode(cmd, err)
	reason := "Completed"
	if code != 0 {
		reason = "Error"
	}
	r.containerStatus(ctx, c, initContainer, corev1.ContainerStatus{
		RestartCount: restarts, Started: new(false), ContainerID: "process://" + strconv.Itoa(cmd.Process.Pid),
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: int32(code), Reason: reason, StartedAt: started, FinishedAt: metav1.Now(),
		}},
	})
	return code
}

// stopOnKill stops the container when the pod is killed as a container
// runtime does: SIGTERM to its main process, and SIGKILL to all its
// processes when the grace period has passed.
func (r *podRunner) stopOnKill(pid int, exited <-chan struct{}) {
	select {
	case <-exited:
		return
	case <-r.killed:
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(r.grace):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
}

func exitCode(cmd *exec.Cmd, err error) int {
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	if err != nil && cmd.ProcessState == nil {
		return 128
	}
	return cmd.ProcessState.ExitCode()
}

// command builds the shim command that runs the container.
func (r *podRunner) command(ctx context.Context, c corev1.Container, volumes map[string]string) (*exec.Cmd, error) {
	env, vars, err := r.env(ctx, c)
	if err != nil {
		return nil, err
	}
	argv := append(expandAll(c.Command, vars), expandAll(c.Args, vars)...)
	img, ok := r.k.opts.Images[c.Image]
	if !ok {
		return nil, fmt.Errorf("image %q is not mapped to an executable (kubelet Options.Images)", c.Image)
	}
	if len(c.Command) == 0 || argv[0] == filepath.Base(img.Executable) {
		if len(c.Command) == 0 {
			argv = append([]string{img.Executable}, argv...)
		}
		argv[0] = img.Executable
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return nil, err
	}
	spec := shimSpec{Hostname: r.hostname(), Dir: c.WorkingDir, Path: path, Argv: argv, Env: env}
	for _, m := range c.VolumeMounts {
		src, ok := volumes[m.Name]
		if !ok {
			return nil, fmt.Errorf("volume mount %q names no volume of the pod", m.Name)
		}
		spec.Mounts = append(spec.Mounts, shimMount{Source: filepath.Join(src, m.SubPath), Target: m.MountPath, ReadOnly: m.ReadOnly})
	}
	psc, sc := r.pod.Spec.SecurityContext, c.SecurityContext
	if psc != nil {
		spec.UID, spec.GID = psc.RunAsUser, psc.RunAsGroup
	}
	if sc != nil {
		if sc.RunAsUser != nil {
			spec.UID = sc.RunAsUser
		}
		if sc.RunAsGroup != nil {
			spec.GID = sc.RunAsGroup
		}
		spec.ReadOnly = sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem
	}
	if spec.UID != nil && spec.GID == nil {
		spec.GID = spec.UID
	}
	b, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self)
	cmd.Env = []string{shimEnv + "=" + string(b)}
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS, Setpgid: true}
	return cmd, nil
}

func (r *podRunner) hostname() string {
	if r.pod.Spec.Hostname != "" {
		return r.pod.Spec.Hostname
	}
	return r.pod.Name
}

// setStatus changes the pod's status on the API server, retrying conflicts.
func (r *podRunner) setStatus(ctx context.Context, change func(*corev1.PodStatus)) {
	pods := r.k.client.CoreV1().Pods(r.pod.Namespace)
	for range 20 {
		pod, err := pods.Get(ctx, r.pod.Name, metav1.GetOptions{})
		if err != nil || pod.UID != r.pod.UID {
			return
		}
		change(&pod.Status)
		if _, err = pods.UpdateStatus(ctx, pod, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
			return
		}
	}
}

func (r *podRunner) containerStatus(ctx context.Context, c corev1.Container, initContainer bool, cs corev1.ContainerStatus) {
	cs.Name, cs.Image, cs.ImageID = c.Name, c.Image, c.Image
	r.setStatus(ctx, func(s *corev1.PodStatus) {
		list := &s.ContainerStatuses
		if initContainer {
			list = &s.InitContainerStatuses
		}
		for i := range *list {
			if (*list)[i].Name == c.Name {
				(*list)[i] = cs
				return
			}
		}
		*list = append(*list, cs)
	})
}

func (r *podRunner) waiting(ctx context.Context, reason, msg string) {
	for _, c := range r.pod.Spec.Containers {
		r.containerStatus(ctx, c, false, corev1.ContainerStatus{State: corev1.ContainerState{
			Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}})
	}
}

func (r *podRunner) finish(ctx context.Context, phase corev1.PodPhase) {
	r.setStatus(ctx, func(s *corev1.PodStatus) {
		s.Phase = phase
		for _, t := range []corev1.PodConditionType{corev1.ContainersReady, corev1.PodReady} {
			setCondition(s, t, corev1.ConditionFalse, "PodCompleted")
		}
	})
}

// setCondition sets one condition, keeping the others (such as the
// DisruptionTarget condition an eviction adds).
func setCondition(s *corev1.PodStatus, t corev1.PodConditionType, status corev1.ConditionStatus, reason string) {
	now := metav1.Now()
	for i := range s.Conditions {
		if s.Conditions[i].Type == t {
			if s.Conditions[i].Status != status {
				s.Conditions[i].LastTransitionTime = now
			}
			s.Conditions[i].Status, s.Conditions[i].Reason = status, reason
			return
		}
	}
	s.Conditions = append(s.Conditions, corev1.PodCondition{Type: t, Status: status, Reason: reason, LastTransitionTime: now})
}
