// Package testbin builds the programs graphjob's end-to-end tests run — MinIO,
// etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kubectl —
// at pinned versions, from source, through the Go module proxy only, and
// caches them by version so that only the first use on a machine pays for the
// build.
//
// Kubernetes and etcd are built from the module in kube/ beside this file,
// which requires k8s.io/kubernetes at KubernetesVersion and points each of its
// staging modules at the matching published k8s.io/* release; its go.sum pins
// every byte. MinIO is built with go install at MinIOVersion.
//
// LangGraph JS, which the parity tests run beside graphjob, is installed with
// npm ci from parity/package-lock.json (integrity hashes pin every package),
// running none of the packages' scripts.
//
// The cache is $GRAPHJOB_TESTBIN_DIR, or graphjob/testbin under the user's
// cache directory. Builds take a file lock, so test binaries of several
// packages started at once build each program once.
package testbin
