package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestMain runs the test binary as graphjob itself when asked to, so that
// benchmarks can time real processes.
func TestMain(m *testing.M) {
	if os.Getenv("GRAPHJOB_TEST_AS_MAIN") == "1" {
		main()
	}
	os.Exit(m.Run())
}

// BenchmarkResume times a graphjob process resuming a run with a 1,000-step
// history on a file store, from its start to its first node (resume), and
// from SIGTERM, with that node running, to its exit 75 (sigterm).
func BenchmarkResume(b *testing.B) {
	const file = "testdata/resume.yaml"
	template := b.TempDir()
	if code, _, stderr := cli(b, b.Context(), "run", file, "--run-id", "r", "--recursion-limit", "1000", "--store", "file://"+template); code != 3 {
		b.Fatalf("making the history: exit %d, want 3 (the recursion limit)\n%s", code, stderr)
	}
	var resume, sigterm time.Duration
	for b.Loop() {
		b.StopTimer()
		dir := b.TempDir()
		if err := os.CopyFS(dir, os.DirFS(template)); err != nil {
			b.Fatal(err)
		}
		mark := filepath.Join(dir, "mark")
		cmd := exec.Command(os.Args[0], "run", file, "--run-id", "r", "--retry-failed", "--recursion-limit", "2000", "--store", "file://"+dir)
		cmd.Env = append(os.Environ(), "GRAPHJOB_TEST_AS_MAIN=1", "MARK="+mark)
		b.StartTimer()
		start := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		for {
			if _, err := os.Stat(mark); err == nil {
				break
			}
			if time.Since(start) > 30*time.Second {
				b.Fatal("the first node did not start within 30 s")
			}
			time.Sleep(100 * time.Microsecond)
		}
		resume += time.Since(start)
		start = time.Now()
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			b.Fatal(err)
		}
		err := cmd.Wait()
		sigterm += time.Since(start)
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 75 {
			b.Fatalf("after SIGTERM: %v, want exit 75", err)
		}
	}
	b.ReportMetric(float64(resume.Microseconds())/1000/float64(b.N), "ms/resume")
	b.ReportMetric(float64(sigterm.Microseconds())/1000/float64(b.N), "ms/sigterm")
}
