package graph

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrRecursionLimit is matched by the error of a run that reached its
// recursion limit with nodes still due.
var ErrRecursionLimit = errors.New("recursion limit reached")

// ErrInvalidGraph is matched by every error that New, AddNode, the Add*Edge
// methods and Compile return for a graph that cannot be built.
var ErrInvalidGraph = errors.New("invalid graph")

// NodeError is the error of a node that failed for good: after its retries, or
// at once for an error that is not retried. Routing errors of a node's
// conditional or map edges are NodeErrors of that node too.
type NodeError struct {
	Node     string // the node's name
	Step     int    // the superstep, counted from 1
	Attempts int    // how many times the node ran in this superstep
	Err      error
}

func (e *NodeError) Error() string {
	if e.Attempts > 1 {
		return fmt.Sprintf("step %d: node %q failed after %d attempts: %v", e.Step, e.Node, e.Attempts, e.Err)
	}
	return fmt.Sprintf("step %d: node %q: %v", e.Step, e.Node, e.Err)
}

func (e *NodeError) Unwrap() error { return e.Err }

// ConflictError reports two tasks of one superstep that wrote the same Replace
// channel, so neither value can be chosen without losing the other.
type ConflictError struct {
	Step    int
	Channel string
	Nodes   [2]string // the first two writers, in task order
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("step %d: nodes %q and %q both wrote channel %q in one superstep, and its reducer is replace; "+
		"give the channel a reducer that combines writes (append, add, merge) or write it from one node",
		e.Step, e.Nodes[0], e.Nodes[1], e.Channel)
}

// RecursionLimitError is the error of a run that used all the supersteps it
// was allowed while nodes were still due. It matches ErrRecursionLimit.
type RecursionLimitError struct {
	Limit int      // the recursion limit: the maximum number of supersteps
	Next  []string // the nodes that were due next
}

func (e *RecursionLimitError) Error() string {
	return fmt.Sprintf("recursion limit of %d reached with nodes [%s] still due; "+
		"raise the recursion limit if the graph needs more supersteps, or check that its loops end",
		e.Limit, strings.Join(e.Next, ", "))
}

// Is reports whether target is ErrRecursionLimit.
func (e *RecursionLimitError) Is(target error) bool { return target == ErrRecursionLimit }

// UnreachableError is Compile's error for a node that no edge leads to from
// START. It matches ErrInvalidGraph.
type UnreachableError struct {
	Node string
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("%v: node %q can never run: no edge leads to it from START", ErrInvalidGraph, e.Node)
}

// Is reports whether target is ErrInvalidGraph.
func (e *UnreachableError) Is(target error) bool { return target == ErrInvalidGraph }

// TimeoutError is the cause of a node attempt that exceeded its timeout.
type TimeoutError struct {
	After time.Duration
}

func (e *TimeoutError) Error() string { return fmt.Sprintf("timed out after %s", e.After) }

// PermanentError marks an error that retrying cannot fix, so the node fails at
// once whatever its retry policy.
type PermanentError struct {
	Err error
}

// Permanent wraps err so that it is never retried. It returns nil for nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

func (e *PermanentError) Error() string { return e.Err.Error() }

func (e *PermanentError) Unwrap() error { return e.Err }

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidGraph}, args...)...)
}
