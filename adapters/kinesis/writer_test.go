package kinesis_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/unistream-go/unistream/adapters/kinesis"
	"github.com/unistream-go/unistream/adapters/kinesis/kinesisfake"
	"github.com/unistream-go/unistream/adapters/kinesis/kinesistest"
	"github.com/unistream-go/unistream/stream/driver"
)

// keyed returns n records over k keys, ids "r0000"...
func keyed(n, k int, value []byte) []driver.Record {
	out := make([]driver.Record, n)
	for i := range out {
		out[i] = driver.Record{ID: fmt.Sprintf("r%04d", i), Key: []byte(fmt.Sprintf("key-%d", i%k)), Value: value}
	}
	return out
}

// checkKeyOrder fails if the records read (in shard order) have a key's
// records out of their id order, or a record twice.
func checkKeyOrder(t *testing.T, got []driver.Record) {
	t.Helper()
	last := map[string]string{}
	seen := map[string]bool{}
	for _, r := range got {
		if seen[r.ID] {
			t.Errorf("record %s read twice", r.ID)
		}
		seen[r.ID] = true
		if l, ok := last[string(r.Key)]; ok && l > r.ID {
			t.Errorf("key %s: %s read after %s", r.Key, r.ID, l)
		}
		last[string(r.Key)] = r.ID
	}
}

// TestWriteChunks writes more records and bytes than one PutRecords call
// takes: the writer splits them into calls of at most 500 records and
// 5 MiB, and every record is stored once, per key in order.
func TestWriteChunks(t *testing.T) {
	b := kinesistest.Start(t)
	s := openFake(t, b, "chunks", 3, "max_batch_records", "1200", "max_batch_bytes", "16MiB", "request_timeout", "2m")
	before := b.Fake().Calls("PutRecords")
	recs := keyed(1200, 7, []byte("x"))
	res := write(t, s, recs...)
	if n := b.Fake().Calls("PutRecords") - before; n != 3 {
		t.Errorf("%d PutRecords calls for 1200 small records, want 3", n)
	}
	for i, r := range res {
		if r.Partition == "" || r.Pointer == nil {
			t.Fatalf("result %d = %+v", i, r)
		}
	}
	got := readAll(t, s, 1200)
	if len(got) != 1200 {
		t.Fatalf("read %d records, want 1200", len(got))
	}
	checkKeyOrder(t, got)

	before = b.Fake().Calls("PutRecords")
	big := keyed(7, 3, []byte(strings.Repeat("b", 800_000)))
	write(t, s, big...)
	if n := b.Fake().Calls("PutRecords") - before; n != 2 {
		t.Errorf("%d PutRecords calls for 7 records of 800 kB, want 2 (at most 5 MiB each)", n)
	}
}

