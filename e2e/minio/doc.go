// Package minio runs a MinIO server on 127.0.0.1 for tests: a real S3 API
// (conditional writes included) with its own data directory and credentials,
// built by package testbin.
package minio
