package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gocloud.dev/blob"

	"github.com/graphjob/graphjob/checkpoints"
	"github.com/graphjob/graphjob/contract"
	"github.com/graphjob/graphjob/graph"
)

// Backend is one empty store location.
type Backend struct {
	// Bucket is the raw bucket under the store, for the suite to damage
	// objects the way an outside writer could.
	Bucket *blob.Bucket
	// Open opens a store over the backend; each call is another writer.
	Open func(t *testing.T, opts checkpoints.Options) *checkpoints.Store
	// URL, when set, opens the backend from other processes, with Env added
	// to their environment.
	URL string
	Env []string
	// Faults, when set, can break the network between the store and the
	// backend.
	Faults Faults
}

// Faults break the network path to a backend for the next times uploads
// whose path contains match.
type Faults interface {
	// CutUpload closes the connection half-way through the upload.
	CutUpload(match string, times int)
	// DropResponse lets the upload complete, then closes the connection
	// before the response reaches the client: the outcome is unknown to it.
	DropResponse(match string, times int)
	// Armed returns how many breakages are armed and not yet done.
	Armed() int
}

// Run runs the suite. newBackend returns a new, empty backend for each test.
func Run(t *testing.T, newBackend func(t *testing.T) Backend) {
	tests := []struct {
		name string
		fn   func(t *testing.T, b Backend)
	}{
		{"RunRecord", testRunRecord},
		{"CommitAndLoad", testCommitAndLoad},
		{"Deltas", testDeltas},
		{"Parts", testParts},
		{"PendingWrites", testPendingWrites},
		{"Cursors", testCursors},
		{"Attempts", testAttempts},
		{"Slots", testSlots},
		{"ForeignObjects", testForeignObjects},
		{"Gap", testGap},
		{"Result", testResult},
		{"HistoryAndRuns", testHistoryAndRuns},
		{"Retention", testRetention},
		{"Delete", testDelete},
		{"RaceGoroutines", testRaceGoroutines},
		{"RaceProcesses", testRaceProcesses},
		{"Damaged", testDamaged},
		{"TooLarge", testTooLarge},
		{"FailHalfWay", testFailHalfWay},
		{"NetworkFaults", testNetworkFaults},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newBackend(t)) })
	}
}

// fixedClock returns increasing times one second apart, for readable records.
func fixedClock() func() time.Time {
	var mu sync.Mutex
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(time.Second)
		return now
	}
}

func quickOpts() checkpoints.Options {
	return checkpoints.Options{Backoff: time.Millisecond, Now: fixedClock()}
}

// chain commits steps 0..n of a run whose "count" channel changes every step
// and whose "big" channel never does, and returns the records.
func chain(t *testing.T, s *checkpoints.Store, run string, n int) []*checkpoints.Step {
	t.Helper()
	var steps []*checkpoints.Step
	var parent *checkpoints.Step
	for i := 0; i <= n; i++ {
		st, err := s.Commit(t.Context(), run, parent, checkpointAt(i))
		if err != nil {
			t.Fatalf("commit step %d: %v", i, err)
		}
		steps, parent = append(steps, st), st
	}
	return steps
}

// checkpointAt is the state of the suite's run after step i.
func checkpointAt(i int) graph.Checkpoint {
	next := []graph.Task{{Node: "work"}, {Node: "fan", Item: int64(i), HasItem: true}}
	var joins map[string][]string
	var deferred []string
	if i%2 == 1 { // what a run waits for besides next is kept too
		joins, deferred = map[string][]string{"join:a+b:c": {"a"}}, []string{"d"}
	}
	return graph.Checkpoint{
		Joins:    joins,
		Deferred: deferred,
		Step:     i,
		Values: map[string]any{
			"count": int64(i),
			"big":   strings.Repeat("x", checkpoints.InlineLimit+1), // an object of its own

			"ratio":     float64(i) + 0.5,
			"items":     []any{int64(i), "two", true, nil},
			"nested":    map[string]any{"a": map[string]any{"b": []any{int64(1) << 60}}},
			"odd/na me": "escaped <&> \u2028",
		},
		Versions: map[string]uint64{"count": uint64(i + 1), "big": 1, "ratio": uint64(i + 1), "items": uint64(i + 1), "nested": 1, "odd/na me": 1},
		Next:     next,
	}
}

