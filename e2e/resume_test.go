package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/graphjob/graphjob/e2e/minio"
)

// The final state of testdata/sidefx.yaml, and the tasks it runs.
const sidefxFinal = `{"i":6,"log":["2-p1","2-p2","2-p3","5-p1","5-p2","5-p3","8-p1","8-p2","8-p3","11-p1","11-p2","11-p3","14-p1","14-p2","14-p3","17-p1","17-p2","17-p3"]}`

// stores returns the stores the runner's tests run on: a directory and a
// MinIO bucket, with the environment that opens them.
func stores(t *testing.T) map[string]struct {
	url string
	env []string
} {
	s := minio.StartForTest(t)
	if err := s.CreateBucket(t.Context(), "runs"); err != nil {
		t.Fatal(err)
	}
	return map[string]struct {
		url string
		env []string
	}{
		"file":  {"file://" + t.TempDir(), nil},
		"minio": {s.URL("runs"), s.Env()},
	}
}

// attempt is one graphjob run process.
type attempt struct {
	cmd    *exec.Cmd
	stdout bytes.Buffer
	stderr output
	done   chan struct{}
	code   int
}

// output is a process's stderr, read by the test while it is written.
type output struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	written chan struct{} // closed and replaced on every write
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.written != nil {
		close(o.written)
		o.written = nil
	}
	return o.buf.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// next returns what was written so far and a channel closed on the next write.
func (o *output) next() (string, <-chan struct{}) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.written == nil {
		o.written = make(chan struct{})
	}
	return o.buf.String(), o.written
}

func startAttempt(t *testing.T, env []string, args ...string) *attempt {
	t.Helper()
	a := &attempt{cmd: exec.Command(binPath, args...), done: make(chan struct{})}
	a.cmd.Env = append(append(os.Environ(), env...), "GRAPHJOB_RUN_ID=")
	a.cmd.Stdout, a.cmd.Stderr = &a.stdout, &a.stderr
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(a.done)
		err := a.cmd.Wait()
		var exit *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &exit) && exit.Exited():
			a.code = exit.ExitCode()
		default:
			a.code = -1 // killed
		}
	}()
	return a
}

// wait waits for the attempt to end, at most d; false if it is still running.
func (a *attempt) wait(d time.Duration) bool {
	select {
	case <-a.done:
		return true
	case <-time.After(d):
		return false
	}
}

// waitLog waits until the attempt has logged a line that contains each of
// parts. It fails the test if the attempt ends first or a minute passes.
func (a *attempt) waitLog(t *testing.T, parts ...string) {
	t.Helper()
	deadline := time.After(time.Minute)
	logged := func(text string) bool {
		for line := range strings.Lines(text) {
			if containsAll(line, parts) {
				return true
			}
		}
		return false
	}
	for {
		text, written := a.stderr.next()
		if logged(text) {
			return
		}
		select {
		case <-written:
		case <-a.done:
			if logged(a.stderr.String()) {
				return
			}
			t.Fatalf("the attempt ended (exit %d) before logging %q\n%s", a.code, parts, a.stderr.String())
		case <-deadline:
			t.Fatalf("no line with %q logged in a minute\n%s", parts, a.stderr.String())
		}
	}
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

func (a *attempt) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := a.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatal(err)
	}
}

// sideEffects counts the task executions recorded in a side-effect log.
func sideEffects(t *testing.T, path string) map[string]int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for line := range strings.Lines(string(data)) {
		count[strings.TrimSpace(line)]++
	}
	return count
}

// checkSideEffects checks that every task of the run ran, and that no more
// ran again than the kills could have caught in flight (three tasks each).
func checkSideEffects(t *testing.T, path string, kills int) {
	t.Helper()
	count := sideEffects(t, path)
	again := 0
	for _, step := range []int{2, 5, 8, 11, 14, 17} {
		for _, node := range []string{"p1", "p2", "p3"} {
			n := count[fmt.Sprint(step, " ", node)]
			if n == 0 {
				t.Errorf("%s: task %d %s never ran", path, step, node)
			}
			again += max(n-1, 0)
			delete(count, fmt.Sprint(step, " ", node))
		}
	}
	if len(count) > 0 {
		t.Errorf("%s: unexpected executions %v", path, count)
	}
	if again > 3*kills {
		t.Errorf("%s: %d task executions repeated after %d kills; at most 3 tasks are in flight at a kill", path, again, kills)
	}
}

