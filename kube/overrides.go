package kube

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/graphjob/graphjob/contract"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
)

// The resources of a run's container when nothing else is said.
const (
	DefaultCPU         = "100m"
	DefaultMemory      = "128Mi"
	DefaultMemoryLimit = "512Mi"
)

// Overrides are the settings of a run's Job that a user chooses, as a
// scheduler's configuration file writes them (its job: fields) and as the
// command line's flags give them. Apply checks them and sets them on a
// Template; an empty field keeps the Template's value or the default.
type Overrides struct {
	Image          string   `yaml:"image"`
	ServiceAccount string   `yaml:"serviceAccount"`
	StoreSecret    string   `yaml:"storeSecret"`
	CPU            string   `yaml:"cpu"`
	Memory         string   `yaml:"memory"`
	MemoryLimit    string   `yaml:"memoryLimit"`
	Env            []EnvVar `yaml:"env"`
	// EnvFromSecrets name Secrets whose keys all become the pod's
	// environment, as StoreSecret's do.
	EnvFromSecrets []string `yaml:"envFromSecrets"`
	// ActiveDeadline bounds a run's time, TTLAfterFinished deletes its
	// finished Job: durations such as 2h.
	ActiveDeadline   string `yaml:"activeDeadline"`
	TTLAfterFinished string `yaml:"ttlAfterFinished"`
}

// EnvVar is a variable of the run's pod: a value, or a key of a Secret.
type EnvVar struct {
	Name   string `yaml:"name"`
	Value  string `yaml:"value"`
	Secret string `yaml:"secret"`
	Key    string `yaml:"key"`
}

// secretPrefix marks a variable's value that is a Secret's key.
const secretPrefix = "secret:"

// ParseEnv reads a variable as the command line writes it: NAME=VALUE, or
// NAME=secret:SECRET/KEY for the key KEY of the Secret SECRET (a
// secretKeyRef: the value never appears in the Job). A value that starts
// with "secret:" is always a reference, so a literal one belongs in a
// Secret too.
func ParseEnv(s string) (EnvVar, error) {
	name, value, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return EnvVar{}, fmt.Errorf("%q: write NAME=VALUE, or NAME=secret:SECRET/KEY for a Secret's key", s)
	}
	ref, isRef := strings.CutPrefix(value, secretPrefix)
	if !isRef {
		return EnvVar{Name: name, Value: value}, nil
	}
	secret, key, _ := strings.Cut(ref, "/")
	v := EnvVar{Name: name, Secret: secret, Key: key}
	if err := v.checkRef(); err != nil {
		return EnvVar{}, fmt.Errorf("%q: %w", s, err)
	}
	return v, nil
}

// checkRef checks the Secret and key a variable refers to.
func (v EnvVar) checkRef() error {
	if msgs := validation.IsDNS1123Subdomain(v.Secret); len(msgs) > 0 {
		return fmt.Errorf("the Secret %q: write secret:SECRET/KEY, SECRET a Secret's name (lower-case letters, digits, '-' and '.')", v.Secret)
	}
	if msgs := validation.IsConfigMapKey(v.Key); len(msgs) > 0 {
		return fmt.Errorf("the key %q of Secret %s: write secret:SECRET/KEY, KEY a key of the Secret (letters, digits, '-', '_' and '.')", v.Key, v.Secret)
	}
	return nil
}

