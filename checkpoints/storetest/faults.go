package storetest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"github.com/graphjob/graphjob/checkpoints"
	"github.com/graphjob/graphjob/contract"
	"github.com/graphjob/graphjob/graph"
)

// The environment of a child process of testRaceProcesses.
const (
	childURL    = "GRAPHJOB_STORETEST_URL"
	childWriter = "GRAPHJOB_STORETEST_WRITER"
)

// RunChild does a child's part of the process race and exits, if this process
// was started as one; otherwise it returns at once. Call it first thing in
// TestMain of every package that runs the suite.
func RunChild() {
	url := os.Getenv(childURL)
	if url == "" {
		return
	}
	fmt.Println(raceChild(url, os.Getenv(childWriter)))
	os.Exit(0)
}

// raceChild opens the store, waits for stdin to close (the start signal) and
// commits its own step 1. It reports "won", "fenced" or the error.
func raceChild(url, writer string) string {
	ctx := context.Background()
	s, err := checkpoints.Open(ctx, url, checkpoints.Options{})
	if err != nil {
		return err.Error()
	}
	defer s.Close()
	parent, err := s.Step(ctx, "run", 0)
	if err != nil {
		return err.Error()
	}
	fmt.Println("ready")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	_, err = s.Commit(ctx, "run", parent, racerCheckpoint(writer))
	switch {
	case err == nil:
		return "won"
	case errors.Is(err, checkpoints.ErrExists):
		return "fenced"
	}
	return err.Error()
}

func testRaceProcesses(t *testing.T, b Backend) {
	if b.URL == "" {
		t.Skip("the backend is not shared between processes")
	}
	s := b.Open(t, quickOpts())
	chain(t, s, "run", 0)
	const n = 8
	type child struct {
		cmd   *exec.Cmd
		start func()
		out   *bufio.Scanner
	}
	children := make([]child, n)
	for i := range children {
		cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$")
		cmd.Env = append(append(os.Environ(), b.Env...), childURL+"="+b.URL, fmt.Sprint(childWriter, "=writer-", i))
		cmd.Stderr = os.Stderr
		stdin, err := cmd.StdinPipe()
		must(t, err)
		stdout, err := cmd.StdoutPipe()
		must(t, err)
		must(t, cmd.Start())
		children[i] = child{cmd: cmd, start: func() { _ = stdin.Close() }, out: bufio.NewScanner(stdout)}
	}
	// Every child has opened the store and read step 0 before any commits.
	for i, c := range children {
		if !c.out.Scan() || c.out.Text() != "ready" {
			t.Fatalf("writer %d did not get ready: %q", i, c.out.Text())
		}
	}
	for _, c := range children {
		c.start()
	}
	outcomes := make([]string, n)
	for i, c := range children {
		c.out.Scan()
		outcomes[i] = c.out.Text()
		must(t, c.cmd.Wait())
	}
	t.Logf("outcomes: %v", outcomes)
	checkOneWinner(t, s, outcomes)
}

// damage is one way an object can be damaged after it was written.
type damage struct {
	name   string
	change func(data []byte) []byte
	want   []error // the error must be one of these
}

var damages = []damage{
	{"flipped byte in the header", func(d []byte) []byte { return flip(d, 12) }, []error{checkpoints.ErrCorrupt, checkpoints.ErrUnsupported}},
	{"flipped byte in the body", func(d []byte) []byte { return flip(d, len(d)-2) }, []error{checkpoints.ErrCorrupt}},
	{"flipped byte in the middle", func(d []byte) []byte { return flip(d, len(d)/2) }, []error{checkpoints.ErrCorrupt, checkpoints.ErrUnsupported}},
	{"truncated", func(d []byte) []byte { return d[:len(d)*2/3] }, []error{checkpoints.ErrCorrupt}},
	{"appended to", func(d []byte) []byte { return append(d, d...) }, []error{checkpoints.ErrCorrupt}},
	{"empty", func([]byte) []byte { return nil }, []error{checkpoints.ErrCorrupt}},
	{"future version", func(d []byte) []byte { return []byte(strings.Replace(string(d), "graphjob/v2 ", "graphjob/v3 ", 1)) }, []error{checkpoints.ErrUnsupported}},
	{"the format before keys", func(d []byte) []byte { return []byte(strings.Replace(string(d), "graphjob/v2 ", "graphjob/v1 ", 1)) }, []error{checkpoints.ErrUnsupported}},
	{"deleted", nil, []error{checkpoints.ErrCorrupt, checkpoints.ErrNotFound}},
}

