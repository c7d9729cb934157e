// Package scheduler starts one run per slot of a schedule: the time a cron
// expression names, in a time zone, with explicit rules for days when the
// clocks change and for slots missed while the scheduler was down.
//
// The slot math (slots.go, catchup.go) is pure functions of a schedule and
// times: robfig/cron parses expressions and steps through wall-clock times;
// this package decides which instants those are on DST days, and which
// missed slots a catch-up runs.
//
// Scheduler fires slots as they come, on client-go's rate-limiting
// workqueue and an injected clock: each slot is claimed in the store
// (create-only) before its run is launched, so a slot runs once whoever
// fires it. Daemon is `graphjob scheduler`: a configuration file reloaded
// when it changes, and a Scheduler while the replica leads. Backfill runs a
// range of past slots. Jobs launches runs as Kubernetes Jobs built by kube.
//
// The package does not log: it returns errors and reports what operators
// should see as Events; it knows nothing of the engine that runs a graph.
package scheduler
