// Package storetest is the conformance suite of checkpoints.Store: every
// operation, and every invariant the store promises (create-only writes, one
// chain of steps, deltas, nothing corrupt ever loaded), tried against one
// backend. Run it for each backend a store can sit on, as gocloud's drivertest
// does for its drivers: checkpoints runs it on mem:// and file://, e2e/minio
// on a real S3 server.
package storetest
