package kinesis_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/unistream-go/unistream/adapters/kinesis"
	"github.com/unistream-go/unistream/adapters/kinesis/kinesistest"
	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/driver"
)

// openFake creates a stream of n shards on b and opens it through its URL.
func openFake(t *testing.T, b *kinesistest.Broker, name string, shards int, kv ...string) *kinesis.Stream {
	t.Helper()
	if err := b.CreateStream(name, shards); err != nil {
		t.Fatal(err)
	}
	s, err := stream.Open(context.Background(), b.URL(name, append(append([]string{}, fastKeys...), kv...)...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	var ks *kinesis.Stream
	if !s.As(&ks) {
		t.Fatalf("stream.Open(%s).As(**kinesis.Stream) = false", name)
	}
	return ks
}

// write writes records in one Write call and fails the test on any error.
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

// readShard reads a shard from start until want records came, or the shard
// is finished, or nothing new came for a while.
func readShard(t *testing.T, s driver.Stream, shard string, start driver.Start, want int) ([]driver.Record, error) {
	t.Helper()
	r, err := s.OpenReader(context.Background(), shard, start)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []driver.Record
	idle := 0
	for len(out) < want && idle < 50 {
		got, err := r.Fetch(context.Background(), 100)
		if err != nil {
			return out, err
		}
		if len(got) == 0 {
			idle++
			continue
		}
		idle = 0
		out = append(out, got...)
	}
	return out, nil
}

// readAll reads every shard from the start.
func readAll(t *testing.T, s driver.Stream, want int) []driver.Record {
	t.Helper()
	ps, err := s.Partitions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []driver.Record
	for _, p := range ps {
		got, err := readShard(t, s, p.ID, driver.Start{}, want)
		if err != nil && !errors.Is(err, driver.ErrPartitionFinished) {
			t.Fatalf("read %s: %v", p.ID, err)
		}
		out = append(out, got...)
	}
	return out
}

// TestRecordFields writes records of every shape and reads them back
// whole: IDs, keys (text, binary, over 256 characters, none), headers,
// event times, values.
func TestRecordFields(t *testing.T) {
	b := kinesistest.Start(t)
	s := openFake(t, b, "fields", 3)
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC)
	recs := []driver.Record{
		{ID: "text", Key: []byte("customer-1"), Value: []byte("v1"), Time: t0, Headers: []driver.Header{{Key: "a", Value: []byte("1")}, {Key: "a", Value: []byte("2")}}},
		{ID: "binary", Key: []byte{0, 0xff, 0x10}, Value: []byte("v2"), Time: t0},
		{ID: "long", Key: []byte(strings.Repeat("k", 300)), Value: []byte("v3"), Time: t0},
		{ID: "nokey", Value: []byte("v4"), Time: t0},
		{ID: "novalue", Key: []byte("customer-1"), Time: t0},
		{ID: "notime", Key: []byte("customer-2"), Value: []byte("v6")},
	}
	res := write(t, s, recs...)
	got := readAll(t, s, len(recs))
	if len(got) != len(recs) {
		t.Fatalf("read %d records, wrote %d", len(got), len(recs))
	}
	byID := map[string]driver.Record{}
	for _, r := range got {
		byID[r.ID] = r
	}
	for i, w := range recs {
		r, ok := byID[w.ID]
		if !ok {
			t.Errorf("record %s not read", w.ID)
			continue
		}
		if !bytes.Equal(r.Key, w.Key) || !bytes.Equal(r.Value, w.Value) || len(r.Headers) != len(w.Headers) || r.Partition != res[i].Partition ||
			(kinesis.Codec{}).Compare(r.Pointer, res[i].Pointer) != 0 || r.Stream != "fields" {
			t.Errorf("record %s read as %+v, written %+v (result %+v)", w.ID, r, w, res[i])
		}
		if !w.Time.IsZero() && !r.Time.Equal(w.Time) {
			t.Errorf("record %s time %v, want %v", w.ID, r.Time, w.Time)
		}
		if w.Time.IsZero() && (r.Time.IsZero() || time.Since(r.Time) > time.Minute) {
			t.Errorf("record %s without a time read with %v, want its arrival time", w.ID, r.Time)
		}
	}
	if byID["text"].Partition != byID["novalue"].Partition {
		t.Errorf("two records of one key went to %s and %s", byID["text"].Partition, byID["novalue"].Partition)
	}
}

// TestForeignRecords reads records that another producer wrote with the
// SDK: the data is the value, the partition key the key, the position the ID.
func TestForeignRecords(t *testing.T) {
	b := kinesistest.Start(t)
	s := openFake(t, b, "foreign", 1)
	ctx := context.Background()
	for _, d := range [][]byte{[]byte("hello"), {0xF0, 'U', 'S', 1, 0xff}} { // the second has our magic but no valid envelope
		if _, err := s.Client().PutRecord(ctx, &awskinesis.PutRecordInput{StreamName: aws.String("foreign"), PartitionKey: aws.String("pk"), Data: d}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := readShard(t, s, "shardId-000000000000", driver.Start{}, 2)
	if err != nil || len(got) != 2 {
		t.Fatalf("read %d, %v", len(got), err)
	}
	for _, r := range got {
		if string(r.Key) != "pk" || !strings.HasPrefix(r.ID, "kinesis:foreign/shardId-000000000000@") || r.ID != (kinesis.Codec{}).Format("foreign", "shardId-000000000000", r.Pointer) {
			t.Errorf("foreign record read as %+v", r)
		}
	}
	if string(got[0].Value) != "hello" || len(got[1].Value) != 5 {
		t.Errorf("values %q %q", got[0].Value, got[1].Value)
	}
}

// TestKPLAggregates writes KPL aggregated records built by the test (and a
// plain one between them) and reads them through the adapter: each user
// record is a record whose pointer carries its sub-sequence number; a
// reader opened After or At a pointer into an aggregate resumes inside it.
func TestKPLAggregates(t *testing.T) {
	b := kinesistest.Start(t)
	s := openFake(t, b, "kpl", 1)
	ctx := context.Background()
	put := func(data []byte) string {
		out, err := s.Client().PutRecord(ctx, &awskinesis.PutRecordInput{StreamName: aws.String("kpl"), PartitionKey: aws.String("agg"), Data: data})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.SequenceNumber)
	}
	env := func(id string) []byte {
		return kinesis.EncodeEnvelope(&driver.Record{ID: id, Key: []byte("k-" + id), Value: []byte("value " + id)}, true)
	}
	seq1 := put(aggregate(kplRecord{key: "u1", data: []byte("one")}, kplRecord{key: "u2", data: []byte("two")}, kplRecord{key: "u1", data: []byte("three")}))
	seq2 := put([]byte("plain"))
	seq3 := put(aggregate(kplRecord{key: "x", data: env("e1")}, kplRecord{key: "y", ehk: "42", data: env("e2")}))
	seqBad := put(append(aggregate(kplRecord{key: "z", data: []byte("z")}), 0)) // trailer off by one: read whole
	all, err := readShard(t, s, "shardId-000000000000", driver.Start{}, 7)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ ptr, key, value string }{
		{seq1 + ":0", "u1", "one"}, {seq1 + ":1", "u2", "two"}, {seq1 + ":2", "u1", "three"},
		{seq2, "agg", "plain"},
		{seq3 + ":0", "k-e1", "value e1"}, {seq3 + ":1", "k-e2", "value e2"},
		{seqBad, "agg", ""},
	}
	if len(all) != len(want) {
		t.Fatalf("read %d records, want %d: %+v", len(all), len(want), all)
	}
	for i, w := range want {
		r := all[i]
		if string(r.Pointer) != w.ptr || string(r.Key) != w.key || (w.value != "" && string(r.Value) != w.value) {
			t.Errorf("record %d = ptr %s key %q value %q; want %s %q %q", i, r.Pointer, r.Key, r.Value, w.ptr, w.key, w.value)
		}
	}
	if all[4].ID != "e1" || all[0].ID != "kinesis:kpl/shardId-000000000000@"+seq1+":0" {
		t.Errorf("ids %q %q", all[4].ID, all[0].ID)
	}
	for i := 1; i < len(all); i++ {
		if (kinesis.Codec{}).Compare(all[i-1].Pointer, all[i].Pointer) >= 0 {
			t.Errorf("pointers %s and %s do not increase", all[i-1].Pointer, all[i].Pointer)
		}
	}
	// Resume inside the first aggregate.
	after, err := readShard(t, s, "shardId-000000000000", driver.Start{Kind: driver.StartAfter, Pointer: all[1].Pointer}, 1)
	if err != nil || len(after) == 0 || string(after[0].Pointer) != seq1+":2" {
		t.Errorf("After %s starts with %v, %v; want %s:2", all[1].Pointer, after, err, seq1)
	}
	at, err := readShard(t, s, "shardId-000000000000", driver.Start{Kind: driver.StartAt, Pointer: all[1].Pointer}, 1)
	if err != nil || len(at) == 0 || string(at[0].Pointer) != seq1+":1" {
		t.Errorf("At %s starts with %v, %v", all[1].Pointer, at, err)
	}
	last, err := readShard(t, s, "shardId-000000000000", driver.Start{Kind: driver.StartAfter, Pointer: all[2].Pointer}, 1)
	if err != nil || len(last) == 0 || string(last[0].Pointer) != seq2 {
		t.Errorf("After the last record of an aggregate starts with %v, %v; want %s", last, err, seq2)
	}
	// At a sub-sequence number the aggregate does not have.
	_, err = readShard(t, s, "shardId-000000000000", driver.Start{Kind: driver.StartAt, Pointer: driver.Pointer(seq1 + ":9")}, 1)
	if !errors.Is(err, driver.ErrPointerNotFound) {
		t.Errorf("At %s:9 = %v, want ErrPointerNotFound", seq1, err)
	}
}

// TestReaderExpiredIterator expires the reader's iterator between fetches:
// the reader gets a new one from its last record and loses nothing.
func TestReaderExpiredIterator(t *testing.T) {
	b := kinesistest.Start(t)
	s := openFake(t, b, "expire", 1)
	var recs []driver.Record
	for i := range 6 {
		recs = append(recs, driver.Record{ID: fmt.Sprint(i), Key: []byte("k"), Value: []byte{byte(i)}})
	}
	write(t, s, recs[:3]...)
	ctx := context.Background()
	r, err := s.OpenReader(ctx, "shardId-000000000000", driver.Start{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var ids []string
	got, err := r.Fetch(ctx, 2)
	if err != nil || len(got) != 2 {
		t.Fatalf("Fetch = %d, %v", len(got), err)
	}
	ids = append(ids, got[0].ID, got[1].ID)
	b.Fake().ExpireIterators()
	write(t, s, recs[3:]...)
	for range 20 {
		got, err := r.Fetch(ctx, 2)
		if err != nil {
			t.Fatalf("Fetch after the expiry: %v", err)
		}
		for _, x := range got {
			ids = append(ids, x.ID)
		}
		if len(ids) >= 6 {
			break
		}
	}
	if strings.Join(ids, ",") != "0,1,2,3,4,5" {
		t.Errorf("read %v, want 0 to 5 once each", ids)
	}
}

// TestReaderThrottled throttles GetRecords: Fetch returns nothing (no
// error) and backs off, then reads on.
func TestReaderThrottled(t *testing.T) {
	b := kinesistest.Start(t)
	s := openFake(t, b, "throttle", 1)
	write(t, s, driver.Record{ID: "a", Key: []byte("k")})
	ctx := context.Background()
	r, err := s.OpenReader(ctx, "shardId-000000000000", driver.Start{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b.Fake().Throttle("throttle", "GetRecords", 3)
	before := b.Fake().Calls("GetRecords")
	for i := range 3 {
		got, err := r.Fetch(ctx, 10)
		if err != nil || len(got) != 0 {
			t.Fatalf("throttled Fetch %d = %v, %v; want nothing and no error", i, got, err)
		}
	}
	got, err := r.Fetch(ctx, 10)
	if err != nil || len(got) != 1 || got[0].ID != "a" {
		t.Fatalf("Fetch after the throttles = %v, %v", got, err)
	}
	if n := b.Fake().Calls("GetRecords") - before; n != 4 {
		t.Errorf("%d GetRecords calls, want 4 (3 throttled, then one)", n)
	}
}

// TestReaderLagAndFinish reads a shard with a small limit (the reader
// reports MillisBehindLatest), splits it, and reads it to its end: Fetch
// then returns ErrPartitionFinished, every time.
func TestReaderLagAndFinish(t *testing.T) {
	b := kinesistest.Start(t)
	s := openFake(t, b, "lag", 1, "get_records_limit", "2")
	var recs []driver.Record
	for i := range 5 {
		recs = append(recs, driver.Record{ID: fmt.Sprint(i), Key: []byte("k")})
	}
	write(t, s, recs...)
	time.Sleep(10 * time.Millisecond)
	ctx := context.Background()
	r, err := s.OpenReader(ctx, "shardId-000000000000", driver.Start{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := r.Fetch(ctx, 100)
	if err != nil || len(got) != 2 {
		t.Fatalf("Fetch = %d, %v; want 2 (get_records_limit)", len(got), err)
	}
	lagger, ok := r.(driver.LagReporter)
	if !ok || lagger.Lag().Time <= 0 || lagger.Lag().Records != -1 {
		t.Errorf("the reader reports no lag while 3 records wait (has Lag: %v)", ok)
	}
	children, err := s.Split(ctx, "shardId-000000000000")
	if err != nil || len(children) != 2 {
		t.Fatalf("Split = %v, %v", children, err)
	}
	n := 2
	for range 10 {
		got, err := r.Fetch(ctx, 100)
		if errors.Is(err, driver.ErrPartitionFinished) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n += len(got)
	}
	if n != 5 {
		t.Errorf("read %d records of the closed shard, want 5", n)
	}
	for range 2 {
		if _, err := r.Fetch(ctx, 100); !errors.Is(err, driver.ErrPartitionFinished) {
			t.Errorf("Fetch of a finished shard = %v, want ErrPartitionFinished", err)
		}
	}
	if l := lagger.Lag(); l.Time != 0 {
		t.Errorf("lag %v at the end, want 0", l.Time)
	}
	ps, err := s.Partitions(ctx)
	if err != nil || len(ps) != 3 || !ps[0].Closed || ps[1].Closed || fmt.Sprint(ps[1].Parents) != "[shardId-000000000000]" {
		t.Errorf("Partitions after a split = %+v, %v", ps, err)
	}
	child, err := s.Merge(ctx, children[0], children[1])
	if err != nil {
		t.Fatal(err)
	}
	ps, err = s.Partitions(ctx)
	if err != nil || len(ps) != 4 || ps[3].ID != child || fmt.Sprint(ps[3].Parents) != fmt.Sprint(children) || !ps[1].Closed || !ps[2].Closed {
		t.Errorf("Partitions after a merge = %+v, %v", ps, err)
	}
}

// TestPartitionsPagination lists more shards than one ListShards page.
func TestPartitionsPagination(t *testing.T) {
	b := kinesistest.Start(t)
	s := openFake(t, b, "many", 1200, "create_stream", "false")
	ps, err := s.Partitions(context.Background())
	if err != nil || len(ps) != 1200 || ps[1199].ID != "shardId-000000001199" {
		t.Fatalf("Partitions = %d, %v; want 1200 (two ListShards pages)", len(ps), err)
	}
	if n := b.Fake().Calls("ListShards"); n < 2 {
		t.Errorf("%d ListShards calls, want at least 2", n)
	}
}

// TestStartPointerErrors opens readers at pointers Kinesis refuses.
func TestStartPointerErrors(t *testing.T) {
	b := kinesistest.Start(t)
	s := openFake(t, b, "ptr", 2)
	res := write(t, s, driver.Record{ID: "a", Key: []byte("a")})
	other := "shardId-000000000000"
	if res[0].Partition == other {
		other = "shardId-000000000001"
	}
	_, err := s.OpenReader(context.Background(), other, driver.Start{Kind: driver.StartAfter, Pointer: res[0].Pointer})
	if !errors.Is(err, driver.ErrPointerNotFound) {
		t.Errorf("OpenReader of %s after a pointer of %s = %v, want ErrPointerNotFound", other, res[0].Partition, err)
	}
	if _, err := s.OpenReader(context.Background(), res[0].Partition, driver.Start{Kind: driver.StartAfter, Pointer: driver.Pointer("x1")}); err == nil || !strings.Contains(err.Error(), "pointer") {
		t.Errorf("OpenReader with a malformed pointer = %v", err)
	}
	if _, err := s.OpenReader(context.Background(), "no shard!", driver.Start{}); err == nil {
		t.Errorf("OpenReader of a bad shard id succeeded")
	}
}

// TestOpenErrors opens streams that do not exist or with bad URLs.
func TestOpenErrors(t *testing.T) {
	b := kinesistest.Start(t)
	ctx := context.Background()
	_, err := stream.Open(ctx, b.URL("missing"))
	if !errors.Is(err, kinesis.ErrStreamNotFound) || !strings.Contains(err.Error(), "create_stream=true") {
		t.Errorf("Open of a missing stream = %v, want ErrStreamNotFound with advice", err)
	}
	s, err := stream.Open(ctx, b.URL("made", "create_stream", "true", "shards", "3"))
	if err != nil {
		t.Fatal(err)
	}
	ps, err := s.Partitions(ctx)
	s.Close()
	if err != nil || len(ps) != 3 {
		t.Errorf("a created stream lists %d shards, %v; want 3", len(ps), err)
	}
	if _, err := s.Partitions(ctx); !errors.Is(err, kinesis.ErrClosed) {
		t.Errorf("Partitions of a closed stream = %v, want ErrClosed", err)
	}
}

// TestReaderIdleBackoff: the waits between GetRecords calls of an idle
// shard double from poll_interval up to max_poll_interval (the calls of 8
// empty fetches take at least 2+4+8+16+16+16+16 ms, not 7×2), and a record
// found starts them over at poll_interval.
func TestReaderIdleBackoff(t *testing.T) {
	b := kinesistest.Start(t)
	s := openFake(t, b, "idle", 1, "poll_interval", "2ms", "max_poll_interval", "16ms")
	ctx := context.Background()
	r, err := s.OpenReader(ctx, "shardId-000000000000", driver.Start{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	before := b.Fake().Calls("GetRecords")
	t0 := time.Now()
	for i := range 8 {
		if got, err := r.Fetch(ctx, 10); err != nil || len(got) != 0 {
			t.Fatalf("Fetch %d of an empty shard = %v, %v", i, got, err)
		}
	}
	if d := time.Since(t0); d < 78*time.Millisecond {
		t.Errorf("8 empty fetches took %v, want at least 78ms (waits doubling from 2ms to 16ms)", d)
	}
	if n := b.Fake().Calls("GetRecords") - before; n != 8 {
		t.Errorf("%d GetRecords calls for 8 empty fetches, want 8", n)
	}
	if w := kinesis.IdleWaitOf(r); w != 16*time.Millisecond {
		t.Errorf("wait after 8 empty calls = %v, want max_poll_interval 16ms", w)
	}
	write(t, s, driver.Record{ID: "a", Key: []byte("k")})
	for range 20 {
		got, err := r.Fetch(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 1 {
			break
		}
	}
	if w := kinesis.IdleWaitOf(r); w != 0 {
		t.Errorf("idle wait after a record = %v, want 0 (the next call at once, then poll_interval)", w)
	}
	if _, err := r.Fetch(ctx, 10); err != nil {
		t.Fatal(err)
	}
	if w := kinesis.IdleWaitOf(r); w != 2*time.Millisecond {
		t.Errorf("wait after a record then an empty call = %v, want poll_interval 2ms", w)
	}
}

// TestReaderConcurrentReadsBounded: with every max_concurrent_reads slot
// taken, a Fetch makes no GetRecords call and waits for one until its
// context ends; once a slot is free it reads.
func TestReaderConcurrentReadsBounded(t *testing.T) {
	b := kinesistest.Start(t)
	s := openFake(t, b, "bounded", 1, "max_concurrent_reads", "2")
	write(t, s, driver.Record{ID: "a", Key: []byte("k")})
	ctx := context.Background()
	r, err := s.OpenReader(ctx, "shardId-000000000000", driver.Start{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	release := kinesis.HoldReadSlots(s, 2)
	before := b.Fake().Calls("GetRecords")
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	_, err = r.Fetch(short, 10)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Fetch with every read slot taken = %v, want it to wait until its context ends", err)
	}
	if n := b.Fake().Calls("GetRecords") - before; n != 0 {
		t.Fatalf("%d GetRecords calls with every read slot taken, want 0", n)
	}
	release()
	got, err := r.Fetch(ctx, 10)
	if err != nil || len(got) != 1 || got[0].ID != "a" {
		t.Fatalf("Fetch once a slot is free = %v, %v; want record a", got, err)
	}
}
