package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"github.com/graphjob/graphjob/checkpoints"
	"github.com/graphjob/graphjob/contract"
	"github.com/graphjob/graphjob/kube"
	"github.com/graphjob/graphjob/scheduler"
	"github.com/graphjob/graphjob/spec"
)

// scheduleFlags are the flags of the commands that read the scheduler's
// configuration: backfill, schedules.
type scheduleFlags struct {
	kube   kubeFlags
	config string
	out    outputFlag
}

func (f *scheduleFlags) register(cmd *cobra.Command) {
	f.kube.register(cmd)
	cmd.Flags().StringVar(&f.config, "config", "", "the scheduler's configuration file (required)")
	f.out.register(cmd)
}

// schedules is a configuration opened: its schedules, its store, and Jobs
// on its cluster (scheduler.Offline when offline says none was found).
type schedules struct {
	cfg   *scheduler.Config
	store *checkpoints.Store
	jobs  scheduler.StateLauncher
}

// open opens the configuration, its store and its cluster. With offline, a
// missing kubeconfig is no error: the Jobs' states are unknown.
func (f *scheduleFlags) open(ctx context.Context, offline bool) (*schedules, error) {
	if err := f.out.check(); err != nil {
		return nil, err
	}
	if f.config == "" {
		return nil, usagef("--config is required: the scheduler's configuration file")
	}
	cfg, err := scheduler.LoadConfig(f.config)
	if err != nil {
		return nil, usagef("%w", err)
	}
	s := &schedules{cfg: cfg, jobs: scheduler.Offline{}}
	client, ns, err := f.kube.client(cfg.Namespace)
	if offlineOK := offline && errors.Is(err, errNoKubeconfig); err != nil && !offlineOK {
		return nil, err
	}
	for _, e := range cfg.Entries {
		e.Job.Namespace = ns
	}
	if s.store, err = checkpoints.Open(ctx, cfg.Store, checkpoints.Options{}); err != nil {
		return nil, usagef("%s: store: %w", f.config, err)
	}
	if client == nil {
		return s, nil
	}
	jobs := &scheduler.Jobs{Client: client, Image: defaultImage(), Read: readGraph, Describe: describeGraph}
	if jobs.Server, err = kube.ServerVersion(client); err != nil {
		s.store.Close()
		return nil, err
	}
	s.jobs = jobs
	return s, nil
}

// openEntry opens the configuration and finds the schedule name in it.
func (f *scheduleFlags) openEntry(ctx context.Context, name string, offline bool) (*schedules, *scheduler.Entry, error) {
	s, err := f.open(ctx, offline)
	if err != nil {
		return nil, nil, err
	}
	e, err := s.entry(name)
	if err != nil {
		s.store.Close()
		return nil, nil, err
	}
	return s, e, nil
}

func (s *schedules) entry(name string) (*scheduler.Entry, error) {
	for _, e := range s.cfg.Entries {
		if e.Name == name {
			return e, nil
		}
	}
	for _, ee := range s.cfg.Invalid {
		if ee.Schedule == name {
			return nil, usagef("%w", ee)
		}
	}
	return nil, usagef("no schedule %q in the configuration", name)
}

func describeGraph(file []byte) (string, string, error) {
	g, err := spec.Parse("graph.yaml", file)
	if err != nil {
		return "", "", err
	}
	return g.Name, g.Digest, nil
}

