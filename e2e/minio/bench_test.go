package minio_test

import (
	"strings"
	"testing"

	"github.com/graphjob/graphjob/checkpoints"
	"github.com/graphjob/graphjob/checkpoints/storetest"
	"github.com/graphjob/graphjob/e2e/minio"
)

// BenchmarkCommit measures the commit of one step of a 1 KiB state on MinIO.
func BenchmarkCommit(b *testing.B) {
	s := minio.StartForTest(b)
	if err := s.CreateBucket(b.Context(), "bench"); err != nil {
		b.Fatal(err)
	}
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		b.Setenv(k, v)
	}
	st, err := checkpoints.Open(b.Context(), s.URL("bench"), checkpoints.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	storetest.BenchmarkCommit(b, st)
}
