package scheduler

import "time"

// slotFormat writes a slot's time in a Job's name: UTC, to the second, and
// in the characters a DNS label allows.
const slotFormat = "20060102-150405"

// JobName is the name of the Job of a schedule's slot, which is also its
// run's ID: the same for the live scheduler and a backfill, so that a slot
// has one run whoever starts it. Schedule names have at most 47 characters,
// so it is a DNS label.
func JobName(schedule string, slot time.Time) string {
	return schedule + "-" + slot.UTC().Format(slotFormat)
}