func testRunRecord(t *testing.T, b Backend) {
	s := b.Open(t, quickOpts())
	r := checkpoints.RunRecord{ID: "run-1", Graph: checkpoints.GraphRef{Name: "loop", Digest: "sha256:00"},
		Input: map[string]any{"step": int64(0), "list": []any{"a"}}, Origin: map[string]string{"job": "loop-x"}}
	must(t, s.CreateRun(t.Context(), r))
	got, err := s.RunRecord(t.Context(), "run-1")
	must(t, err)
	r.Created = got.Created
	if !reflect.DeepEqual(*got, r) {
		t.Errorf("run record read back:\n got %#v\nwant %#v", *got, r)
	}
	// A retry of the same write is not a conflict; another record is.
	must(t, s.CreateRun(t.Context(), r))
	r.Input = map[string]any{"step": int64(1)}
	wantErr(t, s.CreateRun(t.Context(), r), checkpoints.ErrExists)
	_, err = s.RunRecord(t.Context(), "run-2")
	wantErr(t, err, checkpoints.ErrNotFound)
	wantErr(t, s.CreateRun(t.Context(), checkpoints.RunRecord{ID: "../escape"}), nil)
}

func testCommitAndLoad(t *testing.T, b Backend) {
	s := b.Open(t, quickOpts())
	_, err := s.Latest(t.Context(), "run")
	wantErr(t, err, checkpoints.ErrNotFound)
	steps := chain(t, s, "run", 3)
	for i := range 4 {
		snap, err := s.Load(t.Context(), "run", i)
		must(t, err)
		if want := checkpointAt(i); !reflect.DeepEqual(snap.Checkpoint, want) {
			t.Errorf("step %d read back:\n got %#v\nwant %#v", i, snap.Checkpoint, want)
		}
		if snap.Step.SHA256 != steps[i].SHA256 {
			t.Errorf("step %d: hash %s, committed %s", i, snap.Step.SHA256, steps[i].SHA256)
		}
	}
	last, err := s.LastStep(t.Context(), "run")
	must(t, err)
	latest, err := s.Latest(t.Context(), "run")
	must(t, err)
	if last != 3 || latest.Step.Step != 3 || len(latest.Pending) != 0 {
		t.Errorf("latest: LastStep %d, Latest step %d with %d pending writes; want 3, 3, 0", last, latest.Step.Step, len(latest.Pending))
	}
	if got := latest.Step.Tasks; !reflect.DeepEqual(got, checkpointAt(2).Next) {
		t.Errorf("step 3 ran %v, want step 2's next tasks", got)
	}
	// A step must continue its parent.
	_, err = s.Commit(t.Context(), "run", steps[1], checkpointAt(3))
	wantErr(t, err, nil)
	_, err = s.Commit(t.Context(), "run", nil, checkpointAt(4))
	wantErr(t, err, nil)
}

func testDeltas(t *testing.T, b Backend) {
	var mu sync.Mutex
	written := map[string]int64{}
	opts := quickOpts()
	opts.BeforeWrite = func(key string, size int64) error {
		mu.Lock()
		defer mu.Unlock()
		written[key] += size
		return nil
	}
	s := b.Open(t, opts)
	steps := chain(t, s, "run", 5)
	for _, st := range steps[1:] {
		// count, ratio and items change each step, in the step's record; big,
		// nested and the odd one never do.
		if st.Written != 0 || len(st.Values) != 3 || st.Values["count"] == nil || st.Size > 2048 {
			t.Errorf("step %d wrote %d bytes of values and a %d-byte record holding %d values, want the three small changed channels in the record only", st.Step, st.Written, st.Size, len(st.Values))
		}
		if !reflect.DeepEqual(st.Channels["big"], steps[0].Channels["big"]) {
			t.Errorf("step %d: big is %+v, want step 0's %+v", st.Step, st.Channels["big"], steps[0].Channels["big"])
		}
	}
	bigWrites := 0
	for key := range written {
		if strings.Contains(key, "/values/big/") {
			bigWrites++
		}
	}
	if bigWrites != 1 {
		t.Errorf("the unchanged channel was written %d times, want once", bigWrites)
	}
}

