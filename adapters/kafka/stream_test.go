package kafka_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/unistream-go/unistream/adapters/kafka"
	"github.com/unistream-go/unistream/adapters/kafka/kafkatest"
	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/driver"
)

var bg = context.Background()

var topicSeq atomic.Uint64

// newTopic creates a fresh topic on c and opens it with fast test options
// and the extra query key/value pairs; the stream is closed when t ends.
func newTopic(t *testing.T, c *kafkatest.Cluster, partitions int, query ...string) *kafka.Stream {
	t.Helper()
	name := fmt.Sprintf("t%d", topicSeq.Add(1))
	if err := c.CreateTopic(bg, name, partitions); err != nil {
		t.Fatal(err)
	}
	s, err := stream.Open(bg, c.URL(name, append([]string{"fetch_wait", "10ms", "metadata_min_age", "50ms"}, query...)...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	var ks *kafka.Stream
	if !s.As(&ks) {
		t.Fatalf("stream.Open(%s).As(**kafka.Stream) = false", name)
	}
	return ks
}

// write writes records through a new writer and fails t on a whole-call
// error; it returns the per-record results.
func write(t *testing.T, s driver.Stream, recs ...driver.Record) []driver.WriteResult {
	t.Helper()
	w, err := s.OpenWriter(bg)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	res := make([]driver.WriteResult, len(recs))
	if err := w.Write(bg, recs, res); err != nil {
		t.Fatalf("Write: %v", err)
	}
	return res
}

// writeOK writes records and fails t on any per-record error.
func writeOK(t *testing.T, s driver.Stream, recs ...driver.Record) []driver.WriteResult {
	t.Helper()
	res := write(t, s, recs...)
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("record %d (%s): %v", i, recs[i].ID, r.Err)
		}
	}
	return res
}

func rec(id, key, value string) driver.Record {
	var k []byte
	if key != "" {
		k = []byte(key)
	}
	return driver.Record{ID: id, Key: k, Value: []byte(value)}
}

func ids(rs []driver.Record) string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return strings.Join(out, " ")
}

func offsetOf(t *testing.T, p driver.Pointer) int64 {
	t.Helper()
	off, err := kafka.Offset(p)
	if err != nil {
		t.Fatal(err)
	}
	return off
}

// keysIn returns n keys that land in partition p of s, and n that do not.
func keysIn(t *testing.T, s *kafka.Stream, p string, n int) (in, out []string) {
	t.Helper()
	for i := 0; len(in) < n || len(out) < n; i++ {
		k := fmt.Sprintf("key-%d", i)
		got, err := s.PartitionFor(bg, []byte(k))
		if err != nil {
			t.Fatal(err)
		}
		if got == p && len(in) < n {
			in = append(in, k)
		} else if got != p && len(out) < n {
			out = append(out, k)
		}
	}
	return in, out
}