// TestKillAndResume SIGKILLs runs at random moments (more than 100 in all
// per store) and resumes them until they finish: each ends with the state of
// an uninterrupted run, and only tasks in flight at a kill ran again.
func TestKillAndResume(t *testing.T) {
	for name, st := range stores(t) {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			kills, repeated := 0, 0
			for r := 0; kills < 100; r++ {
				run := fmt.Sprint("kill-", r)
				fx := filepath.Join(dir, run+".fx")
				env := append([]string{"SIDEFX=" + fx, "FAILFILE=/nonexistent"}, st.env...)
				runKills := 0
				for {
					a := startAttempt(t, env, "run", "testdata/sidefx.yaml", "--store", st.url, "--run-id", run, "--log-format", "json")
					if !a.wait(time.Duration(rand.IntN(700)) * time.Millisecond) {
						a.signal(t, syscall.SIGKILL)
						<-a.done
						kills++
						runKills++
						continue
					}
					if a.code != 0 || strings.TrimSpace(a.stdout.String()) != sidefxFinal {
						t.Fatalf("%s after %d kills: exit %d, stdout %q\n%s", run, runKills, a.code, a.stdout.String(), a.stderr.String())
					}
					break
				}
				for _, n := range sideEffects(t, fx) {
					repeated += n - 1
				}
				checkSideEffects(t, fx, runKills)
			}
			t.Logf("%d kills in all, %d task executions repeated", kills, repeated)
		})
	}
}

// TestSigtermDrains sends SIGTERM at random moments: the run exits 75 well
// within the drain timeout, and resumes to the uninterrupted state.
func TestSigtermDrains(t *testing.T) {
	for name, st := range stores(t) {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			drained := 0
			var slowest time.Duration
			for r := range 15 {
				run := fmt.Sprint("term-", r)
				fx := filepath.Join(dir, run+".fx")
				env := append([]string{"SIDEFX=" + fx, "FAILFILE=/nonexistent"}, st.env...)
				a := startAttempt(t, env, "run", "testdata/sidefx.yaml", "--store", st.url, "--run-id", run, "--drain-timeout", "5s")
				// Before it logs, the process may not have its signal handler
				// yet, and a SIGTERM then kills it as the OS does any process.
				a.waitLog(t, "run started")
				signalled := 0
				if !a.wait(time.Duration(rand.IntN(400)) * time.Millisecond) {
					signalled = 1
					start := time.Now()
					a.signal(t, syscall.SIGTERM)
					if !a.wait(10 * time.Second) {
						t.Fatalf("%s: still running 10 s after SIGTERM", run)
					}
					slowest = max(slowest, time.Since(start))
					switch {
					case a.code == 75:
						drained++
					case a.code == 0 && strings.TrimSpace(a.stdout.String()) == sidefxFinal:
						// The signal came as the last step was committed.
					default:
						t.Fatalf("%s: exit %d after SIGTERM, want 75\n%s", run, a.code, a.stderr.String())
					}
				}
				b := startAttempt(t, env, "run", "testdata/sidefx.yaml", "--store", st.url, "--run-id", run)
				<-b.done
				if b.code != 0 || strings.TrimSpace(b.stdout.String()) != sidefxFinal {
					t.Fatalf("%s resumed: exit %d, %q\n%s", run, b.code, b.stdout.String(), b.stderr.String())
				}
				// A drain lets running tasks finish (they ignore SIGTERM), but a
				// command the signal reaches before its trap is set dies of it.
				checkSideEffects(t, fx, signalled)
			}
			t.Logf("%d runs drained; the slowest SIGTERM-to-exit took %s", drained, slowest)
		})
	}
}

