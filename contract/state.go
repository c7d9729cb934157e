package contract

// RunState is where a run is. A run's stored result says Succeeded or
// Failed; the other states are derived from its records
// (checkpoints.Store.Status) or from its Job (kube.JobState).
type RunState string

// The states of a run.
const (
	// Running: an attempt is at work, or about to be.
	Running RunState = "running"
	// Succeeded and Failed are final: the run has its result.
	Succeeded RunState = "succeeded"
	Failed    RunState = "failed"
	// Interrupted: the run stopped before its end with its work committed
	// (drained, or its last attempt ended on a transient error); a new
	// attempt resumes it.
	Interrupted RunState = "interrupted"
	// Unknown: no attempt recorded its end and none has written for a
	// while (killed, or at work without committing), or the run's records
	// cannot be read.
	Unknown RunState = "unknown"
)

// Final reports whether the run has ended for good.
func (s RunState) Final() bool { return s == Succeeded || s == Failed }
