package kubelet

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// prepareVolumes writes the pod's volumes under its directory and returns
// each volume's host path by name.
func (r *podRunner) prepareVolumes(ctx context.Context) (map[string]string, error) {
	paths := map[string]string{}
	for _, v := range r.pod.Spec.Volumes {
		dir := filepath.Join(r.dir, "volumes", v.Name)
		var err error
		switch {
		case v.EmptyDir != nil:
			if err = os.MkdirAll(dir, 0o777); err == nil {
				err = os.Chmod(dir, 0o777) // whatever the umask: any runAsUser writes it
			}
		case v.HostPath != nil:
			dir = v.HostPath.Path
		case v.ConfigMap != nil:
			err = r.writeConfigMap(ctx, dir, v.ConfigMap.Name, v.ConfigMap.Items, v.ConfigMap.Optional, v.ConfigMap.DefaultMode)
		case v.Secret != nil:
			err = r.writeSecret(ctx, dir, v.Secret.SecretName, v.Secret.Items, v.Secret.Optional, v.Secret.DefaultMode)
		case v.DownwardAPI != nil:
			err = r.writeDownwardAPI(dir, v.DownwardAPI.Items, v.DownwardAPI.DefaultMode)
		case v.Projected != nil:
			err = r.writeProjected(ctx, dir, v.Projected)
		default:
			err = fmt.Errorf("unsupported volume type")
		}
		if err != nil {
			return nil, fmt.Errorf("volume %q: %w", v.Name, err)
		}
		paths[v.Name] = dir
	}
	return paths, nil
}

func (r *podRunner) writeConfigMap(ctx context.Context, dir, name string, items []corev1.KeyToPath, opt *bool, mode *int32) error {
	cm, err := r.k.client.CoreV1().ConfigMaps(r.pod.Namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		if optional(opt) {
			return os.MkdirAll(dir, 0o755)
		}
		return err
	}
	data := map[string][]byte{}
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return writeFiles(dir, data, items, mode)
}

func (r *podRunner) writeSecret(ctx context.Context, dir, name string, items []corev1.KeyToPath, opt *bool, mode *int32) error {
	s, err := r.k.client.CoreV1().Secrets(r.pod.Namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		if optional(opt) {
			return os.MkdirAll(dir, 0o755)
		}
		return err
	}
	return writeFiles(dir, s.Data, items, mode)
}

func (r *podRunner) writeDownwardAPI(dir string, items []corev1.DownwardAPIVolumeFile, mode *int32) error {
	data := map[string][]byte{}
	var paths []corev1.KeyToPath
	for _, it := range items {
		if it.FieldRef == nil {
			continue // resourceFieldRef: no resources here
		}
		v, err := r.field(it.FieldRef.FieldPath)
		if err != nil {
			return err
		}
		data[it.Path] = []byte(v)
		paths = append(paths, corev1.KeyToPath{Key: it.Path, Path: it.Path, Mode: it.Mode})
	}
	return writeFiles(dir, data, paths, mode)
}

// writeProjected writes a projected volume, such as the service-account
// token volume that admission adds to pods, into one directory.
func (r *podRunner) writeProjected(ctx context.Context, dir string, p *corev1.ProjectedVolumeSource) error {
	for _, src := range p.Sources {
		var err error
		switch {
		case src.ServiceAccountToken != nil:
			err = r.writeToken(ctx, dir, src.ServiceAccountToken, p.DefaultMode)
		case src.ConfigMap != nil:
			err = r.writeConfigMap(ctx, dir, src.ConfigMap.Name, src.ConfigMap.Items, src.ConfigMap.Optional, p.DefaultMode)
		case src.Secret != nil:
			err = r.writeSecret(ctx, dir, src.Secret.Name, src.Secret.Items, src.Secret.Optional, p.DefaultMode)
		case src.DownwardAPI != nil:
			err = r.writeDownwardAPI(dir, src.DownwardAPI.Items, p.DefaultMode)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (r *podRunner) writeToken(ctx context.Context, dir string, src *corev1.ServiceAccountTokenProjection, mode *int32) error {
	sa := r.pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	req := &authv1.TokenRequest{Spec: authv1.TokenRequestSpec{
		ExpirationSeconds: src.ExpirationSeconds,
		BoundObjectRef:    &authv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: r.pod.Name, UID: r.pod.UID},
	}}
	if src.Audience != "" {
		req.Spec.Audiences = []string{src.Audience}
	}
	tok, err := r.k.client.CoreV1().ServiceAccounts(r.pod.Namespace).CreateToken(ctx, sa, req, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("service account token: %w", err)
	}
	return writeFiles(dir, map[string][]byte{src.Path: []byte(tok.Status.Token)}, nil, mode)
}

// writeFiles writes data's keys as files (items picks and renames them),
// readable by any user unless a mode says otherwise.
func writeFiles(dir string, data map[string][]byte, items []corev1.KeyToPath, mode *int32) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if items == nil {
		for k := range data {
			items = append(items, corev1.KeyToPath{Key: k, Path: k})
		}
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			return fmt.Errorf("no key %q", it.Key)
		}
		perm := os.FileMode(0o644)
		if it.Mode != nil {
			perm = os.FileMode(*it.Mode)
		} else if mode != nil {
			perm = os.FileMode(*mode)
		}
		path := filepath.Join(dir, it.Path)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, v, perm); err != nil {
			return err
		}
		if err := os.Chmod(path, perm); err != nil {
			return err
		}
	}
	return nil
}
