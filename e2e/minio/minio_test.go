package minio_test

import (
	"strings"
	"testing"

	"gocloud.dev/blob"
	_ "gocloud.dev/blob/s3blob"
	"gocloud.dev/gcerrors"

	"github.com/graphjob/graphjob/e2e/minio"
)

// TestConditionalWrites checks what the checkpoint store relies on: through
// gocloud's URL, a create-only write of an existing key fails with
// FailedPrecondition and leaves the first object intact.
func TestConditionalWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("starts MinIO")
	}
	s := minio.StartForTest(t)
	if err := s.CreateBucket(t.Context(), "runs"); err != nil {
		t.Fatal(err)
	}
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	b, err := blob.OpenBucket(t.Context(), s.URL("runs"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	create := &blob.WriterOptions{IfNotExist: true}
	if err := b.WriteAll(t.Context(), "steps/0001", []byte("first"), create); err != nil {
		t.Fatal(err)
	}
	err = b.WriteAll(t.Context(), "steps/0001", []byte("second"), create)
	if gcerrors.Code(err) != gcerrors.FailedPrecondition {
		t.Fatalf("second create-only write: %v (code %v), want FailedPrecondition", err, gcerrors.Code(err))
	}
	got, err := b.ReadAll(t.Context(), "steps/0001")
	if err != nil || string(got) != "first" {
		t.Fatalf("object holds %q, %v; want the first write", got, err)
	}
	if _, err := b.ReadAll(t.Context(), "missing"); gcerrors.Code(err) != gcerrors.NotFound {
		t.Errorf("missing object: %v", err)
	}
}