// TestTwoAttempts starts two attempts of one run at once, and stalls one
// (SIGSTOP) while another finishes the run: there is one chain of steps, the
// winner exits 0 and the fenced loser 1.
func TestTwoAttempts(t *testing.T) {
	for name, st := range stores(t) {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			env := append([]string{"SIDEFX=" + filepath.Join(dir, "fx"), "FAILFILE=/nonexistent"}, st.env...)
			args := []string{"run", "testdata/sidefx.yaml", "--store", st.url, "--run-id"}
			for r := range 5 {
				run := fmt.Sprint("twins-", r)
				a := startAttempt(t, env, append(args, run)...)
				b := startAttempt(t, env, append(args, run)...)
				<-a.done
				<-b.done
				codes := []int{a.code, b.code}
				if (codes[0] != 0 || codes[1] > 1) && (codes[1] != 0 || codes[0] > 1) {
					t.Fatalf("%s: exits %v, want one 0 and the other 0 or 1 (fenced)\n%s\n%s", run, codes, a.stderr.String(), b.stderr.String())
				}
				checkChain(t, st.url, st.env, run)
			}

			run := "stalled"
			a := startAttempt(t, env, append(args, run)...)
			// Stopped in the middle of the run: stopped before it has begun, it
			// would wake to find the run complete and rightly exit 0.
			a.waitLog(t, `"step done"`, `"step":2,`)
			a.signal(t, syscall.SIGSTOP)
			b := startAttempt(t, env, append(args, run)...)
			<-b.done
			a.signal(t, syscall.SIGCONT)
			<-a.done
			// The stalled attempt is fenced by its next commit, or (MinIO) finds
			// the requests it had in flight timed out: exit 1 either way.
			if b.code != 0 || a.code != 1 {
				t.Fatalf("stalled attempt exit %d, the one that took over exit %d, want 1 and 0\n%s", a.code, b.code, a.stderr.String())
			}
			t.Logf("the stalled attempt: %s", lastLine(a.stderr.String()))
			checkChain(t, st.url, st.env, run)
		})
	}
}

// checkChain checks with the CLI that the run is one chain of 19 steps.
func checkChain(t *testing.T, url string, env []string, run string) {
	t.Helper()
	c := startAttempt(t, env, "checkpoints", "list", run, "--store", url, "-o", "json")
	<-c.done
	if c.code != 0 || strings.Count(c.stdout.String(), `"step":`) != 19 {
		t.Fatalf("checkpoints list %s: exit %d\n%s\n%s", run, c.code, c.stdout.String(), c.stderr.String())
	}
}

