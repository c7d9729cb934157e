package checkpoints_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"gocloud.dev/blob/fileblob"
	"gocloud.dev/blob/memblob"
	_ "gocloud.dev/blob/s3blob" // its errors quote the URL

	"github.com/graphjob/graphjob/checkpoints"
	"github.com/graphjob/graphjob/checkpoints/storetest"
)

func TestMain(m *testing.M) {
	*checkpoints.NamedTemp = os.Getenv("GRAPHJOB_TEST_NAMED_TEMP") == "1"
	storetest.RunChild()
	os.Exit(m.Run())
}

func TestMem(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Backend {
		b := memblob.OpenBucket(nil)
		t.Cleanup(func() { _ = b.Close() })
		return storetest.Backend{
			Bucket: b,
			Open:   func(_ *testing.T, opts checkpoints.Options) *checkpoints.Store { return checkpoints.New(b, opts) },
		}
	})
}

func TestFile(t *testing.T) { testFile(t) }

// TestFileNamedTemp runs the suite on a file:// store that writes through
// named temporary files, as it does where O_TMPFILE is not available.
func TestFileNamedTemp(t *testing.T) {
	t.Setenv("GRAPHJOB_TEST_NAMED_TEMP", "1") // for the suite's child processes
	*checkpoints.NamedTemp = true
	defer func() { *checkpoints.NamedTemp = false }()
	testFile(t)
}

func testFile(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Backend {
		dir := t.TempDir()
		b, err := fileblob.OpenBucket(dir, &fileblob.Options{Metadata: fileblob.MetadataDontWrite})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		url := "file://" + dir
		return storetest.Backend{
			Bucket: b,
			URL:    url,
			Open: func(t *testing.T, opts checkpoints.Options) *checkpoints.Store {
				s, err := checkpoints.Open(t.Context(), url, opts)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = s.Close() })
				return s
			},
		}
	})
}

// TestOpenRefusesBadURLs: a URL that would put objects where its user did
// not mean them is refused at Open, before anything is written; a driver's
// error does not show the URL's credentials.
func TestOpenRefusesBadURLs(t *testing.T) {
	dir := t.TempDir()
	tests := []struct{ desc, url, want string }{
		{"a prefix that climbs out", "file://" + dir + "/store?prefix=../x/", `segment ".."`},
		{"an empty segment", "file://" + dir + "/store?prefix=a//b/", `segment ""`},
		{"an absolute prefix", "file://" + dir + "/store?prefix=/abs/", "give a path inside the bucket"},
		{"a prefix without its slash", "mem://?prefix=runs", "end it with /"},
		{"the filesystem's root", "file:///", "the filesystem's root"},
		{"a host", "file://example.com" + dir, `host "example.com"`},
		{"a driver's error", "s3://bucket?region=x&secret_key=hunter2&nosuch=1", "REDACTED"},
		{"credentials under any name", "s3://bucket?region=x&access_key_id=hunter2&secret_access_key=hunter2&nosuch=1", "REDACTED"},
		{"two prefixes", "mem://?prefix=x/&prefix=../y/", "prefix given more than once"},
		{"a user on a file:// URL", "file://user:hunter2@" + dir + "/store", "no user or password"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			s, err := checkpoints.Open(t.Context(), tt.url, checkpoints.Options{})
			if err == nil {
				s.Close()
				t.Fatalf("Open(%s) = nil error", tt.url)
			}
			if !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "hunter2") {
				t.Errorf("Open(%s): %v, want %q and no secret", tt.url, err, tt.want)
			}
		})
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 0 {
		t.Errorf("refused URLs wrote %v (%v)", entries, err)
	}
}

// TestFIFOInAnObjectsPlace: a named pipe where an object belongs is refused
// at once, not waited on (open(2) of a FIFO blocks until a writer comes).
func TestFIFOInAnObjectsPlace(t *testing.T) {
	dir := t.TempDir()
	s, err := checkpoints.Open(t.Context(), "file://"+dir, checkpoints.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.CreateRun(t.Context(), checkpoints.RunRecord{ID: "r"}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "runs/r/run.json")
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := s.RunRecord(t.Context(), "r"); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, checkpoints.ErrCorrupt) || !strings.Contains(err.Error(), "named pipe") {
			t.Errorf("a FIFO as the run record: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("reading a FIFO in an object's place blocked")
	}
}

// TestCreateOverDamage: a create whose name holds something damaged (a
// FIFO) reports the damage, not a lost race after five tries.
func TestCreateOverDamage(t *testing.T) {
	dir := t.TempDir()
	s, err := checkpoints.Open(t.Context(), "file://"+dir, checkpoints.Options{Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := os.MkdirAll(filepath.Join(dir, "runs/r"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "runs/r/run.json"), 0o644); err != nil {
		t.Fatal(err)
	}
	err = s.CreateRun(t.Context(), checkpoints.RunRecord{ID: "r"})
	if !errors.Is(err, checkpoints.ErrCorrupt) || errors.Is(err, checkpoints.ErrExists) || !strings.Contains(err.Error(), "named pipe") {
		t.Errorf("CreateRun over a FIFO: %v", err)
	}
}