func TestRoundTrip(t *testing.T) {
	c := kafkatest.Start(t)
	s := newTopic(t, c, 4)
	base := time.Date(2024, 5, 1, 12, 0, 0, 123_000_000, time.UTC)
	binary := make([]byte, 256)
	for i := range binary {
		binary[i] = byte(i)
	}
	recs := []driver.Record{
		{ID: "bin", Key: []byte{0, 1, 2, 0xff}, Value: binary, Time: base},
		{ID: "headers", Key: []byte("k"), Value: []byte("v"), Time: base.Add(time.Millisecond),
			Headers: []driver.Header{{Key: "a", Value: []byte("1")}, {Key: "a", Value: []byte("2")}, {Key: "empty", Value: []byte{}}, {Key: "nil"}, {Key: "", Value: []byte("x")}}},
		{ID: "user-id-header", Key: []byte("k"), Value: []byte("v2"), Time: base.Add(2 * time.Millisecond),
			Headers: []driver.Header{{Key: kafka.HeaderID, Value: []byte("not-the-id")}}},
		{ID: "no-key", Value: []byte("round robin"), Time: base},
		{ID: "empty-value", Key: []byte("k"), Value: []byte{}, Time: base},
		{ID: "nil-value", Key: []byte("k"), Time: base},
		{ID: "old-time", Key: []byte("k"), Value: []byte("a backfill"), Time: time.Date(2001, 9, 9, 1, 46, 40, 0, time.UTC)},
		{ID: "", Key: []byte("no-id"), Value: []byte("gets a derived id")},
		{ID: "now", Key: []byte("k"), Value: []byte("stamped")},
	}
	before := time.Now().Add(-time.Second)
	res := writeOK(t, s, recs...)
	byID := map[string]driver.Record{}
	for i, r := range recs {
		if r.ID == "" {
			r.ID = kafka.RecordID(s.Name(), int32(mustAtoi(t, res[i].Partition)), offsetOf(t, res[i].Pointer))
		}
		r.Partition, r.Pointer = res[i].Partition, res[i].Pointer
		byID[r.ID] = r
		if len(r.Key) > 0 {
			want, err := s.PartitionFor(bg, r.Key)
			if err != nil || res[i].Partition != want {
				t.Errorf("record %s went to partition %s, PartitionFor says %s (%v)", r.ID, res[i].Partition, want, err)
			}
		}
	}
	var got []driver.Record
	for p := range 4 {
		prs := readPartition(t, s, strconv.Itoa(p), driver.Start{})
		for i, r := range prs {
			if r.Stream != s.Name() || r.Partition != strconv.Itoa(p) {
				t.Errorf("record %s says %s/%s, read from %s/%d", r.ID, r.Stream, r.Partition, s.Name(), p)
			}
			if off := offsetOf(t, r.Pointer); off != int64(i) {
				t.Errorf("partition %d record %d has offset %d", p, i, off)
			}
		}
		got = append(got, prs...)
	}
	if len(got) != len(recs) {
		t.Fatalf("read %d records (%s), wrote %d", len(got), ids(got), len(recs))
	}
	for _, r := range got {
		w, ok := byID[r.ID]
		if !ok {
			t.Errorf("read an unknown record %q", r.ID)
			continue
		}
		if !bytes.Equal(r.Key, w.Key) || !bytes.Equal(r.Value, w.Value) || len(r.Value) != len(w.Value) {
			t.Errorf("record %s: key %q value %q, wrote %q %q", r.ID, r.Key, r.Value, w.Key, w.Value)
		}
		if r.Partition != w.Partition || string(r.Pointer) != string(w.Pointer) {
			t.Errorf("record %s read at %s/%x, written at %s/%x", r.ID, r.Partition, r.Pointer, w.Partition, w.Pointer)
		}
		if len(r.Headers) != len(w.Headers) {
			t.Errorf("record %s: headers %v, wrote %v", r.ID, r.Headers, w.Headers)
		} else {
			for i := range r.Headers {
				if r.Headers[i].Key != w.Headers[i].Key || !bytes.Equal(r.Headers[i].Value, w.Headers[i].Value) {
					t.Errorf("record %s header %d: %q=%q, wrote %q=%q", r.ID, i, r.Headers[i].Key, r.Headers[i].Value, w.Headers[i].Key, w.Headers[i].Value)
				}
			}
		}
		switch {
		case w.Time.IsZero():
			if r.Time.Before(before) || r.Time.After(time.Now().Add(time.Second)) {
				t.Errorf("record %s written without a time has time %v, want about now", r.ID, r.Time)
			}
		case !r.Time.Equal(w.Time):
			t.Errorf("record %s: time %v, wrote %v (Kafka keeps milliseconds)", r.ID, r.Time, w.Time)
		}
	}
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestForeignRecords reads records written by a plain franz-go producer:
// no id header, so the ID is derived from the position, and every header
// is kept.
func TestForeignRecords(t *testing.T) {
	c := kafkatest.Start(t)
	s := newTopic(t, c, 1)
	cl, err := c.Client(kgo.DefaultProduceTopic(s.Name()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	rs := cl.ProduceSync(bg,
		&kgo.Record{Key: []byte("a"), Value: []byte("1"), Headers: []kgo.RecordHeader{{Key: "trace", Value: []byte("t1")}}},
		&kgo.Record{Value: []byte("2"), Headers: []kgo.RecordHeader{{Key: kafka.HeaderID, Value: []byte("")}}})
	if err := rs.FirstErr(); err != nil {
		t.Fatal(err)
	}
	got := readPartition(t, s, "0", driver.Start{})
	if len(got) != 2 {
		t.Fatalf("read %d records, want 2", len(got))
	}
	want0 := "kafka:" + s.Name() + "/0@0"
	if got[0].ID != want0 || len(got[0].Headers) != 1 || got[0].Headers[0].Key != "trace" {
		t.Errorf("foreign record = ID %q headers %v, want ID %q and its header", got[0].ID, got[0].Headers, want0)
	}
	if want1 := "kafka:" + s.Name() + "/0@1"; got[1].ID != want1 || len(got[1].Headers) != 0 {
		t.Errorf("record with an empty id header = ID %q headers %v, want ID %q and no header", got[1].ID, got[1].Headers, want1)
	}
	// The derived id is stable: reading again gives the same.
	if again := readPartition(t, s, "0", driver.Start{}); again[0].ID != want0 {
		t.Errorf("second read gives ID %q", again[0].ID)
	}
}

// TestKeyRoutingMatchesFranzGo checks that keys land where franz-go's
// default partitioner (murmur2, as Kafka's Java client) puts them, so that
// a key keeps its partition whichever of the two produced it.
func TestKeyRoutingMatchesFranzGo(t *testing.T) {
	c := kafkatest.Start(t)
	s := newTopic(t, c, 7)
	cl, err := c.Client(kgo.DefaultProduceTopic(s.Name()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []driver.Record
	var plain []*kgo.Record
	for i := range 60 {
		k := fmt.Sprintf("customer-%d", i*7919)
		recs = append(recs, rec("r"+strconv.Itoa(i), k, "v"))
		plain = append(plain, &kgo.Record{Key: []byte(k), Value: []byte("v")})
	}
	res := writeOK(t, s, recs...)
	prs := cl.ProduceSync(bg, plain...)
	if err := prs.FirstErr(); err != nil {
		t.Fatal(err)
	}
	plainPart := map[string]string{} // ProduceSync results come in completion order
	for _, pr := range prs {
		plainPart[string(pr.Record.Key)] = strconv.Itoa(int(pr.Record.Partition))
	}
	spread := map[string]bool{}
	for i := range recs {
		if want := plainPart[string(recs[i].Key)]; res[i].Partition != want {
			t.Errorf("key %s: the adapter wrote to partition %s, franz-go's default partitioner to %s", recs[i].Key, res[i].Partition, want)
		}
		spread[res[i].Partition] = true
	}
	if len(spread) < 5 {
		t.Errorf("60 keys landed in only %d of 7 partitions", len(spread))
	}
	if _, err := s.PartitionFor(bg, nil); err == nil {
		t.Error("PartitionFor(empty key) succeeded")
	}
}

func TestEmptyKeysRoundRobin(t *testing.T) {
	c := kafkatest.Start(t)
	s := newTopic(t, c, 3)
	var recs []driver.Record
	for i := range 9 {
		recs = append(recs, rec(strconv.Itoa(i), "", "v"))
	}
	count := map[string]int{}
	for _, r := range writeOK(t, s, recs...) {
		count[r.Partition]++
	}
	if count["0"] != 3 || count["1"] != 3 || count["2"] != 3 {
		t.Errorf("9 records without a key spread as %v, want 3 per partition", count)
	}
}

func TestStartPositions(t *testing.T) {
	c := kafkatest.Start(t)
	s := newTopic(t, c, 1)
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var recs []driver.Record
	for i := range 5 {
		r := rec(strconv.Itoa(i), "k", "v")
		r.Time = base.Add(time.Duration(i) * time.Minute)
		recs = append(recs, r)
	}
	writeOK(t, s, recs...)
	P := kafka.PointerAt
	tests := []struct {
		name  string
		start driver.Start
		want  string
	}{
		{"earliest", driver.Start{Kind: driver.StartEarliest}, "0 1 2 3 4"},
		{"latest", driver.Start{Kind: driver.StartLatest}, ""},
		{"at-time before all", driver.Start{Kind: driver.StartAtTime, Time: base.Add(-time.Hour)}, "0 1 2 3 4"},
		{"at-time before 1970", driver.Start{Kind: driver.StartAtTime, Time: time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC)}, "0 1 2 3 4"},
		{"at-time zero", driver.Start{Kind: driver.StartAtTime}, "0 1 2 3 4"},
		{"at-time exact", driver.Start{Kind: driver.StartAtTime, Time: base.Add(2 * time.Minute)}, "2 3 4"},
		{"at-time half a millisecond after", driver.Start{Kind: driver.StartAtTime, Time: base.Add(2*time.Minute + 500*time.Microsecond)}, "3 4"},
		{"at-time between", driver.Start{Kind: driver.StartAtTime, Time: base.Add(150 * time.Second)}, "3 4"},
		{"at-time after all", driver.Start{Kind: driver.StartAtTime, Time: base.Add(time.Hour)}, ""},
		{"after first", driver.Start{Kind: driver.StartAfter, Pointer: P(0)}, "1 2 3 4"},
		{"after last", driver.Start{Kind: driver.StartAfter, Pointer: P(4)}, ""},
		{"at first", driver.Start{Kind: driver.StartAt, Pointer: P(0)}, "0 1 2 3 4"},
		{"at middle", driver.Start{Kind: driver.StartAt, Pointer: P(3)}, "3 4"},
		{"at last", driver.Start{Kind: driver.StartAt, Pointer: P(4)}, "4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ids(readPartition(t, s, "0", tt.start)); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}

	for _, start := range []driver.Start{{Kind: driver.StartLatest}, {Kind: driver.StartAfter, Pointer: P(4)}, {Kind: driver.StartAtTime, Time: base.Add(time.Hour)}} {
		t.Run(start.Kind.String()+" sees later writes", func(t *testing.T) {
			s := newTopic(t, c, 1)
			writeOK(t, s, recs...)
			r, err := s.OpenReader(bg, "0", start)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			// Written right after the open: the position was fixed by the open.
			writeOK(t, s, rec("new1", "k", "v"), rec("new2", "k", "v"))
			var got []driver.Record
			deadline := time.Now().Add(10 * time.Second)
			for len(got) < 2 && time.Now().Before(deadline) {
				b, err := r.Fetch(bg, 10)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, b...)
			}
			if ids(got) != "new1 new2" {
				t.Errorf("got %q, want the two later records", ids(got))
			}
		})
	}
}

func TestStartErrors(t *testing.T) {
	c := kafkatest.Start(t)
	s := newTopic(t, c, 2)
	name := s.Name()
	var recs []driver.Record
	for i := range 5 {
		recs = append(recs, rec(strconv.Itoa(i), "", "v")) // round robin: 3 in partition 0, 2 in 1
	}
	writeOK(t, s, recs...)
	if err := c.DeleteRecords(bg, name, 0, 1); err != nil { // partition 0 now starts at offset 1 and ends at 3
		t.Fatal(err)
	}
	P := kafka.PointerAt
	notFound := []struct {
		name  string
		start driver.Start
		want  []string
	}{
		{"after beyond end", driver.Start{Kind: driver.StartAfter, Pointer: P(3)}, []string{"kafka:" + name + "/0@3", "beyond the end of the log (next offset 3)"}},
		{"at end", driver.Start{Kind: driver.StartAt, Pointer: P(3)}, []string{"beyond the end"}},
		{"at far beyond", driver.Start{Kind: driver.StartAt, Pointer: P(99)}, []string{"kafka:" + name + "/0@99", "beyond the end"}},
		{"at trimmed", driver.Start{Kind: driver.StartAt, Pointer: P(0)}, []string{"the records from offset 0 were deleted (the log starts at offset 1"}},
	}
	for _, tt := range notFound {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.OpenReader(bg, "0", tt.start)
			if !errors.Is(err, driver.ErrPointerNotFound) {
				t.Fatalf("OpenReader = %v, want an error wrapping ErrPointerNotFound", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	// After a trimmed record whose successor is kept: nothing is lost.
	if got := ids(readPartition(t, s, "0", driver.Start{Kind: driver.StartAfter, Pointer: P(0)})); got != "2 4" {
		t.Errorf("After(trimmed 0) read %q, want \"2 4\"", got)
	}
	if got := ids(readPartition(t, s, "0", driver.Start{})); got != "2 4" {
		t.Errorf("Earliest after the trim read %q, want \"2 4\"", got)
	}
	if err := c.DeleteRecords(bg, name, 0, 3); err != nil { // now empty: start 3, end 3
		t.Fatal(err)
	}
	if _, err := s.OpenReader(bg, "0", driver.Start{Kind: driver.StartAfter, Pointer: P(0)}); !errors.Is(err, driver.ErrPointerNotFound) {
		t.Errorf("After(0) with offsets 1 and 2 deleted = %v, want ErrPointerNotFound", err)
	}

	others := []struct {
		name, partition string
		start           driver.Start
		want            string
	}{
		{"malformed pointer", "0", driver.Start{Kind: driver.StartAfter, Pointer: driver.Pointer{1, 2}}, "got 2 bytes, expected 8 (big-endian offset)"},
		{"nil pointer", "0", driver.Start{Kind: driver.StartAt}, "got 0 bytes, expected 8"},
		{"unknown partition", "7", driver.Start{}, `has no partition "7" (partitions: 0 to 1)`},
		{"partition with a leading zero", "01", driver.Start{}, `partition "01": expected a decimal partition id`},
		{"partition not a number", "x", driver.Start{}, `partition "x"`},
		{"unknown kind", "0", driver.Start{Kind: 42}, "unknown start kind StartKind(42)"},
	}
	for _, tt := range others {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.OpenReader(bg, tt.partition, tt.start)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("OpenReader = %v, want an error containing %q", err, tt.want)
			}
			if errors.Is(err, driver.ErrPointerNotFound) {
				t.Errorf("error %v wraps ErrPointerNotFound", err)
			}
		})
	}
}

// TestFetchOutOfRange trims the log under a reader that has not reached
// the trimmed records yet: Fetch reports ErrPointerNotFound, never skips.
func TestFetchOutOfRange(t *testing.T) {
	c := kafkatest.Start(t)
	s := newTopic(t, c, 1)
	var recs []driver.Record
	for i := range 5 {
		recs = append(recs, rec(strconv.Itoa(i), "k", "v"))
	}
	writeOK(t, s, recs...)
	// Hold the reader's fetches back until the trim.
	hold := c.FailFetch(s.Name(), -1, kerr.NotLeaderForPartition)
	r, err := s.OpenReader(bg, "0", driver.Start{Kind: driver.StartAt, Pointer: kafka.PointerAt(1)})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := c.DeleteRecords(bg, s.Name(), 0, 3); err != nil {
		t.Fatal(err)
	}
	hold.Remove()
	var ferr error
	deadline := time.Now().Add(10 * time.Second)
	for ferr == nil && time.Now().Before(deadline) {
		b, err := r.Fetch(bg, 10)
		if len(b) > 0 {
			t.Fatalf("Fetch returned %q after the trim, want an error", ids(b))
		}
		ferr = err
	}
	if !errors.Is(ferr, driver.ErrPointerNotFound) || !strings.Contains(ferr.Error(), "the log holds offsets 3 to 4") {
		t.Errorf("Fetch = %v, want ErrPointerNotFound naming the log's offsets", ferr)
	}
	// The reader stays there: it never skips to the log start.
	for range 3 {
		if b, err := r.Fetch(bg, 10); len(b) > 0 || !errors.Is(err, driver.ErrPointerNotFound) {
			t.Fatalf("Fetch after the error = %q, %v; want ErrPointerNotFound again", ids(b), err)
		}
	}
}

func TestFetchPromptAndBounded(t *testing.T) {
	c := kafkatest.Start(t)
	s := newTopic(t, c, 1, "fetch_wait", "50ms")
	r, err := s.OpenReader(bg, "0", driver.Start{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	t0 := time.Now()
	b, err := r.Fetch(bg, 10)
	if err != nil || len(b) != 0 {
		t.Fatalf("Fetch of an empty partition = %v, %v; want nothing", b, err)
	}
	if d := time.Since(t0); d > 2*time.Second {
		t.Errorf("Fetch of an empty partition took %v, want about fetch_wait (50ms)", d)
	}
	var recs []driver.Record
	for i := range 10 {
		recs = append(recs, rec(strconv.Itoa(i), "k", "v"))
	}
	writeOK(t, s, recs...)
	var sizes []int
	var got []driver.Record
	for len(got) < 10 {
		b, err := r.Fetch(bg, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > 3 {
			t.Fatalf("Fetch(max 3) returned %d records", len(b))
		}
		if len(b) > 0 {
			sizes = append(sizes, len(b))
		}
		got = append(got, b...)
	}
	if ids(got) != "0 1 2 3 4 5 6 7 8 9" {
		t.Errorf("read %q", ids(got))
	}
	if !slices.Equal(sizes, []int{3, 3, 3, 1}) {
		t.Logf("batch sizes %v (the records came in more than one fetch)", sizes)
	}
	if _, err := r.Fetch(bg, 0); err == nil || !strings.Contains(err.Error(), "max 0: expected at least 1") {
		t.Errorf("Fetch(0) = %v", err)
	}
	ctx, cancel := context.WithCancel(bg)
	cancel()
	if _, err := r.Fetch(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("Fetch(cancelled) = %v", err)
	}
	// A cancellation while Fetch waits ends it at once.
	ctx, cancel = context.WithTimeout(bg, 20*time.Millisecond)
	defer cancel()
	r2, err := s.OpenReader(bg, "0", driver.Start{Kind: driver.StartLatest})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if _, err := r2.Fetch(ctx, 1); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Fetch with a short deadline = %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Fetch(bg, 1); !errors.Is(err, kafka.ErrClosed) {
		t.Errorf("Fetch after Close = %v, want ErrClosed", err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

func TestWriteRecordTooLarge(t *testing.T) {
	c := kafkatest.Start(t)
	s := newTopic(t, c, 2, "max_record_bytes", "100")
	if got := s.Capabilities().MaxRecordBytes; got != 100 {
		t.Fatalf("MaxRecordBytes = %d", got)
	}
	in, out := keysIn(t, s, "0", 1)
	a, b := in[0], out[0]
	big := strings.Repeat("x", 100)
	recs := []driver.Record{
		rec("a0", a, "ok"),
		rec("b0", b, "ok"),
		rec("a1", a, big), // Size = 2 + len(a) + 100 > 100
		rec("b1", b, "ok"),
		rec("a2", a, "ok"),
		rec("exact", b, strings.Repeat("y", 100-len("exact")-len(b))),
	}
	res := write(t, s, recs...)
	if res[0].Err != nil || res[1].Err != nil || res[3].Err != nil || res[5].Err != nil {
		t.Errorf("records of other partitions or before the large one failed: %v %v %v %v", res[0].Err, res[1].Err, res[3].Err, res[5].Err)
	}
	if !errors.Is(res[2].Err, driver.ErrRecordTooLarge) || !strings.Contains(res[2].Err.Error(), "MaxRecordBytes is 100") {
		t.Errorf("the large record: %v, want ErrRecordTooLarge naming the limit", res[2].Err)
	}
	if !errors.Is(res[4].Err, driver.ErrPrecedingRecordFailed) || errors.Is(res[4].Err, driver.ErrRecordTooLarge) {
		t.Errorf("the record after it in its partition: %v, want ErrPrecedingRecordFailed only", res[4].Err)
	}
	if got := ids(readPartition(t, s, "0", driver.Start{})); got != "a0" {
		t.Errorf("partition 0 holds %q, want only a0 (no hole)", got)
	}
	if got := ids(readPartition(t, s, "1", driver.Start{})); got != "b0 b1 exact" {
		t.Errorf("partition 1 holds %q", got)
	}
}

// TestWriteBrokerFailure fails the produce request of one partition: the
// records of that partition fail, the first with the broker's error and the
// later ones with ErrPrecedingRecordFailed; the other partition's records
// are written; re-sending the failed records in order leaves the log in
// order, without holes or duplicates.
func TestWriteBrokerFailure(t *testing.T) {
	c := kafkatest.Start(t)
	s := newTopic(t, c, 2)
	in, out := keysIn(t, s, "1", 1)
	a, b := in[0], out[0]
	recs := []driver.Record{rec("a0", a, "v"), rec("b0", b, "v"), rec("a1", a, "v"), rec("b1", b, "v"), rec("a2", a, "v")}
	// Every produce request fails for partition 1 until the fault is
	// removed (one Write may take more than one request).
	f := c.FailProduce(s.Name(), -1, nil, 1)
	res := write(t, s, recs...)
	f.Remove()
	if f.Hits() == 0 {
		t.Error("the fault answered no request")
	}
	if !errors.Is(res[0].Err, kerr.UnknownServerError) || errors.Is(res[0].Err, driver.ErrPrecedingRecordFailed) {
		t.Errorf("a0: %v, want the broker's UNKNOWN_SERVER_ERROR", res[0].Err)
	}
	for _, i := range []int{2, 4} {
		if !errors.Is(res[i].Err, driver.ErrPrecedingRecordFailed) || !strings.Contains(res[i].Err.Error(), "record 0 of partition 1 failed earlier") {
			t.Errorf("%s: %v, want ErrPrecedingRecordFailed naming record 0", recs[i].ID, res[i].Err)
		}
	}
	for _, i := range []int{1, 3} {
		if res[i].Err != nil || res[i].Partition != "0" {
			t.Errorf("%s: %+v, want success in partition 0", recs[i].ID, res[i])
		}
	}
	var again []driver.Record
	for i, r := range res {
		if r.Err != nil {
			again = append(again, recs[i])
		}
	}
	writeOK(t, s, again...)
	if got := ids(readPartition(t, s, "1", driver.Start{})); got != "a0 a1 a2" {
		t.Errorf("partition 1 holds %q, want a0 a1 a2", got)
	}
	if got := ids(readPartition(t, s, "0", driver.Start{})); got != "b0 b1" {
		t.Errorf("partition 0 holds %q, want b0 b1", got)
	}

	// A failure of every partition fails every record; the first of each
	// partition carries the broker's error.
	f = c.FailProduce(s.Name(), -1, kerr.InvalidRecord)
	res = write(t, s, recs...)
	f.Remove()
	for i, r := range res {
		first := i <= 1
		if !errors.Is(r.Err, kerr.InvalidRecord) || errors.Is(r.Err, driver.ErrPrecedingRecordFailed) == first {
			t.Errorf("%s: %v", recs[i].ID, r.Err)
		}
	}
}

// TestWriteDeliveryTimeout: a broker that keeps answering a retriable
// error makes the records fail after delivery_timeout, and the writer
// works again once the broker recovers.
func TestWriteDeliveryTimeout(t *testing.T) {
	c := kafkatest.Start(t)
	s := newTopic(t, c, 1, "delivery_timeout", "300ms")
	f := c.FailProduce(s.Name(), -1, kerr.NotEnoughReplicas)
	w, err := s.OpenWriter(bg)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	recs := []driver.Record{rec("a", "k", "v"), rec("b", "k", "v")}
	res := make([]driver.WriteResult, 2)
	t0 := time.Now()
	if err := w.Write(bg, recs, res); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d > 10*time.Second {
		t.Errorf("Write took %v with delivery_timeout 300ms", d)
	}
	if res[0].Err == nil || !errors.Is(res[1].Err, driver.ErrPrecedingRecordFailed) {
		t.Errorf("results %v, %v: want both to fail, the second as a preceding failure", res[0].Err, res[1].Err)
	}
	f.Remove()
	if err := w.Write(bg, recs, res); err != nil || res[0].Err != nil || res[1].Err != nil {
		t.Fatalf("Write after the broker recovered: %v %v %v", err, res[0].Err, res[1].Err)
	}
	got := ids(readPartition(t, s, "0", driver.Start{}))
	if got != "a b" {
		t.Errorf("the log holds %q, want \"a b\"", got)
	}
}

func TestWriteWholeCallErrors(t *testing.T) {
	c := kafkatest.Start(t)
	s := newTopic(t, c, 1)
	w, err := s.OpenWriter(bg)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Write(bg, nil, nil); err != nil {
		t.Errorf("empty Write = %v", err)
	}
	if err := w.Write(bg, []driver.Record{rec("a", "k", "v")}, nil); err == nil || !strings.Contains(err.Error(), "0 results for 1 records") {
		t.Errorf("Write with no results = %v", err)
	}
	many := make([]driver.Record, kafka.DefaultMaxBatchRecords+1)
	for i := range many {
		many[i] = rec(strconv.Itoa(i), "k", "v")
	}
	if err := w.Write(bg, many, make([]driver.WriteResult, len(many))); err == nil || !strings.Contains(err.Error(), "10001 records in one call, MaxBatchRecords is 10000") {
		t.Errorf("Write of too many records = %v", err)
	}
	value := bytes.Repeat([]byte{1}, 900_000)
	heavy := make([]driver.Record, 20)
	for i := range heavy {
		heavy[i] = driver.Record{ID: strconv.Itoa(i), Key: []byte("k"), Value: value}
	}
	if err := w.Write(bg, heavy, make([]driver.WriteResult, len(heavy))); err == nil || !strings.Contains(err.Error(), "MaxBatchBytes is 16777216") {
		t.Errorf("Write of too many bytes = %v", err)
	}
	ctx, cancel := context.WithCancel(bg)
	cancel()
	if err := w.Write(ctx, []driver.Record{rec("a", "k", "v")}, make([]driver.WriteResult, 1)); !errors.Is(err, context.Canceled) {
		t.Errorf("Write(cancelled) = %v", err)
	}
	w.Close()
	if err := w.Write(bg, []driver.Record{rec("a", "k", "v")}, make([]driver.WriteResult, 1)); !errors.Is(err, kafka.ErrClosed) {
		t.Errorf("Write after Close = %v", err)
	}
}

// TestFetchFaults: retriable fetch errors are retried by the client and
// never seen; a non-retriable one is returned once and the reader goes on
// from where it was; cut connections are re-established. Nothing is lost
// or read twice.
func TestFetchFaults(t *testing.T) {
	c := kafkatest.Start(t)
	s := newTopic(t, c, 1)
	var recs []driver.Record
	for i := range 30 {
		recs = append(recs, rec(fmt.Sprintf("r%02d", i), "k", "v"))
	}
	writeOK(t, s, recs[:10]...)
	f := c.FailFetch(s.Name(), 3, kerr.NotLeaderForPartition)
	r, err := s.OpenReader(bg, "0", driver.Start{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var got []driver.Record
	var errs []error
	read := func(n int) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for len(got) < n && time.Now().Before(deadline) {
			b, err := r.Fetch(bg, 4)
			if err != nil {
				errs = append(errs, err)
			}
			got = append(got, b...)
		}
		if len(got) != n {
			t.Fatalf("read %d records, want %d (errors %v)", len(got), n, errs)
		}
	}
	read(10)
	if f.Hits() != 3 || len(errs) != 0 {
		t.Errorf("retriable faults: %d hits, errors %v; want 3 hits and no error", f.Hits(), errs)
	}

	f = c.FailFetch(s.Name(), 1, nil)
	writeOK(t, s, recs[10:20]...)
	read(20)
	if f.Hits() != 1 || len(errs) != 1 || !errors.Is(errs[0], kerr.UnknownServerError) {
		t.Errorf("non-retriable fault: %d hits, errors %v; want one UNKNOWN_SERVER_ERROR", f.Hits(), errs)
	}

	if n := c.CutConnections(); n == 0 {
		t.Error("CutConnections closed no connection")
	}
	writeOK(t, s, recs[20:]...)
	read(30)
	if ids(got) != ids(recs) {
		t.Errorf("read %q, want every record once in order", ids(got))
	}
}

// TestProduceConnectionDrops drops produce connections mid-request: the
// idempotent producer re-sends, and every record is in the log once.
func TestProduceConnectionDrops(t *testing.T) {
	c := kafkatest.Start(t)
	s := newTopic(t, c, 2)
	done := c.DropConnections(kmsg.Produce, 2)
	var recs []driver.Record
	for i := range 40 {
		recs = append(recs, rec(fmt.Sprintf("r%02d", i), "key"+strconv.Itoa(i%3), "v"))
	}
	w, err := s.OpenWriter(bg)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for len(recs) > 0 {
		res := make([]driver.WriteResult, len(recs))
		if err := w.Write(bg, recs, res); err != nil {
			t.Fatal(err)
		}
		var again []driver.Record
		for i, r := range res {
			if r.Err != nil {
				again = append(again, recs[i])
			}
		}
		recs = again
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the connections were not dropped")
	}
	got := readAll(t, s)
	seen := map[string]bool{}
	for _, r := range got {
		if seen[r.ID] {
			t.Errorf("%s is in the log twice", r.ID)
		}
		seen[r.ID] = true
	}
	if len(seen) != 40 {
		t.Errorf("the log holds %d distinct records, want 40", len(seen))
	}
}

func TestOpen(t *testing.T) {
	c := kafkatest.Start(t)
	if _, err := stream.Open(bg, c.URL("missing")); err == nil || !strings.Contains(err.Error(), "the topic does not exist") ||
		!strings.Contains(err.Error(), "create_topic=true") || !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Errorf("Open(missing topic) = %v", err)
	}
	s, err := stream.Open(bg, c.URL("made", "create_topic", "true", "partitions", "3"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ps, err := s.Partitions(bg)
	if err != nil || len(ps) != 3 || ps[0].ID != "0" || ps[2].ID != "2" || ps[1].Closed || ps[1].Parents != nil {
		t.Errorf("Partitions = %+v, %v", ps, err)
	}
	// The same options open the existing topic; a different count fails.
	s2, err := stream.Open(bg, c.URL("made", "create_topic", "true", "partitions", "3"))
	if err != nil {
		t.Fatal(err)
	}
	s2.Close()
	if _, err := stream.Open(bg, c.URL("made", "create_topic", "true", "partitions", "4")); err == nil || !strings.Contains(err.Error(), "exists with 3 partitions") {
		t.Errorf("Open with another partition count = %v", err)
	}
	if _, err := stream.Open(bg, c.URL("made", "bogus", "1")); err == nil || !strings.Contains(err.Error(), `query key "bogus" is unknown`) {
		t.Errorf("Open with a bad URL = %v", err)
	}
	t0 := time.Now()
	if _, err := stream.Open(bg, "kafka://127.0.0.1:1/t?dial_timeout=100ms&request_timeout=1s"); err == nil {
		t.Error("Open of an unreachable broker succeeded")
	}
	if d := time.Since(t0); d > 10*time.Second {
		t.Errorf("Open of an unreachable broker took %v", d)
	}
	if _, err := kafka.Open(bg, kafka.Options{Target: kafka.Target{Topic: "t"}}); err == nil || !strings.Contains(err.Error(), "no broker") {
		t.Errorf("Open without brokers = %v", err)
	}
	ks := s.Driver().(*kafka.Stream)
	if o := ks.Options(); o.ClientID != kafka.DefaultClientID || o.Partitions != 3 {
		t.Errorf("Options() = %v", o)
	}
	caps := ks.Capabilities()
	if caps != (driver.Capabilities{MaxBatchRecords: 10000, MaxBatchBytes: 16 << 20, MaxRecordBytes: kafka.DefaultMaxRecordBytes, PerKeyOrder: true, ConsumerGroups: true}) {
		t.Errorf("Capabilities = %+v", caps)
	}
	if _, ok := ks.Codec().(kafka.Codec); !ok {
		t.Errorf("Codec = %T", ks.Codec())
	}
}

func TestPartitionsGrow(t *testing.T) {
	c := kafkatest.Start(t)
	s := newTopic(t, c, 2)
	if err := c.AddPartitions(bg, s.Name(), 2); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		ps, err := s.Partitions(bg)
		if err != nil {
			t.Fatal(err)
		}
		if len(ps) == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Partitions lists %d partitions after adding 2 to 2", len(ps))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := ids(readPartition(t, s, "3", driver.Start{})); got != "" {
		t.Errorf("new partition holds %q", got)
	}
}

func TestCloseStopsEverything(t *testing.T) {
	c := kafkatest.Start(t)
	s := newTopic(t, c, 1)
	r, err := s.OpenReader(bg, "0", driver.Start{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := s.OpenWriter(bg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Fetch(bg, 1); !errors.Is(err, kafka.ErrClosed) {
		t.Errorf("Fetch after the stream closed = %v", err)
	}
	if err := w.Write(bg, []driver.Record{rec("a", "k", "v")}, make([]driver.WriteResult, 1)); !errors.Is(err, kafka.ErrClosed) {
		t.Errorf("Write after the stream closed = %v", err)
	}
	if _, err := s.OpenReader(bg, "0", driver.Start{}); !errors.Is(err, kafka.ErrClosed) {
		t.Errorf("OpenReader after Close = %v", err)
	}
	if _, err := s.OpenWriter(bg); !errors.Is(err, kafka.ErrClosed) {
		t.Errorf("OpenWriter after Close = %v", err)
	}
	if _, err := s.Partitions(bg); !errors.Is(err, kafka.ErrClosed) {
		t.Errorf("Partitions after Close = %v", err)
	}
	if err := s.Close(); err != nil || r.Close() != nil || w.Close() != nil {
		t.Error("second Close failed")
	}
}

// The reader tells its lag in records, from the high watermark of the last
// fetch response and the last record it returned.
func TestReaderLag(t *testing.T) {
	c := kafkatest.Start(t)
	s := newTopic(t, c, 1)
	var recs []driver.Record
	for i := range 10 {
		recs = append(recs, rec(strconv.Itoa(i), "k", "v"))
	}
	writeOK(t, s, recs...)
	r, err := s.OpenReader(bg, "0", driver.Start{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	lr, ok := r.(driver.LagReporter)
	if !ok {
		t.Fatal("the kafka reader is not a driver.LagReporter")
	}
	if l := lr.Lag(); l.Records != -1 || l.Time != -1 {
		t.Errorf("lag before any fetch = %+v, want unknown (-1, -1)", l)
	}
	got := 0
	// readTo fetches until got records were read, at most max per Fetch.
	readTo := func(n, max int) {
		t.Helper()
		for got < n {
			b, err := r.Fetch(bg, min(max, n-got))
			if err != nil {
				t.Fatal(err)
			}
			got += len(b)
		}
	}
	readTo(3, 3)
	if l := lr.Lag(); l.Records != 7 || l.Time != -1 {
		t.Errorf("lag after 3 of 10 records = %+v, want 7 records, time unknown", l)
	}
	readTo(10, 10)
	if l := lr.Lag(); l.Records != 0 {
		t.Errorf("lag after every record = %+v, want 0", l)
	}
	writeOK(t, s, rec("10", "k", "v"), rec("11", "k", "v"))
	readTo(11, 1)
	if l := lr.Lag(); l.Records != 1 {
		t.Errorf("lag after 11 of 12 records = %+v, want 1", l)
	}
}

// TestReaderMemoryRefused: with a memory limit of 64 MiB (GOMEMLIMIT), a
// fetch size whose pooled readers could buffer more than half of it is
// refused at the first OpenReader, and with reader_client=partition the
// reader that would take the buffers past it is refused; each error gives
// the numbers. The limit is the process's: the test does not run in
// parallel with others.
func TestReaderMemoryRefused(t *testing.T) {
	old := debug.SetMemoryLimit(64 << 20)
	defer debug.SetMemoryLimit(old)
	c := kafkatest.Start(t)

	big := newTopic(t, c, 2, "fetch_max_bytes", "16MiB")
	_, err := big.OpenReader(bg, "0", driver.Start{})
	for _, want := range []string{"could buffer 83886080 bytes", "1 + reader_clients", "fetch_max_bytes 16777216", "Go memory limit", "67108864 bytes"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("OpenReader with fetch_max_bytes 16MiB under a 64 MiB limit = %v, want an error saying %q", err, want)
		}
	}

	own := newTopic(t, c, 8, "reader_client", "partition")
	var readers []driver.Reader
	defer func() {
		for _, r := range readers {
			r.Close()
		}
	}()
	for p := range 4 { // 4 readers × 2 × 4 MiB = 32 MiB: half the limit
		r, err := own.OpenReader(bg, strconv.Itoa(p), driver.Start{})
		if err != nil {
			t.Fatalf("reader %d of 4 within half the limit: %v", p, err)
		}
		readers = append(readers, r)
	}
	if _, err := own.OpenReader(bg, "4", driver.Start{}); err == nil || !strings.Contains(err.Error(), "readers with a client of their own") {
		t.Fatalf("a fifth reader with a client of its own = %v, want it refused with the count", err)
	}
	readers[0].Close()
	readers = readers[1:]
	r, err := own.OpenReader(bg, "4", driver.Start{})
	if err != nil {
		t.Fatalf("a reader after one closed: %v", err)
	}
	readers = append(readers, r)
}
