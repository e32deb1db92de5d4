package storetest

import (
	"errors"
	"testing"

	"github.com/unistream-go/unistream/stream/checkpoint"
)

// Class is the class a store's error must have for the consumer engine
// (see checkpoint.IsPermanent).
type Class int

// The classes of store errors.
const (
	// Transient: the engine retries it with backoff.
	Transient Class = iota
	// Permanent: the engine ends the partition; no sentinel is asked for.
	Permanent
	// Conflict: permanent, matching checkpoint.ErrConflict.
	Conflict
	// TooLarge: permanent, matching checkpoint.ErrTooLarge.
	TooLarge
	// Corrupt: permanent, matching checkpoint.ErrCorrupt.
	Corrupt
)

// String names the class in failure messages.
func (c Class) String() string {
	if c < Transient || c > Corrupt {
		return "unknown class"
	}
	return [...]string{"transient", "permanent", "a conflict", "too large", "corrupt"}[c]
}

// CheckClass fails t unless err is of class want: permanent or not as
// checkpoint.IsPermanent says, and matching the sentinel of its class and
// none of the others. A store's own sentinels of a class (such as the
// Kafka store's ErrMetadataTooLarge) are checked by the caller.
func CheckClass(t testing.TB, err error, want Class) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want a %s one", want)
	}
	if got := checkpoint.IsPermanent(err); got != (want != Transient) {
		t.Errorf("IsPermanent(%v) = %v, want %v (%s)", err, got, want != Transient, want)
	}
	for c, sentinel := range map[Class]error{Conflict: checkpoint.ErrConflict, TooLarge: checkpoint.ErrTooLarge, Corrupt: checkpoint.ErrCorrupt} {
		if got := errors.Is(err, sentinel); got != (c == want) {
			t.Errorf("errors.Is(%v, %v) = %v, want %v (%s)", err, sentinel, got, c == want, want)
		}
	}
}
