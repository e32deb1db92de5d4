// Package streamtest holds test helpers for the engines of package stream:
// a fake clock that makes retry schedules checkable without sleeping.
package streamtest

import (
	"context"
	"sync"
	"time"
)

// FakeClock is a stream.Clock whose Sleep advances its time at once, so a
// test runs a backoff schedule of minutes in microseconds. Each Sleep also
// yields the real CPU briefly so idle poll loops do not spin.
type FakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

// NewFakeClock returns a clock at t.
func NewFakeClock(t time.Time) *FakeClock { return &FakeClock{now: t} }

// Now returns the fake time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the fake time forward by d.
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Sleep advances the fake time by d (if d > 0) and records d.
func (c *FakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	time.Sleep(20 * time.Microsecond) // let other goroutines run
	c.mu.Lock()
	if d > 0 {
		c.now = c.now.Add(d)
	}
	c.sleeps = append(c.sleeps, d)
	c.mu.Unlock()
	return ctx.Err()
}

// Sleeps returns the durations passed to Sleep so far.
func (c *FakeClock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}