func flip(d []byte, i int) []byte {
	d[i] ^= 0x20
	return d
}

// testDamaged damages every object of a run in every way, in turn, and
// checks that reading it reports the damage, naming the object, and never
// returns a state.
func testDamaged(t *testing.T, b Backend) {
	s := b.Open(t, quickOpts())
	must(t, s.CreateRun(t.Context(), checkpoints.RunRecord{ID: "run", Input: map[string]any{"n": int64(1)}}))
	chain(t, s, "run", 2)
	must(t, s.PutWrite(t.Context(), "run", checkpoints.Write{Step: 3, Index: 0, Task: checkpointAt(2).Next[0]}))
	must(t, s.PutResult(t.Context(), "run", checkpoints.Result{Status: contract.Succeeded, Step: 2}))
	keys := listKeys(t, b)
	if len(keys) < 7 {
		t.Fatalf("the run has only %d objects: %v", len(keys), keys)
	}
	read := func(key string) error { return readObject(t, s, "run", key) }
	ctx := t.Context()
	for _, key := range keys {
		orig, err := b.Bucket.ReadAll(ctx, key)
		must(t, err)
		for _, d := range damages {
			if d.change == nil {
				if strings.Contains(key, "/writes/") {
					continue // nothing references a pending write: without it, its task runs again
				}
				must(t, b.Bucket.Delete(ctx, key))
			} else {
				must(t, b.Bucket.WriteAll(ctx, key, d.change(append([]byte(nil), orig...)), nil))
			}
			err := read(key)
			if err == nil || !isAny(err, d.want) {
				t.Errorf("%s, %s: read gave %v, want one of %v", key, d.name, err, d.want)
			} else if d.change != nil && !strings.Contains(err.Error(), key) {
				t.Errorf("%s, %s: the error does not name the object: %v", key, d.name, err)
			}
			must(t, b.Bucket.WriteAll(ctx, key, orig, nil))
		}
	}
	// Undamaged again, everything reads.
	_, err := s.Latest(ctx, "run")
	must(t, err)
	_, err = s.History(ctx, "run")
	must(t, err)
}

// readObject reads what makes graphjob read the object at key of a run.
func readObject(t *testing.T, s *checkpoints.Store, run, key string) error {
	switch {
	case strings.HasSuffix(key, "/run.json"):
		_, err := s.RunRecord(t.Context(), run)
		return err
	case strings.HasSuffix(key, "/result"):
		_, err := s.Result(t.Context(), run)
		return err
	case strings.Contains(key, "/writes/"):
		_, err := s.Latest(t.Context(), run)
		return err
	case strings.Contains(key, "/attempts/"):
		_, err := s.Attempts(t.Context(), run)
		return err
	}
	// A step or a value: some step must fail to load.
	for n := range 3 {
		if _, err := s.Load(t.Context(), run, n); err != nil {
			return err
		}
	}
	return nil
}

// testForeignObjects copies each object of one run over the same object of
// another, as an outside writer could: each read refuses it, naming the
// object, and never returns the other run's data as this run's.
func testForeignObjects(t *testing.T, b Backend) {
	s := b.Open(t, quickOpts())
	ctx := t.Context()
	for i, run := range []string{"run", "other"} {
		must(t, s.CreateRun(ctx, checkpoints.RunRecord{ID: run, Input: map[string]any{"n": int64(i)}}))
		chain(t, s, run, 2)
		must(t, s.PutWrite(ctx, run, checkpoints.Write{Step: 3, Index: 0, Task: checkpointAt(2).Next[0], Update: graph.Update{"n": int64(10 * (i + 1))}}))
		must(t, s.PutResult(ctx, run, checkpoints.Result{Status: []contract.RunState{contract.Succeeded, contract.Failed}[i], Step: 2}))
		a, err := s.StartAttempt(ctx, run, checkpoints.Attempt{From: -1})
		must(t, err)
		must(t, s.EndAttempt(ctx, run, checkpoints.AttemptEnd{N: a.N, Exit: i}))
	}
	for _, key := range listKeys(t, b) {
		if !strings.HasPrefix(key, "runs/run/") {
			continue
		}
		orig, err := b.Bucket.ReadAll(ctx, key)
		must(t, err)
		foreign, err := b.Bucket.ReadAll(ctx, "runs/other/"+strings.TrimPrefix(key, "runs/run/"))
		must(t, err)
		must(t, b.Bucket.WriteAll(ctx, key, foreign, nil))
		err = readObject(t, s, "run", key)
		if !errors.Is(err, checkpoints.ErrCorrupt) || !strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), "copied or moved here") {
			t.Errorf("%s, another run's copied over it: read gave %v, want ErrCorrupt naming it", key, err)
		}
		must(t, b.Bucket.WriteAll(ctx, key, orig, nil))
	}
	_, err := s.Latest(ctx, "run")
	must(t, err)
}

