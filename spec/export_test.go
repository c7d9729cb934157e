package spec

import "time"

// SetExecGrace shortens the grace of exec commands for a test.
func SetExecGrace(d time.Duration) (restore func()) {
	old := execGrace
	execGrace = d
	return func() { execGrace = old }
}
