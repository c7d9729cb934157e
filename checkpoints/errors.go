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
