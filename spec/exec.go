package spec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/graphjob/graphjob/graph"
)

// ExecGrace is how long an exec node's command has to exit after SIGTERM
// (sent to its process group when its attempt is cancelled or times out)
// before its process group is killed.
const ExecGrace = 10 * time.Second

// execGrace is ExecGrace; tests shorten it.
var execGrace = ExecGrace

// group is a command's process group, stopped as a container's processes
// are: SIGTERM to all, then SIGKILL to all that are left after the grace.
// (exec.Cmd's WaitDelay kills only the group's leader: a child that ignores
// SIGTERM would outlive the node.)
type group struct {
	cmd  *exec.Cmd // started: its Process is the group's leader
	once sync.Once
	kill *time.Timer
}

// term sends the group SIGTERM, and SIGKILL after the grace unless stop
// comes first.
func (g *group) term() error {
	pid := g.cmd.Process.Pid
	g.once.Do(func() {
		g.kill = time.AfterFunc(execGrace, func() { _ = syscall.Kill(-pid, syscall.SIGKILL) })
	})
	return syscall.Kill(-pid, syscall.SIGTERM)
}

// stop cancels the SIGKILL once the command's processes have all ended:
// the group's number may be another's later.
func (g *group) stop() {
	g.once.Do(func() {})
	if g.kill != nil {
		g.kill.Stop()
	}
}

type drainKey struct{}

// WithDrain returns a context under which exec commands get SIGTERM as soon
// as drain closes, rather than when their attempt is cancelled: a run that
// drains tells its commands at once and gives them the drain timeout to
// finish or save their progress. A command that then fails is not retried.
func WithDrain(ctx context.Context, drain <-chan struct{}) context.Context {
	return context.WithValue(ctx, drainKey{}, drain)
}

func (c *compiler) execNode(n *nodeSpec) graph.NodeFunc[graph.State] {
	spec, stderrFor := n.exec, c.opts.stderr
	if len(spec.command) == 0 {
		return nil
	}
	return protocolNode(func(ctx context.Context, task graph.TaskInfo, req []byte) (graph.Update, error) {
		cmd := exec.CommandContext(ctx, spec.command[0], spec.command[1:]...)
		// Not graphjob's whole environment: it holds the store's credentials.
		cmd.Env = commandEnv(os.Environ(), spec.env, task)
		// The command and its children form a process group, stopped together
		// as a container's processes are: SIGTERM, then SIGKILL after the grace.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		dieWithParent(cmd.SysProcAttr)
		grp := &group{cmd: cmd}
		cmd.Cancel = grp.term
		// Past the group's SIGKILL: then only what the command's pipes
		// hold open is waited for no more.
		cmd.WaitDelay = execGrace + time.Second
		stdout := &limitBuffer{max: MaxResponse}
		tail := &tailBuffer{max: 2048}
		cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(req), stdout, tail
		// What the command prints of the variables it was given from
		// graphjob's environment (secrets, often) is not logged or quoted.
		secrets := &redactor{}
		for _, v := range spec.env {
			for _, ref := range v.value.refs() {
				secrets.add(os.Getenv(ref))
			}
		}
		var stderr io.Writer = tail
		if stderrFor != nil {
			if w := stderrFor(ctx, task); w != nil {
				stderr = io.MultiWriter(tail, w)
				if c, ok := w.(io.Closer); ok {
					defer c.Close()
				}
			}
		}
		lines := &redactingLines{w: stderr, r: secrets}
		cmd.Stderr = lines
		pf, err := newProgressFile()
		if err != nil {
			return nil, err
		}
		defer pf.Close()
		cmd.Env = append(cmd.Env, "GRAPHJOB_PROGRESS_FILE="+pf.path)
		drained, err := runCommand(ctx, cmd, grp, pf)
		lines.Flush()
		// The command's last cursor counts only if it did not finish its work.
		// (A cursor the store refuses is logged by the runner, which owns it.)
		pf.read(true)
		if err != nil || context.Cause(ctx) != nil {
			_ = pf.save(ctx)
		}
		if pf.err != nil {
			return nil, graph.Permanent(fmt.Errorf("command %s: %w", spec.command[0], pf.err))
		}
		if cause := context.Cause(ctx); cause != nil {
			return nil, fmt.Errorf("command %s stopped: %w", spec.command[0], cause)
		}
		if err != nil && drained {
			return nil, graph.Permanent(fmt.Errorf("command %s stopped by the drain (SIGTERM): %w", spec.command[0], err))
		}
		var exitErr *exec.ExitError
		switch {
		case errors.As(err, &exitErr):
			return nil, fmt.Errorf("command %s exited with code %d%s", spec.command[0], exitErr.ExitCode(), lastLines(tail))
		case errors.Is(err, exec.ErrNotFound), errors.Is(err, os.ErrNotExist), errors.Is(err, os.ErrPermission):
			return nil, graph.Permanent(fmt.Errorf("command %s cannot be started: %w", spec.command[0], err))
		case err != nil:
			return nil, fmt.Errorf("command %s: %w", spec.command[0], err)
		}
		u, err := c.decodeUpdate(stdout.Bytes())
		if err != nil {
			return nil, graph.Permanent(fmt.Errorf("command %s: %w", spec.command[0], err))
		}
		return u, nil
	})
}

func lastLines(t *tailBuffer) string {
	if s := t.String(); s != "" {
		return "; its stderr ends: " + s
	}
	return ""
}

// runCommand runs cmd, saving the cursors it writes to pf as they come, and
// sending its process group SIGTERM if the context's drain channel closes
// first; it reports whether it did.
func runCommand(ctx context.Context, cmd *exec.Cmd, grp *group, pf *progressFile) (drained bool, err error) {
	drain, _ := ctx.Value(drainKey{}).(<-chan struct{})
	if err := cmd.Start(); err != nil {
		return false, err
	}
	defer grp.stop()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	tick := time.NewTicker(ProgressInterval)
	defer tick.Stop()
	for {
		select {
		case err := <-exited:
			return drained, err
		case <-drain:
			drained, drain = true, nil
			_ = grp.term()
		case <-tick.C:
			pf.read(false)
			_ = pf.save(ctx) // a cursor not saved now may be saved at the next tick
		}
	}
}

// redactingLines passes what is written to w a line at a time, redacted,
// so that no value is split between two writes and escapes the redactor.
// Flush passes a last line without its newline.
type redactingLines struct {
	w   io.Writer
	r   *redactor
	buf []byte
}

func (l *redactingLines) Write(p []byte) (int, error) {
	l.buf = append(l.buf, p...)
	if i := bytes.LastIndexByte(l.buf, '\n'); i >= 0 {
		if _, err := io.WriteString(l.w, l.r.String(string(l.buf[:i+1]))); err != nil {
			return len(p), err
		}
		l.buf = append(l.buf[:0], l.buf[i+1:]...)
	}
	if len(l.buf) > 64<<10 { // a line that never ends: pass it on in pieces,
		// holding back what may begin a value, so none is cut in two.
		keep := l.r.pending(string(l.buf))
		_, err := io.WriteString(l.w, l.r.String(string(l.buf[:len(l.buf)-keep])))
		l.buf = append(l.buf[:0], l.buf[len(l.buf)-keep:]...)
		return len(p), err
	}
	return len(p), nil
}

func (l *redactingLines) Flush() {
	if len(l.buf) > 0 {
		_, _ = io.WriteString(l.w, l.r.String(string(l.buf)))
		l.buf = nil
	}
}
