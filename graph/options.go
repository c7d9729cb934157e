package graph

import (
	"context"
	"math/rand/v2"
	"time"
)

// Clock tells the time and waits. The engine uses it for retry backoff, node
// timeouts and the durations reported to Hooks, so tests can control time.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Hooks observe a run. Each field may be nil. NodeStart and NodeEnd are called
// from the goroutines running tasks, concurrently, so they must be safe for
// concurrent use; none of them may block for long.
type Hooks struct {
	// StepStart is called before the tasks of a superstep start.
	StepStart func(ctx context.Context, step int, tasks []Task)
	// StepEnd is called when a superstep's updates have been applied, or it failed.
	StepEnd func(ctx context.Context, step int, tasks []Task, elapsed time.Duration, err error)
	// NodeStart is called before each attempt of a task.
	NodeStart func(ctx context.Context, t TaskInfo)
	// NodeEnd is called after each attempt of a task, with its error.
	NodeEnd func(ctx context.Context, t TaskInfo, elapsed time.Duration, err error)
}

// A RunOption configures one run.
type RunOption func(*runConfig)

type runConfig struct {
	limit       int
	concurrency int
	maxTasks    int
	runID       string
	hooks       Hooks
	clock       Clock
	rand        func() float64
	commit      func(context.Context, Checkpoint) error
	taskDone    func(context.Context, TaskInfo, Update) error
	pending     map[int]Update
	progress    Progress
}

// DefaultRecursionLimit is the recursion limit of a run without
// WithRecursionLimit, as in LangGraph.
const DefaultRecursionLimit = 25

// DefaultMaxConcurrency bounds the tasks of a superstep that run at once,
// without WithMaxConcurrency.
const DefaultMaxConcurrency = 16

// DefaultMaxTasks bounds the tasks of one superstep, without WithMaxTasks:
// a map edge's items are its tasks.
const DefaultMaxTasks = 10_000

func newRunConfig(opts []RunOption) runConfig {
	c := runConfig{limit: DefaultRecursionLimit, concurrency: DefaultMaxConcurrency, maxTasks: DefaultMaxTasks, clock: realClock{}, rand: rand.Float64}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// WithRecursionLimit sets the maximum number of supersteps. A run that needs
// exactly n supersteps succeeds with limit n.
func WithRecursionLimit(n int) RunOption { return func(c *runConfig) { c.limit = n } }

// WithMaxConcurrency bounds how many tasks of a superstep run at once (n ≥ 1).
func WithMaxConcurrency(n int) RunOption {
	return func(c *runConfig) { c.concurrency = max(n, 1) }
}

// WithMaxTasks bounds the tasks of one superstep (n ≥ 1): a map edge whose
// items would make more fails the node it follows, for good.
func WithMaxTasks(n int) RunOption {
	return func(c *runConfig) { c.maxTasks = max(n, 1) }
}

// WithRunID names the run; nodes see it in TaskInfo.RunID.
func WithRunID(id string) RunOption { return func(c *runConfig) { c.runID = id } }

// WithHooks observes the run.
func WithHooks(h Hooks) RunOption { return func(c *runConfig) { c.hooks = h } }

// WithClock replaces the real clock.
func WithClock(clk Clock) RunOption { return func(c *runConfig) { c.clock = clk } }

// WithRand replaces the source of retry jitter: a function returning numbers
// in [0, 1).
func WithRand(f func() float64) RunOption { return func(c *runConfig) { c.rand = f } }

// WithCommit calls commit at every superstep boundary after the first
// superstep, in order, before the next superstep starts. An error from commit
// stops the run with that error. The checkpoint's values are shared with the
// run: commit must not change them.
func WithCommit(commit func(ctx context.Context, cp Checkpoint) error) RunOption {
	return func(c *runConfig) { c.commit = commit }
}

// WithTaskDone calls done with each task's update as soon as the task has
// finished, from the goroutine that ran it, before the superstep's updates
// are applied. A runner makes the update durable there, so that a run stopped
// inside the superstep does not run the task again (see WithPending). An
// error from done fails the superstep with that error.
func WithTaskDone(done func(ctx context.Context, t TaskInfo, u Update) error) RunOption {
	return func(c *runConfig) { c.taskDone = done }
}

// WithPending gives Resume the updates of tasks of the first superstep it
// runs that finished before the run stopped, by the task's index in the
// checkpoint's Next. Those tasks are not run again; their updates are applied
// with the others'.
func WithPending(updates map[int]Update) RunOption {
	return func(c *runConfig) { c.pending = updates }
}
