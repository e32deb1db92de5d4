package pulsar_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/unistream-go/unistream/adapters/pulsar"
	"github.com/unistream-go/unistream/adapters/pulsar/pulsarfake"
	"github.com/unistream-go/unistream/adapters/pulsar/pulsartest"
	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/driver"
)

// openStream opens a URL through the scheme registry and closes it at the
// end of the test.
func openStream(t *testing.T, rawURL string) *pulsar.Stream {
	t.Helper()
	s, err := stream.Open(context.Background(), rawURL)
	if err != nil {
		t.Fatalf("stream.Open(%s): %v", rawURL, err)
	}
	t.Cleanup(func() { s.Close() })
	var ps *pulsar.Stream
	if !s.As(&ps) {
		t.Fatalf("stream.Open(%s) is a %T, want a *pulsar.Stream", rawURL, s.Driver())
	}
	return ps
}

// write writes records with one Write call and fails on any error.
func write(t *testing.T, s driver.Stream, recs ...driver.Record) []driver.WriteResult {
	t.Helper()
	w, err := s.OpenWriter(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	res := make([]driver.WriteResult, len(recs))
	if err := w.Write(context.Background(), recs, res); err != nil {
		t.Fatalf("Write: %v", err)
	}
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("Write: record %d: %v", i, r.Err)
		}
	}
	return res
}

// readN reads n records of partition from start, failing after 10 s.
func readN(t *testing.T, s driver.Stream, partition string, start driver.Start, n int) []driver.Record {
	t.Helper()
	r, err := s.OpenReader(context.Background(), partition, start)
	if err != nil {
		t.Fatalf("OpenReader(%s, %s): %v", partition, start.Kind, err)
	}
	defer r.Close()
	var out []driver.Record
	deadline := time.Now().Add(10 * time.Second)
	for len(out) < n {
		if time.Now().After(deadline) {
			t.Fatalf("read %d records of partition %s, want %d", len(out), partition, n)
		}
		recs, err := r.Fetch(context.Background(), n-len(out))
		if err != nil {
			t.Fatalf("Fetch: %v", err)
		}
		out = append(out, recs...)
	}
	return out
}

func recs(prefix string, n int, key string) []driver.Record {
	out := make([]driver.Record, n)
	for i := range out {
		out[i] = driver.Record{ID: fmt.Sprintf("%s-%d", prefix, i), Key: []byte(key), Value: []byte(fmt.Sprint(i)),
			Time: time.UnixMilli(1_700_000_000_000 + int64(i)).UTC()}
	}
	return out
}

func TestRoundTripKeepsRecordFields(t *testing.T) {
	b := pulsartest.Start(t, pulsartest.Topic("fields", 3))
	s := openStream(t, b.URL("fields"))
	in := []driver.Record{
		{ID: "a", Key: []byte("k1"), Value: []byte("v"), Time: time.UnixMilli(1_700_000_000_123).UTC(),
			Headers: []driver.Header{{Key: "h", Value: []byte{0, 0xff}}, {Key: "h", Value: nil}, {Key: "", Value: []byte("x")}}},
		{ID: "b", Key: []byte{0xff, 0xfe, 0}, Value: nil, Time: time.UnixMilli(1_700_000_000_124).UTC()},
	}
	res := write(t, s, in...)
	for i, r := range in {
		p, err := s.PartitionFor(context.Background(), r.Key)
		if err != nil {
			t.Fatal(err)
		}
		if res[i].Partition != p {
			t.Errorf("record %s went to partition %s, PartitionFor says %s", r.ID, res[i].Partition, p)
		}
		got := readN(t, s, p, driver.Start{Kind: driver.StartAt, Pointer: res[i].Pointer}, 1)[0]
		if got.ID != r.ID || !bytes.Equal(got.Key, r.Key) || !bytes.Equal(got.Value, r.Value) || !got.Time.Equal(r.Time) ||
			got.Stream != "fields" || got.Partition != p || !bytes.Equal(got.Pointer, res[i].Pointer) {
			t.Errorf("read %+v, want %+v at %x", got, r, res[i].Pointer)
		}
		if fmt.Sprint(got.Headers) != fmt.Sprint(r.Headers) {
			t.Errorf("headers %v, want %v", got.Headers, r.Headers)
		}
	}
}

