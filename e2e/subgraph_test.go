package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestKilledInsideASubgraph SIGKILLs a run while its graph node is inside
// its subgraph, after the subgraph's second superstep: the next attempt
// resumes inside the subgraph, so its supersteps done before the kill do not
// run again (at most the one in flight does).
func TestKilledInsideASubgraph(t *testing.T) {
	for name, st := range stores(t) {
		t.Run(name, func(t *testing.T) {
			fx := filepath.Join(t.TempDir(), "fx")
			env := append([]string{"SIDEFX=" + fx}, st.env...)
			args := []string{"run", "testdata/subgraph.yaml", "--store", st.url, "--run-id", "sub-" + name}
			a := startAttempt(t, env, args...)
			waitLines(t, a, fx, 2)
			a.signal(t, syscall.SIGKILL)
			<-a.done
			if a.code != -1 {
				t.Fatalf("the first attempt ended (exit %d) before it was killed\n%s", a.code, a.stderr.String())
			}
			b := startAttempt(t, env, args...)
			<-b.done
			if b.code != 0 || strings.TrimSpace(b.stdout.String()) != `{"done":true,"i":6}` {
				t.Fatalf("resumed: exit %d, %q\n%s", b.code, b.stdout.String(), b.stderr.String())
			}
			if !strings.Contains(b.stderr.String(), "the task resumes from its saved cursor") {
				t.Errorf("the resumed attempt did not resume inside the subgraph\n%s", b.stderr.String())
			}
			count := sideEffects(t, fx)
			again := 0
			for step := 1; step <= 6; step++ {
				n := count[fmt.Sprint(step)]
				if n == 0 {
					t.Errorf("subgraph step %d never ran", step)
				}
				again += max(n-1, 0)
			}
			if again > 1 {
				t.Errorf("%d subgraph steps ran again after one kill (%v); want at most the one in flight", again, count)
			}
		})
	}
}

// waitLines waits until the file has n lines, the attempt running.
func waitLines(t *testing.T, a *attempt, path string, n int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		data, _ := os.ReadFile(path)
		if strings.Count(string(data), "\n") >= n {
			return
		}
		select {
		case <-a.done:
			t.Fatalf("the attempt ended (exit %d) before %s had %d lines\n%s", a.code, path, n, a.stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not reach %d lines in a minute\n%s", path, n, a.stderr.String())
		}
	}
}
