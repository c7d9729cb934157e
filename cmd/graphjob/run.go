package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/graphjob/graphjob/checkpoints"
	"github.com/graphjob/graphjob/contract"
	"github.com/graphjob/graphjob/graph"
	"github.com/graphjob/graphjob/runner"
	"github.com/graphjob/graphjob/spec"
)

// defaultStore is the embedded default: a local directory, no cluster, no
// cloud.
const defaultStore = "file://./.graphjob"

type runFlags struct {
	input            string
	set              []string
	recursionLimit   int
	maxConcurrency   int
	maxTasks         int
	store            storeFlags
	runID            string
	durability       string
	drainTimeout     time.Duration
	retryFailed      bool
	allowGraphChange bool
}

func newRunCmd(g *globals) *cobra.Command {
	f := &runFlags{}
	cmd := &cobra.Command{
		Use:   "run FILE",
		Short: "Run a graph file and print its final state as JSON",
		Long: `Run a graph file to the end and print its final state as JSON on stdout (keys
sorted). Progress and logs go to stderr.

Every superstep is committed to the checkpoint store (--store). Run again with
the same run ID and the run resumes where its last committed work ends; a
finished run prints its stored result and runs nothing. The run ID is
--run-id, else $GRAPHJOB_RUN_ID, else $GRAPHJOB_JOB_NAME (plus
-$JOB_COMPLETION_INDEX), else in a pod its name less the Job's random suffix,
else a new ID, logged.

On SIGTERM or Ctrl-C no new superstep starts; running tasks get
--drain-timeout to finish; what finished is committed; exit 75. A second signal
stops the tasks at once and still commits what finished.

Exit codes: 0 the run succeeded (now or before); 2 invalid input (flags, graph
file, input values, a changed graph or input on resume); 3 the run failed for
good (a node failed after its retries, the recursion limit); 75 drained on a
signal, resumable; 1 anything else, worth retrying (storage unreachable,
another attempt of the run committed first).`,
		Example: `  graphjob run examples/loop/graph.yaml
  graphjob run graph.yaml --input '{"numbers": [1, 2, 3]}' --set label=nightly
  graphjob run graph.yaml --input @input.json --recursion-limit 100`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			fl := cmd.Flags()
			return runGraph(cmd.Context(), g, f, args[0], fl.Changed("recursion-limit"), fl.Changed("input") || fl.Changed("set"))
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.input, "input", "", "initial state as a JSON object, or @FILE to read it from a file (- for stdin)")
	fl.StringArrayVar(&f.set, "set", nil, "set one channel, CHANNEL=VALUE (VALUE is JSON, or text for string channels); repeatable, applied after --input")
	fl.IntVar(&f.recursionLimit, "recursion-limit", 0, "maximum number of supersteps (default: the file's spec.recursionLimit, else 25)")
	fl.IntVar(&f.maxConcurrency, "max-concurrency", graph.DefaultMaxConcurrency, "maximum number of tasks of one superstep that run at once")
	fl.IntVar(&f.maxTasks, "max-tasks", graph.DefaultMaxTasks, "maximum number of tasks of one superstep: a map over more items fails")
	f.store.register(cmd)
	fl.StringVar(&f.runID, "run-id", "", "the run's ID; the same ID resumes the run (default: from the Job, else a new ID, logged)")
	fl.StringVar(&f.durability, "durability", string(runner.Sync), "when steps are committed: sync (each before the next starts), async (while the next runs), exit (at the end and on SIGTERM only)")
	fl.DurationVar(&f.drainTimeout, "drain-timeout", contract.DefaultDrainTimeout, "after SIGTERM, how long running tasks may finish; keep it below the pod's terminationGracePeriodSeconds")
	fl.BoolVar(&f.retryFailed, "retry-failed", false, "run a run whose stored result is a failure again, from its last committed step")
	fl.BoolVar(&f.allowGraphChange, "allow-graph-change", false, "resume a run although its graph file changed since it started")
	return cmd
}