// TestStartInsideBatch checks that a reader starts at the right message of
// a batched entry: a partly processed batch resumes at its batch index.
func TestStartInsideBatch(t *testing.T) {
	b := pulsartest.Start(t, pulsartest.Topic("batch", 0))
	// A batching delay longer than the test: the Write's flush, not a timer
	// that a busy machine can fire between two sends, closes the batch.
	s := openStream(t, b.URL("batch", "batching_delay", "1m"))
	in := recs("r", 10, "k")
	res := write(t, s, in...)
	first, _ := pulsar.ParsePointer(res[0].Pointer)
	fifth, _ := pulsar.ParsePointer(res[5].Pointer)
	if first.Entry != fifth.Entry || fifth.Batch != 5 {
		t.Fatalf("records 0 and 5 at %s and %s: want one batched entry (the test needs batching)", first, fifth)
	}
	for _, tc := range []struct {
		kind  driver.StartKind
		first int
	}{{driver.StartAt, 5}, {driver.StartAfter, 6}, {driver.StartEarliest, 0}} {
		start := driver.Start{Kind: tc.kind}
		if tc.kind != driver.StartEarliest {
			start.Pointer = res[5].Pointer
		}
		got := readN(t, s, "0", start, 10-tc.first)
		for i, r := range got {
			if want := in[tc.first+i].ID; r.ID != want {
				t.Errorf("%s: record %d is %s, want %s", tc.kind, i, r.ID, want)
			}
		}
	}
}

