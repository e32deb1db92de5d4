package kafka

import (
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestReaderTakeSpansFetches checks that take converts records across
// franz-go fetch slices, partly consumed, in offset order, with their IDs
// (from the header, or derived when absent) and other headers.
func TestReaderTakeSpansFetches(t *testing.T) {
	mk := func(from, n int) []*kgo.Record {
		var out []*kgo.Record
		for i := from; i < from+n; i++ {
			hs := []kgo.RecordHeader{{Key: "a", Value: []byte("x")}}
			if i%3 != 0 {
				hs = append(hs, kgo.RecordHeader{Key: HeaderID, Value: []byte("id" + strconv.Itoa(i))})
			}
			out = append(out, &kgo.Record{Topic: "t", Partition: 0, Offset: int64(i), Key: []byte("k"), Headers: hs})
		}
		return out
	}
	r := &reader{partition: "0"}
	r.buf = [][]*kgo.Record{mk(0, 5), mk(5, 2), mk(7, 6)}
	r.n = 13
	var got []int64
	for _, n := range []int{3, 4, 1, 5} {
		out := r.take(n)
		if len(out) != n || cap(out) != n {
			t.Fatalf("take(%d) = %d records, cap %d", n, len(out), cap(out))
		}
		for _, rec := range out {
			off, err := Offset(rec.Pointer)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, off)
			wantID := "id" + strconv.FormatInt(off, 10)
			if off%3 == 0 {
				wantID = RecordID("t", 0, off)
			}
			if rec.ID != wantID || len(rec.Headers) != 1 || rec.Headers[0].Key != "a" || rec.Partition != "0" || rec.Stream != "t" {
				t.Errorf("record %d: %+v", off, rec)
			}
		}
	}
	for i, off := range got {
		if off != int64(i) {
			t.Fatalf("offsets %v, want 0 to 12", got)
		}
	}
	if r.n != 0 || r.buf != nil {
		t.Fatalf("after taking everything: n=%d buf=%v", r.n, r.buf)
	}
}
