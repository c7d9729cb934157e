package runner

import (
	"context"
	"errors"
	"time"

	"k8s.io/utils/clock"

	"github.com/graphjob/graphjob/checkpoints"
	"github.com/graphjob/graphjob/contract"
)

// followEvery is how often Follow looks at the store and the process.
const followEvery = time.Second

// Watch says whether a run's process (its Job) has ended and, if that
// failed, why: an error with an ExitCode() int method says which exit code
// it means.
type Watch func(ctx context.Context) (ended bool, err error)

// Follow follows a run that another process runs, such as a Job's pod:
// every tick of clk it reports the run's newly committed steps to step,
// and asks ended whether the process has ended. Then it returns the run's
// outcome as Run would: the final state, a *FailedError if the run failed,
// or, for a run without a result, ended's error. ctx's end stops following,
// not the run.
func Follow(ctx context.Context, clk clock.WithTicker, store *checkpoints.Store, id string, ended Watch, step func(*checkpoints.Step)) (map[string]any, error) {
	tick := clk.NewTicker(followEvery)
	defer tick.Stop()
	seen := -1 // the last step reported
	report := func() {
		last, err := store.LastStep(ctx, id)
		if err != nil {
			return // none yet, or not readable now: asked again at the next tick
		}
		for n := seen + 1; n <= last; n++ {
			st, err := store.Step(ctx, id, n)
			if err != nil {
				return
			}
			if n > 0 {
				step(st)
			}
			seen = n
		}
	}
	for {
		report()
		done, endErr := ended(ctx)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if done {
			report() // the steps committed since the last look
			return outcome(ctx, store, id, endErr)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C():
		}
	}
}

// outcome is the end of a run whose process ended with endErr: its stored
// result says how the run ended; endErr explains a run without one.
func outcome(ctx context.Context, store *checkpoints.Store, id string, endErr error) (map[string]any, error) {
	v, err := store.View(ctx, id)
	switch {
	case errors.Is(err, checkpoints.ErrNotFound):
		if endErr != nil {
			return nil, endErr // it never started
		}
		return nil, err
	case err != nil:
		return nil, err
	case v.State == contract.Succeeded:
		return v.Values, nil
	case v.State == contract.Failed:
		res, err := store.Result(ctx, id)
		if err != nil {
			return nil, err
		}
		return nil, &FailedError{Run: id, Result: *res}
	case endErr != nil:
		return nil, endErr
	}
	return nil, errors.New("run " + id + ": its process ended without a result: see its attempts with graphjob runs show " + id)
}
