package kafka

import (
	"errors"
	"testing"
	"time"

	"github.com/unistream-go/unistream/stream/checkpoint"
)

// FuzzDecodeCommit feeds the store arbitrary commit metadata, as a broker
// (or another client writing the group's offsets) could return it: decode
// never panics, and what it accepts is a valid checkpoint that encodes and
// decodes to itself; what it refuses with the store's prefix is corrupt.
func FuzzDecodeCommit(f *testing.F) {
	st := &Store{maxMeta: 1 << 20}
	key := checkpoint.Key{Consumer: "c", Stream: "orders", Partition: "0"}
	seed := &checkpoint.Checkpoint{Key: key, Version: 3, Committed: PointerAt(9),
		Batch: &checkpoint.Batch{Seq: 2, First: PointerAt(10), Last: PointerAt(12), Size: 3,
			Records: []checkpoint.RecordState{{Pointer: PointerAt(10), ID: "a", Status: checkpoint.Failed, Attempts: 1, NextRetry: time.Unix(5, 0)}}},
		Counts: checkpoint.Counts{Succeeded: 9}}
	off, meta, err := st.encode(seed, seed.Version)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(off, meta)
	f.Add(int64(-1), "")
	f.Add(int64(7), "plain consumer metadata")
	f.Add(int64(7), metaPrefix+"@@")
	f.Add(int64(0), metaPrefix)
	f.Fuzz(func(t *testing.T, offset int64, meta string) {
		cp, err := decode(key, offset, meta, true)
		if err != nil {
			if !errors.Is(err, checkpoint.ErrCorrupt) {
				t.Fatalf("decode error %v does not match ErrCorrupt", err)
			}
			return
		}
		if err := validCheckpoint(cp); err != nil {
			t.Fatalf("decode accepted an invalid checkpoint: %v", err)
		}
		if cp.Version == 0 {
			return // another client's commit
		}
		off2, meta2, err := st.encode(cp, cp.Version)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		back, err := decode(key, off2, meta2, true)
		if err != nil {
			t.Fatalf("decode of a re-encoded checkpoint: %v", err)
		}
		if back.Version != cp.Version || string(back.Committed) != string(cp.Committed) || back.Finished != cp.Finished || back.Counts != cp.Counts {
			t.Fatalf("round trip changed the checkpoint: %+v -> %+v", cp, back)
		}
	})
}
