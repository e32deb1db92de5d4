package stream

import (
	"context"
	"time"
)

// Attempt describes the attempt of a record that a handler is running:
// which attempt it is, counted across retries and restarts, and how many
// of the earlier ones a crash of the consumer interrupted. A handler reads
// it from its context with AttemptOf.
type Attempt struct {
	// Number is the attempt's number, from 1: the first attempt of the
	// record is 1, its first retry 2. It counts the attempts on record in
	// the checkpoint, so it goes on across restarts, and it is the number
	// that WithRetry's MaxAttempts, the observer's Event.Attempt and the
	// DLQ envelope's Attempts count. An operator's Retry of a halted record
	// starts it again at 1.
	//
	// A record's first attempt in the default commit cadence runs without
	// a save: a crash during it is not on record (no record can be charged
	// with it, see docs/design.md, crash isolation), and the record's next
	// attempt, in careful mode, is number 1 again. CommitPerRecord puts
	// every attempt on record.
	Number int
	// Interrupted is how many of the earlier attempts (of the Number-1)
	// were interrupted by a crash of the consumer: found in_progress in
	// the checkpoint on restart, each counted as a failed attempt. The
	// other earlier attempts ended with the handler's error (a stop's
	// drain timeout cancels the handler's context, so an attempt ended by
	// a graceful stop is one of those).
	Interrupted int
	// First is when the record's first attempt on record started, on the
	// consumer's clock, on a retry (Number > 1); it is zero on the first
	// attempt, the one running, so that the first attempts, most of them,
	// share one context and cost nothing per record.
	First time.Time
}

// AttemptOf returns the attempt that the handler whose context is ctx is
// running, and true; or false when ctx is not (and does not derive from) a
// handler's context. The consumer puts it in the context of every handler
// call.
func AttemptOf(ctx context.Context) (Attempt, bool) {
	if a, ok := ctx.Value(attemptKey{}).(*Attempt); ok {
		return *a, true
	}
	return Attempt{}, false
}

// attemptKey is the context key of a handler's Attempt.
type attemptKey struct{}

// attemptCtx is a handler's context: its parent with the attempt. It is
// context.WithValue in one allocation instead of two (the value is a
// field, not an interface boxed apart), as every handler call makes one.
type attemptCtx struct {
	context.Context
	a Attempt
}

// Value returns the attempt for attemptKey, and the parent's values
// otherwise.
func (c *attemptCtx) Value(key any) any {
	if key == (attemptKey{}) {
		return &c.a
	}
	return c.Context.Value(key)
}

// String names the context for debugging, as context.WithValue's does.
func (c *attemptCtx) String() string {
	return "stream.attemptContext"
}
