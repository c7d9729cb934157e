package main

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/graphjob/graphjob/checkpoints"
	"github.com/graphjob/graphjob/graph"
)

func newCheckpointsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "checkpoints",
		Short: "Inspect the checkpoints of a run",
	}
	cmd.AddCommand(newCheckpointsListCmd(g), newCheckpointsShowCmd(g))
	return cmd
}

func newCheckpointsListCmd(g *globals) *cobra.Command {
	var (
		store storeFlags
		out   outputFlag
	)
	cmd := &cobra.Command{
		Use:   "list RUN",
		Short: "List a run's committed steps: when, which nodes ran, bytes written",
		Long: `List a run's committed steps, oldest first: the time of the commit, the tasks
the superstep ran, and the bytes it wrote (its record and the channel values
that changed). The steps are checked to form one chain.`,
		Example: `  graphjob checkpoints list run-20261123-101500-1a2b3c4d
  graphjob checkpoints list nightly-29012345 --store s3://runs?region=eu-west-1 -o json`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: withStore(&store, &out, func(cmd *cobra.Command, s *checkpoints.Store, args []string) error {
			steps, err := s.History(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			type row struct {
				Step   int          `json:"step"`
				Time   time.Time    `json:"time"`
				Tasks  []graph.Task `json:"tasks"`
				Bytes  int64        `json:"bytes"`
				SHA256 string       `json:"sha256"`
			}
			rows := make([]row, len(steps))
			for i, st := range steps {
				rows[i] = row{st.Step, st.Time, st.Tasks, st.Bytes(), st.SHA256}
			}
			return out.print(g.stdout, rows, "STEP\tTIME\tNODES\tDURATION\tBYTES", func(w io.Writer) {
				for i, r := range rows {
					took := "-"
					if i > 0 {
						took = r.Time.Sub(rows[i-1].Time).Round(time.Millisecond).String()
					}
					fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%d\n", r.Step, r.Time.Local().Format(time.DateTime), taskList(r.Tasks), took, r.Bytes)
				}
			})
		}),
	}
	store.register(cmd)
	out.register(cmd)
	return cmd
}

// taskList names tasks compactly: work, fan[3] for three map tasks of fan.
func taskList(tasks []graph.Task) string {
	if len(tasks) == 0 {
		return "-"
	}
	var names []string
	count := map[string]int{}
	for _, t := range tasks {
		if count[t.Node] == 0 {
			names = append(names, t.Node)
		}
		count[t.Node]++
	}
	for i, n := range names {
		if count[n] > 1 {
			names[i] = fmt.Sprintf("%s[%d]", n, count[n])
		}
	}
	return strings.Join(names, ",")
}

func newCheckpointsShowCmd(g *globals) *cobra.Command {
	var (
		store storeFlags
		step  int
	)
	cmd := &cobra.Command{
		Use:   "show RUN",
		Short: "Print a run's state at a committed step as JSON",
		Long: `Print a run's state at a committed step (default: the last) as a JSON object of
channel values, keys sorted. Every object read is checked; a damaged one is
reported, never printed.`,
		Example: `  graphjob checkpoints show run-20261123-101500-1a2b3c4d
  graphjob checkpoints show run-20261123-101500-1a2b3c4d --step 3 | jq .step`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: withStore(&store, nil, func(cmd *cobra.Command, s *checkpoints.Store, args []string) error {
			var (
				snap *checkpoints.Snapshot
				err  error
			)
			if cmd.Flags().Changed("step") {
				snap, err = s.Load(cmd.Context(), args[0], step)
			} else {
				snap, err = s.Latest(cmd.Context(), args[0])
			}
			if err != nil {
				return err
			}
			return printJSON(g.stdout, snap.Checkpoint.Values)
		}),
	}
	store.register(cmd)
	cmd.Flags().IntVar(&step, "step", 0, "the step to show (default: the last committed)")
	return cmd
}

func newRunsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "Inspect the runs in a store",
	}
	cmd.AddCommand(newRunsListCmd(g), newRunsShowCmd(g), newRunsHistoryCmd(g))
	return cmd
}

