package main

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGraphURL runs a graph given as a URL: file:// reads the file; an
// object that is not in its bucket is invalid input (exit 2).
func TestGraphURL(t *testing.T) {
	abs, err := filepath.Abs(loop)
	if err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := cli(t, t.Context(), "run", "file://"+abs)
	if code != 0 || strings.TrimSpace(stdout) != `{"done":true,"step":5}` {
		t.Fatalf("file URL: exit %d, %s\n%s", code, stdout, stderr)
	}
	code, stdout, stderr = cli(t, t.Context(), "validate", "file://"+abs)
	if code != 0 || !strings.Contains(stdout, "ok (graph loop") {
		t.Fatalf("validate a file URL: exit %d, %s\n%s", code, stdout, stderr)
	}
	code, _, stderr = cli(t, t.Context(), "run", "mem://graphs/loop.yaml")
	if code != 2 || !strings.Contains(stderr, "mem://graphs/loop.yaml: cannot read the graph file") {
		t.Fatalf("missing object: exit %d\n%s", code, stderr)
	}
}

func TestRender(t *testing.T) {
	tests := []struct {
		desc      string
		args      []string
		code      int
		stdoutHas string
		stderrHas string
	}{
		{"a job", []string{"render", "job", loop, "--store", "s3://runs", "--name", "loop-1"}, 0, "kind: Job\nmetadata:\n  annotations:\n    graphjob.dev/graph-digest: sha256:", ""},
		{"with its ConfigMap", []string{"render", "job", loop, "--store", "s3://runs"}, 0, "name: graph-loop-", ""},
		{"a graph from a URL has no ConfigMap", []string{"render", "job", loop, "--store", "s3://runs", "--graph-url", "s3://graphs/loop.yaml"}, 0, "apiVersion: batch/v1\nkind: Job", ""},
		{"a cronjob", []string{"render", "cronjob", loop, "--store", "s3://runs", "--schedule", "@daily", "--time-zone", "Europe/Berlin"}, 0, "timeZone: Europe/Berlin", ""},
		{"json", []string{"render", "job", loop, "--store", "s3://runs", "-o", "json"}, 0, `"kind": "List"`, ""},
		{"an old server", []string{"render", "job", loop, "--store", "s3://runs", "--kube-version", "1.28"}, 0, "backoffLimit: 6", ""},
		{"no store", []string{"render", "job", loop}, 2, "", "no store"},
		{"a local store", []string{"render", "job", loop, "--store", "file:///tmp/x"}, 2, "", "the pod's own"},
		{"no schedule", []string{"render", "cronjob", loop, "--store", "s3://runs"}, 2, "", "needs a schedule"},
		{"a bad policy", []string{"render", "cronjob", loop, "--store", "s3://runs", "--schedule", "@daily", "--concurrency-policy", "Sometimes"}, 2, "", "Allow, Forbid or Replace"},
		{"input numbers stay exact", []string{"render", "job", loop, "--store", "s3://runs", "--input", `{"step": 9007199254740993}`}, 0, `'{"step":9007199254740993}'`, ""},
		{"input of the wrong type", []string{"render", "job", loop, "--store", "s3://runs", "--input", `{"step": "x"}`}, 2, "", `--input: invalid input: channel "step": "x" is not an int`},
		{"a bad quantity", []string{"render", "job", loop, "--store", "s3://runs", "--memory", "lots"}, 2, "", "--memory \"lots\""},
		{"the release's image by default", []string{"render", "job", loop, "--store", "s3://runs"}, 0, "image: ghcr.io/graphjob/graphjob:" + release + "\n        imagePullPolicy: IfNotPresent\n", ""},
		{"latest is pulled every time", []string{"render", "job", loop, "--store", "s3://runs", "--image", "ghcr.io/graphjob/graphjob:latest"}, 0, "imagePullPolicy: Always", ""},
		{"a Secret's key", []string{"render", "job", loop, "--store", "s3://runs", "--env", "API_TOKEN=secret:llm-keys/openai", "--env", "MODE=batch"}, 0,
			"- name: API_TOKEN\n          valueFrom:\n            secretKeyRef:\n              key: openai\n              name: llm-keys\n        - name: MODE\n          value: batch\n", ""},
		{"a Secret's keys", []string{"render", "job", loop, "--store", "s3://runs", "--store-secret", "graphjob-store", "--env-from-secret", "llm-keys"}, 0,
			"envFrom:\n        - secretRef:\n            name: graphjob-store\n        - secretRef:\n            name: llm-keys\n", ""},
		{"a Secret's key without the key", []string{"render", "job", loop, "--store", "s3://runs", "--env", "API_TOKEN=secret:llm-keys"}, 2, "", `--env "API_TOKEN=secret:llm-keys": the key ""`},
		{"a bad Secret", []string{"render", "job", loop, "--store", "s3://runs", "--env-from-secret", "LLM_Keys"}, 2, "", `--env-from-secret "LLM_Keys": give a Secret's name`},
		{"a bad env", []string{"render", "job", loop, "--store", "s3://runs", "--env", "MODE"}, 2, "", `--env "MODE": write NAME=VALUE`},
		{"a bad namespace", []string{"render", "job", loop, "--store", "s3://runs", "-n", "Graph_Jobs"}, 2, "", `-n/--namespace "Graph_Jobs": a namespace's name has at most 63`},
		{"a bad namespace for a ConfigMap", []string{"render", "configmap", loop, "-n", "graphjob."}, 2, "", `-n/--namespace "graphjob."`},
		{"a bad schedule", []string{"render", "cronjob", loop, "--store", "s3://runs", "--schedule", "0 2 * *"}, 2, "", `--schedule "0 2 * *": give five fields`},
		{"a schedule with seconds", []string{"render", "cronjob", loop, "--store", "s3://runs", "--schedule", "0 0 2 * * *"}, 2, "", `--schedule "0 0 2 * * *": give five fields`},
		{"a time zone in the schedule", []string{"render", "cronjob", loop, "--store", "s3://runs", "--schedule", "CRON_TZ=Europe/Berlin 0 2 * * *"}, 2, "", "give the time zone as --time-zone"},
		{"a descriptor", []string{"render", "cronjob", loop, "--store", "s3://runs", "--schedule", "@every 1h"}, 0, "schedule: '@every 1h'", ""},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			code, stdout, stderr := cli(t, t.Context(), tt.args...)
			if code != tt.code || !strings.Contains(stdout, tt.stdoutHas) || !strings.Contains(stderr, tt.stderrHas) {
				t.Errorf("exit %d (want %d)\nstdout:\n%s\nstderr:\n%s", code, tt.code, stdout, stderr)
			}
		})
	}
	// On 1.28, no podReplacementPolicy.
	_, stdout, _ := cli(t, t.Context(), "render", "job", loop, "--store", "s3://runs", "--kube-version", "1.28")
	if strings.Contains(stdout, "podReplacementPolicy") {
		t.Error("podReplacementPolicy rendered for 1.28")
	}
}

