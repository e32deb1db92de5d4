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
	if n := reflect.TypeFor[RecordState]().NumField(); n != 11 {
		t.Fatalf("RecordState has %d fields, copyTo knows 11: update copyTo and this test", n)
	}
	t0 := time.Date(2026, 11, 26, 7, 0, 0, 0, time.UTC)
	full := func(k byte) RecordState {
		return RecordState{
			Pointer:      []byte{k, 1, 2},
			ID:           "id-" + string('a'+rune(k)),
			Status:       Status(k%3 + 1),
			Attempts:     int(k) + 1,
			Interrupted:  int(k),
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

// TestCheckpointCopyTo checks that CopyTo copies every field, over copies
// that differ, are empty or are equal, keeps nil and empty apart, and
// shares no buffer with the source.
func TestCheckpointCopyTo(t *testing.T) {
	if n := reflect.TypeFor[Checkpoint]().NumField(); n != 7 {
		t.Fatalf("Checkpoint has %d fields, CopyTo knows 7: update CopyTo and this test", n)
	}
	if n := reflect.TypeFor[Batch]().NumField(); n != 7 {
		t.Fatalf("Batch has %d fields, CopyTo knows 7: update CopyTo and this test", n)
	}
	t0 := time.Date(2026, 11, 26, 7, 0, 0, 0, time.UTC)
	full := func(k byte, recs int) Checkpoint {
		cp := Checkpoint{
			Key:       Key{Consumer: "c", Stream: "s", Partition: string('0' + rune(k))},
			Version:   uint64(k),
			Committed: []byte{k, 0, 0, 0, 0, 0, 0, k},
			Batch:     &Batch{Seq: uint64(k), First: []byte{k}, Last: []byte{k, k}, Size: int(k) + 3, Running: k%2 == 1, Careful: k%3 == 0},
			Finished:  k%2 == 0,
			Counts:    Counts{Succeeded: uint64(k), DeadLettered: 1, Skipped: 2, Retries: 3},
			UpdatedAt: t0.Add(time.Duration(k) * time.Second),
		}
		for i := range recs {
			cp.Batch.Records = append(cp.Batch.Records, RecordState{Pointer: []byte{k, byte(i)}, ID: "r", Status: InProgress, Attempts: i + 1})
		}
		return cp
	}
	for name, tc := range map[string]struct{ src, dst Checkpoint }{
		"into different":      {full(1, 2), full(2, 1)},
		"into fewer records":  {full(1, 3), full(1, 1)},
		"into more records":   {full(1, 1), full(2, 3)},
		"into empty":          {full(1, 2), Checkpoint{}},
		"into equal":          {full(3, 2), full(3, 2)},
		"no batch into batch": {Checkpoint{Key: Key{Consumer: "c", Stream: "s", Partition: "0"}}, full(4, 2)},
		"nil records":         {func() Checkpoint { c := full(5, 0); c.Batch.Records = nil; return c }(), full(5, 2)},
		"empty slices stay": {func() Checkpoint {
			c := full(6, 0)
			c.Committed, c.Batch.First, c.Batch.Records = []byte{}, []byte{}, []RecordState{}
			return c
		}(), full(6, 2)},
		"nil slices stay": {func() Checkpoint { c := full(7, 1); c.Committed, c.Batch.Last = nil, nil; return c }(), full(7, 2)},
	} {
		t.Run(name, func(t *testing.T) {
			src, dst := tc.src, tc.dst
			src.CopyTo(&dst)
			if !reflect.DeepEqual(dst, src) {
				t.Fatalf("copy:\n got %+v %+v\nwant %+v %+v", dst, dst.Batch, src, src.Batch)
			}
			if len(src.Committed) > 0 && &dst.Committed[0] == &src.Committed[0] {
				t.Fatal("the copy shares Committed with the source")
			}
			if src.Batch != nil && dst.Batch == src.Batch {
				t.Fatal("the copy shares the batch with the source")
			}
			if src.Batch != nil && len(src.Batch.Records) > 0 && &dst.Batch.Records[0] == &src.Batch.Records[0] {
				t.Fatal("the copy shares the record states with the source")
			}
		})
	}
}
