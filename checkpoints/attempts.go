package checkpoints

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Attempt records one attempt at a run: a process that ran it, such as one
// pod of its Job. Attempts are numbered from 1.
type Attempt struct {
	N       int       `json:"n"`
	Started time.Time `json:"started"`
	// From is the step the attempt started from: the last committed step
	// when it began, or -1 for a new run.
	From int `json:"from"`
	// Origin says where it ran: host, pod.
	Origin map[string]string `json:"origin,omitempty"`
	// End is how it ended; nil if it is running, or was killed.
	End *AttemptEnd `json:"end,omitempty"`
}

// AttemptEnd is how an attempt ended.
type AttemptEnd struct {
	N     int       `json:"n"`
	Ended time.Time `json:"ended"`
	// Step is the last committed step when it ended.
	Step int `json:"step"`
	// Exit is the process's exit code (see runner.ExitCode).
	Exit  int    `json:"exit"`
	Error string `json:"error,omitempty"`
}

func attemptsPrefix(run string) string { return runPrefix(run) + "attempts/" }
func attemptKey(run string, n int) string {
	return fmt.Sprintf("%s%06d/started", attemptsPrefix(run), n)
}
func endedKey(run string, n int) string {
	return fmt.Sprintf("%s%06d/ended", attemptsPrefix(run), n)
}

// StartAttempt records a new attempt and returns it with its number: one more
// than the last recorded. Attempts starting at once get different numbers.
func (s *Store) StartAttempt(ctx context.Context, run string, a Attempt) (Attempt, error) {
	if err := CheckRunID(run); err != nil {
		return a, err
	}
	prefix := attemptsPrefix(run)
	dirs, err := s.list(ctx, prefix, "/")
	if err != nil {
		return a, &ObjectError{Run: run, Step: -1, Key: prefix, Err: err}
	}
	a.N = 1
	for _, d := range dirs {
		if n, ok := parseNumber(strings.TrimSuffix(d.Key, "/"), prefix); ok && n >= a.N {
			a.N = n + 1
		}
	}
	if a.Started.IsZero() {
		a.Started = s.opts.Now().UTC()
	}
	a.End = nil
	for range 100 {
		_, err := s.putRecord(ctx, run, -1, attemptKey(run, a.N), kindAttempt, a)
		if !errors.Is(err, ErrExists) {
			return a, err
		}
		a.N++
	}
	return a, fmt.Errorf("run %s: no free attempt number after %d", run, a.N)
}

// EndAttempt records how attempt e.N ended.
func (s *Store) EndAttempt(ctx context.Context, run string, e AttemptEnd) error {
	if err := CheckRunID(run); err != nil {
		return err
	}
	if e.Ended.IsZero() {
		e.Ended = s.opts.Now().UTC()
	}
	_, err := s.putRecord(ctx, run, -1, endedKey(run, e.N), kindEnded, e)
	return err
}

// Attempts returns the run's attempts, oldest first, each with its end if
// one was recorded.
func (s *Store) Attempts(ctx context.Context, run string) ([]Attempt, error) {
	if err := CheckRunID(run); err != nil {
		return nil, err
	}
	objs, err := s.list(ctx, attemptsPrefix(run), "")
	if err != nil {
		return nil, &ObjectError{Run: run, Step: -1, Key: attemptsPrefix(run), Err: err}
	}
	var attempts []Attempt
	ends := map[int]*AttemptEnd{}
	for _, o := range objs {
		switch {
		case strings.HasSuffix(o.Key, "/started"):
			var a Attempt
			if _, err := s.getRecord(ctx, run, -1, o.Key, kindAttempt, &a); err != nil {
				return nil, err
			}
			if o.Key != attemptKey(run, a.N) {
				return nil, &ObjectError{Run: run, Step: -1, Key: o.Key, Err: fmt.Errorf("%w: the record is of attempt %d", ErrCorrupt, a.N)}
			}
			attempts = append(attempts, a)
		case strings.HasSuffix(o.Key, "/ended"):
			e := &AttemptEnd{}
			if _, err := s.getRecord(ctx, run, -1, o.Key, kindEnded, e); err != nil {
				return nil, err
			}
			if o.Key != endedKey(run, e.N) {
				return nil, &ObjectError{Run: run, Step: -1, Key: o.Key, Err: fmt.Errorf("%w: the record is of attempt %d", ErrCorrupt, e.N)}
			}
			ends[e.N] = e
		default:
			return nil, &ObjectError{Run: run, Step: -1, Key: o.Key, Err: fmt.Errorf("%w: not an attempt's record", ErrCorrupt)}
		}
	}
	for i := range attempts {
		attempts[i].End = ends[attempts[i].N]
	}
	return attempts, nil
}
