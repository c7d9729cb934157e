package scheduler

import "time"

// Event is something about a schedule that operators should see. It is the
// scheduler's only output: the package does not log; cmd logs every event
// and records the notable ones as Kubernetes Events.
type Event struct {
	// Schedule is empty for an event about the whole configuration.
	Schedule string
	// Slot and RunID are zero unless the event is about one slot's run.
	Slot  time.Time
	RunID string
	// Warning marks what someone should look at.
	Warning bool
	// Reason is one word in CamelCase, as a Kubernetes Event's.
	Reason  string
	Message string
	Err     error
}

// Events receive the scheduler's events. Event is called from the
// scheduler's workers, concurrently.
type Events interface {
	Event(Event)
}

// The reasons of events.
const (
	ReasonSlotStarted     = "SlotStarted"     // a slot's run was launched
	ReasonSlotSkipped     = "SlotSkipped"     // concurrencyPolicy Forbid skipped a slot
	ReasonSlotOrphaned    = "SlotOrphaned"    // a slot claimed before, without a run, is launched
	ReasonSlotNotStarted  = "SlotNotStarted"  // a transient error: the slot is tried again
	ReasonSlotFailed      = "SlotFailed"      // a user's mistake: the slot's run failed without starting
	ReasonRunReplaced     = "RunReplaced"     // concurrencyPolicy Replace stopped a run
	ReasonCatchingUp      = "CatchingUp"      // missed slots found on start
	ReasonCatchUpFailed   = "CatchUpFailed"   // the store could not be read to catch up
	ReasonConfigLoaded    = "ConfigLoaded"    // the configuration file was (re)loaded
	ReasonConfigInvalid   = "ConfigInvalid"   // the file cannot be used; the last good one still runs
	ReasonScheduleInvalid = "ScheduleInvalid" // a schedule of the file is left out
)

// TerminalError is a mistake in a schedule or in what it refers to (a Job
// the API server refuses, a graph that cannot be read as one): trying the
// same slot again cannot help, so the slot fails at once.
type TerminalError struct {
	Err error
}

func (e *TerminalError) Error() string { return e.Err.Error() }
func (e *TerminalError) Unwrap() error { return e.Err }
