package spec

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/graphjob/graphjob/graph"
)

// ProgressInterval is how often the file named in GRAPHJOB_PROGRESS_FILE is
// read while an exec node's command runs; its newest line is saved as the
// task's cursor when it changed.
const ProgressInterval = 100 * time.Millisecond

// MaxCursor bounds one line of the progress file.
const MaxCursor = 1 << 20

// progressFile follows the file an exec command writes its cursors to: JSON
// values, one per line. Only the newest complete line matters.
type progressFile struct {
	path   string
	f      *os.File
	line   int    // lines read
	rest   []byte // a line not yet ended
	newest []byte // the newest cursor read
	saved  []byte // the newest cursor saved
	err    error  // the first bad line
}

// newProgressFile creates an empty progress file in the temporary directory.
func newProgressFile() (*progressFile, error) {
	f, err := os.CreateTemp("", "graphjob-progress-*.jsonl")
	if err != nil {
		return nil, fmt.Errorf("creating the progress file: %w", err)
	}
	return &progressFile{path: f.Name(), f: f}, nil
}

// Close removes the file.
func (p *progressFile) Close() error {
	err := p.f.Close()
	return errors.Join(err, os.Remove(p.path))
}

// read reads what was appended since the last read. At the end (the command
// exited) a last line without a newline counts too.
func (p *progressFile) read(end bool) {
	chunk, err := io.ReadAll(io.LimitReader(p.f, MaxCursor+1))
	if err != nil {
		p.fail(fmt.Errorf("reading $GRAPHJOB_PROGRESS_FILE: %w", err))
		return
	}
	p.rest = append(p.rest, chunk...)
	for {
		i := bytes.IndexByte(p.rest, '\n')
		if i < 0 {
			break
		}
		p.take(p.rest[:i])
		p.rest = p.rest[i+1:]
	}
	if end && len(p.rest) > 0 {
		p.take(p.rest)
		p.rest = nil
	}
	if len(p.rest) > MaxCursor {
		p.fail(fmt.Errorf("line %d of $GRAPHJOB_PROGRESS_FILE is longer than %d bytes: keep cursors small (an offset, a key), not data", p.line+1, MaxCursor))
		p.rest = nil
	}
}

func (p *progressFile) take(line []byte) {
	p.line++
	line = bytes.TrimSpace(line)
	switch {
	case len(line) == 0:
	case !json.Valid(line):
		p.fail(fmt.Errorf("line %d of $GRAPHJOB_PROGRESS_FILE is not JSON (%q): write one JSON value per line, such as {\"offset\": 1200}", p.line, abbreviate(line)))
	default:
		p.newest = bytes.Clone(line)
	}
}

func (p *progressFile) fail(err error) {
	if p.err == nil {
		p.err = err
	}
}

// save saves the newest cursor as the task's, if it is new.
func (p *progressFile) save(ctx context.Context) error {
	if p.newest == nil || bytes.Equal(p.newest, p.saved) {
		return nil
	}
	if err := graph.SaveProgress(ctx, json.RawMessage(p.newest)); err != nil {
		return err
	}
	p.saved = p.newest
	return nil
}

func abbreviate(b []byte) string {
	if len(b) > 60 {
		return string(b[:60]) + "…"
	}
	return string(b)
}