func newBackfillCmd(g *globals) *cobra.Command {
	var (
		f                scheduleFlags
		fromFlag, toFlag string
		parallel         int
		reprocess        string
		dryRun           bool
	)
	cmd := &cobra.Command{
		Use:   "backfill SCHEDULE --config FILE --from T1 --to T2",
		Short: "Run a schedule's slots over a past range, each once",
		Long: `backfill runs the slots of a schedule from --from (included) to --to (excluded),
each as the live scheduler would: the same Job name and run ID, the same slot
record. A slot that already ran (live or in an earlier backfill) is not run
again, so a backfill interrupted can be started again: it creates only what is
missing. --reprocess failed resumes the failed runs from their last checkpoint;
--reprocess all also runs the succeeded ones again, from the start.

Times are RFC 3339 or YYYY-MM-DD[THH:MM[:SS]] in the schedule's time zone.
--dry-run lists the slots, what each found, and the clock changes; without a
kubeconfig it plans from the store alone, the states of Jobs unknown.`,
		Example: `  graphjob backfill nightly --config scheduler.yaml --from 2026-10-01 --to 2026-11-01 --parallel 5`,
		Args:    usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			switch scheduler.Reprocess(reprocess) {
			case scheduler.ReprocessNone, scheduler.ReprocessFailed, scheduler.ReprocessAll:
			default:
				return usagef("--reprocess %q: use none, failed or all", reprocess)
			}
			if parallel < 1 {
				return usagef("--parallel %d: give at least 1", parallel)
			}
			s, e, err := f.openEntry(ctx, args[0], dryRun)
			if err != nil {
				return err
			}
			defer s.store.Close()
			var from, to time.Time
			for _, t := range []struct {
				flag, v string
				at      *time.Time
			}{{"--from", fromFlag, &from}, {"--to", toFlag, &to}} {
				if t.v == "" {
					return usagef("%s is required", t.flag)
				}
				if *t.at, err = scheduler.ParseTime(t.v, e.Schedule.Location()); err != nil {
					return usagef("%s %w", t.flag, err)
				}
			}
			if !to.After(from) {
				return usagef("--to %s is not after --from %s", toFlag, fromFlag)
			}
			b := &scheduler.Backfill{Store: s.store, Launch: s.jobs, Parallel: parallel, Reprocess: scheduler.Reprocess(reprocess)}
			plan, err := b.Plan(ctx, e, from, to)
			if err != nil {
				return err
			}
			if dryRun {
				if f.out.json() {
					return printJSON(g.stdout, plan)
				}
				return printPlan(g.stdout, e, plan, b)
			}
			bar := progressBar(g.stderr, e.Name)
			b.Progress = bar
			err = b.Run(ctx, e, plan)
			if bar != nil {
				bar(plan)
				fmt.Fprintln(g.stderr)
			}
			if f.out.json() {
				if perr := printJSON(g.stdout, plan); perr != nil {
					return perr
				}
			} else {
				printSummary(g.stdout, e, plan)
			}
			if err != nil {
				return err
			}
			for _, sl := range plan {
				if sl.State == scheduler.SlotFailed {
					return exitError{contract.ExitFailed, fmt.Errorf("backfill of %s: runs failed; see the table, and --reprocess failed to run them again", e.Name)}
				}
			}
			return nil
		},
	}
	f.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&fromFlag, "from", "", "the range's first time, included (required)")
	fl.StringVar(&toFlag, "to", "", "the range's end, excluded (required)")
	fl.IntVar(&parallel, "parallel", 1, "runs active at once, at most")
	fl.StringVar(&reprocess, "reprocess", "none", "which slots that ran to run again: none, failed (resumed) or all (from the start)")
	fl.BoolVar(&dryRun, "dry-run", false, "list the slots and what each found; start nothing")
	return cmd
}

// printPlan prints a dry run: each slot, what it found, what the backfill
// would do, and what a clock change did.
func printPlan(w io.Writer, e *scheduler.Entry, plan []scheduler.BackfillSlot, b *scheduler.Backfill) error {
	loc := e.Schedule.Location()
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SLOT\tUTC\tRUN\tFOUND\tACTION\tNOTE")
	start := 0
	for _, sl := range plan {
		if sl.Skipped {
			fmt.Fprintf(tw, "-\t-\t-\t-\t-\t%s\n", sl.Note)
			continue
		}
		action := "keep"
		if b.Todo(sl) {
			action = "start"
			start++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", sl.Time.In(loc).Format("2006-01-02 15:04:05 MST"), sl.Time.UTC().Format(time.RFC3339), sl.Run, sl.Found, action, sl.Note)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d slots; %d to start\n", len(plan), start)
	return err
}

// printSummary prints how many slots ended in each state, and the failed.
func printSummary(w io.Writer, e *scheduler.Entry, plan []scheduler.BackfillSlot) {
	counts := map[scheduler.SlotState]int{}
	started := 0
	var failed []scheduler.BackfillSlot
	for _, sl := range plan {
		counts[sl.State]++
		if sl.Started {
			started++
		}
		if sl.State == scheduler.SlotFailed {
			failed = append(failed, sl)
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "STATE\tSLOTS\n")
	for _, st := range []scheduler.SlotState{scheduler.SlotSucceeded, scheduler.SlotFailed, scheduler.SlotRunning, scheduler.SlotPending, scheduler.SlotSkipped, scheduler.SlotNone} {
		if counts[st] > 0 {
			fmt.Fprintf(tw, "%s\t%d\n", st, counts[st])
		}
	}
	fmt.Fprintf(tw, "total\t%d (%d started by this backfill)\n", len(plan), started)
	for _, sl := range failed {
		fmt.Fprintf(tw, "failed\t%s  %s\n", sl.Time.In(e.Schedule.Location()).Format("2006-01-02 15:04:05 MST"), sl.Run)
	}
	_ = tw.Flush()
}

// progressBar returns a function that draws the backfill's progress on a
// terminal, or nil if w is not one.
func progressBar(w io.Writer, name string) func([]scheduler.BackfillSlot) {
	f, ok := w.(*os.File)
	if !ok || !isatty.IsTerminal(f.Fd()) {
		return nil
	}
	return func(plan []scheduler.BackfillSlot) {
		var done, running, failed int
		for _, sl := range plan {
			switch sl.State {
			case scheduler.SlotRunning:
				running++
			case scheduler.SlotFailed:
				failed++
				done++
			case scheduler.SlotNone, scheduler.SlotPending:
			default:
				done++
			}
		}
		const width = 30
		n := width * done / max(len(plan), 1)
		fmt.Fprintf(w, "\r%s [%s%s] %d/%d done · %d running · %d failed ", name, strings.Repeat("#", n), strings.Repeat("-", width-n), done, len(plan), running, failed)
	}
}

func newSchedulesCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "schedules",
		Short: "Show the scheduler's schedules: next slots, last slots and their outcome",
	}
	cmd.AddCommand(newSchedulesListCmd(g), newSchedulesShowCmd(g))
	return cmd
}

