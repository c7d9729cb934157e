// Package process runs the servers of end-to-end tests (etcd, the Kubernetes
// control plane, MinIO) as child processes with their output in log files,
// waits for them to be ready, and stops them: SIGTERM, then SIGKILL.
package process