func runGraph(ctx context.Context, g *globals, f *runFlags, file string, limitSet, inputGiven bool) error {
	log, err := g.logger()
	if err != nil {
		return err
	}
	if limitSet && (f.recursionLimit < 1 || f.recursionLimit > spec.MaxRecursionLimit) {
		return usagef("--recursion-limit %d: give a number of supersteps between 1 and %d, as spec.recursionLimit", f.recursionLimit, spec.MaxRecursionLimit)
	}
	if f.drainTimeout < 0 {
		return usagef("--drain-timeout %v: give a duration of 0 (the default, %v) or more", f.drainTimeout, contract.DefaultDrainTimeout)
	}
	if f.maxConcurrency < 1 || f.maxTasks < 1 {
		return usagef("--max-concurrency %d, --max-tasks %d: give at least 1", f.maxConcurrency, f.maxTasks)
	}
	durability, err := runner.ParseDurability(f.durability)
	if err != nil {
		return err
	}
	runID, generated, err := runner.ResolveID(f.runID, os.Getenv, os.Hostname)
	if err != nil {
		return usagef("run ID: %w", err)
	}
	slot, err := runner.Slot(os.Getenv)
	if err != nil {
		return err
	}
	log = log.With().Str("run_id", runID).Logger()
	gr, _, err := loadGraph(ctx, file, spec.WithStderr(stderrLogger))
	if err != nil {
		return err
	}
	input, err := f.readInput(g.stdin, gr)
	if err != nil {
		return err
	}
	if generated {
		log.Info().Msg("new run ID; give it as --run-id to resume this run")
	}
	limit := gr.RecursionLimit
	if limitSet {
		limit = f.recursionLimit
	}
	store, err := f.store.open(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	log = log.With().Str("graph", gr.Name).Logger()
	log.Info().Str("file", file).Str("digest", gr.Digest).Str("store", store.String()).Int("recursion_limit", limit).Msg("run started")
	start := time.Now()
	ctx = spec.WithDrain(log.WithContext(ctx), g.drain)
	if !slot.IsZero() {
		ctx = spec.WithSlot(ctx, slot)
	}
	final, err := runner.Run(ctx, gr.Runnable, input, runner.Options{
		Store:            store,
		ID:               runID,
		Graph:            checkpoints.GraphRef{Name: gr.Name, Digest: gr.Digest},
		InputGiven:       inputGiven,
		Origin:           runner.Origin(os.Getenv, os.Hostname),
		Durability:       durability,
		Drain:            g.drain,
		DrainTimeout:     f.drainTimeout,
		RetryFailed:      f.retryFailed,
		AllowGraphChange: f.allowGraphChange,
		Log:              log,
		RunOptions: []graph.RunOption{
			graph.WithRecursionLimit(limit),
			graph.WithMaxConcurrency(f.maxConcurrency),
			graph.WithMaxTasks(f.maxTasks),
			graph.WithHooks(logHooks()),
		},
	})
	if err != nil {
		log.Error().Err(err).Dur("elapsed_ms", time.Since(start)).Int("exit_code", runner.ExitCode(err)).Msg("run stopped")
		return err
	}
	log.Info().Dur("elapsed_ms", time.Since(start)).Msg("run succeeded")
	out, err := json.Marshal(final)
	if err != nil {
		return fmt.Errorf("encoding the final state: %w", err)
	}
	_, err = fmt.Fprintf(g.stdout, "%s\n", out)
	return err
}

// readInput builds the initial state from --input and --set.
func (f *runFlags) readInput(stdin io.Reader, gr *spec.Graph) (graph.State, error) {
	values, err := parseInput(stdin, f.input)
	if err != nil {
		return nil, err
	}
	for _, kv := range f.set {
		name, text, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, usagef("--set %q: write CHANNEL=VALUE", kv)
		}
		v, err := gr.ParseValue(name, text)
		if err != nil {
			return nil, fmt.Errorf("--set: %w", err)
		}
		values[name] = v
	}
	return gr.Input(values)
}

// maxInput bounds an --input read from a file or stdin.
const maxInput = 64 << 20

// parseInput reads an --input value: a JSON object, @FILE, or @- for
// stdin. Numbers stay exact (json.Number).
func parseInput(stdin io.Reader, input string) (map[string]any, error) {
	values := map[string]any{}
	if input == "" {
		return values, nil
	}
	data := []byte(input)
	if name, ok := strings.CutPrefix(input, "@"); ok {
		var err error
		if name == "-" {
			data, err = io.ReadAll(io.LimitReader(stdin, maxInput))
		} else {
			data, err = spec.ReadLocal(name, maxInput)
		}
		if err != nil {
			return nil, usagef("--input %s: %w", input, err)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&values); err != nil {
		return nil, usagef("--input: give a JSON object of channel values, such as '{\"step\": 3}': %w", err)
	}
	return values, nil
}

// logHooks logs the run's progress: a line per superstep, and a line per
// node attempt that failed. They log with the context's logger, which the
// runner gives the attempt's number; a node's own retries are its "try".
func logHooks() graph.Hooks {
	return graph.Hooks{
		StepStart: func(ctx context.Context, step int, tasks []graph.Task) {
			zerolog.Ctx(ctx).Debug().Int("step", step).Strs("nodes", taskNodes(tasks)).Msg("step started")
		},
		StepEnd: func(ctx context.Context, step int, tasks []graph.Task, elapsed time.Duration, err error) {
			if err == nil {
				zerolog.Ctx(ctx).Info().Int("step", step).Strs("nodes", taskNodes(tasks)).Dur("elapsed_ms", elapsed).Msg("step done")
			}
		},
		NodeEnd: func(ctx context.Context, t graph.TaskInfo, elapsed time.Duration, err error) {
			log := zerolog.Ctx(ctx)
			ev := log.Debug()
			if err != nil {
				ev = log.Warn().Err(err)
			}
			ev.Int("step", t.Step).Str("node", t.Node).Int("try", t.Attempt).Dur("elapsed_ms", elapsed).Msg("node attempt done")
		},
	}
}

// taskNodes names the tasks of a step; map tasks of one node are counted.
func taskNodes(tasks []graph.Task) []string {
	var names []string
	counts := map[string]int{}
	for _, t := range tasks {
		if counts[t.Node] == 0 {
			names = append(names, t.Node)
		}
		counts[t.Node]++
	}
	for i, n := range names {
		if c := counts[n]; c > 1 {
			names[i] = fmt.Sprintf("%s×%d", n, c)
		}
	}
	return names
}

// stderrLogger logs each line an exec node writes to stderr, with the run's
// logger from the context.
func stderrLogger(ctx context.Context, t graph.TaskInfo) io.Writer {
	l := zerolog.Ctx(ctx).With().Int("step", t.Step).Str("node", t.Node).Int("try", t.Attempt).Logger()
	return &lineWriter{emit: func(line string) { l.Info().Str("stderr", line).Msg("node output") }}
}

// lineWriter calls emit for every line written to it. Close emits a last
// line that has no newline.
type lineWriter struct {
	emit func(string)
	buf  []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.emit(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > 64<<10 { // a line that never ends
		_ = w.Close()
	}
	return len(p), nil
}

var _ io.Closer = (*lineWriter)(nil) // spec closes it when the command exits

func (w *lineWriter) Close() error {
	if len(w.buf) > 0 {
		w.emit(string(w.buf))
		w.buf = nil
	}
	return nil
}
