package contract

import "time"

// Exit codes: DESIGN.md's contract, on which the podFailurePolicy of every
// Job graphjob builds relies.
const (
	ExitOK        = 0  // the run succeeded, or had already
	ExitTransient = 1  // storage unreachable, fenced by another attempt, a crash: worth retrying
	ExitInvalid   = 2  // invalid input: flags, graph file, a changed graph or input on resume
	ExitFailed    = 3  // the run failed for good
	ExitDrained   = 75 // stopped on a signal with its work committed: resumable (EX_TEMPFAIL)
)

// The environment of a run's pod.
const (
	// EnvRunID names the run; it wins over every other source of the ID.
	EnvRunID = "GRAPHJOB_RUN_ID"
	// EnvJobName is the Job's name, set through the downward API by the
	// Jobs graphjob builds; the run's ID when EnvRunID is not set.
	EnvJobName = "GRAPHJOB_JOB_NAME"
	// EnvCompletionIndex is set by Kubernetes in an Indexed Job's pods.
	EnvCompletionIndex = "JOB_COMPLETION_INDEX"
	// EnvNamespace, EnvPodName and EnvPodUID say where an attempt ran.
	EnvNamespace = "GRAPHJOB_NAMESPACE"
	EnvPodName   = "GRAPHJOB_POD_NAME"
	EnvPodUID    = "GRAPHJOB_POD_UID"
	// EnvSlotTime is a scheduled run's slot (SlotTimeValue).
	EnvSlotTime = "GRAPHJOB_SLOT_TIME"
)

// DefaultDrainTimeout is how long running tasks get to finish after
// SIGTERM. A pod's grace period adds DrainMargin for the last commit.
const (
	DefaultDrainTimeout = 25 * time.Second
	DrainMargin         = 5 * time.Second
)