func isAny(err error, targets []error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}

func listKeys(t *testing.T, b Backend) []string {
	t.Helper()
	var keys []string
	it := b.Bucket.List(nil)
	for {
		o, err := it.Next(t.Context())
		if err != nil {
			break
		}
		if !strings.Contains(o.Key, ".graphjob-tmp") {
			keys = append(keys, o.Key)
		}
	}
	return keys
}

func testTooLarge(t *testing.T, b Backend) {
	s := b.Open(t, quickOpts())
	chain(t, s, "run", 1)
	opts := quickOpts()
	opts.MaxObjectSize = 2048 // the 16 KiB "big" channel is over
	small := b.Open(t, opts)
	_, err := small.Latest(t.Context(), "run")
	wantErr(t, err, checkpoints.ErrTooLarge)
	if !strings.Contains(err.Error(), "values/big/") {
		t.Errorf("the error does not name the object: %v", err)
	}
}

// testFailHalfWay fails a commit after its values were written and before its
// record: the last committed step stays the latest and intact, and a later
// commit of the step succeeds.
func testFailHalfWay(t *testing.T, b Backend) {
	s := b.Open(t, quickOpts())
	steps := chain(t, s, "run", 2)
	injected := errors.New("injected fault")
	opts := quickOpts()
	opts.Attempts = 1
	opts.BeforeWrite = func(key string, _ int64) error {
		if strings.Contains(key, "/steps/") {
			return injected
		}
		return nil
	}
	faulty := b.Open(t, opts)
	_, err := faulty.Commit(t.Context(), "run", steps[2], checkpointAt(3))
	wantErr(t, err, injected)
	snap, err := s.Latest(t.Context(), "run")
	must(t, err)
	if snap.Step.Step != 2 || !reflect.DeepEqual(snap.Checkpoint, checkpointAt(2)) {
		t.Fatalf("after the failed commit the latest is step %d: %+v", snap.Step.Step, snap.Checkpoint)
	}
	_, err = s.Commit(t.Context(), "run", snap.Step, checkpointAt(3))
	must(t, err)
	latest, err := s.Latest(t.Context(), "run")
	must(t, err)
	if !reflect.DeepEqual(latest.Checkpoint, checkpointAt(3)) {
		t.Errorf("step 3 after the retry: %+v", latest.Checkpoint)
	}
}

// testNetworkFaults cuts uploads and drops responses between the store and
// the backend: retries resolve both, and a commit whose every try is cut
// leaves the last committed step intact.
func testNetworkFaults(t *testing.T, b Backend) {
	if b.Faults == nil {
		t.Skip("the backend has no network to break")
	}
	s := b.Open(t, quickOpts())
	steps := chain(t, s, "run", 1)

	// An upload cut half-way: the object is not created, the retry creates it.
	b.Faults.CutUpload("/steps/000000000002", 1)
	st2, err := s.Commit(t.Context(), "run", steps[1], checkpointAt(2))
	must(t, err)

	// A response lost after the object was created: the retry finds its own
	// bytes and succeeds, not fenced.
	b.Faults.DropResponse("/steps/000000000003", 1)
	st3, err := s.Commit(t.Context(), "run", st2, checkpointAt(3))
	must(t, err)
	if n := b.Faults.Armed(); n != 0 {
		t.Fatalf("%d breakages were armed and not done: the commits did not go through the network path broken", n)
	}

	// Every try cut: the commit fails, step 3 stays the latest, intact.
	opts := quickOpts()
	opts.Attempts = 1
	once := b.Open(t, opts)
	b.Faults.CutUpload("/steps/000000000004", 100) // every try, the S3 client's own retries too
	_, err = once.Commit(t.Context(), "run", st3, checkpointAt(4))
	wantErr(t, err, nil)
	t.Logf("a commit whose every upload is cut: %v", err)
	snap, err := s.Latest(t.Context(), "run")
	must(t, err)
	if snap.Step.Step != 3 || !reflect.DeepEqual(snap.Checkpoint, checkpointAt(3)) {
		t.Fatalf("after the cut commit the latest is step %d", snap.Step.Step)
	}
	_, err = s.History(t.Context(), "run")
	must(t, err)
}

