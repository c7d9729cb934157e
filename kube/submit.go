package kube

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// ErrJobExists is returned by Submit when the run's Job exists already.
var ErrJobExists = errors.New("the Job exists")

// ServerVersion asks the API server its version.
func ServerVersion(client kubernetes.Interface) (Version, error) {
	info, err := client.Discovery().ServerVersion()
	if err != nil {
		return Version{}, fmt.Errorf("asking the API server its version: %w", err)
	}
	return ParseVersion(info.Major, info.Minor)
}

// Submit creates the run's Job and, when it reads the graph from a
// ConfigMap, the ConfigMap holding file (which may exist: it is named after
// the graph's digest). With dryRun the server validates both and creates
// nothing. It returns the objects as the server has them.
func Submit(ctx context.Context, client kubernetes.Interface, r Template, file []byte, dryRun bool) (*corev1.ConfigMap, *batchv1.Job, error) {
	job, err := Job(r)
	if err != nil {
		return nil, nil, err
	}
	opts := metav1.CreateOptions{FieldManager: "graphjob"}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	var cm *corev1.ConfigMap
	if r.Graph.ConfigMap != "" {
		cm, err = ensureConfigMap(ctx, client, ConfigMap(r.Namespace, r.Graph.Name, r.Graph.Digest, file), opts)
		if err != nil {
			return nil, nil, err
		}
	}
	created, err := client.BatchV1().Jobs(r.Namespace).Create(ctx, job, opts)
	if apierrors.IsAlreadyExists(err) {
		return cm, nil, fmt.Errorf("job %s/%s: %w: it is run %s; to start another run, give another --name", r.Namespace, r.Name, ErrJobExists, r.Name)
	}
	if err != nil {
		return cm, nil, fmt.Errorf("creating job %s/%s: %w", r.Namespace, r.Name, err)
	}
	return cm, created, nil
}

// ensureConfigMap creates the graph's ConfigMap, or checks the one there
// holds the same file.
func ensureConfigMap(ctx context.Context, client kubernetes.Interface, cm *corev1.ConfigMap, opts metav1.CreateOptions) (*corev1.ConfigMap, error) {
	created, err := client.CoreV1().ConfigMaps(cm.Namespace).Create(ctx, cm, opts)
	if err == nil {
		return created, nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("creating configmap %s/%s: %w", cm.Namespace, cm.Name, err)
	}
	have, err := client.CoreV1().ConfigMaps(cm.Namespace).Get(ctx, cm.Name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("reading configmap %s/%s: %w", cm.Namespace, cm.Name, err)
	}
	if !bytes.Equal([]byte(have.Data[GraphKey]), []byte(cm.Data[GraphKey])) {
		return nil, fmt.Errorf("configmap %s/%s holds another file than the graph's (%s): delete it, it was not made by graphjob", cm.Namespace, cm.Name, cm.Annotations[AnnotationDigest])
	}
	return have, nil
}
