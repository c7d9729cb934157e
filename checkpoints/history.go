package checkpoints

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// History reads the records of the run's committed steps, oldest first, and
// checks that they form one chain: each step's Parent is the hash of the
// step before it.
func (s *Store) History(ctx context.Context, run string) ([]*Step, error) {
	if err := CheckRunID(run); err != nil {
		return nil, err
	}
	numbers, err := s.chain(ctx, run)
	if err != nil {
		return nil, err
	}
	steps := make([]*Step, len(numbers))
	err = parallel(len(numbers), 16, func(i int) error {
		var err error
		steps[i], err = s.Step(ctx, run, numbers[i])
		return err
	})
	if err != nil {
		return nil, err
	}
	for i := 1; i < len(steps); i++ {
		prev, st := steps[i-1], steps[i]
		if st.Step != prev.Step+1 || st.Parent != prev.SHA256 {
			return nil, &ObjectError{Run: run, Step: st.Step, Key: stepKey(run, st.Step),
				Err: fmt.Errorf("%w: does not follow step %d: history is not one chain", ErrCorrupt, prev.Step)}
		}
	}
	return steps, nil
}

// RunInfo summarizes a run for listings.
type RunInfo struct {
	ID      string    `json:"id"`
	Graph   string    `json:"graph"`
	Created time.Time `json:"created"`
	RunStatus
}

// Runs lists the runs in the store, by ID. A run whose records cannot be read
// is listed with the error.
func (s *Store) Runs(ctx context.Context) ([]RunInfo, error) {
	objs, err := s.list(ctx, "runs/", "/")
	if err != nil {
		return nil, fmt.Errorf("listing runs: %w", err)
	}
	infos := make([]RunInfo, 0, len(objs))
	for _, o := range objs {
		id := strings.TrimSuffix(strings.TrimPrefix(o.Key, "runs/"), "/")
		if !o.IsDir || CheckRunID(id) != nil {
			continue
		}
		infos = append(infos, s.Info(ctx, id))
	}
	return infos, nil
}

// Info summarizes one run; a run whose records cannot be read is Unknown,
// with the error.
func (s *Store) Info(ctx context.Context, id string) RunInfo {
	info := RunInfo{ID: id}
	var err error
	if info.RunStatus, err = s.Status(ctx, id); err != nil {
		info.RunStatus = unreadable(err)
	}
	if r, err := s.RunRecord(ctx, id); err == nil {
		info.Graph, info.Created = r.Graph.Name, r.Created
	}
	return info
}

// Durations returns how long each step took: from the commit of the step
// before it, or from the start of the attempt that committed it if that
// attempt began later, so that the time a run was down between attempts is
// not counted in a step. Step 0 (the input) took 0.
func Durations(steps []*Step, attempts []Attempt) []time.Duration {
	out := make([]time.Duration, len(steps))
	for i := 1; i < len(steps); i++ {
		from := steps[i-1].Time
		if a := attemptAt(attempts, steps[i].Time); a != nil && a.Started.After(from) {
			from = a.Started
		}
		out[i] = steps[i].Time.Sub(from)
	}
	return out
}

// attemptAt returns the attempt that was at work at t: the last one started
// by then.
func attemptAt(attempts []Attempt, t time.Time) *Attempt {
	var at *Attempt
	for i := range attempts {
		if !attempts[i].Started.After(t) {
			at = &attempts[i]
		}
	}
	return at
}

// Span is an attempt on a run's timeline: what it committed, when it was
// last seen, and the gap before it, while no attempt was at work.
type Span struct {
	Attempt
	// Steps counts the steps it committed; Last is the last of them, or
	// From if none.
	Steps int `json:"steps"`
	Last  int `json:"lastStep"`
	// Seen is its end, or else its last commit (or its start): when it was
	// last seen at work.
	Seen time.Time `json:"seen"`
	// Gap is the time from the previous attempt's Seen to this one's start.
	Gap time.Duration `json:"gap"`
}

// Timeline places a run's attempts on its history: one Span each, oldest
// first.
func Timeline(steps []*Step, attempts []Attempt) []Span {
	spans := make([]Span, len(attempts))
	for i, a := range attempts {
		spans[i] = Span{Attempt: a, Last: a.From, Seen: a.Started}
	}
	for _, st := range steps {
		for i := range spans {
			if a := attemptAt(attempts, st.Time); a != nil && a.N == spans[i].N && st.Step > spans[i].From {
				spans[i].Steps++
				spans[i].Last = max(spans[i].Last, st.Step)
				spans[i].Seen = later(spans[i].Seen, st.Time)
			}
		}
	}
	for i := range spans {
		if e := spans[i].End; e != nil {
			spans[i].Seen = later(spans[i].Seen, e.Ended)
		}
		if i > 0 && spans[i].Started.After(spans[i-1].Seen) {
			spans[i].Gap = spans[i].Started.Sub(spans[i-1].Seen)
		}
	}
	return spans
}
