// Package contract holds what the Jobs graphjob builds, the graphjob
// process in their pods and the store agree on: the exit codes (which every
// Job's podFailurePolicy reads), the environment a pod is given, the time a
// drain gets, and the identity of a schedule's slot in each of its forms
// (run ID and Job name, store key and label, environment value).
//
// It imports nothing of the project, so that kube (which builds the pod),
// runner (which runs in it), checkpoints and scheduler share one definition
// without importing each other.
package contract
