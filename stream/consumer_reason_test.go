package stream_test

import (
	"context"
	"errors"
	"testing"

	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
)

// TestExhaustedReasonNeverEmpty checks that a record found exhausted
// without a reason on record (a checkpoint written by an earlier release,
// or edited) is dead-lettered, or halted, with a reason that says why, and
// not with an empty one or one that starts with a blank.
func TestExhaustedReasonNeverEmpty(t *testing.T) {
	for _, tt := range []struct {
		name    string
		mode    stream.OnExhausted
		crashed bool // the attempts were interrupted by crashes
		want    string
	}{
		{"dead letter", stream.DeadLetter, false, "exhausted"},
		{"halt", stream.Halt, false, "exhausted after 1 attempt(s): boom"},
		{"dead letter after crashes", stream.DeadLetter, true, "crashed: 1 of the last 1 attempt(s) were interrupted by a crash of the consumer"},
		// The crash reason already counts the attempts and says what
		// ended them: the halt does not repeat it.
		{"halt after crashes", stream.Halt, true, "crashed: 1 of the last 1 attempt(s) were interrupted by a crash of the consumer"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, 1)
			id := e.write("a")[0]
			part := e.parts[id]
			h := func(context.Context, *stream.Record) error { return errors.New("boom") }

			// The record failed once and is exhausted, with no reason saved.
			ptr := e.ptrs[id]
			lastErr := "boom"
			if tt.crashed {
				lastErr = stream.InterruptedError
			}
			cp := &checkpoint.Checkpoint{Key: checkpoint.Key{Consumer: "test", Stream: "orders", Partition: part},
				Batch: &checkpoint.Batch{Seq: 1, First: ptr, Last: ptr, Size: 1, Records: []checkpoint.RecordState{{
					Pointer: ptr, ID: id, Status: checkpoint.Failed, Attempts: 1, Exhausted: true,
					Errors: []checkpoint.AttemptError{{Attempt: 1, Time: t0, Error: lastErr}}, FirstAttempt: t0, LastAttempt: t0,
				}}}}
			if err := e.store.Save(context.Background(), cp); err != nil {
				t.Fatal(err)
			}

			c := e.consumer(h, stream.WithOnExhausted(tt.mode))
			var reason func() string
			if tt.mode == stream.Halt {
				reason = func() string {
					if hs := e.cp(part).Halted(); hs != nil {
						return hs.Reason
					}
					return ""
				}
			} else {
				reason = func() string {
					e.sink.mu.Lock()
					defer e.sink.mu.Unlock()
					if len(e.sink.envs) > 0 {
						return e.sink.envs[0].Reason
					}
					return ""
				}
			}
			ended := func() bool {
				return len(e.sink.ids()) > 0 || e.haltedAt(id)
			}
			if err := e.run(c, ended); err != nil {
				t.Fatal(err)
			}
			if got := reason(); got != tt.want {
				t.Fatalf("reason %q, want %q", got, tt.want)
			}
		})
	}
}