func newRunsShowCmd(g *globals) *cobra.Command {
	var (
		store storeFlags
		out   outputFlag
	)
	cmd := &cobra.Command{
		Use:   "show RUN",
		Short: "Show a run: graph, origin, status, last step, last error, current state",
		Example: `  graphjob runs show nightly-29012345
  graphjob runs show nightly-29012345 -o json | jq .state`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: withStore(&store, &out, func(cmd *cobra.Command, s *checkpoints.Store, args []string) error {
			ctx, id := cmd.Context(), args[0]
			rec, err := s.Run(ctx, id)
			if err != nil {
				return err
			}
			view := struct {
				*checkpoints.Run
				Status     string                `json:"status"`
				Step       int                   `json:"step"` // -1 before the first commit
				Error      string                `json:"error,omitempty"`
				LastCommit time.Time             `json:"lastCommit"`
				Next       []graph.Task          `json:"next"`
				Pending    int                   `json:"pendingTasks"`
				Attempts   []checkpoints.Attempt `json:"attempts"`
				State      map[string]any        `json:"state,omitempty"`
			}{Run: rec, Status: "running", Step: -1}
			if view.Attempts, err = s.Attempts(ctx, id); err != nil {
				return err
			}
			for _, a := range view.Attempts {
				if a.End != nil && a.End.Error != "" {
					view.Error = a.End.Error
				}
			}
			res, err := s.Result(ctx, id)
			switch {
			case err == nil:
				view.Status = string(res.Status)
				if res.Error != "" {
					view.Error = res.Error
				}
			case !errors.Is(err, checkpoints.ErrNotFound):
				return err
			}
			snap, err := s.Latest(ctx, id)
			switch {
			case err == nil:
				view.Step, view.LastCommit, view.Next, view.Pending, view.State = snap.Step.Step, snap.Step.Time, snap.Checkpoint.Next, len(snap.Pending), snap.Checkpoint.Values
			case !errors.Is(err, checkpoints.ErrNotFound):
				return err
			}
			if out.format == "json" {
				return printJSON(g.stdout, view)
			}
			w := g.stdout
			fmt.Fprintf(w, "Run:       %s\nGraph:     %s (%s)\nStarted:   %s\n", id, rec.Graph.Name, rec.Graph.Digest, rec.Created.Local().Format(time.DateTime))
			for _, k := range slices.Sorted(maps.Keys(rec.Origin)) {
				fmt.Fprintf(w, "Origin:    %s=%s\n", k, rec.Origin[k])
			}
			fmt.Fprintf(w, "Status:    %s\nStep:      %d (committed %s)\nNext:      %s (%d finished)\n", view.Status, view.Step, view.LastCommit.Local().Format(time.DateTime), taskList(view.Next), view.Pending)
			fmt.Fprintf(w, "Attempts:  %d\n", len(view.Attempts))
			for _, a := range view.Attempts {
				fmt.Fprintf(w, "  #%-3d %s  %s\n", a.N, a.Started.Local().Format(time.DateTime), attemptSummary(a))
			}
			if view.Error != "" {
				fmt.Fprintf(w, "Error:     %s\n", view.Error)
			}
			fmt.Fprintln(w, "State:")
			return printJSON(w, view.State)
		}),
	}
	store.register(cmd)
	out.register(cmd)
	return cmd
}

// attemptSummary says where an attempt started and how it ended.
func attemptSummary(a checkpoints.Attempt) string {
	var b strings.Builder
	if a.From < 0 {
		b.WriteString("new run")
	} else {
		fmt.Fprintf(&b, "from step %d", a.From)
	}
	if host := cmp.Or(a.Origin["pod"], a.Origin["host"]); host != "" {
		fmt.Fprintf(&b, " on %s", host)
	}
	e := a.End
	if e == nil {
		b.WriteString(", no end recorded: running, or killed")
		return b.String()
	}
	fmt.Fprintf(&b, ", exit %d at step %d after %s", e.Exit, e.Step, e.Ended.Sub(a.Started).Round(time.Millisecond))
	return b.String()
}

func newRunsHistoryCmd(g *globals) *cobra.Command {
	cmd := newCheckpointsListCmd(g)
	cmd.Use = "history RUN"
	cmd.Short = "List a run's steps: when each was committed, its nodes, its duration and bytes"
	cmd.Example = "  graphjob runs history nightly-29012345"
	return cmd
}

func newRunsListCmd(g *globals) *cobra.Command {
	var (
		store storeFlags
		out   outputFlag
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the runs in a store: graph, status, last step",
		Example: `  graphjob runs list
  graphjob runs list --store s3://runs?region=eu-west-1 -o json`,
		Args: usageArgs(cobra.NoArgs),
		RunE: withStore(&store, &out, func(cmd *cobra.Command, s *checkpoints.Store, _ []string) error {
			runs, err := s.Runs(cmd.Context())
			if err != nil {
				return err
			}
			return out.print(g.stdout, runs, "RUN\tGRAPH\tSTATUS\tSTEP\tCREATED", func(w io.Writer) {
				for _, r := range runs {
					step := "-"
					if r.Step >= 0 {
						step = fmt.Sprint(r.Step)
					}
					created := "-"
					if !r.Created.IsZero() {
						created = r.Created.Local().Format(time.DateTime)
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", r.ID, r.Graph, r.Status, step, created)
				}
			})
		}),
	}
	store.register(cmd)
	out.register(cmd)
	return cmd
}
