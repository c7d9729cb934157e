package kubelet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// Image is what a container image runs: Executable when the container has no
// command, or when the command's first word is Executable's base name.
// Other commands run from the host's PATH.
type Image struct {
	Executable string
}

// Options configure a Kubelet.
type Options struct {
	// NodeName is the Node's name. Default "graphjob-e2e".
	NodeName string
	// Images maps image references to what they run.
	Images map[string]Image
	// Dir keeps volumes and container logs. A temporary directory when empty.
	Dir string
	// APIServer is the API server's host:port, given to pods as
	// KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT.
	APIServer string
}

// Kubelet runs the pods bound to one Node.
type Kubelet struct {
	opts   Options
	client kubernetes.Interface
	stop   context.CancelFunc
	done   <-chan struct{} // closed by Stop
	wg     sync.WaitGroup
	port   int // of the log server

	mu   sync.Mutex
	pods map[types.UID]*podRunner
	// finished holds pods whose run ended, until they are deleted: a late
	// event that still shows one running must not start it again.
	finished map[types.UID]bool
}

// Start registers the Node, Ready, and runs the pods bound to it until Stop.
func Start(ctx context.Context, client kubernetes.Interface, opts Options) (*Kubelet, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("kubelet: the process kubelet runs as root: it mounts volumes in private mount namespaces and switches to each pod's user")
	}
	if opts.NodeName == "" {
		opts.NodeName = "graphjob-e2e"
	}
	if opts.Dir == "" {
		dir, err := os.MkdirTemp("", "graphjob-kubelet-")
		if err != nil {
			return nil, err
		}
		opts.Dir = dir
	}
	if err := os.Chmod(opts.Dir, 0o755); err != nil { // pods running as other users reach their volumes
		return nil, err
	}
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	k := &Kubelet{opts: opts, client: client, stop: stop, done: runCtx.Done(), pods: map[types.UID]*podRunner{}, finished: map[types.UID]bool{}}
	var err error
	if k.port, err = k.serve(); err != nil {
		stop()
		return nil, err
	}
	if err := k.registerNode(ctx); err != nil {
		stop()
		k.wg.Wait()
		return nil, err
	}
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", opts.NodeName).String()
	}))
	inf := factory.Core().V1().Pods().Informer()
	_, err = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { k.sync(runCtx, obj) },
		UpdateFunc: func(_, obj any) { k.sync(runCtx, obj) },
		DeleteFunc: func(obj any) {
			if pod, ok := obj.(*corev1.Pod); ok {
				k.mu.Lock()
				delete(k.finished, pod.UID)
				k.mu.Unlock()
			}
		},
	})
	if err != nil {
		stop()
		return nil, err
	}
	factory.Start(runCtx.Done())
	k.wg.Go(func() { factory.Shutdown() })
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		stop()
		return nil, errors.New("kubelet: pod informer did not sync")
	}
	k.wg.Go(func() { k.heartbeat(runCtx) })
	return k, nil
}

// Stop kills every pod's processes at once and stops watching.
func (k *Kubelet) Stop() {
	k.stop()
	k.mu.Lock()
	runners := make([]*podRunner, 0, len(k.pods))
	for _, r := range k.pods {
		runners = append(runners, r)
	}
	k.mu.Unlock()
	for _, r := range runners {
		r.kill(0)
	}
	k.wg.Wait()
}

// Log returns what a container of a pod has written to stdout and stderr.
func (k *Kubelet) Log(pod *corev1.Pod, container string) (string, error) {
	b, err := os.ReadFile(filepath.Join(k.opts.Dir, string(pod.UID), container+".log"))
	return string(b), err
}

func (k *Kubelet) sync(ctx context.Context, obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	k.mu.Lock()
	r := k.pods[pod.UID]
	if r == nil {
		if k.finished[pod.UID] || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			k.mu.Unlock()
			if pod.DeletionTimestamp != nil {
				k.remove(ctx, pod)
			}
			return
		}
		r = newPodRunner(k, pod)
		k.pods[pod.UID] = r
		k.wg.Go(func() {
			r.run(ctx)
			k.remove(ctx, r.pod)
			k.mu.Lock()
			delete(k.pods, pod.UID)
			k.finished[pod.UID] = true
			k.mu.Unlock()
		})
	}
	k.mu.Unlock()
	if pod.DeletionTimestamp != nil {
		grace := int64(0)
		if pod.DeletionGracePeriodSeconds != nil {
			grace = *pod.DeletionGracePeriodSeconds
		}
		r.kill(time.Duration(grace) * time.Second)
	}
}

// remove deletes a pod whose deletion was asked for, once its processes
// have ended, as the kubelet does.
func (k *Kubelet) remove(ctx context.Context, pod *corev1.Pod) {
	cur, err := k.client.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
	if err != nil || cur.UID != pod.UID || cur.DeletionTimestamp == nil {
		return
	}
	uid := pod.UID
	_ = k.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: new(int64), Preconditions: &metav1.Preconditions{UID: &uid},
	})
}

func (k *Kubelet) registerNode(ctx context.Context) error {
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: k.opts.NodeName, Labels: map[string]string{
			"kubernetes.io/hostname": k.opts.NodeName, "kubernetes.io/os": "linux",
		}},
	}
	_, err := k.client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("kubelet: registering node: %w", err)
	}
	if err := k.updateNodeStatus(ctx); err != nil {
		return fmt.Errorf("kubelet: node status: %w", err)
	}
	return k.untaint(ctx)
}

// untaint removes the not-ready taint that admission puts on new Nodes,
// which the node-lifecycle controller (not run here) would lift once the
// Node is Ready.
func (k *Kubelet) untaint(ctx context.Context) error {
	node, err := k.client.CoreV1().Nodes().Get(ctx, k.opts.NodeName, metav1.GetOptions{})
	if err != nil {
		return err
	}
	taints := node.Spec.Taints[:0]
	for _, t := range node.Spec.Taints {
		if t.Key != corev1.TaintNodeNotReady {
			taints = append(taints, t)
		}
	}
	node.Spec.Taints = taints
	if _, err := k.client.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("kubelet: removing the not-ready taint: %w", err)
	}
	return nil
}

func (k *Kubelet) updateNodeStatus(ctx context.Context) error {
	node, err := k.client.CoreV1().Nodes().Get(ctx, k.opts.NodeName, metav1.GetOptions{})
	if err != nil {
		return err
	}
	now := metav1.Now()
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("16"),
		corev1.ResourceMemory: resource.MustParse("64Gi"),
		corev1.ResourcePods:   resource.MustParse("250"),
	}
	node.Status.Capacity, node.Status.Allocatable = capacity, capacity
	node.Status.Conditions = []corev1.NodeCondition{{
		Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
		Message: "process kubelet is posting ready status", LastHeartbeatTime: now, LastTransitionTime: now,
	}}
	node.Status.Addresses = []corev1.NodeAddress{
		{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}, {Type: corev1.NodeHostName, Address: k.opts.NodeName},
	}
	node.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(k.port)
	node.Status.NodeInfo = corev1.NodeSystemInfo{KubeletVersion: "v1.37.2", OperatingSystem: "linux", Architecture: "amd64"}
	_, err = k.client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
	return err
}

// heartbeat keeps the Node Ready.
func (k *Kubelet) heartbeat(ctx context.Context) {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = k.updateNodeStatus(ctx)
		}
	}
}