func newSchedulesListCmd(g *globals) *cobra.Command {
	var f scheduleFlags
	cmd := &cobra.Command{
		Use:   "list --config FILE",
		Short: "List the schedules: next slot, last slot and its outcome, suspended, errors",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			s, err := f.open(ctx, true)
			if err != nil {
				return err
			}
			defer s.store.Close()
			now := time.Now()
			var rows []scheduler.Status
			locs := map[string]*time.Location{}
			for _, e := range s.cfg.Entries {
				r, err := scheduler.ScheduleStatus(ctx, s.store, s.jobs, e, 1, now)
				if err != nil {
					return err
				}
				rows = append(rows, r)
				locs[e.Name] = e.Schedule.Location()
			}
			for _, ee := range s.cfg.Invalid {
				rows = append(rows, scheduler.Status{Name: ee.Schedule, Error: ee.Error()})
			}
			if f.out.json() {
				return printJSON(g.stdout, rows)
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSCHEDULE\tNEXT\tLAST\tOUTCOME\tSUSPENDED\tERROR")
			for _, r := range rows {
				next, last, outcome := "-", "-", "-"
				if loc := locs[r.Name]; loc != nil && r.Error == "" {
					if len(r.Next) > 0 {
						next = r.Next[0].In(loc).Format("2006-01-02 15:04:05 MST")
					}
					if len(r.Last) > 0 {
						last, outcome = r.Last[0].Time.In(loc).Format("2006-01-02 15:04:05 MST"), string(r.Last[0].State)
					}
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%v\t%s\n", r.Name, r.Schedule, next, last, outcome, r.Suspended, r.Error)
			}
			return tw.Flush()
		},
	}
	f.register(cmd)
	return cmd
}

func newSchedulesShowCmd(g *globals) *cobra.Command {
	var (
		f scheduleFlags
		n int
	)
	cmd := &cobra.Command{
		Use:   "show NAME --config FILE",
		Short: "Show a schedule: its rules, its next slots, and its last slots with their outcome",
		Args:  usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			s, e, err := f.openEntry(ctx, args[0], true)
			if err != nil {
				return err
			}
			defer s.store.Close()
			r, err := scheduler.ScheduleStatus(ctx, s.store, s.jobs, e, n, time.Now())
			if err != nil {
				return err
			}
			if f.out.json() {
				return printJSON(g.stdout, r)
			}
			loc := e.Schedule.Location()
			graph := e.Graph.URL
			if graph == "" {
				graph = "configmap " + e.Graph.ConfigMap
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 0, 2, ' ', 0)
			policy := string(e.ConcurrencyPolicy)
			if policy == "" {
				policy = "Allow"
			}
			for _, kv := range [][2]string{
				{"Name", e.Name}, {"Schedule", r.Schedule}, {"Graph", graph}, {"Namespace", e.Job.Namespace},
				{"Concurrency", policy}, {"Catch-up", e.Catchup.String()}, {"DST missing", string(e.Schedule.Missing())},
				{"Suspended", fmt.Sprint(e.Suspend)},
			} {
				fmt.Fprintf(tw, "%s:\t%s\n", kv[0], kv[1])
			}
			fmt.Fprintln(tw, "Next slots:")
			for _, t := range r.Next {
				fmt.Fprintf(tw, "  %s\t%s\n", t.In(loc).Format("2006-01-02 15:04:05 MST"), contract.Slot{Schedule: e.Name, Time: t}.RunID())
			}
			fmt.Fprintln(tw, "Last slots:")
			if len(r.Last) == 0 {
				fmt.Fprintln(tw, "  none in the last 31 days")
			}
			for _, sl := range r.Last {
				fmt.Fprintf(tw, "  %s\t%s\t%s\n", sl.Time.In(loc).Format("2006-01-02 15:04:05 MST"), sl.Run, sl.State)
			}
			return tw.Flush()
		},
	}
	f.register(cmd)
	cmd.Flags().IntVar(&n, "slots", 5, "how many next and last slots to show")
	return cmd
}
