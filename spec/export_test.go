package spec

import "time"

// SetExecGrace shortens the grace of exec commands for a test.
func SetExecGrace(d time.Duration) (restore func()) {
	old := execGrace
	execGrace = d
	return func() { execGrace = old }
}

// SetDefaultHTTPTimeout shortens the timeout of http nodes that give none.
func SetDefaultHTTPTimeout(d time.Duration) (restore func()) {
	old := defaultHTTPTimeout
	defaultHTTPTimeout = d
	return func() { defaultHTTPTimeout = old }
}