// testParts grows a list by a few items a step, as an append or messages
// channel grows, the items large enough that parts are objects of their own
// as well as in records: each step writes about what it added, the list
// reads back whole at every step, and after retention too.
func testParts(t *testing.T, b Backend) {
	var mu sync.Mutex
	var written int64
	opts := quickOpts()
	opts.BeforeWrite = func(key string, size int64) error {
		mu.Lock()
		defer mu.Unlock()
		written += size
		return nil
	}
	s := b.Open(t, opts)
	const steps, per = 120, 3
	item := strings.Repeat("m", 2000)
	var list []any
	var parent *checkpoints.Step
	for i := range steps {
		cp := graph.Checkpoint{Step: i, Values: map[string]any{}, Versions: map[string]uint64{"log": uint64(i + 1)}}
		next := slices.Clone(list)
		for j := range per {
			next = append(next, fmt.Sprintf("%d.%d %s", i, j, item))
		}
		if i > 0 {
			cp.Appended = map[string]int{"log": per}
		}
		list, cp.Values["log"] = next, next
		var err error
		parent, err = s.Commit(t.Context(), "run", parent, cp)
		must(t, err)
		if n := len(parent.Channels["log"].Parts); n > 16 {
			t.Fatalf("step %d: the list is in %d parts", i, n)
		}
	}
	full := int64(len(list)) * int64(len(item)+8)
	if perStep := written / steps; perStep > full/8 {
		t.Errorf("%d bytes written a step for a list of %d bytes, growing %d bytes a step: want about what it grows by", perStep, full, per*len(item))
	}
	for _, i := range []int{0, 1, 2, 57, steps - 1} {
		snap, err := s.Load(t.Context(), "run", i)
		must(t, err)
		if got := snap.Checkpoint.Values["log"].([]any); !reflect.DeepEqual(got, list[:(i+1)*per]) {
			t.Fatalf("step %d: read back %d items, want %d", i, len(got), (i+1)*per)
		}
	}
	_, err := s.Retain(t.Context(), "run", 2)
	must(t, err)
	snap, err := s.Latest(t.Context(), "run")
	must(t, err)
	if got := snap.Checkpoint.Values["log"].([]any); !reflect.DeepEqual(got, list) {
		t.Fatalf("after retention: read back %d items, want %d", len(got), len(list))
	}
	// A step whose engine did not say it extended the list writes it whole.
	cp := graph.Checkpoint{Step: steps, Values: map[string]any{"log": list[1:]}, Versions: map[string]uint64{"log": steps + 1}}
	last, err := s.Commit(t.Context(), "run", snap.Step, cp)
	must(t, err)
	if len(last.Channels["log"].Parts) != 0 {
		t.Errorf("a list changed other than at its end was kept in parts")
	}
}

func testPendingWrites(t *testing.T, b Backend) {
	s := b.Open(t, quickOpts())
	chain(t, s, "run", 2)
	w1 := checkpoints.Write{Step: 3, Index: 1, Task: graph.Task{Node: "fan", Item: int64(2), HasItem: true}, Update: graph.Update{"count": int64(7)}}
	w0 := checkpoints.Write{Step: 3, Index: 0, Task: graph.Task{Node: "work"}, Update: graph.Update{"items": []any{"x"}}}
	must(t, s.PutWrite(t.Context(), "run", w1))
	must(t, s.PutWrite(t.Context(), "run", w0))
	snap, err := s.Latest(t.Context(), "run")
	must(t, err)
	if len(snap.Pending) != 2 || snap.Pending[0].Index != 0 || snap.Pending[1].Index != 1 ||
		!reflect.DeepEqual(snap.Pending[1].Update, w1.Update) || !reflect.DeepEqual(snap.Pending[1].Task, w1.Task) {
		t.Fatalf("pending writes read back: %+v", snap.Pending)
	}
	// The same write again (a retry) passes; another update for the task is fenced.
	must(t, s.PutWrite(t.Context(), "run", snap.Pending[0]))
	w0.Update = graph.Update{"items": []any{"y"}}
	wantErr(t, s.PutWrite(t.Context(), "run", w0), checkpoints.ErrExists)
	// A write for a task the step does not schedule is not trusted.
	must(t, s.PutWrite(t.Context(), "run", checkpoints.Write{Step: 3, Index: 5, Task: graph.Task{Node: "work"}}))
	_, err = s.Latest(t.Context(), "run")
	wantErr(t, err, checkpoints.ErrCorrupt)
}

