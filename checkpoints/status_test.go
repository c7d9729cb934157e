package checkpoints_test

import (
	"slices"
	"testing"
	"time"

	"gocloud.dev/blob/memblob"

	"github.com/graphjob/graphjob/checkpoints"
	"github.com/graphjob/graphjob/contract"
	"github.com/graphjob/graphjob/graph"
)

// TestStatus: where a run is, from its records, at a time the test sets.
func TestStatus(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)
	type attempt struct {
		at   time.Duration // after t0
		end  time.Duration // after t0; 0: no end recorded
		exit int
		err  string
	}
	tests := []struct {
		desc     string
		steps    int // committed, one a minute from t0
		attempts []attempt
		result   *checkpoints.Result
		now      time.Duration // after t0
		want     contract.RunState
		wantErr  string
	}{
		{"a new run is running", 0, nil, nil, time.Minute, contract.Running, ""},
		{"an attempt at work", 3, []attempt{{0, 0, 0, ""}}, nil, 4 * time.Minute, contract.Running, ""},
		{"killed: nothing written for a while", 3, []attempt{{0, 0, 0, ""}}, nil, 2*time.Minute + checkpoints.StaleAfter + time.Second, contract.Unknown, ""},
		{"drained", 3, []attempt{{0, 3 * time.Minute, 75, "drained"}}, nil, time.Hour, contract.Interrupted, "drained"},
		{"succeeded after a drained attempt: no error", 3, []attempt{{0, time.Minute, 75, "drained"}, {2 * time.Minute, 3 * time.Minute, 0, ""}},
			&checkpoints.Result{Status: contract.Succeeded, Step: 2}, time.Hour, contract.Succeeded, ""},
		{"failed", 3, []attempt{{0, 3 * time.Minute, 3, "node x failed"}}, &checkpoints.Result{Status: contract.Failed, Step: 2, Error: "node x failed"}, time.Hour, contract.Failed, "node x failed"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			now := t0
			s := checkpoints.New(memblob.OpenBucket(nil), checkpoints.Options{Now: func() time.Time { return now }})
			must(t, s.CreateRun(t.Context(), checkpoints.RunRecord{ID: "r", Graph: checkpoints.GraphRef{Name: "g", Digest: "sha256:00"}}))
			var parent *checkpoints.Step
			for i := range tt.steps {
				now = t0.Add(time.Duration(i) * time.Minute)
				cp := graph.Checkpoint{Step: i, Values: map[string]any{"i": int64(i)}, Versions: map[string]uint64{"i": uint64(i + 1)}, Next: []graph.Task{{Node: "work"}}}
				var err error
				parent, err = s.Commit(t.Context(), "r", parent, cp)
				must(t, err)
			}
			for _, a := range tt.attempts {
				started, err := s.StartAttempt(t.Context(), "r", checkpoints.Attempt{Started: t0.Add(a.at), From: -1})
				must(t, err)
				if a.end > 0 {
					must(t, s.EndAttempt(t.Context(), "r", checkpoints.AttemptEnd{N: started.N, Ended: t0.Add(a.end), Exit: a.exit, Error: a.err}))
				}
			}
			if tt.result != nil {
				must(t, s.PutResult(t.Context(), "r", *tt.result))
			}
			now = t0.Add(tt.now)
			st, err := s.Status(t.Context(), "r")
			must(t, err)
			if st.State != tt.want || st.Error != tt.wantErr {
				t.Errorf("status %s, error %q; want %s, %q", st.State, st.Error, tt.want, tt.wantErr)
			}
			v, err := s.View(t.Context(), "r")
			must(t, err)
			if v.RunStatus != st {
				t.Errorf("View's status %+v, Status %+v: two derivations", v.RunStatus, st)
			}
		})
	}
}

// TestDurations: a step's duration leaves out the time the run was down
// between two attempts; the timeline shows that gap.
func TestDurations(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	steps := []*checkpoints.Step{{Step: 0, Time: at(0)}, {Step: 1, Time: at(1)}, {Step: 2, Time: at(2)}, {Step: 3, Time: at(14.6)}, {Step: 4, Time: at(15)}}
	attempts := []checkpoints.Attempt{
		{N: 1, Started: at(-0.1), From: -1}, // killed after step 2
		{N: 2, Started: at(12.6), From: 2, End: &checkpoints.AttemptEnd{N: 2, Ended: at(15.1), Step: 4}},
	}
	got := checkpoints.Durations(steps, attempts)
	want := []time.Duration{0, time.Second, time.Second, 2 * time.Second, 400 * time.Millisecond}
	if !slices.Equal(got, want) {
		t.Errorf("durations %v, want %v: step 3 was resumed at 12.6 s", got, want)
	}
	spans := checkpoints.Timeline(steps, attempts)
	if len(spans) != 2 || spans[0].Steps != 3 || spans[0].Last != 2 || !spans[0].Seen.Equal(at(2)) ||
		spans[1].Steps != 2 || spans[1].Last != 4 || spans[1].Gap != 10600*time.Millisecond || !spans[1].Seen.Equal(at(15.1)) {
		t.Errorf("timeline %+v", spans)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
