package kube_test

import (
	"errors"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/graphjob/graphjob/kube"
)

func TestSubmit(t *testing.T) {
	client := fake.NewClientset()
	file := []byte("apiVersion: graphjob.dev/v1\n")
	r := run()
	cm, job, err := kube.Submit(t.Context(), client, r, file, false)
	if err != nil {
		t.Fatal(err)
	}
	if cm.Name != r.Graph.ConfigMap || job.Name != "loop-nightly" {
		t.Fatalf("created %s and %s", cm.Name, job.Name)
	}
	// Another run of the same graph shares its ConfigMap.
	r.Name = "loop-again"
	if _, _, err := kube.Submit(t.Context(), client, r, file, false); err != nil {
		t.Fatal(err)
	}
	cms, _ := client.CoreV1().ConfigMaps("graphjob").List(t.Context(), metav1.ListOptions{})
	jobs, _ := client.BatchV1().Jobs("graphjob").List(t.Context(), metav1.ListOptions{})
	if len(cms.Items) != 1 || len(jobs.Items) != 2 {
		t.Errorf("%d ConfigMaps and %d Jobs, want 1 and 2", len(cms.Items), len(jobs.Items))
	}
	// A run's Job is made once.
	if _, _, err := kube.Submit(t.Context(), client, r, file, false); !errors.Is(err, kube.ErrJobExists) || !strings.Contains(err.Error(), "give another --name") {
		t.Errorf("the same run again: %v", err)
	}
	// A ConfigMap of that name holding something else is not used.
	r.Name = "loop-third"
	if _, _, err := kube.Submit(t.Context(), client, r, []byte("other"), false); err == nil || !strings.Contains(err.Error(), "holds another file") {
		t.Errorf("a ConfigMap with other content: %v", err)
	}
	// Bad runs are refused before anything is created.
	r.Image = ""
	if _, _, err := kube.Submit(t.Context(), client, r, file, false); err == nil {
		t.Error("a run with no image was submitted")
	}
}

func TestParseVersion(t *testing.T) {
	for _, tt := range []struct {
		major, minor string
		want         kube.Version
		err          bool
	}{
		{"1", "37", kube.Version{Major: 1, Minor: 37}, false},
		{"1", "29+", kube.Version{Major: 1, Minor: 29}, false},
		{"1", "", kube.Version{}, true},
	} {
		v, err := kube.ParseVersion(tt.major, tt.minor)
		if v != tt.want || (err != nil) != tt.err {
			t.Errorf("ParseVersion(%q, %q) = %v, %v", tt.major, tt.minor, v, err)
		}
	}
	old := kube.Version{Major: 1, Minor: 28}
	if !old.Less(kube.Version{Major: 1, Minor: 29}) || old.AtLeast(kube.Version{Major: 1, Minor: 29}) || !(kube.Version{}).AtLeast(kube.Version{Major: 9, Minor: 9}) {
		t.Error("version order")
	}
}
