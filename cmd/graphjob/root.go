package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/graphjob/graphjob/graph"
	"github.com/graphjob/graphjob/spec"
)

// Exit codes: the contract of DESIGN.md. A run that failed for another reason
// (storage, a crash) exits 1 and is worth retrying.
const (
	exitOK      = 0
	exitOther   = 1
	exitInvalid = 2 // invalid input: flags, graph file, expressions, input values
	exitFailed  = 3 // the run failed for good: a node after its retries, the recursion limit
)

// version is set at build time: -ldflags '-X main.version=v1.2.3'.
var version = "dev"

// usageError is a mistake in the command line. cmd, when set, is the command
// whose --help explains it.
type usageError struct {
	error
	cmd string
}

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...), ""}
}

// exitCode maps an error to the exit-code contract.
func exitCode(err error) int {
	var usage usageError
	var node *graph.NodeError
	var conflict *graph.ConflictError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &usage), errors.Is(err, spec.ErrInvalid), errors.Is(err, graph.ErrInvalidGraph):
		return exitInvalid
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return exitOther
	case errors.As(err, &node), errors.As(err, &conflict), errors.Is(err, graph.ErrRecursionLimit):
		return exitFailed
	}
	return exitOther
}

// globals are the flags every command takes.
type globals struct {
	logFormat string
	logLevel  string
	stdin     io.Reader
	stdout    io.Writer
	stderr    io.Writer
}

func execute(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	g := &globals{stdin: stdin, stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:           "graphjob",
		Short:         "Run LangGraph-style graph workflows as batch work",
		Long:          "graphjob runs graph workflows (YAML graph files or Go programs) with checkpoints,\nlocally or as Kubernetes Jobs.",
		Version:       version,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{err, c.CommandPath()}
	})
	pf := root.PersistentFlags()
	pf.StringVar(&g.logFormat, "log-format", "auto", "log format on stderr: auto (console on a terminal, JSON otherwise), json or console")
	pf.StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	root.AddCommand(newRunCmd(g), newValidateCmd(g), newGraphCmd(g), newCheckpointsCmd(g), newRunsCmd(g))

	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	if strings.HasPrefix(err.Error(), "unknown command") {
		err = usageError{err, root.CommandPath()}
	}
	fmt.Fprintf(stderr, "graphjob: %v\n", err)
	if u, ok := errors.AsType[usageError](err); ok && u.cmd != "" {
		fmt.Fprintf(stderr, "See '%s --help'.\n", u.cmd)
	}
	return exitCode(err)
}

// usageArgs marks cobra's argument errors as usage errors.
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return usageError{err, cmd.CommandPath()}
		}
		return nil
	}
}

// logger builds the process's logger from the global flags.
func (g *globals) logger() (zerolog.Logger, error) {
	level, err := zerolog.ParseLevel(g.logLevel)
	if err != nil || g.logLevel == "" {
		return zerolog.Nop(), usagef("--log-level %q: use debug, info, warn or error", g.logLevel)
	}
	w := g.stderr
	switch g.logFormat {
	case "json":
	case "console":
		w = zerolog.ConsoleWriter{Out: g.stderr, TimeFormat: time.TimeOnly}
	case "auto":
		if f, ok := g.stderr.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
			w = zerolog.ConsoleWriter{Out: g.stderr, TimeFormat: time.TimeOnly}
		}
	default:
		return zerolog.Nop(), usagef("--log-format %q: use auto, json or console", g.logFormat)
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger(), nil
}
