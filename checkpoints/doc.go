// Package checkpoints keeps graph runs durable on any object store that
// gocloud.dev/blob opens: S3 and S3-compatible servers, GCS, Azure Blob
// Storage, a local or shared filesystem, memory.
//
// A run's history is a chain of superstep commits. Every object is written
// create-only, so a committed step is never overwritten and history can never
// fork: a writer whose create loses a race gets ErrExists and has been fenced.
// Channel values are stored once per (channel, version) and referenced by later
// steps, so a commit writes what changed, not the whole state. Everything read
// back is verified (format version, size, SHA-256, references) before it is
// trusted.
//
// The layout under the store's prefix:
//
//	runs/<run>/run.json                          the run record
//	runs/<run>/steps/<step>                      a superstep's commit: channel references, next tasks
//	runs/<run>/writes/<step>/<task>              pending writes of tasks finished inside an unfinished step
//	runs/<run>/values/<channel>/<version>-<hash> channel values, referenced by steps
//	runs/<run>/result                            the terminal result
//	runs/<run>/floor/<step>                      the first step retention kept
//
// The package does not run graphs, decide what a lost race means for a run, or
// log; the runner does.
package checkpoints
