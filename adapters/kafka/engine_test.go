package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/unistream-go/unistream/adapters/kafka"
	"github.com/unistream-go/unistream/adapters/kafka/kafkatest"
	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/dlq"
	"github.com/unistream-go/unistream/stream/driver"
)

// countingSink counts the envelopes put into a sink.
type countingSink struct {
	dlq.Sink
	mu  sync.Mutex
	ids []string
}

func (s *countingSink) Put(ctx context.Context, env *dlq.Envelope) error {
	if err := s.Sink.Put(ctx, env); err != nil {
		return err
	}
	s.mu.Lock()
	s.ids = append(s.ids, env.ID)
	s.mu.Unlock()
	return nil
}

func (s *countingSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.ids)
}

// TestEngineOnKafka runs the core engine on the embedded broker: the
// producer writes 1000 records over 4 partitions through its WAL, through
// two failed produce requests and a dropped connection; the consumer reads
// them with retries, dead-letters one record to a Kafka DLQ topic through
// the stream sink, and nothing is lost or duplicated, in per-key order.
func TestEngineOnKafka(t *testing.T) {
	ctx := context.Background()
	c := kafkatest.Start(t, kafkatest.Topic("orders", 4), kafkatest.Topic("orders.dlq", 1))
	const total, keys = 1000, 37

	// Produce.
	ps, err := stream.Open(ctx, c.URL("orders", "metadata_min_age", "50ms"))
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	p, err := stream.NewProducer(ps, stream.WithWAL(filepath.Join(t.TempDir(), "orders.wal")),
		stream.WithMaxRecords(64), stream.WithMaxAge(5*time.Millisecond),
		stream.WithSendRetry(stream.RetryPolicy{MaxAttempts: 0, Initial: time.Millisecond, Multiplier: 2, MaxInterval: 20 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	startT := time.Now()
	prodFault := c.FailProduce("orders", 2, nil)
	for i := range total {
		k := fmt.Sprintf("key-%02d", i%keys)
		if i == total/2 {
			c.DropConnections(kmsg.Produce, 1)
		}
		if err := p.Put(ctx, stream.Record{ID: fmt.Sprintf("r%04d", i), Key: []byte(k), Value: []byte(k + ":" + strconv.Itoa(i/keys))}); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("produced in %v", time.Since(startT))
	if prodFault.Hits() != 2 {
		t.Errorf("the produce fault answered %d requests, want 2", prodFault.Hits())
	}

	// The log holds every record once, per key in order.
	logged := readAll(t, ps.Driver())
	if len(logged) != total {
		t.Fatalf("the topic holds %d records, want %d", len(logged), total)
	}
	lastOff := map[string]driver.Pointer{}
	seen := map[string]bool{}
	for _, r := range logged {
		if seen[r.ID] {
			t.Errorf("record %s is in the log twice", r.ID)
		}
		seen[r.ID] = true
		lastOff[r.Partition] = r.Pointer
	}
	checkKeyOrder(t, "log", logged)

	// Consume.
	cs, err := stream.Open(ctx, c.URL("orders", "fetch_wait", "20ms"))
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	ds, err := stream.Open(ctx, c.URL("orders.dlq"))
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	ssink, err := dlq.NewStreamSink(ds.Driver())
	if err != nil {
		t.Fatal(err)
	}
	sink := &countingSink{Sink: ssink}
	defer sink.Close()
	store := checkpoint.NewMemoryStore()

	var mu sync.Mutex
	attempts := map[string]int{}
	var succeeded []driver.Record
	const poison = "r0500"
	h := func(ctx context.Context, r *stream.Record) error {
		mu.Lock()
		defer mu.Unlock()
		attempts[r.ID]++
		n, _ := strconv.Atoi(strings.TrimPrefix(r.ID, "r"))
		switch {
		case r.ID == poison:
			return errors.New("poison record")
		case n%97 == 0 && attempts[r.ID] < 3:
			return fmt.Errorf("transient failure %d", attempts[r.ID])
		}
		succeeded = append(succeeded, *r)
		return nil
	}
	done := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(succeeded)+sink.count() >= total
	}
	cons, err := stream.NewConsumer(cs, h, stream.WithName("billing"), stream.WithCheckpointStore(store), stream.WithDLQ(sink),
		stream.WithBatchSize(100), stream.WithPollInterval(5*time.Millisecond),
		stream.WithRetry(stream.RetryPolicy{MaxAttempts: 3, Initial: time.Millisecond, Multiplier: 2, MaxInterval: 5 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	runErr := make(chan error, 1)
	go func() { runErr <- cons.Run(runCtx) }()
	deadline := time.Now().Add(60 * time.Second)
	for !done() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("consumed in %v", time.Since(startT))
	// Wait for the commits to reach the last records, then stop.
	for time.Now().Before(deadline) && !committedTo(t, store, "billing", lastOff) {
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	if err := <-runErr; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := cons.Close(); err != nil {
		t.Fatal(err)
	}
	if !committedTo(t, store, "billing", lastOff) {
		t.Errorf("the checkpoints are not committed to the last records %v", lastOff)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(succeeded) != total-1 {
		t.Errorf("%d records succeeded, want %d", len(succeeded), total-1)
	}
	once := map[string]int{}
	for _, r := range succeeded {
		once[r.ID]++
	}
	for id := range seen {
		if id == poison {
			continue
		}
		if once[id] != 1 {
			t.Errorf("record %s succeeded %d times, want once", id, once[id])
		}
	}
	if attempts[poison] != 3 {
		t.Errorf("the poison record ran %d times, want 3 (MaxAttempts)", attempts[poison])
	}
	if a := attempts["r0097"]; a != 3 {
		t.Errorf("record r0097 ran %d times, want 3 (two transient failures)", a)
	}
	checkKeyOrder(t, "handler", succeeded)

	// The DLQ topic holds one envelope for the poison record.
	dl := readAll(t, ds.Driver())
	if len(dl) != 1 {
		t.Fatalf("the DLQ topic holds %d records, want 1", len(dl))
	}
	env, err := dlq.DecodeRecord(&dl[0])
	if err != nil {
		t.Fatal(err)
	}
	if env.ID != poison || env.Attempts != 3 || env.Reason != "exhausted" || env.Consumer != "billing" ||
		!strings.HasPrefix(env.Source.PointerText, "kafka:orders/") || len(env.Errors) == 0 {
		t.Errorf("envelope = %+v", env)
	}
	if dl[0].ID != poison {
		t.Errorf("the DLQ record's ID is %q, want %q", dl[0].ID, poison)
	}
}

// checkKeyOrder checks that, per key, the values "key:n" come with n
// increasing.
func checkKeyOrder(t *testing.T, what string, recs []driver.Record) {
	t.Helper()
	next := map[string]int{}
	for _, r := range recs {
		k, nText, _ := strings.Cut(string(r.Value), ":")
		n, _ := strconv.Atoi(nText)
		if n < next[k] {
			t.Errorf("%s: key %s: value %d after %d: out of order", what, k, n, next[k]-1)
		}
		next[k] = n + 1
	}
}

// committedTo reports whether every partition's checkpoint is committed to
// the given pointer with no open batch.
func committedTo(t *testing.T, store checkpoint.Store, consumer string, last map[string]driver.Pointer) bool {
	t.Helper()
	for part, ptr := range last {
		cp, err := store.Load(context.Background(), checkpoint.Key{Consumer: consumer, Stream: "orders", Partition: part})
		if err != nil {
			t.Fatal(err)
		}
		if cp.Batch != nil || string(cp.Committed) != string(ptr) {
			return false
		}
	}
	return true
}

// readAll reads every partition of s from the start to the current end,
// partition by partition.
func readAll(t *testing.T, s driver.Stream) []driver.Record {
	t.Helper()
	ctx := context.Background()
	parts, err := s.Partitions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []driver.Record
	for _, p := range parts {
		out = append(out, readPartition(t, s, p.ID, driver.Start{})...)
	}
	return out
}

// readPartition reads a partition from start up to its current end (the
// end offset when it is called); it fails t if that takes over 20s.
func readPartition(t *testing.T, s driver.Stream, partition string, start driver.Start) []driver.Record {
	t.Helper()
	ctx := context.Background()
	_, end, err := s.(*kafka.Stream).Bounds(ctx, partition)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.OpenReader(ctx, partition, start)
	if err != nil {
		t.Fatalf("OpenReader(%s, %s): %v", partition, start.Kind, err)
	}
	defer r.Close()
	var out []driver.Record
	t0 := time.Now()
	for {
		if n := len(out); n > 0 && offsetOf(t, out[n-1].Pointer) >= end-1 {
			return out
		}
		// A start at or after the end reads nothing: give a record that
		// should not be there a second to show.
		if len(out) == 0 && time.Since(t0) > time.Second {
			return out
		}
		if time.Since(t0) > 20*time.Second {
			t.Fatalf("read %d records of partition %s in 20s, not up to offset %d", len(out), partition, end-1)
		}
		b, err := r.Fetch(ctx, 500)
		if err != nil {
			t.Fatalf("Fetch(%s): %v", partition, err)
		}
		out = append(out, b...)
	}
}
