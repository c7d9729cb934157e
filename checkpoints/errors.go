package checkpoints

import (
	"errors"
	"fmt"
)

var (
	// ErrNotFound means the run, step or object does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists means a create-only write lost: the object was already
	// created, with other content, by another writer. A writer that gets it
	// from Commit, PutWrite or PutResult has been fenced and must not go on
	// from its own state.
	ErrExists = errors.New("already exists with other content")
	// ErrCorrupt means an object read back is not what was written: a checksum
	// or size mismatch, a malformed record, or a reference to a missing object.
	ErrCorrupt = errors.New("corrupt")
	// ErrUnsupported means an object was written in a format version this
	// graphjob does not read.
	ErrUnsupported = errors.New("unsupported format")
	// ErrTooLarge means an object is over Options.MaxObjectSize.
	ErrTooLarge = errors.New("too large")
	// ErrInvalidRunID means a run ID that cannot name a run: a mistake of
	// the caller's, not of the store.
	ErrInvalidRunID = errors.New("not a run ID")
)

// ObjectError is an error about one stored object. It names the run, the
// step (or -1 for objects of no step) and the object's key; Err wraps one of
// the package's sentinel errors or the store's own error.
type ObjectError struct {
	Run  string
	Step int
	Key  string
	Err  error
}

func (e *ObjectError) Error() string {
	if e.Step < 0 {
		return fmt.Sprintf("run %s: object %s: %v", e.Run, e.Key, e.Err)
	}
	return fmt.Sprintf("run %s, step %d: object %s: %v", e.Run, e.Step, e.Key, e.Err)
}

func (e *ObjectError) Unwrap() error { return e.Err }

// TooLargeError is a state the store refuses to commit, nothing of it
// written: a channel's value whose JSON is over Options.MaxObjectSize (it
// could not be read back), or, with Channel empty, a state over
// Options.MaxStateSize. It wraps ErrTooLarge; a run that gets it fails for
// good.
type TooLargeError struct {
	Run     string
	Step    int
	Channel string
	Size    int64
	Limit   int64
}

func (e *TooLargeError) Error() string {
	if e.Channel == "" {
		return fmt.Sprintf("run %s, step %d: the state is %d bytes of JSON, %v: nothing of the step was committed (raise the limit with --max-state-size, or keep large data outside the state)", e.Run, e.Step, e.Size, e.over())
	}
	return fmt.Sprintf("run %s, step %d: channel %q is %d bytes of JSON, %v: nothing of the step was committed (raise the limit with --max-object-size, or keep large data outside the state)", e.Run, e.Step, e.Channel, e.Size, e.over())
}

func (e *TooLargeError) over() string { return fmt.Sprintf("over the limit of %d bytes", e.Limit) }

func (e *TooLargeError) Unwrap() error { return ErrTooLarge }
