package main

import (
	"os"
	"strings"
	"testing"
)

// TestImage checks the Dockerfile builds the binary as make build does (and
// e2e runs it) and runs it as the Jobs expect: static, trimmed, stamped,
// distroless, non-root 65532, /graphjob as the entrypoint. (No Docker here:
// the image itself is built by make image.)
func TestImage(t *testing.T) {
	dockerfile, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	makefile, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"CGO_ENABLED=0 go build -trimpath", `-ldflags "-s -w -X main.version=${VERSION}"`, "./cmd/graphjob",
		"FROM gcr.io/distroless/static-debian12:nonroot", "USER 65532:65532", `ENTRYPOINT ["/graphjob"]`} {
		if !strings.Contains(string(dockerfile), want) {
			t.Errorf("the Dockerfile lacks %q", want)
		}
	}
	for _, want := range []string{"LDFLAGS   := -s -w -X main.version=$(VERSION)", "CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)'"} {
		if !strings.Contains(string(makefile), want) {
			t.Errorf("the Makefile lacks %q: keep make build, the Dockerfile and e2e building alike", want)
		}
	}
}
