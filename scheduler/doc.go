// Package scheduler starts one run per slot of a schedule: the time a cron
// expression names, in a time zone, with explicit rules for days when the
// clocks change and for slots missed while the scheduler was down.
//
// This file set holds the slot math, pure functions of a schedule and
// times: robfig/cron parses expressions and steps through wall-clock times;
// this package decides which instants those are on DST days, and which
// missed slots a catch-up runs. It does not wait or create Jobs.
package scheduler
