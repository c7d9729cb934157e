// Package e2e holds graphjob's end-to-end tests: they run against a real
// control plane (package controlplane), a process kubelet (package kubelet)
// and MinIO (package minio), built at pinned versions by package testbin.
// Each test binary starts one cluster in TestMain; each test works in a
// namespace of its own. `go test -short` skips them.
package e2e
