package runner

import (
	"errors"
	"fmt"

	"github.com/graphjob/graphjob/contract"

	"github.com/graphjob/graphjob/checkpoints"
	"github.com/graphjob/graphjob/graph"
)

// ErrDrained is returned when the run stopped on a signal after committing
// what finished.
var ErrDrained = errors.New("drained on a signal: finished work is committed; run again with the same run ID to resume")

// InvalidError is a mistake in what the run was asked to do.
type InvalidError struct{ Err error }

func (e *InvalidError) Error() string { return e.Err.Error() }
func (e *InvalidError) Unwrap() error { return e.Err }

// FailedError reports a run whose stored result is a failure.
type FailedError struct {
	Run    string
	Result checkpoints.Result
}

// Error names no step of its own: the stored error names the step that
// failed, and Result.Step, the last committed one, is only where
// --retry-failed resumes.
func (e *FailedError) Error() string {
	return fmt.Sprintf("run %s failed (%s): %s; give --retry-failed to run it again", e.Run, e.Result.Time.Format("2006-01-02 15:04:05Z07:00"), e.Result.Error)
}

// FencedError reports that another attempt of the run committed first: this
// attempt stopped without acting on its own state again.
type FencedError struct {
	Run string
	Err error
}

func (e *FencedError) Error() string {
	return fmt.Sprintf("run %s: another attempt of this run committed first, so this one stopped (the other goes on; if it died, run again to resume from its last step): %v", e.Run, e.Err)
}
func (e *FencedError) Unwrap() error { return e.Err }

// failedForGood reports whether err ends the run: retrying cannot help.
func failedForGood(err error) bool {
	var node *graph.NodeError
	var conflict *graph.ConflictError
	var tooLarge *checkpoints.TooLargeError
	return errors.As(err, &node) || errors.As(err, &conflict) || errors.As(err, &tooLarge) || errors.Is(err, graph.ErrRecursionLimit)
}

// ExitCode maps an error of Run to the exit-code contract (package
// contract).
func ExitCode(err error) int {
	var invalid *InvalidError
	var failed *FailedError
	var fenced *FencedError
	var coded interface{ ExitCode() int }
	switch {
	case err == nil:
		return contract.ExitOK
	case errors.As(err, &coded):
		return coded.ExitCode()
	case errors.Is(err, ErrDrained):
		return contract.ExitDrained
	case errors.As(err, &fenced):
		return contract.ExitTransient
	case errors.As(err, &invalid), errors.Is(err, graph.ErrInvalidGraph):
		return contract.ExitInvalid
	case errors.As(err, &failed), failedForGood(err):
		return contract.ExitFailed
	}
	return contract.ExitTransient
}
