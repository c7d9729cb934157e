package main

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/graphjob/graphjob/checkpoints"
	"github.com/graphjob/graphjob/contract"
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
that changed). A step's duration counts from the step before it, or from the
start of the attempt that committed it, so time the run was down is not
counted. The steps are checked to form one chain.`,
		Example: `  graphjob checkpoints list run-20261123-101500-1a2b3c4d
  graphjob checkpoints list nightly-29012345 --store s3://runs?region=eu-west-1 -o json`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: withStore(&store, &out, func(cmd *cobra.Command, s *checkpoints.Store, args []string) error {
			steps, err := s.History(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			attempts, err := s.Attempts(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			cursors, err := s.Cursors(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			type row struct {
				Step     int            `json:"step"`
				Time     time.Time      `json:"time"`
				Duration time.Duration  `json:"durationNs"`
				Tasks    []graph.Task   `json:"tasks"`
				Bytes    int64          `json:"bytes"`
				SHA256   string         `json:"sha256"`
				Subgraph []subgraphStep `json:"subgraph,omitempty"`
			}
			took := checkpoints.Durations(steps, attempts)
			rows := make([]row, len(steps))
			for i, st := range steps {
				rows[i] = row{st.Step, st.Time, took[i], st.Tasks, st.Bytes(), st.SHA256, subgraphSteps(cursors, st.Step)}
			}
			return out.print(g.stdout, rows, "STEP\tTIME\tNODES\tDURATION\tBYTES", func(w io.Writer) {
				for i, r := range rows {
					d := "-"
					if i > 0 {
						d = r.Duration.Round(time.Millisecond).String()
					}
					fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%d\n", r.Step, r.Time.Local().Format(time.DateTime), taskList(r.Tasks), d, r.Bytes)
					for _, sub := range r.Subgraph {
						fmt.Fprintf(w, "  %s[%d] %d\t%s\tnext: %s\t-\t-\n", sub.Node, sub.Index, sub.Step, sub.Time.Local().Format(time.DateTime), taskList(sub.Next))
					}
				}
			})
		}),
	}
	store.register(cmd)
	out.register(cmd)
	return cmd
}

// subgraphStep is a superstep of a subgraph that a task of a step ran
// (graph.Subgraph saves each as the task's progress).
type subgraphStep struct {
	Node  string       `json:"node"`
	Index int          `json:"index"` // the task's place in its step
	Step  int          `json:"step"`  // the subgraph's superstep
	Time  time.Time    `json:"time"`
	Next  []graph.Task `json:"next"`
}

// subgraphSteps picks the subgraph supersteps saved by the tasks of step.
func subgraphSteps(cursors []checkpoints.Cursor, step int) []subgraphStep {
	var out []subgraphStep
	for _, c := range cursors {
		var saved struct {
			Subgraph *struct {
				Step int          `json:"step"`
				Next []graph.Task `json:"next"`
			} `json:"subgraph"`
		}
		if c.Step != step || json.Unmarshal(c.Cursor, &saved) != nil || saved.Subgraph == nil {
			continue
		}
		out = append(out, subgraphStep{Node: c.Node, Index: c.Index, Step: saved.Subgraph.Step, Time: c.Time, Next: saved.Subgraph.Next})
	}
	return out
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
			v, err := s.View(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if out.format == "json" {
				return printJSON(g.stdout, v)
			}
			w := g.stdout
			fmt.Fprintf(w, "Run:       %s\nGraph:     %s (%s)\nStarted:   %s\n", v.ID, v.Graph.Name, v.Graph.Digest, v.Created.Local().Format(time.DateTime))
			for _, k := range slices.Sorted(maps.Keys(v.Origin)) {
				fmt.Fprintf(w, "Origin:    %s=%s\n", k, v.Origin[k])
			}
			fmt.Fprintf(w, "Status:    %s\nStep:      %d (committed %s)\nNext:      %s (%d finished)\n", statusLine(v.RunStatus), v.Step, v.LastCommit.Local().Format(time.DateTime), taskList(v.Next), v.Pending)
			fmt.Fprintf(w, "Attempts:  %d\n", len(v.Attempts))
			for _, a := range v.Attempts {
				fmt.Fprintf(w, "  #%-3d %s  %s\n", a.N, a.Started.Local().Format(time.DateTime), attemptSummary(a))
			}
			if v.Error != "" {
				fmt.Fprintf(w, "Error:     %s\n", v.Error)
			}
			fmt.Fprintln(w, "State:")
			return printJSON(w, v.Values)
		}),
	}
	store.register(cmd)
	out.register(cmd)
	return cmd
}

// statusLine says where a run is, and for one that may have stopped
// unseen, when it was last seen.
func statusLine(st checkpoints.RunStatus) string {
	switch st.State {
	case contract.Unknown:
		if st.Error == "" {
			return fmt.Sprintf("unknown: stopped (no end recorded), or at work without committing; last seen %s", st.LastSeen.Local().Format(time.DateTime))
		}
	case contract.Running, contract.Interrupted:
		return fmt.Sprintf("%s (last seen %s)", st.State, st.LastSeen.Local().Format(time.DateTime))
	}
	return string(st.State)
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
	if e.Error != "" {
		b.WriteString(": " + e.Error)
	}
	return b.String()
}

func newRunsHistoryCmd(g *globals) *cobra.Command {
	var (
		store storeFlags
		out   outputFlag
	)
	cmd := &cobra.Command{
		Use:   "history RUN",
		Short: "List a run's attempts: where each ran, the steps it committed, how it ended, the gaps between",
		Long: `List a run's attempts, oldest first: each process that ran it (a pod of its Job),
where it ran, the steps it committed, how it ended (its exit code and its last
step, or no end recorded: killed, or running), when it was last seen at work,
and the gap before it, while no attempt was at work. checkpoints list shows the
steps themselves.`,
		Example: "  graphjob runs history nightly-29012345",
		Args:    usageArgs(cobra.ExactArgs(1)),
		RunE: withStore(&store, &out, func(cmd *cobra.Command, s *checkpoints.Store, args []string) error {
			attempts, err := s.Attempts(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			steps, err := s.History(cmd.Context(), args[0])
			if err != nil && !errors.Is(err, checkpoints.ErrNotFound) {
				return err
			}
			spans := checkpoints.Timeline(steps, attempts)
			return out.print(g.stdout, spans, "ATTEMPT\tSTARTED\tWHERE\tSTEPS\tENDED\tLAST SEEN\tGAP BEFORE", func(w io.Writer) {
				for _, sp := range spans {
					ended := "no end recorded"
					if e := sp.End; e != nil {
						ended = fmt.Sprintf("exit %d", e.Exit)
					}
					gap := "-"
					if sp.Gap > 0 {
						gap = sp.Gap.Round(time.Millisecond).String()
					}
					steps := fmt.Sprintf("%d..%d (%d)", sp.From+1, sp.Last, sp.Steps)
					if sp.Steps == 0 {
						steps = "none"
					}
					fmt.Fprintf(w, "#%d\t%s\t%s\t%s\t%s\t%s\t%s\n", sp.N, sp.Started.Local().Format(time.DateTime), cmp.Or(sp.Origin["pod"], sp.Origin["host"], "-"),
						steps, ended, sp.Seen.Local().Format(time.DateTime), gap)
				}
			})
		}),
	}
	store.register(cmd)
	out.register(cmd)
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
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", r.ID, r.Graph, r.State, step, created)
				}
			})
		}),
	}
	store.register(cmd)
	out.register(cmd)
	return cmd
}
