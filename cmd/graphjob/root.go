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

	"github.com/graphjob/graphjob/checkpoints"
	"github.com/graphjob/graphjob/contract"
	"github.com/graphjob/graphjob/runner"
	"github.com/graphjob/graphjob/spec"
)

// version is set at build time: -ldflags '-X main.version=v1.2.3'.
var version = "dev"

// usageError is a mistake in the command line. cmd, when set, is the command
// whose --help explains it.
type usageError struct {
	error
	cmd string
}

func (e usageError) Unwrap() error { return e.error }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...), ""}
}

// exitError is an error with its exit code.
type exitError struct {
	code int
	error
}

func (e exitError) Unwrap() error { return e.error }

// exitCode maps an error to the exit-code contract (runner.ExitCode, plus
// the mistakes cmd itself finds).
func exitCode(err error) int {
	if e, ok := errors.AsType[exitError](err); ok {
		return e.code
	}
	var usage usageError
	if errors.As(err, &usage) || errors.Is(err, spec.ErrInvalid) || errors.Is(err, checkpoints.ErrInvalidRunID) || errors.Is(err, spec.ErrInvalidInput) {
		return contract.ExitInvalid
	}
	return runner.ExitCode(err)
}

// globals are the flags every command takes.
type globals struct {
	logFormat string
	logLevel  string
	drain     <-chan struct{} // closed on the first SIGTERM or Ctrl-C
	stdin     io.Reader
	stdout    io.Writer
	stderr    io.Writer
}

// execute runs the command line. drain closes on the first signal: `run`
// drains, every other command stops. ctx is cancelled on the second.
func execute(ctx context.Context, drain <-chan struct{}, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	g := &globals{drain: drain, stdin: stdin, stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:           "graphjob",
		Short:         "Run LangGraph-style graph workflows as batch work",
		Long:          "graphjob runs graph workflows (YAML graph files or Go programs) with checkpoints,\nlocally or as Kubernetes Jobs.",
		Version:       version,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.PersistentPreRun = func(cmd *cobra.Command, _ []string) {
		if cmd.Name() != "run" {
			ctx, cancel := context.WithCancel(cmd.Context())
			go func() {
				defer cancel()
				select {
				case <-drain:
				case <-ctx.Done():
				}
			}()
			cmd.SetContext(ctx)
		}
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
	root.AddCommand(newRunCmd(g), newValidateCmd(g), newGraphCmd(g), newCheckpointsCmd(g), newRunsCmd(g), newRenderCmd(g), newSubmitCmd(g), newSchedulerCmd(g), newBackfillCmd(g), newSchedulesCmd(g))

	rejectUnknown(root)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return contract.ExitOK
	}
	fmt.Fprintf(stderr, "graphjob: %v\n", err)
	if u, ok := errors.AsType[usageError](err); ok && u.cmd != "" {
		fmt.Fprintf(stderr, "See '%s --help'.\n", u.cmd)
	}
	return exitCode(err)
}

// rejectUnknown makes cmd and each command under it that only groups others
// run (it prints its help), so that cobra hands an unknown command to Args,
// which makes it a usage error, rather than an error known only by its
// message (or, below the root, help and exit 0).
func rejectUnknown(cmd *cobra.Command) {
	for _, c := range cmd.Commands() {
		rejectUnknown(c)
	}
	if !cmd.HasSubCommands() || cmd.Runnable() {
		return
	}
	cmd.SuggestionsMinimumDistance = 2
	cmd.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	cmd.Args = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return nil
		}
		err := fmt.Errorf("unknown command %q for %q", args[0], cmd.CommandPath())
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			err = fmt.Errorf("%w: did you mean %s?", err, strings.Join(s, " or "))
		}
		return usageError{err, cmd.CommandPath()}
	}
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
