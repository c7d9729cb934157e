// Package runner runs one graph run durably: it resolves the run's identity,
// records the run, resumes from the last committed step and the pending writes
// of the step after it, commits every superstep to a checkpoints.Store, drains
// on a signal, stops when fenced by another attempt, and writes the terminal
// result. Its errors map one to one onto the exit-code contract (ExitCode).
//
// It does not parse graph files, build stores or install signal handlers;
// cmd/graphjob does, and hands them in.
package runner