func testCursors(t *testing.T, b Backend) {
	s := b.Open(t, quickOpts())
	chain(t, s, "run", 2)
	_, err := s.LastCursor(t.Context(), "run", 3, 1)
	wantErr(t, err, checkpoints.ErrNotFound)
	for seq := 1; seq <= 37; seq++ {
		must(t, s.PutCursor(t.Context(), "run", checkpoints.Cursor{Step: 3, Index: 1, Node: "fan", Seq: seq, Cursor: []byte(fmt.Sprintf(`{"done": %d}`, seq))}))
	}
	must(t, s.PutCursor(t.Context(), "run", checkpoints.Cursor{Step: 3, Index: 0, Node: "work", Seq: 1, Cursor: []byte(`"other task"`)}))
	c, err := s.LastCursor(t.Context(), "run", 3, 1)
	must(t, err)
	if c.Seq != 37 || c.Node != "fan" || string(c.Cursor) != `{"done":37}` || c.Time.IsZero() {
		t.Errorf("last cursor %+v (%s), want the 37th", c, c.Cursor)
	}
	// A number another attempt took fences this one.
	wantErr(t, s.PutCursor(t.Context(), "run", checkpoints.Cursor{Step: 3, Index: 1, Node: "fan", Seq: 37, Cursor: []byte(`{"done": 1}`)}), checkpoints.ErrExists)
	wantErr(t, s.PutCursor(t.Context(), "run", checkpoints.Cursor{Step: 3, Index: 1, Seq: 38, Cursor: []byte(`{`)}), nil)
	wantErr(t, s.PutCursor(t.Context(), "run", checkpoints.Cursor{Step: 3, Index: 1, Seq: 0, Cursor: []byte(`1`)}), nil)
}

func testAttempts(t *testing.T, b Backend) {
	s := b.Open(t, quickOpts())
	chain(t, s, "run", 1)
	attempts, err := s.Attempts(t.Context(), "run")
	must(t, err)
	if len(attempts) != 0 {
		t.Fatalf("a run with no attempt lists %+v", attempts)
	}
	// Attempts starting at once get numbers of their own.
	var wg sync.WaitGroup
	started := make([]int, 12)
	for i := range started {
		wg.Go(func() {
			a, err := s.StartAttempt(t.Context(), "run", checkpoints.Attempt{From: 1, Origin: map[string]string{"pod": fmt.Sprint("pod-", i)}})
			if err != nil {
				t.Error(err)
			}
			started[i] = a.N
		})
	}
	wg.Wait()
	slices.Sort(started)
	if fmt.Sprint(started) != "[1 2 3 4 5 6 7 8 9 10 11 12]" {
		t.Fatalf("attempt numbers %v, want 1 to 12", started)
	}
	must(t, s.EndAttempt(t.Context(), "run", checkpoints.AttemptEnd{N: 2, Step: 1, Exit: 75}))
	must(t, s.EndAttempt(t.Context(), "run", checkpoints.AttemptEnd{N: 12, Step: 1, Exit: 1, Error: "storage unreachable"}))
	wantErr(t, s.EndAttempt(t.Context(), "run", checkpoints.AttemptEnd{N: 12, Step: 2, Exit: 0}), checkpoints.ErrExists)
	a, err := s.StartAttempt(t.Context(), "run", checkpoints.Attempt{From: 1})
	must(t, err)
	if a.N != 13 || a.Started.IsZero() {
		t.Errorf("the next attempt is %+v, want number 13", a)
	}
	attempts, err = s.Attempts(t.Context(), "run")
	must(t, err)
	if len(attempts) != 13 || attempts[1].End == nil || attempts[1].End.Exit != 75 || attempts[0].End != nil ||
		attempts[11].End == nil || attempts[11].End.Error != "storage unreachable" || attempts[12].N != 13 {
		t.Errorf("attempts read back: %+v", attempts)
	}
}

