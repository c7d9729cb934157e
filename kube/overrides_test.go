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
	file.EnvFromSecrets = []string{"shared", "file-only"}
	own := kube.Overrides{Image: "own:v2", TTLAfterFinished: "24h", Env: []kube.EnvVar{{Name: "B", Value: "own"}, {Name: "C", Secret: "s", Key: "k"}},
		EnvFromSecrets: []string{"shared", "own"}}
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
	case len(tmpl.EnvFrom) != 3 || tmpl.EnvFrom[0].SecretRef.Name != "shared" || tmpl.EnvFrom[1].SecretRef.Name != "file-only" || tmpl.EnvFrom[2].SecretRef.Name != "own":
		t.Errorf("envFrom %v", tmpl.EnvFrom)
	}

	bad := kube.Overrides{CPU: "lots", MemoryLimit: "1 GB", ActiveDeadline: "soon", Env: []kube.EnvVar{{Value: "x"}, {Name: "D", Value: "v", Secret: "s", Key: "k"},
		{Name: "E", Secret: "Not_A_Name", Key: "k"}, {Name: "F", Secret: "s", Key: "a/b"}, {Name: "GRAPHJOB_RUN_ID", Value: "fixed"}}, EnvFromSecrets: []string{"s", "-bad-"}}
	err := bad.Apply(&kube.Template{}, func(n string) string { return "job." + n })
	for _, want := range []string{`job.cpu "lots": give a quantity`, `job.memoryLimit "1 GB"`, `job.activeDeadline "soon": give a duration`, "job.env: a variable has no name",
		"job.env D: give a value, or a secret and its key", `job.env E: the Secret "Not_A_Name"`, `job.env F: the key "a/b" of Secret s`, `job.envFromSecrets "-bad-": give a Secret's name`, "job.env GRAPHJOB_RUN_ID: graphjob sets it for each run"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q: %v", want, err)
		}
	}
}

// TestParseEnv: the command line's --env, a value or a Secret's key.
func TestParseEnv(t *testing.T) {
	tests := []struct {
		desc, in string
		want     kube.EnvVar
		err      string
	}{
		{"a value", "MODE=batch", kube.EnvVar{Name: "MODE", Value: "batch"}, ""},
		{"a value with =", "OPTS=a=b", kube.EnvVar{Name: "OPTS", Value: "a=b"}, ""},
		{"an empty value", "EMPTY=", kube.EnvVar{Name: "EMPTY"}, ""},
		{"a Secret's key", "API_TOKEN=secret:llm-keys/openai.token", kube.EnvVar{Name: "API_TOKEN", Secret: "llm-keys", Key: "openai.token"}, ""},
		{"no =", "MODE", kube.EnvVar{}, `"MODE": write NAME=VALUE, or NAME=secret:SECRET/KEY`},
		{"no name", "=x", kube.EnvVar{}, "write NAME=VALUE"},
		{"no key", "T=secret:llm-keys", kube.EnvVar{}, `the key "" of Secret llm-keys`},
		{"no Secret", "T=secret:/token", kube.EnvVar{}, `the Secret ""`},
		{"a Secret that cannot be one", "T=secret:LLM_Keys/token", kube.EnvVar{}, `the Secret "LLM_Keys"`},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			got, err := kube.ParseEnv(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("ParseEnv(%q) = %+v, %v; want an error saying %q", tt.in, got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ParseEnv(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
		})
	}
}