// testGap deletes a step in the middle of a run's history, as an outside
// hand could: the head is not taken to be the step before the gap; every
// read of the head reports the gap, naming the missing step. Then it puts
// another step in the place of the one before the head: the head's link to
// it is found broken.
func testGap(t *testing.T, b Backend) {
	s := b.Open(t, quickOpts())
	ctx := t.Context()
	must(t, s.CreateRun(ctx, checkpoints.RunRecord{ID: "run"}))
	steps := chain(t, s, "run", 5)
	key := func(n int) string { return fmt.Sprintf("runs/run/steps/%012d", n) }
	three, err := b.Bucket.ReadAll(ctx, key(3))
	must(t, err)
	must(t, b.Bucket.Delete(ctx, key(3)))
	_, err = s.LastStep(ctx, "run")
	if !errors.Is(err, checkpoints.ErrCorrupt) || !strings.Contains(err.Error(), "step 3 is missing, though step 5 exists") || !strings.Contains(err.Error(), key(3)) {
		t.Errorf("LastStep across a gap: %v", err)
	}
	if _, err := s.Latest(ctx, "run"); !errors.Is(err, checkpoints.ErrCorrupt) {
		t.Errorf("Latest across a gap: %v", err)
	}
	if st, err := s.Status(ctx, "run"); st.State != contract.Unknown || !strings.Contains(st.Error, "step 3 is missing") {
		t.Errorf("Status across a gap: %+v, %v", st, err)
	}
	if _, err := s.History(ctx, "run"); !errors.Is(err, checkpoints.ErrCorrupt) || !strings.Contains(err.Error(), "step 3 is missing") {
		t.Errorf("History across a gap: %v", err)
	}
	must(t, b.Bucket.WriteAll(ctx, key(3), three, nil))

	// Gaps where probes from the first step would not land.
	must(t, s.CreateRun(ctx, checkpoints.RunRecord{ID: "long"}))
	chain(t, s, "long", 9)
	longKey := func(n int) string { return fmt.Sprintf("runs/long/steps/%012d", n) }
	for _, missing := range [][]int{{5}, {0, 1}} {
		saved := map[int][]byte{}
		for _, n := range missing {
			saved[n], err = b.Bucket.ReadAll(ctx, longKey(n))
			must(t, err)
			must(t, b.Bucket.Delete(ctx, longKey(n)))
		}
		if _, err := s.LastStep(ctx, "long"); !errors.Is(err, checkpoints.ErrCorrupt) || !strings.Contains(err.Error(), fmt.Sprintf("step %d is missing", missing[0])) {
			t.Errorf("LastStep with steps %v deleted: %v", missing, err)
		}
		for n, data := range saved {
			must(t, b.Bucket.WriteAll(ctx, longKey(n), data, nil))
		}
	}

	five, err := b.Bucket.ReadAll(ctx, key(5))
	must(t, err)
	must(t, b.Bucket.Delete(ctx, key(5)))
	must(t, b.Bucket.Delete(ctx, key(4)))
	other := checkpointAt(4)
	other.Values["count"] = int64(40)
	_, err = s.Commit(ctx, "run", steps[3], other)
	must(t, err)
	must(t, b.Bucket.WriteAll(ctx, key(5), five, nil))
	if _, err := s.Latest(ctx, "run"); !errors.Is(err, checkpoints.ErrCorrupt) || !strings.Contains(err.Error(), "does not follow step 4") {
		t.Errorf("Latest when the step before the head was replaced: %v", err)
	}
}
