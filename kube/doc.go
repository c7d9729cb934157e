// Package kube builds the Kubernetes objects that run graphs: one Job per
// run, the CronJob that starts one on a schedule, and the immutable ConfigMap
// that pins the graph a Job reads. Every Job graphjob creates — by submit, by
// render, by the scheduler, by a backfill — comes from Job here, so all of
// them carry the same identity, the same exit-code contract as their
// podFailurePolicy, and a pod that meets the restricted Pod Security
// Standard.
//
// Submit creates a run's objects through client-go; ServerVersion asks the
// server which fields it knows. Following a run is the store's business, not
// this package's.
package kube