// TestLongGraphName renders the Job, CronJob and ConfigMap of a graph whose
// name has 63 characters, the most a graph's name may have.
func TestLongGraphName(t *testing.T) {
	data, err := os.ReadFile(loop)
	if err != nil {
		t.Fatal(err)
	}
	name := strings.Repeat("x", 50) + "-long-graph-1"
	file := writeFile(t, "long.yaml", strings.Replace(string(data), "name: loop", "name: "+name, 1))
	for _, args := range [][]string{
		{"render", "job", file, "--store", "s3://runs"},
		{"render", "cronjob", file, "--store", "s3://runs", "--schedule", "@daily"},
	} {
		code, stdout, stderr := cli(t, t.Context(), args...)
		if code != 0 || !strings.Contains(stdout, "graphjob.dev/graph: "+name+"\n") {
			t.Errorf("%v: exit %d\n%s%s", args, code, stdout, stderr)
		}
	}
}

// TestDefaultImage: Jobs run the image of the release graphjob was built
// from; any other build's Jobs run this source's release, never a moving
// tag.
func TestDefaultImage(t *testing.T) {
	defer func(v string) { version = v }(version)
	for v, want := range map[string]string{
		"dev":                     release,
		"":                        release,
		"v0.3.1":                  "v0.3.1",
		"v0.4.0-rc.2":             "v0.4.0-rc.2",
		"v0.3.1-4-g1a2b3c4":       release,
		"v0.3.1-dirty":            release,
		"1a2b3c4":                 release,
		"v0.3.1-4-g1a2b3c4-dirty": release,
	} {
		version = v
		if got := defaultImage(); got != "ghcr.io/graphjob/graphjob:"+want {
			t.Errorf("version %q: default image %s, want tag %s", v, got, want)
		}
	}
	if !releaseTag.MatchString(release) {
		t.Errorf("release %q is not a release tag", release)
	}
}

var update = flag.Bool("update", false, "rewrite manifests/base/loop.yaml")

// TestManifests checks that manifests/base/loop.yaml is what graphjob render
// makes of the seed's loop, so the manifests never drift from the builder.
func TestManifests(t *testing.T) {
	common := []string{"--image", "ghcr.io/graphjob/graphjob:" + release, "--store", "s3://graphjob-runs?region=eu-central-1",
		"--store-secret", "graphjob-store", "--service-account", "graphjob-run"}
	code, cron, stderr := cli(t, t.Context(), append([]string{"render", "cronjob", loop, "--name", "loop", "--schedule", "0 2 * * *", "--time-zone", "UTC"}, common...)...)
	if code != 0 {
		t.Fatal(stderr)
	}
	code, job, stderr := cli(t, t.Context(), append([]string{"render", "job", loop, "--name", "loop-once"}, common...)...)
	if code != 0 {
		t.Fatal(stderr)
	}
	_, jobOnly, _ := strings.Cut(job, "---\n")
	got := `# Rendered by graphjob from examples/loop/graph.yaml, in the repository's root:
#   graphjob render cronjob examples/loop/graph.yaml --name loop --schedule '0 2 * * *' --time-zone UTC \
#     --image ghcr.io/graphjob/graphjob:` + release + ` --store 's3://graphjob-runs?region=eu-central-1' \
#     --store-secret graphjob-store --service-account graphjob-run
#   graphjob render job examples/loop/graph.yaml --name loop-once ...the same flags
# (go test ./cmd/graphjob -run TestManifests -update rewrites it.)
` + cron + "---\n" + jobOnly
	path := "../../manifests/base/loop.yaml"
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil || string(want) != got {
		t.Errorf("%s is not what graphjob renders (go test ./cmd/graphjob -run TestManifests -update):\n%s", path, got)
	}
}
