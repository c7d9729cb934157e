package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"runtime/debug"
	"text/tabwriter"

	"github.com/spf13/cobra"
	// The store drivers graphjob opens URLs of.
	_ "gocloud.dev/blob/azureblob"
	_ "gocloud.dev/blob/fileblob"
	_ "gocloud.dev/blob/gcsblob"
	_ "gocloud.dev/blob/memblob"
	_ "gocloud.dev/blob/s3blob"

	"github.com/graphjob/graphjob/checkpoints"
)

// storeFlags select and tune the checkpoint store.
type storeFlags struct {
	url           string
	maxObjectSize int64
	maxStateSize  int64
	cmd           *cobra.Command // whose flags these are
}

func (f *storeFlags) register(cmd *cobra.Command) {
	f.cmd = cmd
	fl := cmd.Flags()
	fl.StringVar(&f.url, "store", defaultStore, "checkpoint store URL: file://DIR, s3://BUCKET?region=R, gs://BUCKET, azblob://CONTAINER, with &prefix=P/ to share a bucket")
	fl.Int64Var(&f.maxObjectSize, "max-object-size", 256<<20, "refuse to write or read a stored object larger than this many bytes (a channel's value is one); under a memory limit (GOMEMLIMIT) at most a 32nd of it")
	fl.Int64Var(&f.maxStateSize, "max-state-size", 1<<30, "refuse to commit a state whose channels' JSON is larger than this many bytes")
}

// memoryPerJSON is about how many bytes of memory a value takes while
// nodes work on it, per byte of its JSON (a list doubled by a CEL
// expression was measured at 29).
const memoryPerJSON = 32

func (f *storeFlags) open(ctx context.Context) (*checkpoints.Store, error) {
	if f.maxObjectSize < 1<<20 || f.maxStateSize < f.maxObjectSize {
		return nil, usagef("--max-object-size %d, --max-state-size %d: give at least 1 MiB, and a state size no smaller", f.maxObjectSize, f.maxStateSize)
	}
	// Under a memory limit (GOMEMLIMIT: a Job's pod has its container's),
	// a value too large to work on in memory is refused as too large to
	// store, unless the flag says otherwise.
	if limit := debug.SetMemoryLimit(-1); limit != math.MaxInt64 && !f.cmd.Flags().Changed("max-object-size") {
		f.maxObjectSize = max(min(f.maxObjectSize, limit/memoryPerJSON), 1<<20)
		f.maxStateSize = max(min(f.maxStateSize, limit/memoryPerJSON*4), f.maxObjectSize)
	}
	s, err := checkpoints.Open(ctx, f.url, checkpoints.Options{MaxObjectSize: f.maxObjectSize, MaxStateSize: f.maxStateSize})
	if err != nil {
		return nil, usagef("--store: %w", err)
	}
	return s, nil
}

// withStore makes the RunE of a command that reads a store: it checks -o
// (when out is given), opens the store, calls fn and closes the store.
func withStore(store *storeFlags, out *outputFlag, fn func(cmd *cobra.Command, s *checkpoints.Store, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if out != nil {
			if err := out.check(); err != nil {
				return err
			}
		}
		s, err := store.open(cmd.Context())
		if err != nil {
			return err
		}
		defer s.Close()
		return fn(cmd, s, args)
	}
}

// outputFlag is -o: a table for people, or JSON for programs.
type outputFlag struct{ format string }

func (o *outputFlag) register(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&o.format, "output", "o", "table", "output format: table or json")
}

func (o *outputFlag) check() error {
	if o.format != "table" && o.format != "json" {
		return usagef("--output %q: use table or json", o.format)
	}
	return nil
}

func (o *outputFlag) json() bool { return o.format == "json" }

// print writes v as indented JSON, or the table that rows gives.
func (o *outputFlag) print(w io.Writer, v any, header string, rows func(w io.Writer)) error {
	if o.format == "json" {
		return printJSON(w, v)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	rows(tw)
	return tw.Flush()
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printCompact writes v as JSON on one line, as run prints a final state.
func printCompact(w io.Writer, v any) error {
	out, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", out)
	return err
}
