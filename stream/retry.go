package stream

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// RetryPolicy is an exponential backoff: the n-th retry waits
// min(MaxInterval, Initial*Multiplier^(n-1)), or a uniformly random part of it
// with full jitter.
type RetryPolicy struct {
	// MaxAttempts is the total number of attempts, the first included (≥ 1).
	MaxAttempts int
	// Initial is the wait before the first retry (> 0).
	Initial time.Duration
	// Multiplier grows the wait per retry (≥ 1).
	Multiplier float64
	// MaxInterval caps the wait (≥ Initial).
	MaxInterval time.Duration
	// Jitter enables full jitter: the wait is uniform in [0, computed wait].
	Jitter bool
}

// DefaultRetry is the consumer's default: 3 attempts, 1 s doubling to at most
// 60 s, full jitter.
var DefaultRetry = RetryPolicy{MaxAttempts: 3, Initial: time.Second, Multiplier: 2, MaxInterval: time.Minute, Jitter: true}

// Validate checks the policy.
func (p RetryPolicy) Validate() error {
	switch {
	case p.MaxAttempts < 1:
		return &OptionError{Option: "RetryPolicy.MaxAttempts", Value: p.MaxAttempts, Expected: "at least 1"}
	case p.Initial <= 0:
		return &OptionError{Option: "RetryPolicy.Initial", Value: p.Initial, Expected: "a positive duration"}
	case p.Multiplier < 1 || math.IsNaN(p.Multiplier) || math.IsInf(p.Multiplier, 0):
		return &OptionError{Option: "RetryPolicy.Multiplier", Value: p.Multiplier, Expected: "a finite number ≥ 1"}
	case p.MaxInterval < p.Initial:
		return &OptionError{Option: "RetryPolicy.MaxInterval", Value: p.MaxInterval, Expected: fmt.Sprintf("at least Initial (%v)", p.Initial)}
	}
	return nil
}

// Cap returns the un-jittered wait before retry n (n ≥ 1 is the retry after
// attempt n).
func (p RetryPolicy) Cap(n int) time.Duration {
	if n < 1 {
		n = 1
	}
	d := float64(p.Initial) * math.Pow(p.Multiplier, float64(n-1))
	if d >= float64(p.MaxInterval) || math.IsInf(d, 0) || math.IsNaN(d) {
		return p.MaxInterval
	}
	return time.Duration(d)
}

// Backoff returns the wait before retry n, jittered with rnd (a number in
// [0,1)) when Jitter is set. A nil rnd uses math/rand/v2.
func (p RetryPolicy) Backoff(n int, rnd func() float64) time.Duration {
	d := p.Cap(n)
	if !p.Jitter {
		return d
	}
	if rnd == nil {
		rnd = rand.Float64
	}
	return time.Duration(rnd() * float64(d))
}