// TestWritePartialFailure fails single entries of a PutRecords call.
func TestWritePartialFailure(t *testing.T) {
	for _, tc := range []struct {
		name   string
		inject func(*kinesisfake.Server, string)
	}{
		// The emulator fails entry 2 and the later entries of its shard.
		{"shard_fails_on", func(f *kinesisfake.Server, s string) { f.FailRecords(s, 2) }},
		// The emulator fails entry 2 only and stores later entries of its
		// shard after the hole: the writer reports them failed too.
		{"entry_only", func(f *kinesisfake.Server, s string) { f.FailRecordsOnly(s, 2) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := kinesistest.Start(t)
			s := openFake(t, b, "partial", 2)
			recs := keyed(12, 4, []byte("v"))
			w, err := s.OpenWriter(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			tc.inject(b.Fake(), "partial")
			res := make([]driver.WriteResult, len(recs))
			if err := w.Write(context.Background(), recs, res); err != nil {
				t.Fatal(err)
			}
			if !errors.Is(res[2].Err, kinesis.ErrThrottled) {
				t.Fatalf("record 2: %v, want ErrThrottled", res[2].Err)
			}
			// The shard of record 2: the shard of its key's other records.
			var failedShard string
			for i, r := range res {
				if r.Err == nil && string(recs[i].Key) == string(recs[2].Key) {
					t.Errorf("record %d of the failed record's key succeeded", i)
				}
				if r.Err == nil && i < 2 && string(recs[i].Key) == string(recs[2].Key) {
					failedShard = r.Partition
				}
			}
			for i, r := range res {
				switch {
				case i < 2:
					if r.Err != nil {
						t.Errorf("record %d before the failure: %v", i, r.Err)
					}
				case i > 2 && r.Err != nil:
					if !errors.Is(r.Err, driver.ErrPrecedingRecordFailed) {
						t.Errorf("record %d: %v, want ErrPrecedingRecordFailed", i, r.Err)
					}
				case i > 2 && r.Partition == failedShard:
					t.Errorf("record %d of the failed record's shard %s succeeded", i, failedShard)
				}
			}
			// Re-send the failed records in order, as the producer does.
			var again []driver.Record
			for i, r := range res {
				if r.Err != nil {
					again = append(again, recs[i])
				}
			}
			write(t, s, again...)
			got := readAll(t, s, len(recs)+5)
			checkKeyOrderLoose(t, got, tc.name == "entry_only")
			if tc.name == "shard_fails_on" && len(got) != len(recs) {
				t.Errorf("the stream holds %d records, want %d", len(got), len(recs))
			}
		})
	}
}

// checkKeyOrderLoose checks per-key order of the first occurrence of each
// record; with dups, a record stored out of order may appear twice (the
// writer reported it failed and it was re-sent after the failed one).
func checkKeyOrderLoose(t *testing.T, got []driver.Record, dups bool) {
	t.Helper()
	if !dups {
		checkKeyOrder(t, got)
		return
	}
	// The last occurrence of each record is in key order.
	lastAt := map[string]int{}
	for i, r := range got {
		lastAt[r.ID] = i
	}
	var filtered []driver.Record
	for i, r := range got {
		if lastAt[r.ID] == i {
			filtered = append(filtered, r)
		}
	}
	checkKeyOrder(t, filtered)
}

// TestWriteWholeFailure fails the PutRecords call: Write returns the error
// and nothing is stored.
func TestWriteWholeFailure(t *testing.T) {
	b := kinesistest.Start(t)
	s := openFake(t, b, "whole", 1)
	w, err := s.OpenWriter(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	b.Fake().Fail("whole", "PutRecords", 1, kinesisfake.ErrInternalFailure)
	recs := keyed(3, 1, nil)
	res := make([]driver.WriteResult, len(recs))
	if err := w.Write(context.Background(), recs, res); err == nil || !strings.Contains(err.Error(), "InternalFailure") {
		t.Errorf("Write during a failure = %v, want the InternalFailure", err)
	}
	if got := readAll(t, s, 1); len(got) != 0 {
		t.Errorf("a failed Write stored %d records", len(got))
	}
	if err := w.Write(context.Background(), recs, res[:1]); err == nil {
		t.Errorf("Write with too few results succeeded")
	}
	w.Close()
	if err := w.Write(context.Background(), recs, res); !errors.Is(err, kinesis.ErrClosed) {
		t.Errorf("Write after Close = %v, want ErrClosed", err)
	}
}

// TestWriteTooLarge writes records over the limits: they fail alone with
// ErrRecordTooLarge, later records of their key fail as preceded, and the
// others are stored.
func TestWriteTooLarge(t *testing.T) {
	b := kinesistest.Start(t)
	s := openFake(t, b, "large", 1, "max_record_bytes", "1MiB")
	many := make([]driver.Header, 0, 20000)
	for i := range 20000 {
		many = append(many, driver.Header{Key: fmt.Sprint(i), Value: []byte("v")})
	}
	recs := []driver.Record{
		{ID: "ok1", Key: []byte("a"), Value: []byte("1")},
		{ID: "big", Key: []byte("b"), Value: make([]byte, 1<<20+1)},
		{ID: "after-big", Key: []byte("b"), Value: []byte("2")},
	}
	w, err := s.OpenWriter(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	res := make([]driver.WriteResult, len(recs))
	if err := w.Write(context.Background(), recs, res); err != nil {
		t.Fatal(err)
	}
	if res[0].Err != nil {
		t.Errorf("ok1: %v", res[0].Err)
	}
	if !errors.Is(res[1].Err, driver.ErrRecordTooLarge) || !strings.Contains(res[1].Err.Error(), fmt.Sprint(1<<20)) {
		t.Errorf("big: %v, want ErrRecordTooLarge naming the limit", res[1].Err)
	}
	// In one shard, every record after a failed one fails too.
	if !errors.Is(res[2].Err, driver.ErrPrecedingRecordFailed) {
		t.Errorf("after-big: %v, want ErrPrecedingRecordFailed", res[2].Err)
	}
	// A record within max_record_bytes whose envelope of 20000 headers
	// passes Kinesis's 1 MiB.
	hdr := []driver.Record{{ID: "headers", Key: []byte("c"), Value: make([]byte, 1<<20-108_898-10_000), Headers: many}}
	res = res[:1]
	if err := w.Write(context.Background(), hdr, res); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(res[0].Err, driver.ErrRecordTooLarge) || !strings.Contains(res[0].Err.Error(), "encodes to") {
		t.Errorf("headers: %v, want ErrRecordTooLarge for the encoded size", res[0].Err)
	}
	if got := readAll(t, s, 3); len(got) != 1 || got[0].ID != "ok1" {
		ids := make([]string, len(got))
		for i, r := range got {
			ids[i] = r.ID
		}
		t.Errorf("the stream holds %v, want only ok1", ids)
	}
}