// TestFinishedTasksAreNotRunAgain fails one of three parallel tasks for good
// (exit 3, the run's result is failed); with the fault gone, --retry-failed
// runs only that task again.
func TestFinishedTasksAreNotRunAgain(t *testing.T) {
	for name, st := range stores(t) {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			fx, fail := filepath.Join(dir, "fx"), filepath.Join(dir, "fail")
			if err := os.WriteFile(fail, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			env := append([]string{"SIDEFX=" + fx, "FAILFILE=" + fail}, st.env...)
			args := []string{"run", "testdata/sidefx.yaml", "--store", st.url, "--run-id", "fails"}
			a := startAttempt(t, env, args...)
			<-a.done
			if a.code != 3 {
				t.Fatalf("exit %d, want 3\n%s", a.code, a.stderr.String())
			}
			b := startAttempt(t, env, args...)
			<-b.done
			if b.code != 3 || !strings.Contains(b.stderr.String(), "--retry-failed") {
				t.Fatalf("a failed run run again: exit %d, want 3 naming --retry-failed\n%s", b.code, b.stderr.String())
			}
			if err := os.Remove(fail); err != nil {
				t.Fatal(err)
			}
			c := startAttempt(t, env, append(args, "--retry-failed")...)
			<-c.done
			if c.code != 0 || strings.TrimSpace(c.stdout.String()) != sidefxFinal {
				t.Fatalf("--retry-failed: exit %d, %q\n%s", c.code, c.stdout.String(), c.stderr.String())
			}
			checkSideEffects(t, fx, 0) // p1 and p2 of step 2 ran once
		})
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// TestStorageOutage stops MinIO in the middle of a run: the run retries,
// then exits 1 (transient); with MinIO back, the next attempt resumes with
// nothing lost.
func TestStorageOutage(t *testing.T) {
	s := minio.StartForTest(t)
	if err := s.CreateBucket(t.Context(), "runs"); err != nil {
		t.Fatal(err)
	}
	fx := filepath.Join(t.TempDir(), "fx")
	env := append([]string{"SIDEFX=" + fx, "FAILFILE=/nonexistent"}, s.Env()...)
	args := []string{"run", "testdata/sidefx.yaml", "--store", s.URL("runs"), "--run-id", "outage"}
	a := startAttempt(t, env, args...)
	a.waitLog(t, `"step done"`, `"step":2,`)
	s.Stop()
	start := time.Now()
	if !a.wait(5 * time.Minute) {
		t.Fatal("the run did not give up on the stopped store in 5 minutes")
	}
	if a.code != 1 {
		t.Fatalf("exit %d with the store down, want 1 (transient)\n%s", a.code, a.stderr.String())
	}
	t.Logf("gave up %s after the store stopped: %s", time.Since(start).Round(time.Millisecond), lastLine(a.stderr.String()))
	if err := s.Restart(t.Context()); err != nil {
		t.Fatal(err)
	}
	b := startAttempt(t, env, args...)
	<-b.done
	if b.code != 0 || strings.TrimSpace(b.stdout.String()) != sidefxFinal {
		t.Fatalf("resumed after the outage: exit %d, %q\n%s", b.code, b.stdout.String(), b.stderr.String())
	}
	checkSideEffects(t, fx, 1)
}

// TestProgressInsideANode kills (SIGKILL) or stops (SIGTERM) a run inside its
// one long node, again and again until it finishes: each attempt starts from
// the cursor the node saved last, so few items run again; without cursors
// every attempt would start from item 0.
func TestProgressInsideANode(t *testing.T) {
	for name, st := range stores(t) {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			for r := range 8 {
				sig := []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM}[r%2]
				run := fmt.Sprintf("progress-%d-%s", r, map[syscall.Signal]string{syscall.SIGKILL: "kill", syscall.SIGTERM: "term"}[sig])
				fx := filepath.Join(dir, run+".fx")
				env := append([]string{"SIDEFX=" + fx}, st.env...)
				stops := 0
				for {
					a := startAttempt(t, env, "run", "testdata/progress.yaml", "--store", st.url, "--run-id", run)
					a.waitLog(t, "run started") // its signal handler is in place
					if !a.wait(time.Duration(100+rand.IntN(400)) * time.Millisecond) {
						a.signal(t, sig)
						<-a.done
						stops++
						if sig == syscall.SIGTERM && a.code != 75 && a.code != 0 {
							t.Fatalf("%s: exit %d after SIGTERM, want 75\n%s", run, a.code, a.stderr.String())
						}
						continue
					}
					if a.code != 0 || strings.TrimSpace(a.stdout.String()) != `{"items":20}` {
						t.Fatalf("%s after %d stops: exit %d, %q\n%s", run, stops, a.code, a.stdout.String(), a.stderr.String())
					}
					break
				}
				count := sideEffects(t, fx)
				again := 0
				for i := range 20 {
					if count[fmt.Sprint(i)] == 0 {
						t.Errorf("%s: item %d never ran", run, i)
					}
					again += max(count[fmt.Sprint(i)]-1, 0)
				}
				// A drained command saves its last cursor as it exits: at most the
				// item the signal interrupted runs again. A killed one loses what
				// it wrote since the last save (every 100 ms, 2-3 items of 40 ms);
				// the bound leaves room for a loaded machine. Without cursors an
				// attempt would start from item 0 again.
				perStop := map[syscall.Signal]int{syscall.SIGTERM: 1, syscall.SIGKILL: 8}[sig]
				if again > perStop*stops {
					t.Errorf("%s: %d items ran again after %d stops; want at most %d a stop", run, again, stops, perStop)
				}
				t.Logf("%s: %d stops, %d items ran again", run, stops, again)
			}
		})
	}
}
