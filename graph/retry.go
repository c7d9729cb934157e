package graph

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// RetryPolicy says how often and how patiently a failed node is run again.
// Zero fields take the defaults given.
type RetryPolicy struct {
	// MaxAttempts is the number of attempts, the first included. 0 means 3
	// when any other field is set, and 1 (no retry) for a zero policy.
	MaxAttempts int
	// InitialBackoff is the wait before the second attempt. Default 500ms.
	InitialBackoff time.Duration
	// Multiplier grows the wait after each attempt. Default 2.
	Multiplier float64
	// MaxBackoff caps the wait. Default 1m.
	MaxBackoff time.Duration
	// Jitter spreads each wait uniformly over ±Jitter of it, in [0, 1].
	// Default 0.
	Jitter float64
	// RetryOn reports whether an error is worth another attempt. Default:
	// every error but a PermanentError. Cancellation of the run is never
	// retried.
	RetryOn func(error) bool
}

func (p RetryPolicy) validate() error {
	switch {
	case p.MaxAttempts < 0:
		return fmt.Errorf("retry: maxAttempts %d is negative", p.MaxAttempts)
	case p.InitialBackoff < 0 || p.MaxBackoff < 0:
		return errors.New("retry: backoff is negative")
	case p.Multiplier != 0 && p.Multiplier < 1:
		return fmt.Errorf("retry: multiplier %g is below 1", p.Multiplier)
	case p.Jitter < 0 || p.Jitter > 1:
		return fmt.Errorf("retry: jitter %g is outside [0, 1]", p.Jitter)
	}
	return nil
}

func (p RetryPolicy) attempts() int {
	if p.MaxAttempts > 0 {
		return p.MaxAttempts
	}
	if p.InitialBackoff == 0 && p.Multiplier == 0 && p.MaxBackoff == 0 && p.Jitter == 0 && p.RetryOn == nil {
		return 1
	}
	return 3
}

func (p RetryPolicy) retryable(err error) bool {
	var perm *PermanentError
	if errors.As(err, &perm) {
		return false
	}
	if p.RetryOn != nil {
		return p.RetryOn(err)
	}
	return true
}

// backoff is the wait after the given failed attempt (1 for the first); rnd
// returns a number in [0, 1).
func (p RetryPolicy) backoff(attempt int, rnd func() float64) time.Duration {
	d := float64(p.InitialBackoff)
	if d == 0 {
		d = float64(500 * time.Millisecond)
	}
	mult, maxD := p.Multiplier, float64(p.MaxBackoff)
	if mult == 0 {
		mult = 2
	}
	if maxD == 0 {
		maxD = float64(time.Minute)
	}
	for i := 1; i < attempt && d < maxD; i++ {
		d *= mult
	}
	d = min(d, maxD)
	if p.Jitter > 0 {
		d += d * p.Jitter * (2*rnd() - 1)
	}
	return time.Duration(d)
}

// sleep waits d on the clock, or until ctx is done.
func sleep(ctx context.Context, c Clock, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	select {
	case <-c.After(d):
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}