func testSlots(t *testing.T, b Backend) {
	s := b.Open(t, quickOpts())
	at := time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC)
	slot := checkpoints.Slot{Schedule: "nightly", Time: at, Run: "nightly-20260329-010000", By: "scheduler"}
	_, err := s.Slot(t.Context(), "nightly", at)
	wantErr(t, err, checkpoints.ErrNotFound)
	// Eight claimants at once: one wins, the others find it taken.
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins int
	)
	for i := range 8 {
		wg.Go(func() {
			c := slot
			c.By = fmt.Sprint("scheduler-", i)
			err := s.ClaimSlot(t.Context(), c)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case !errors.Is(err, checkpoints.ErrExists):
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d claims of one slot won, want 1", wins)
	}
	got, err := s.Slot(t.Context(), "nightly", at)
	must(t, err)
	if got.Run != slot.Run || !got.Time.Equal(at) || !strings.HasPrefix(got.By, "scheduler-") {
		t.Errorf("slot read back %+v", got)
	}
	// A retry of the winner's own claim is no conflict.
	must(t, s.ClaimSlot(t.Context(), *got))
	for i := 1; i <= 3; i++ {
		must(t, s.ClaimSlot(t.Context(), checkpoints.Slot{Schedule: "nightly", Time: at.Add(time.Duration(i) * time.Hour), Run: "r", By: "backfill"}))
	}
	must(t, s.ClaimSlot(t.Context(), checkpoints.Slot{Schedule: "other", Time: at, Run: "r", By: "backfill"}))
	slots, err := s.Slots(t.Context(), "nightly", at.Add(time.Hour), at.Add(3*time.Hour))
	must(t, err)
	if len(slots) != 2 || !slots[0].Time.Equal(at.Add(time.Hour)) || slots[1].By != "backfill" {
		t.Errorf("slots in [01:00, 04:00): %+v", slots)
	}
	// Ranges list the keys under their common prefix; one across a month
	// and a year boundary finds what it should.
	newYear := time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC)
	for _, at := range []time.Time{newYear, newYear.Add(time.Second), newYear.Add(2 * time.Second)} {
		must(t, s.ClaimSlot(t.Context(), checkpoints.Slot{Schedule: "nightly", Time: at, Run: "r", By: "backfill"}))
	}
	times, err := s.SlotTimes(t.Context(), "nightly", newYear, newYear.Add(2*time.Second))
	must(t, err)
	if len(times) != 2 || !times[0].Equal(newYear) || !times[1].Equal(newYear.Add(time.Second)) {
		t.Errorf("slot times in [23:59:59, 00:00:01): %v", times)
	}
	times, err = s.SlotTimes(t.Context(), "nightly", at, newYear.Add(time.Hour))
	must(t, err)
	if len(times) != 7 {
		t.Errorf("%d slot times from March to the new year, want 7: %v", len(times), times)
	}
	wantErr(t, s.ClaimSlot(t.Context(), checkpoints.Slot{Schedule: "Bad_Name", Time: at}), nil)
	_, err = s.Slots(t.Context(), "../runs", at, at)
	wantErr(t, err, nil)
	// A schedule's first sighting is kept: later calls get it back.
	since, err := s.ScheduleSince(t.Context(), "nightly", at)
	must(t, err)
	again, err := s.ScheduleSince(t.Context(), "nightly", at.Add(time.Hour))
	must(t, err)
	if !since.Equal(at) || !again.Equal(at) {
		t.Errorf("ScheduleSince: %s then %s, want %s both times", since, again, at)
	}
	// Schedulers starting together agree on one first sighting.
	firsts := make([]time.Time, 8)
	for i := range firsts {
		wg.Go(func() {
			var err error
			firsts[i], err = s.ScheduleSince(t.Context(), "hourly", at.Add(time.Duration(i)*time.Minute))
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for _, f := range firsts {
		if !f.Equal(firsts[0]) {
			t.Errorf("ScheduleSince at once from 8 goroutines: %v, want one time", firsts)
			break
		}
	}
	wantErr(t, s.ClaimSlot(t.Context(), checkpoints.Slot{Schedule: "nightly", Time: at.Add(time.Millisecond)}), nil)
}

func testResult(t *testing.T, b Backend) {
	s := b.Open(t, quickOpts())
	chain(t, s, "run", 1)
	_, err := s.Result(t.Context(), "run")
	wantErr(t, err, checkpoints.ErrNotFound)
	res := checkpoints.Result{Status: contract.Failed, Step: 1, Error: `node "work" failed`}
	must(t, s.PutResult(t.Context(), "run", res))
	got, err := s.Result(t.Context(), "run")
	must(t, err)
	res.Time = got.Time
	if *got != res {
		t.Errorf("result read back %+v, want %+v", *got, res)
	}
	must(t, s.PutResult(t.Context(), "run", res))
	wantErr(t, s.PutResult(t.Context(), "run", checkpoints.Result{Status: contract.Succeeded, Step: 1}), checkpoints.ErrExists)
	wantErr(t, s.PutResult(t.Context(), "run", checkpoints.Result{Status: "maybe"}), nil)
}

func testHistoryAndRuns(t *testing.T, b Backend) {
	s := b.Open(t, quickOpts())
	must(t, s.CreateRun(t.Context(), checkpoints.RunRecord{ID: "a", Graph: checkpoints.GraphRef{Name: "loop"}}))
	steps := chain(t, s, "a", 4)
	must(t, s.PutResult(t.Context(), "a", checkpoints.Result{Status: contract.Succeeded, Step: 4}))
	must(t, s.CreateRun(t.Context(), checkpoints.RunRecord{ID: "b", Graph: checkpoints.GraphRef{Name: "fanout"}}))
	hist, err := s.History(t.Context(), "a")
	must(t, err)
	if len(hist) != 5 {
		t.Fatalf("history has %d steps, want 5", len(hist))
	}
	for i, st := range hist {
		if st.Step != i || st.SHA256 != steps[i].SHA256 || st.Bytes() <= 0 || st.Time.IsZero() {
			t.Errorf("history[%d] = step %d, hash %s, %d bytes, time %v", i, st.Step, st.SHA256, st.Bytes(), st.Time)
		}
	}
	runs, err := s.Runs(t.Context())
	must(t, err)
	want := []checkpoints.RunInfo{
		{ID: "a", Graph: "loop", RunStatus: checkpoints.RunStatus{State: contract.Succeeded, Step: 4}},
		{ID: "b", Graph: "fanout", RunStatus: checkpoints.RunStatus{State: contract.Running, Step: -1}},
	}
	for i := range runs {
		runs[i].Created, runs[i].LastSeen = time.Time{}, time.Time{}
	}
	if !reflect.DeepEqual(runs, want) {
		t.Errorf("runs:\n got %+v\nwant %+v", runs, want)
	}
}

func testRetention(t *testing.T, b Backend) {
	s := b.Open(t, quickOpts())
	chain(t, s, "run", 9)
	must(t, s.PutWrite(t.Context(), "run", checkpoints.Write{Step: 5, Index: 0, Task: graph.Task{Node: "work"}}))
	must(t, s.PutWrite(t.Context(), "run", checkpoints.Write{Step: 10, Index: 0, Task: graph.Task{Node: "work"}}))
	must(t, s.PutCursor(t.Context(), "run", checkpoints.Cursor{Step: 9, Index: 0, Seq: 1, Cursor: []byte("1")}))
	must(t, s.PutCursor(t.Context(), "run", checkpoints.Cursor{Step: 10, Index: 0, Seq: 1, Cursor: []byte("1")}))
	_, err := s.Retain(t.Context(), "run", 0)
	wantErr(t, err, nil)
	got, err := s.Retain(t.Context(), "run", 3)
	must(t, err)
	// Steps 0-6 go. Their values were in their records; step 0's of nested
	// and the odd one, which the steps kept reference, are copied out first.
	if want := (checkpoints.Retained{Steps: 7, Writes: 1, Cursors: 1}); got != want {
		t.Errorf("Retain = %+v, want %+v", got, want)
	}
	for i := range 10 {
		_, err := s.Load(t.Context(), "run", i)
		if i < 7 {
			wantErr(t, err, checkpoints.ErrNotFound)
		} else {
			must(t, err)
		}
	}
	snap, err := s.Latest(t.Context(), "run")
	must(t, err)
	if snap.Step.Step != 9 || !reflect.DeepEqual(snap.Checkpoint, checkpointAt(9)) || len(snap.Pending) != 1 {
		t.Errorf("after retention the latest is step %d with %d pending writes", snap.Step.Step, len(snap.Pending))
	}
	hist, err := s.History(t.Context(), "run")
	must(t, err)
	if len(hist) != 3 {
		t.Errorf("history after retention has %d steps, want 3", len(hist))
	}
	again, err := s.Retain(t.Context(), "run", 3)
	must(t, err)
	if again != (checkpoints.Retained{}) {
		t.Errorf("a second Retain deleted %+v, want nothing", again)
	}
	// The run goes on after retention.
	_, err = s.Commit(t.Context(), "run", snap.Step, checkpointAt(10))
	must(t, err)
}

func testDelete(t *testing.T, b Backend) {
	s := b.Open(t, quickOpts())
	must(t, s.CreateRun(t.Context(), checkpoints.RunRecord{ID: "gone"}))
	chain(t, s, "gone", 2)
	must(t, s.CreateRun(t.Context(), checkpoints.RunRecord{ID: "kept"}))
	must(t, s.Delete(t.Context(), "gone"))
	_, err := s.RunRecord(t.Context(), "gone")
	wantErr(t, err, checkpoints.ErrNotFound)
	_, err = s.Latest(t.Context(), "gone")
	wantErr(t, err, checkpoints.ErrNotFound)
	wantErr(t, s.Delete(t.Context(), "gone"), checkpoints.ErrNotFound)
	runs, err := s.Runs(t.Context())
	must(t, err)
	if len(runs) != 1 || runs[0].ID != "kept" {
		t.Errorf("runs after delete: %+v", runs)
	}
}

// racer's step 1: the same step as every other racer, with its own value.
func racerCheckpoint(writer string) graph.Checkpoint {
	cp := checkpointAt(1)
	cp.Values["count"] = writer
	return cp
}

func testRaceGoroutines(t *testing.T, b Backend) {
	s := b.Open(t, quickOpts())
	parent := chain(t, s, "run", 0)[0]
	const n = 8
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		w := b.Open(t, quickOpts())
		wg.Go(func() {
			<-start
			_, errs[i] = w.Commit(t.Context(), "run", parent, racerCheckpoint(fmt.Sprint("writer-", i)))
		})
	}
	close(start)
	wg.Wait()
	outcomes := make([]string, n)
	for i, err := range errs {
		switch {
		case err == nil:
			outcomes[i] = "won"
		case errors.Is(err, checkpoints.ErrExists):
			outcomes[i] = "fenced"
		default:
			t.Fatalf("writer %d: %v", i, err)
		}
	}
	checkOneWinner(t, s, outcomes)
}

// checkOneWinner checks that exactly one writer won and that step 1 holds its
// value.
func checkOneWinner(t *testing.T, s *checkpoints.Store, outcomes []string) {
	t.Helper()
	winner := -1
	for i, o := range outcomes {
		if o == "won" {
			if winner >= 0 {
				t.Fatalf("writers %d and %d both committed step 1: %v", winner, i, outcomes)
			}
			winner = i
		} else if o != "fenced" {
			t.Fatalf("writer %d: %s", i, o)
		}
	}
	if winner < 0 {
		t.Fatalf("no writer committed step 1: %v", outcomes)
	}
	snap, err := s.Latest(t.Context(), "run")
	must(t, err)
	if got, want := snap.Checkpoint.Values["count"], fmt.Sprint("writer-", winner); snap.Step.Step != 1 || got != want {
		t.Errorf("step %d holds count %v, want the winner's %q", snap.Step.Step, got, want)
	}
	hist, err := s.History(t.Context(), "run")
	must(t, err)
	if len(hist) != 2 {
		t.Errorf("history has %d steps, want 2", len(hist))
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantErr fails unless err wraps target (any error, for a nil target).
func wantErr(t *testing.T, err, target error) {
	t.Helper()
	switch {
	case err == nil:
		t.Fatalf("no error, want %v", target)
	case target != nil && !errors.Is(err, target):
		t.Fatalf("error %q, want one that is %q", err, target)
	}
}

// BenchmarkCommit measures the commit of one step of a 1 KiB state whose
// channels all change, on the given store.
func BenchmarkCommit(b *testing.B, s *checkpoints.Store) {
	note := strings.Repeat("n", 900)
	cp := func(i int) graph.Checkpoint {
		return graph.Checkpoint{Step: i, Values: map[string]any{"count": int64(i), "note": fmt.Sprint(note, i)},
			Versions: map[string]uint64{"count": uint64(i + 1), "note": uint64(i + 1)}, Next: []graph.Task{{Node: "work"}}}
	}
	parent, err := s.Commit(b.Context(), "bench", nil, cp(0))
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 1; i <= b.N; i++ {
		if parent, err = s.Commit(b.Context(), "bench", parent, cp(i)); err != nil {
			b.Fatal(err)
		}
	}
}
