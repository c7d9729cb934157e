package checkpoints

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/graphjob/graphjob/contract"
	"github.com/graphjob/graphjob/graph"
)

// RunRecord is a run's record, written once when the run starts.
type RunRecord struct {
	ID string `json:"id"`
	// Graph names the graph and pins its content.
	Graph GraphRef `json:"graph"`
	// Input is the state the run started from.
	Input map[string]any `json:"input,omitempty"`
	// Origin says what started the run: a Job, a schedule's slot, a user.
	Origin map[string]string `json:"origin,omitempty"`
	// Created is set by CreateRun.
	Created time.Time `json:"created"`
}

// GraphRef identifies a graph file by name and content.
type GraphRef struct {
	Name   string `json:"name"`
	Digest string `json:"digest"` // "sha256:<hex>"
}

// Step is the record of a committed superstep: where each channel's value is,
// and what runs next.
type Step struct {
	Run  string    `json:"run"`
	Step int       `json:"step"`
	Time time.Time `json:"time"`
	// Parent is the SHA-256 of the previous step's record; empty for step 0.
	Parent string `json:"parent,omitempty"`
	// Tasks are the tasks this superstep ran; none for step 0.
	Tasks []graph.Task `json:"tasks,omitempty"`
	// Channels locates each channel's value at this step.
	Channels map[string]ValueRef `json:"channels"`
	// Values holds the small values this step wrote (see InlineLimit).
	Values map[string]json.RawMessage `json:"values,omitempty"`
	// Next lists the tasks due in the next superstep; none when the run is done.
	Next []graph.Task `json:"next"`
	// Joins and Deferred are what the run waits for besides Next: the
	// sources of waiting edges that have run, and the deferred nodes due
	// once nothing else is (graph.Checkpoint).
	Joins    map[string][]string `json:"joins,omitempty"`
	Deferred []string            `json:"deferred,omitempty"`
	// Written counts the bytes of the values this commit wrote; unchanged
	// channels cost nothing.
	Written int64 `json:"written"`

	// Size is the size of the step's own object, and SHA256 the hash of its
	// record, as stored (set by Commit and on reading).
	Size   int64  `json:"-"`
	SHA256 string `json:"-"`
}

// Bytes is what committing the step wrote: its record and its new values.
func (s *Step) Bytes() int64 { return s.Size + s.Written }

// ValueRef locates one channel value: the channel's version, and the SHA-256
// and size of the value's JSON. A small value is in the record of the step
// that wrote it (Inline, Step); a larger one is an object of its own.
//
// A list that steps only extend is kept in Parts instead, so that a step
// writes the items it added, not the whole list: each part is a list of
// Items items located as a value is, and the value is their concatenation.
// Size is then the parts' total; SHA256 is empty.
type ValueRef struct {
	Version uint64     `json:"version"`
	SHA256  string     `json:"sha256"`
	Size    int64      `json:"size"`
	Inline  bool       `json:"inline,omitempty"`
	Step    int        `json:"step,omitempty"`
	Items   int        `json:"items,omitempty"`
	Parts   []ValueRef `json:"parts,omitempty"`
}

// written is the reference of what a commit writes for the value: the
// value, or its last part.
func (r ValueRef) written() ValueRef {
	if len(r.Parts) > 0 {
		return r.Parts[len(r.Parts)-1]
	}
	return r
}

// InlineLimit is the largest value, in bytes of JSON, kept in the record of
// the step that wrote it rather than in an object of its own: a step that
// changes only small channels is one write.
const InlineLimit = 16 << 10

// Write is a pending write: the update of a task that finished inside a
// superstep not yet committed. A resumed run applies it instead of running the
// task again.
type Write struct {
	// Step is the superstep the task belongs to: the last committed step + 1.
	Step int `json:"step"`
	// Index is the task's position among the step's tasks.
	Index  int          `json:"index"`
	Task   graph.Task   `json:"task"`
	Update graph.Update `json:"update"`
	Time   time.Time    `json:"time"`
}

// Result is a run's terminal record. A run with a result never runs again.
type Result struct {
	// Status is contract.Succeeded or contract.Failed.
	Status contract.RunState `json:"status"`
	// Step is the last committed step.
	Step int `json:"step"`
	// Error says why a failed run failed.
	Error string    `json:"error,omitempty"`
	Time  time.Time `json:"time"`
}

var runIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$`)

// CheckRunID returns an error unless id can name a run: 1 to 253 letters,
// digits, '.', '_' or '-', starting with a letter or digit.
func CheckRunID(id string) error {
	if !runIDPattern.MatchString(id) {
		return fmt.Errorf("run ID %q: use 1 to 253 letters, digits, '.', '_' or '-', starting with a letter or digit: %w", id, ErrInvalidRunID)
	}
	return nil
}

// Keys. Steps and pending writes are zero-padded so that key order is
// numeric order.
func runPrefix(run string) string   { return "runs/" + run + "/" }
func runKey(run string) string      { return runPrefix(run) + "run.json" }
func resultKey(run string) string   { return runPrefix(run) + "result" }
func stepsPrefix(run string) string { return runPrefix(run) + "steps/" }
func stepKey(run string, step int) string {
	return fmt.Sprintf("%s%012d", stepsPrefix(run), step)
}
func writesPrefix(run string, step int) string {
	return fmt.Sprintf("%swrites/%012d/", runPrefix(run), step)
}
func writeKey(run string, step, index int) string {
	return fmt.Sprintf("%s%06d", writesPrefix(run, step), index)
}
func valuesPrefix(run string) string { return runPrefix(run) + "values/" }
func floorsPrefix(run string) string { return runPrefix(run) + "floor/" }
func floorKey(run string, step int) string {
	return fmt.Sprintf("%s%012d", floorsPrefix(run), step)
}
func valueKey(run, channel string, ref ValueRef) string {
	return fmt.Sprintf("%s%s/%012d-%s", valuesPrefix(run), escapeChannel(channel), ref.Version, ref.SHA256)
}

// parseNumber parses the zero-padded number that ends a step or write key.
func parseNumber(key, prefix string) (int, bool) {
	s, ok := strings.CutPrefix(key, prefix)
	if !ok || len(s) == 0 || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

// escapeChannel turns a channel name into one key segment: letters, digits,
// '_' and '-' stay, every other byte becomes ~XX.
func escapeChannel(name string) string {
	var b strings.Builder
	for i := range len(name) {
		c := name[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "~%02X", c)
		}
	}
	return b.String()
}
