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

// TestNotAGraphFile loads files that are no graph files at all, such as a
// file given by mistake: the error says what the file is not and what a
// graph file starts with, and quotes none of its content, which may be a
// password file or a key.
func TestNotAGraphFile(t *testing.T) {
	const (
		notYAML    = "f: not a graph file: it is not YAML; a graph file is YAML that starts with apiVersion: graphjob.dev/v1 and kind: Graph"
		notMapping = "f: not a graph file: it is YAML but not a mapping; a graph file is a mapping that starts with apiVersion: graphjob.dev/v1 and kind: Graph"
		noHeader   = "f: not a graph file: it has neither apiVersion: graphjob.dev/v1 nor kind: Graph; a graph file starts with both"
	)
	tests := []struct {
		desc, content, want string
		secrets             []string // what the error must not quote
	}{
		{"a password file", "root:$6$saltsalt$hashhashhash:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n", noHeader,
			[]string{"root", "saltsalt", "hashhashhash", "daemon"}},
		{"a private key", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----\n", notMapping,
			[]string{"PRIVATE KEY", "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ"}},
		{"a .env file", "AWS_ACCESS_KEY_ID=AKIAEXAMPLE\nAWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI\n# note: rotate\nexport TOKEN=\"abc: def\"\n", notYAML,
			[]string{"AKIAEXAMPLE", "wJalrXUtnFEMI", "rotate", "abc"}},
		{"YAML credentials", "password: hunter22\napi_key: \"sk-123456\"\n", noHeader, []string{"password", "hunter22", "api_key", "sk-123456"}},
		{"a Kubernetes Secret", "apiVersion: v1\nkind: Secret\ndata:\n  token: c2VjcmV0\n", noHeader, []string{"Secret", "token", "c2VjcmV0"}},
		{"YAML that names an unknown anchor", "password: *hunter22\n", notYAML, []string{"hunter22"}},
		{"a second document with a syntax error", "a: b\n---\nsecret: [hunter22\n", notYAML, []string{"hunter22", "secret"}},
		{"a list", "- hunter22\n- sk-123456\n", notMapping, []string{"hunter22", "sk-123456"}},
		{"binary", "\x00\x01\xffhunter22\x7f", notYAML, []string{"hunter22"}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			_, err := spec.Parse("f", []byte(tt.content))
			if err == nil || !errors.Is(err, spec.ErrInvalid) || err.Error() != tt.want {
				t.Errorf("err = %v, want ErrInvalid: %s", err, tt.want)
			}
			for _, s := range tt.secrets {
				if err != nil && strings.Contains(err.Error(), s) {
					t.Errorf("the error quotes %q", s)
				}
			}
		})
	}
}
