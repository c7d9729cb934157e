package spec

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalid is matched by every error about a graph file.
var ErrInvalid = errors.New("invalid graph")

// ErrInvalidInput is matched by every error about the input given to a graph:
// a value that is not of its channel's type, or a name that is no channel.
var ErrInvalidInput = errors.New("invalid input")

// Error is one problem in a graph file, at a position.
type Error struct {
	File   string
	Line   int // 1-based; 0 when the problem is the whole file
	Column int // 1-based
	Msg    string
}

func (e *Error) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Msg)
}

// Is reports whether target is ErrInvalid: every Error is.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

// ErrorList is every problem found in a file, in file order.
type ErrorList []*Error

func (l ErrorList) Error() string {
	var b strings.Builder
	for i, e := range l {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Is reports whether target is ErrInvalid: every ErrorList is.
func (l ErrorList) Is(target error) bool { return target == ErrInvalid }

// Unwrap returns the errors, for errors.As.
func (l ErrorList) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}

// maxErrors bounds how many problems one load reports.
const maxErrors = 20
