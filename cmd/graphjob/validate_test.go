package main

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestValidateNotAGraphFile: validate given a file that is not a graph file
// at all (a password file, a key, a .env file, given by mistake) says what
// the file is not and exits 2, quoting none of it.
func TestValidateNotAGraphFile(t *testing.T) {
	tests := []struct {
		desc, name, content string
		secrets             []string
	}{
		{"a password file", "shadow", "root:$6$saltsalt$hashhashhash:19000:0:99999:7:::\n", []string{"saltsalt", "hashhashhash"}},
		{"a private key", "id_ed25519", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU\n-----END OPENSSH PRIVATE KEY-----\n",
			[]string{"PRIVATE", "b3BlbnNzaC1rZXktdjEAAAAABG5vbmU"}},
		{"a .env file", ".env", "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI\nexport TOKEN=\"abc: def\"\n", []string{"AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI", "TOKEN", "abc"}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			file := writeFile(t, tt.name, tt.content)
			code, stdout, stderr := cli(t, t.Context(), "validate", file)
			if code != 2 || stdout != "" || !strings.Contains(stderr, file+": not a graph file: ") || !strings.Contains(stderr, "a graph file") {
				t.Errorf("exit %d, stdout %q, stderr %q; want 2 and %s: not a graph file: ...", code, stdout, stderr, file)
			}
			for _, s := range tt.secrets {
				if strings.Contains(stderr, s) {
					t.Errorf("stderr %q quotes %q", stderr, s)
				}
			}
		})
	}
}

// TestGraphFileNotARegularFile: a named pipe given as the graph file is
// refused at once (open(2) of a FIFO without a writer would block, and the
// process's signals with it), and so is a directory.
func TestGraphFileNotARegularFile(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "graph.yaml")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ path, want string }{{fifo, "a named pipe"}, {t.TempDir(), "a directory"}} {
		for _, command := range []string{"validate", "run"} {
			done := make(chan struct{})
			go func() {
				defer close(done)
				code, _, stderr := cli(t, t.Context(), command, tt.path)
				if code != 2 || !strings.Contains(stderr, "it is "+tt.want+", not a regular file") {
					t.Errorf("%s %s: exit %d, %s", command, tt.want, code, stderr)
				}
			}()
			select {
			case <-done:
			case <-time.After(time.Minute):
				t.Fatalf("%s %s: still reading after a minute", command, tt.want)
			}
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if code, _, stderr := cli(t, t.Context(), "run", loop, "--input", "@"+fifo); code != 2 || !strings.Contains(stderr, "--input @"+fifo+": it is a named pipe") {
			t.Errorf("--input @FIFO: exit %d, %s", code, stderr)
		}
	}()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("--input @FIFO: still reading after a minute")
	}
}
