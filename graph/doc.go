// Package graph is graphjob's engine: a LangGraph-style state graph run in
// supersteps.
//
// A graph's state is a set of named channels. Each channel has a reducer that
// says how the updates written to it are combined: Replace (the default),
// Append, Add, Merge, Messages (LangGraph's add_messages) or one of the
// caller's own (NewReducer). Nodes read the state and return partial updates;
// an Overwrite sets a channel whatever its reducer. The input of a run is
// applied as an update too, and a channel never written reads as its
// reducer's empty value.
//
// Execution follows the Pregel (bulk synchronous parallel) model that
// LangGraph uses. Every task due in a superstep runs concurrently, bounded by
// WithMaxConcurrency. When all have finished, their updates are applied
// together, in task order (never in completion order), so a run is
// deterministic. Two tasks writing one Replace channel in the same superstep is
// a ConflictError. The edges of the nodes that ran then decide the tasks of the
// next superstep: static edges, conditional edges (a Router names the next
// nodes or END), map edges (one task per element of a list, LangGraph's
// Send) and waiting edges (AddJoin: a node that runs once all its sources
// have). A node made due by several tasks of one superstep runs once; a
// Deferred node waits until nothing else is due. The task order is
// LangGraph's: the nodes that edges made due, by name, then the map tasks in
// the order their edges listed them.
//
// Build a graph with New, AddNode and the Add*Edge methods, then Compile it.
// A compiled Graph is immutable and safe for concurrent runs. A run can be
// stopped at any superstep boundary and resumed later: Start returns the first
// boundary, WithCommit observes every boundary as a Checkpoint, and Resume
// continues from one.
//
// The package uses the standard library only. It does not log, store
// checkpoints or know about Kubernetes: callers observe a run through Hooks
// and persist it through WithCommit.
package graph
