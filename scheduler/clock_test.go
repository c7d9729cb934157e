package scheduler_test

import (
	"sync"
	"time"

	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"
)

// fakeClock is the fake clock that tests move, shared by schedulers that
// each see it through a queueClock.
type fakeClock struct {
	*clocktesting.FakeClock
	mu sync.Mutex // held while the time moves, and while a timer is set
}

func newFakeClock(t time.Time) *fakeClock {
	return &fakeClock{FakeClock: clocktesting.NewFakeClock(t)}
}

func (c *fakeClock) Step(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.FakeClock.Step(d)
}

func (c *fakeClock) SetTime(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.FakeClock.SetTime(t)
}

// queueClock is one scheduler's view of a fakeClock. The scheduler's
// workqueue reads the time, then sets a timer for what is left until its
// next item is due; a test that moved the clock in between would make that
// timer late by the step. Here a timer counts from the time last read, as
// if reading the time and setting the timer were one step, and a timer due
// at once fires at once (a fake one would wait for the next step). Tests move the
// clock only while every scheduler waits (Waiting), when nothing but the
// queue's own loop reads it.
type queueClock struct {
	*fakeClock
	read time.Time // guarded by fakeClock.mu
}

func (c *fakeClock) view() *queueClock {
	return &queueClock{fakeClock: c, read: c.Now()}
}

func (c *queueClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.read = c.FakeClock.Now()
	return c.read
}

func (c *queueClock) NewTimer(d time.Duration) clock.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.FakeClock.Now()
	t := c.FakeClock.NewTimer(d - now.Sub(c.read))
	c.FakeClock.SetTime(now) // a timer already due fires, as a real one does
	return t
}
