package checkpoints

import (
	"context"
	"errors"
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
	prefix := stepsPrefix(run)
	objs, err := s.list(ctx, prefix, "")
	if err != nil {
		return nil, &ObjectError{Run: run, Step: -1, Key: prefix, Err: err}
	}
	if len(objs) == 0 {
		return nil, &ObjectError{Run: run, Step: -1, Key: prefix, Err: fmt.Errorf("%w: no committed step", ErrNotFound)}
	}
	numbers := make([]int, len(objs))
	for i, o := range objs {
		var ok bool
		if numbers[i], ok = parseNumber(o.Key, prefix); !ok {
			return nil, &ObjectError{Run: run, Step: -1, Key: o.Key, Err: fmt.Errorf("%w: not a step's name", ErrCorrupt)}
		}
	}
	steps := make([]*Step, len(objs))
	err = parallel(len(objs), 16, func(i int) error {
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
	// Step is the last committed step; -1 before the first commit.
	Step int `json:"step"`
	// Status is "running" (or stopped) until the run has a result.
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
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

// Info summarizes one run; a run whose records cannot be read has the
// status "unreadable" and the error.
func (s *Store) Info(ctx context.Context, id string) RunInfo {
	info := RunInfo{ID: id, Step: -1, Status: "running"}
	r, err := s.Run(ctx, id)
	if err != nil {
		info.Status, info.Error = "unreadable", err.Error()
		return info
	}
	info.Graph, info.Created = r.Graph.Name, r.Created
	if last, err := s.LastStep(ctx, id); err == nil {
		info.Step = last
	} else if !errors.Is(err, ErrNotFound) {
		info.Status, info.Error = "unreadable", err.Error()
		return info
	}
	res, err := s.Result(ctx, id)
	switch {
	case err == nil:
		info.Status, info.Error = string(res.Status), res.Error
	case !errors.Is(err, ErrNotFound):
		info.Status, info.Error = "unreadable", err.Error()
	}
	return info
}
