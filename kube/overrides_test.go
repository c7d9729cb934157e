package kube_test

import (
	"strings"
	"testing"
	"time"

	"github.com/graphjob/graphjob/kube"
)

// TestOverrides: a schedule's settings win over its file's, defaults fill
// what neither says, and each mistake names its field as the caller names it.
func TestOverrides(t *testing.T) {
	file := kube.Overrides{Image: "file:v1", CPU: "250m", Env: []kube.EnvVar{{Name: "A", Value: "file"}, {Name: "B", Value: "file"}}}
	own := kube.Overrides{Image: "own:v2", TTLAfterFinished: "24h", Env: []kube.EnvVar{{Name: "B", Value: "own"}, {Name: "C", Secret: "s", Key: "k"}}}
	var tmpl kube.Template
	if err := file.With(own).Apply(&tmpl, func(n string) string { return "job." + n }); err != nil {
		t.Fatal(err)
	}
	cpu, mem, limit := tmpl.Resources.Requests.Cpu(), tmpl.Resources.Requests.Memory(), tmpl.Resources.Limits.Memory()
	switch {
	case tmpl.Image != "own:v2" || *tmpl.TTLAfterFinished != 24*time.Hour:
		t.Errorf("image %s, ttl %v", tmpl.Image, tmpl.TTLAfterFinished)
	case cpu.String() != "250m" || mem.String() != kube.DefaultMemory || limit.String() != kube.DefaultMemoryLimit:
		t.Errorf("resources %v", tmpl.Resources)
	case len(tmpl.Env) != 3 || tmpl.Env[0].Value != "file" || tmpl.Env[1].Value != "own" || tmpl.Env[2].ValueFrom.SecretKeyRef.Key != "k":
		t.Errorf("env %v", tmpl.Env)
	}

	bad := kube.Overrides{CPU: "lots", MemoryLimit: "1 GB", ActiveDeadline: "soon", Env: []kube.EnvVar{{Value: "x"}, {Name: "D", Value: "v", Secret: "s", Key: "k"}}}
	err := bad.Apply(&kube.Template{}, func(n string) string { return "job." + n })
	for _, want := range []string{`job.cpu "lots": give a quantity`, `job.memoryLimit "1 GB"`, `job.activeDeadline "soon": give a duration`, "job.env: a variable has no name", "job.env D: give a value, or a secret and its key"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q: %v", want, err)
		}
	}
}