// With returns o with top's fields on it: a field top sets wins, and top's
// variables replace o's of the same name.
func (o Overrides) With(top Overrides) Overrides {
	pick := func(top, base string) string {
		if top != "" {
			return top
		}
		return base
	}
	out := Overrides{
		Image: pick(top.Image, o.Image), ServiceAccount: pick(top.ServiceAccount, o.ServiceAccount),
		StoreSecret: pick(top.StoreSecret, o.StoreSecret), CPU: pick(top.CPU, o.CPU), Memory: pick(top.Memory, o.Memory),
		MemoryLimit: pick(top.MemoryLimit, o.MemoryLimit), ActiveDeadline: pick(top.ActiveDeadline, o.ActiveDeadline),
		TTLAfterFinished: pick(top.TTLAfterFinished, o.TTLAfterFinished),
	}
	for _, v := range o.Env {
		if !slices.ContainsFunc(top.Env, func(w EnvVar) bool { return w.Name == v.Name }) {
			out.Env = append(out.Env, v)
		}
	}
	out.Env = append(out.Env, top.Env...)
	for _, s := range append(slices.Clone(o.EnvFromSecrets), top.EnvFromSecrets...) {
		if !slices.Contains(out.EnvFromSecrets, s) {
			out.EnvFromSecrets = append(out.EnvFromSecrets, s)
		}
	}
	return out
}

// Apply checks the overrides and sets them on t. An error names each field
// that is wrong as field(name) says, name being the field's YAML name
// (such as memoryLimit): a file's job.memoryLimit, a command's
// --memory-limit.
func (o Overrides) Apply(t *Template, field func(name string) string) error {
	var errs []error
	pick := func(v, base string) string {
		if v != "" {
			return v
		}
		return base
	}
	t.Image, t.ServiceAccount, t.StoreSecret = pick(o.Image, t.Image), pick(o.ServiceAccount, t.ServiceAccount), pick(o.StoreSecret, t.StoreSecret)
	quantity := func(name, v, def string) resource.Quantity {
		q, err := resource.ParseQuantity(pick(v, def))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %q: give a quantity such as 500m or 1Gi", field(name), v))
		}
		return q
	}
	t.Resources = corev1.ResourceRequirements{
		Requests: corev1.ResourceList{
			corev1.ResourceCPU:    quantity("cpu", o.CPU, DefaultCPU),
			corev1.ResourceMemory: quantity("memory", o.Memory, DefaultMemory),
		},
		Limits: corev1.ResourceList{corev1.ResourceMemory: quantity("memoryLimit", o.MemoryLimit, DefaultMemoryLimit)},
	}
	duration := func(name, v string) time.Duration {
		if v == "" {
			return 0
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("%s %q: give a duration such as 2h", field(name), v))
		}
		return d
	}
	if d := duration("activeDeadline", o.ActiveDeadline); d > 0 {
		t.ActiveDeadline = d
	}
	if d := duration("ttlAfterFinished", o.TTLAfterFinished); d > 0 {
		t.TTLAfterFinished = &d
	}
	for _, v := range o.Env {
		switch {
		case v.Name == "":
			errs = append(errs, fmt.Errorf("%s: a variable has no name", field("env")))
		case strings.HasPrefix(v.Name, "GRAPHJOB_") || v.Name == contract.EnvCompletionIndex:
			// The run's identity: set, a schedule's every slot would be one run.
			errs = append(errs, fmt.Errorf("%s %s: graphjob sets it for each run; give another name", field("env"), v.Name))
		case v.Secret == "" && v.Key == "":
			t.Env = append(t.Env, corev1.EnvVar{Name: v.Name, Value: v.Value})
		case v.Secret != "" && v.Key != "" && v.Value == "":
			if err := v.checkRef(); err != nil {
				errs = append(errs, fmt.Errorf("%s %s: %w", field("env"), v.Name, err))
				continue
			}
			t.Env = append(t.Env, corev1.EnvVar{Name: v.Name, ValueFrom: &corev1.EnvVarSource{
				SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: v.Secret}, Key: v.Key},
			}})
		default:
			errs = append(errs, fmt.Errorf("%s %s: give a value, or a secret and its key", field("env"), v.Name))
		}
	}
	for _, s := range o.EnvFromSecrets {
		if msgs := validation.IsDNS1123Subdomain(s); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("%s %q: give a Secret's name (lower-case letters, digits, '-' and '.')", field("envFromSecrets"), s))
			continue
		}
		t.EnvFrom = append(t.EnvFrom, corev1.EnvFromSource{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: s}}})
	}
	return errors.Join(errs...)
}