func TestStartAtTimeAndLatest(t *testing.T) {
	b := pulsartest.Start(t, pulsartest.Topic("times", 0))
	s := openStream(t, b.URL("times"))
	in := recs("t", 6, "k")
	write(t, s, in...)
	got := readN(t, s, "0", driver.Start{Kind: driver.StartAtTime, Time: in[3].Time}, 3)
	if got[0].ID != "t-3" || got[2].ID != "t-5" {
		t.Errorf("AtTime(%s) read %s..%s, want t-3..t-5", in[3].Time, got[0].ID, got[2].ID)
	}
	r, err := s.OpenReader(context.Background(), "0", driver.Start{Kind: driver.StartLatest})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if recs, err := r.Fetch(context.Background(), 10); err != nil || len(recs) != 0 {
		t.Fatalf("Latest before a write: %d records, %v; want none", len(recs), err)
	}
	write(t, s, driver.Record{ID: "new", Key: []byte("k")})
	var after []driver.Record
	for deadline := time.Now().Add(10 * time.Second); len(after) == 0 && time.Now().Before(deadline); {
		after, err = r.Fetch(context.Background(), 10)
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(after) != 1 || after[0].ID != "new" {
		t.Errorf("Latest read %v, want only the record written after it opened", after)
	}
}

func TestPointerPastTheEnd(t *testing.T) {
	b := pulsartest.Start(t, pulsartest.Topic("end", 2))
	s := openStream(t, b.URL("end"))
	res := write(t, s, driver.Record{ID: "x", Key: []byte("k")})
	id, _ := pulsar.ParsePointer(res[0].Pointer)
	id.Entry += 5
	_, err := s.OpenReader(context.Background(), res[0].Partition, driver.Start{Kind: driver.StartAfter, Pointer: id.Pointer()})
	if !errors.Is(err, driver.ErrPointerNotFound) {
		t.Errorf("OpenReader after %s past the end: %v, want ErrPointerNotFound", id, err)
	}
	if _, err := s.OpenReader(context.Background(), "2", driver.Start{}); err == nil || !strings.Contains(err.Error(), "expected 0 to 1") {
		t.Errorf("OpenReader of partition 2 of 2: %v, want an error naming the partitions", err)
	}
	if _, err := s.OpenReader(context.Background(), "0", driver.Start{Kind: driver.StartAt, Pointer: []byte{9}}); err == nil {
		t.Errorf("OpenReader at a bad pointer: no error")
	}
}

func TestWriteTooLargeFailsAlone(t *testing.T) {
	b := pulsartest.Start(t, pulsartest.Topic("large", 0))
	s := openStream(t, b.URL("large", "max_record_bytes", "100"))
	w, err := s.OpenWriter(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	in := []driver.Record{{ID: "a", Key: []byte("k")}, {ID: "big", Key: []byte("k"), Value: make([]byte, 200)}, {ID: "c", Key: []byte("k")}}
	res := make([]driver.WriteResult, 3)
	if err := w.Write(context.Background(), in, res); err != nil {
		t.Fatal(err)
	}
	if res[0].Err != nil || res[2].Err != nil || !errors.Is(res[1].Err, driver.ErrRecordTooLarge) || !strings.Contains(res[1].Err.Error(), "100") {
		t.Errorf("results %v, want only the large record to fail with ErrRecordTooLarge naming the limit", res)
	}
	if (pulsar.Codec{}).Compare(res[0].Pointer, res[2].Pointer) >= 0 {
		t.Errorf("pointers %x and %x out of order", res[0].Pointer, res[2].Pointer)
	}
}

// TestSendFailureFailsLaterRecords makes the broker refuse every send until
// the send timeout: each record fails with a retryable error, the client's
// timeout, and the records after the first failure of a partition with
// ErrPrecedingRecordFailed; after the fault, the same writer writes again.
func TestSendFailureFailsLaterRecords(t *testing.T) {
	b := pulsartest.Start(t, pulsartest.Topic("fail", 0))
	s := openStream(t, b.URL("fail", "send_timeout", "300ms"))
	w, err := s.OpenWriter(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	b.Fake().FailSends(1_000_000, pulsarfake.ErrPersistence)
	in := recs("f", 3, "k")
	res := make([]driver.WriteResult, len(in))
	if err := w.Write(context.Background(), in, res); err != nil {
		t.Fatal(err)
	}
	if res[0].Err == nil {
		t.Fatalf("record 0 written at %x while the broker fails every send", res[0].Pointer)
	}
	for i := 1; i < len(res); i++ {
		if res[i].Err == nil {
			t.Errorf("record %d written after record 0 failed", i)
		}
	}
	b.Fake().ClearFaults()
	var ok bool
	for deadline := time.Now().Add(20 * time.Second); !ok && time.Now().Before(deadline); {
		if err := w.Write(context.Background(), in, res); err != nil {
			t.Fatal(err)
		}
		ok = res[0].Err == nil && res[2].Err == nil
	}
	if !ok {
		t.Fatalf("writes still fail after the fault was cleared: %v", res)
	}
	// The successful write stored its records in order at its pointers.
	got := readN(t, s, "0", driver.Start{Kind: driver.StartAt, Pointer: res[0].Pointer}, 3)
	for i, r := range got {
		if r.ID != in[i].ID {
			t.Errorf("record %d of the successful write is %s, want %s", i, r.ID, in[i].ID)
		}
	}
	// Before them, at most what the failed write handed to the client: it
	// may still be stored after the faults clear, as the Writer's doc says
	// (pulsar-client-go resends its pending messages on reconnect; without
	// broker deduplication the log is at-least-once).
	for _, r := range readN(t, s, "0", driver.Start{}, 3) {
		if r.ID != "f-0" && r.ID != "f-1" && r.ID != "f-2" {
			t.Errorf("stored %s, which no write of this test sent", r.ID)
		}
	}
}

func TestPreceedingRecordFailedOnInjectedSendError(t *testing.T) {
	// The per-partition rule on a failure inside a call: two partitions,
	// the producer of one closed under the writer.
	b := pulsartest.Start(t, pulsartest.Topic("twoparts", 2))
	s := openStream(t, b.URL("twoparts"))
	p0, p1 := keyOf(t, s, "0"), keyOf(t, s, "1")
	in := []driver.Record{{ID: "a", Key: p0}, {ID: "big", Key: p0, Value: make([]byte, pulsar.DefaultMaxRecordBytes+1)}, {ID: "b", Key: p0}, {ID: "c", Key: p1}}
	res := write2(t, s, in)
	if res[0].Err != nil || res[2].Err != nil || res[3].Err != nil {
		t.Errorf("a too-large record must fail alone: %v", res)
	}
}

func write2(t *testing.T, s driver.Stream, in []driver.Record) []driver.WriteResult {
	w, err := s.OpenWriter(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	res := make([]driver.WriteResult, len(in))
	if err := w.Write(context.Background(), in, res); err != nil {
		t.Fatal(err)
	}
	return res
}

// keyOf finds a key that goes to partition p.
func keyOf(t *testing.T, s *pulsar.Stream, p string) []byte {
	for i := 0; i < 1000; i++ {
		k := []byte(fmt.Sprint("key-", i))
		if got, _ := s.PartitionFor(context.Background(), k); got == p {
			return k
		}
	}
	t.Fatalf("no key for partition %s", p)
	return nil
}

func TestHTTPLookupAndTenantNamespace(t *testing.T) {
	b := pulsartest.Start(t, pulsartest.Topic("acme/billing/orders", 2))
	for _, u := range []string{b.HTTPLookupURL("acme/billing/orders"), b.URL("orders", "tenant", "acme", "namespace", "billing")} {
		s := openStream(t, u)
		if s.FullTopic() != "persistent://acme/billing/orders" {
			t.Errorf("%s: full topic %s", u, s.FullTopic())
		}
		ps, err := s.Partitions(context.Background())
		if err != nil || len(ps) != 2 {
			t.Fatalf("%s: partitions %v, %v; want 2", u, ps, err)
		}
		res := write(t, s, driver.Record{ID: u, Key: []byte("k")})
		got := readN(t, s, res[0].Partition, driver.Start{Kind: driver.StartAt, Pointer: res[0].Pointer}, 1)
		if got[0].ID != u {
			t.Errorf("%s: read %s", u, got[0].ID)
		}
	}
}

// TestDropConnectionsKeepsReadersAndWriters cuts every connection between
// writes and reads: nothing is lost or repeated.
func TestDropConnectionsKeepsReadersAndWriters(t *testing.T) {
	b := pulsartest.Start(t, pulsartest.Topic("drop", 0))
	s := openStream(t, b.URL("drop", "fetch_wait", "20ms"))
	w, err := s.OpenWriter(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	r, err := s.OpenReader(context.Background(), "0", driver.Start{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	seen := map[string]int{}
	var order []string
	for round := 0; round < 4; round++ {
		in := recs(fmt.Sprint("d", round), 20, "k")
		res := make([]driver.WriteResult, len(in))
		for attempt := 0; ; attempt++ {
			if err := w.Write(context.Background(), in, res); err != nil {
				t.Fatal(err)
			}
			var failed []driver.Record
			for i := range in {
				if res[i].Err != nil {
					failed = append(failed, in[i])
				}
			}
			if len(failed) == 0 {
				break
			}
			if attempt > 20 {
				t.Fatalf("writes keep failing: %v", res)
			}
			in, res = failed, res[:len(failed)]
		}
		b.DropConnections()
		for deadline := time.Now().Add(10 * time.Second); len(order) < 20*(round+1); {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: read %d records", round, len(order))
			}
			got, err := r.Fetch(context.Background(), 100)
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			for _, g := range got {
				seen[g.ID]++
				order = append(order, g.ID)
			}
		}
	}
	// A last write lets the producer finish reconnecting before it closes
	// (a producer closed while it looks its topic up leaves the lookup
	// running in pulsar-client-go).
	write(t, s, driver.Record{ID: "last", Key: []byte("k")})
	for id, n := range seen {
		if n != 1 {
			t.Errorf("record %s read %d times", id, n)
		}
	}
}

func TestClosedStreamFails(t *testing.T) {
	b := pulsartest.Start(t, pulsartest.Topic("closed", 1))
	s := openStream(t, b.URL("closed"))
	r, err := s.OpenReader(context.Background(), "0", driver.Start{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := s.OpenWriter(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := r.Fetch(context.Background(), 1); !errors.Is(err, pulsar.ErrClosed) {
		t.Errorf("Fetch after Close: %v, want ErrClosed", err)
	}
	if err := w.Write(context.Background(), nil, nil); !errors.Is(err, pulsar.ErrClosed) {
		t.Errorf("Write after Close: %v, want ErrClosed", err)
	}
	if _, err := s.Partitions(context.Background()); !errors.Is(err, pulsar.ErrClosed) {
		t.Errorf("Partitions after Close: %v, want ErrClosed", err)
	}
}

func TestOpenUnknownHostFails(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := stream.Open(ctx, "pulsar://127.0.0.1:1/orders?connection_timeout=200ms&operation_timeout=500ms")
	if err == nil || !strings.Contains(err.Error(), "orders") {
		t.Errorf("Open on a closed port: %v, want an error naming the topic", err)
	}
}
