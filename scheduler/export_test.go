package scheduler

import "time"

// Waiting reports whether, at now, every schedule waits for a time still to
// come, so that a test may move its fake clock.
func (s *Scheduler) Waiting(now time.Time) bool { return s.waiting(now) }

// Waiting reports whether the daemon leads and its scheduler waits.
func (d *Daemon) Waiting(now time.Time) bool {
	d.mu.Lock()
	s := d.leader
	d.mu.Unlock()
	return s != nil && s.waiting(now)
}
