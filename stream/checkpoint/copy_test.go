package checkpoint

import (
	"reflect"
	"testing"
	"time"
)

// TestRecordStateCopyTo checks that copyTo copies every field of a record
// state, over a destination that differs in every field, one that is
// empty and one that equals the source, and that the copy shares no
// buffer with the source.
func TestRecordStateCopyTo(t *testing.T) {
	if n := reflect.TypeFor[RecordState]().NumField(); n != 10 {
		t.Fatalf("RecordState has %d fields, copyTo knows 10: update copyTo and this test", n)
	}
	t0 := time.Date(2026, 11, 26, 7, 0, 0, 0, time.UTC)
	full := func(k byte) RecordState {
		return RecordState{
			Pointer:      []byte{k, 1, 2},
			ID:           "id-" + string('a'+rune(k)),
			Status:       Status(k%3 + 1),
			Attempts:     int(k) + 1,
			Errors:       []AttemptError{{Attempt: int(k) + 1, Time: t0, Error: "boom"}},
			NextRetry:    t0.Add(time.Duration(k) * time.Second),
			FirstAttempt: t0.Add(-time.Duration(k) * time.Minute),
			LastAttempt:  t0.Add(time.Duration(k) * time.Minute).In(time.Local),
			Exhausted:    k%2 == 1,
			Reason:       "reason-" + string('a'+rune(k)),
		}
	}
	for name, tc := range map[string]struct{ src, dst RecordState }{
		"into different":    {full(1), full(2)},
		"into empty":        {full(1), RecordState{}},
		"into equal":        {full(3), full(3)},
		"empty into full":   {RecordState{}, full(4)},
		"empty slices stay": {RecordState{Pointer: []byte{}, Errors: []AttemptError{}}, full(5)},
	} {
		t.Run(name, func(t *testing.T) {
			src, dst := tc.src, tc.dst
			src.copyTo(&dst)
			if !reflect.DeepEqual(dst, src) {
				t.Fatalf("copy:\n got %+v\nwant %+v", dst, src)
			}
			if len(src.Pointer) > 0 && &dst.Pointer[0] == &src.Pointer[0] {
				t.Fatal("the copy shares the pointer's bytes with the source")
			}
			if len(src.Errors) > 0 && &dst.Errors[0] == &src.Errors[0] {
				t.Fatal("the copy shares the errors with the source")
			}
		})
	}
}
