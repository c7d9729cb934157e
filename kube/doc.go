// Package kube builds the Kubernetes objects that run graphs: one Job per
// run, the CronJob that starts one on a schedule, and the immutable ConfigMap
// that pins the graph a Job reads. Every Job graphjob creates — by submit, by
// render, by the scheduler, by a backfill — comes from Job here, so all of
// them carry the same identity, the same exit-code contract as their
// podFailurePolicy, and a pod that meets the restricted Pod Security
// Standard.
//
// It builds objects; it does not talk to a cluster (the commands do, with
// client-go), except to ask the server its version (see ServerVersion).
package kube
