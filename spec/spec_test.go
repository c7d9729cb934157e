package spec_test

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graphjob/graphjob/spec"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// TestInvalidFiles loads each file under testdata/invalid and compares the
// error with its golden file.
func TestInvalidFiles(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid/*.yaml")
	if err != nil || len(files) < 25 {
		t.Fatalf("want at least 25 invalid files, found %d (%v)", len(files), err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".yaml"), func(t *testing.T) {
			_, err := spec.Load(file)
			if err == nil {
				t.Fatal("loaded without error")
			}
			if !errors.Is(err, spec.ErrInvalid) {
				t.Errorf("error does not match ErrInvalid: %v", err)
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(file, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./spec -run TestInvalidFiles -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("error:\n%s\nwant:\n%s", got, want)
			}
			// Every line names the file, and a position when there is one.
			for _, line := range strings.Split(strings.TrimSpace(got), "\n") {
				if !strings.HasPrefix(line, file+":") {
					t.Errorf("line %q does not start with the file name", line)
				}
			}
		})
	}
}
