package scheduler

import (
	"context"
	"fmt"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"github.com/graphjob/graphjob/contract"
	"github.com/graphjob/graphjob/kube"
)

// Jobs is the Launcher that makes each slot's run a Kubernetes Job, built by
// kube.Job from the schedule's Run with the slot's name and time.
type Jobs struct {
	Client kubernetes.Interface
	// Server is the API server's version (kube.ServerVersion).
	Server kube.Version
	// Image is the Jobs' image when the configuration names none.
	Image string
	// Read reads the graph file at a URL; Describe returns a graph file's
	// name and digest. The scheduler reads graphs only for these two, for
	// the Job's labels: the pod reads its graph itself.
	Read     func(ctx context.Context, url string) ([]byte, error)
	Describe func(file []byte) (name, digest string, err error)

	// graphs caches the graphs of immutable ConfigMaps, by name.
	graphs sync.Map
}

// Launch creates the slot's Job; one that exists is left as it is. A Job
// the API server refuses as invalid, or a graph that is not one, is a
// *TerminalError.
func (j *Jobs) Launch(ctx context.Context, e *Entry, slot time.Time, runID string) error {
	r := e.Job
	r.Name, r.Slot, r.Server = runID, slot, j.Server
	if r.Image == "" {
		r.Image = j.Image
	}
	g, err := j.graph(ctx, e)
	if err != nil {
		return err
	}
	r.Graph = g
	job, err := kube.Job(r)
	if err != nil {
		return &TerminalError{err}
	}
	_, err = j.Client.BatchV1().Jobs(r.Namespace).Create(ctx, job, metav1.CreateOptions{FieldManager: "graphjob-scheduler"})
	switch {
	case err == nil, apierrors.IsAlreadyExists(err):
		return nil
	case apierrors.IsInvalid(err), apierrors.IsBadRequest(err):
		return &TerminalError{fmt.Errorf("the API server refuses job %s/%s: %w", r.Namespace, runID, err)}
	}
	return fmt.Errorf("creating job %s/%s: %w", r.Namespace, runID, err)
}

// Active lists the schedule's Jobs that have not finished, as the API
// server has them now.
func (j *Jobs) Active(ctx context.Context, e *Entry) ([]string, error) {
	list, err := j.Client.BatchV1().Jobs(e.Job.Namespace).List(ctx, metav1.ListOptions{
		LabelSelector: labels.Set{kube.LabelSchedule: e.Name}.String(),
	})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, job := range list.Items {
		if kube.JobState(&job) == contract.Running {
			out = append(out, job.Name)
		}
	}
	return out, nil
}

// State says where a run's Job is: SlotNone if there is none.
func (j *Jobs) State(ctx context.Context, e *Entry, run string) (SlotState, error) {
	job, err := j.Client.BatchV1().Jobs(e.Job.Namespace).Get(ctx, run, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return SlotNone, nil
	}
	if err != nil {
		return "", err
	}
	return SlotState(kube.JobState(job)), nil
}

// Stop deletes a run's Job and its pods: they get SIGTERM and drain, so the
// run stays resumable.
func (j *Jobs) Stop(ctx context.Context, e *Entry, runID string) error {
	err := j.Client.BatchV1().Jobs(e.Job.Namespace).Delete(ctx, runID, metav1.DeleteOptions{
		PropagationPolicy: new(metav1.DeletePropagationBackground),
	})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// graph finds the schedule's graph's name and digest.
func (j *Jobs) graph(ctx context.Context, e *Entry) (kube.Graph, error) {
	ref := e.Graph
	if ref.URL != "" {
		file, err := j.Read(ctx, ref.URL)
		if err != nil {
			return kube.Graph{}, fmt.Errorf("reading the graph %s: %w", ref.URL, err)
		}
		name, digest, err := j.Describe(file)
		if err != nil {
			return kube.Graph{}, &TerminalError{fmt.Errorf("the graph %s: %w", ref.URL, err)}
		}
		return kube.Graph{Name: name, Digest: digest, URL: ref.URL}, nil
	}
	key := e.Job.Namespace + "/" + ref.ConfigMap
	if g, ok := j.graphs.Load(key); ok {
		return g.(kube.Graph), nil
	}
	cm, err := j.Client.CoreV1().ConfigMaps(e.Job.Namespace).Get(ctx, ref.ConfigMap, metav1.GetOptions{})
	if err != nil {
		return kube.Graph{}, fmt.Errorf("reading the graph's configmap: %w", err)
	}
	g := kube.Graph{ConfigMap: ref.ConfigMap, Name: cm.Labels[kube.LabelGraph], Digest: cm.Annotations[kube.AnnotationDigest]}
	if g.Name == "" || g.Digest == "" {
		file, ok := cm.Data[kube.GraphKey]
		if !ok {
			return kube.Graph{}, &TerminalError{fmt.Errorf("configmap %s: it has no %s; make it with graphjob render configmap FILE", key, kube.GraphKey)}
		}
		if g.Name, g.Digest, err = j.Describe([]byte(file)); err != nil {
			return kube.Graph{}, &TerminalError{fmt.Errorf("configmap %s: %w", key, err)}
		}
	}
	if cm.Immutable != nil && *cm.Immutable {
		j.graphs.Store(key, g)
	}
	return g, nil
}

var _ StateLauncher = (*Jobs)(nil)
