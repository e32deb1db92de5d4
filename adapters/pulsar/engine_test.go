package pulsar_test

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

	"github.com/unistream-go/unistream/adapters/pulsar"
	"github.com/unistream-go/unistream/adapters/pulsar/pulsartest"
	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/dlq"
	"github.com/unistream-go/unistream/stream/driver"
)

// TestEngineOnPulsar runs both engines on pulsarfake: the producer writes
// 800 records over 4 partitions through its WAL while the broker drops
// every connection; the consumer reads them with retries and a poison
// record to a Pulsar DLQ topic, is stopped in the middle (inside batched
// entries) and restarted on the same file store, and every message
// succeeds exactly once, per key in order. (A message whose receipt the
// drop lost is sent again by the client, and Pulsar without deduplication
// stores it twice: the log is at-least-once, so the test counts successes
// per position and orders keys by first delivery.)
func TestEngineOnPulsar(t *testing.T) {
	ctx := context.Background()
	b := pulsartest.Start(t, pulsartest.Topic("orders", 4), pulsartest.Topic("orders.dlq", 0))
	const total, keys = 800, 29

	ps, err := stream.Open(ctx, b.URL("orders", "send_timeout", "3s"))
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	p, err := stream.NewProducer(ps, stream.WithWAL(filepath.Join(t.TempDir(), "orders.wal")),
		stream.WithMaxRecords(64), stream.WithMaxAge(5*time.Millisecond),
		stream.WithSendRetry(stream.RetryPolicy{MaxAttempts: 0, Initial: time.Millisecond, Multiplier: 2, MaxInterval: 50 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	for i := range total {
		if i == total/2 {
			// Drop the connections once every partition's producer
			// exists (some records are acknowledged; later ones are
			// still in flight): pulsar-client-go v0.19.0 races when a
			// connection closes while it creates a producer (its
			// newPartitionProducer sets the producer's logger after it
			// registered with the connection, whose close reads it).
			waitSent(t, p, 100)
			b.DropConnections()
		}
		k := fmt.Sprintf("key-%02d", i%keys)
		if err := p.Put(ctx, stream.Record{ID: fmt.Sprintf("r%04d", i), Key: []byte(k), Value: []byte(k + ":" + strconv.Itoa(i/keys))}); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}

	ds, err := stream.Open(ctx, b.URL("orders.dlq"))
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	sink, err := dlq.NewStreamSink(ds.Driver())
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	store, err := checkpoint.NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	attempts := map[string]int{}
	succeeded := map[string]int{} // by position: the log may hold a record twice
	ids := map[string]bool{}
	var order []driver.Record
	const poison = "r0400"
	h := func(ctx context.Context, r *stream.Record) error {
		mu.Lock()
		defer mu.Unlock()
		attempts[r.ID]++
		n, _ := strconv.Atoi(strings.TrimPrefix(r.ID, "r"))
		switch {
		case r.ID == poison:
			return errors.New("poison record")
		case n%97 == 0 && attempts[r.ID] < 2:
			return fmt.Errorf("transient failure %d", attempts[r.ID])
		}
		at := r.Partition + "/" + pulsarPtr(r.Pointer)
		succeeded[at]++
		if !ids[r.ID] {
			ids[r.ID] = true
			order = append(order, *r)
		}
		return nil
	}
	handled := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(ids)
	}
	run := func(until int) {
		cs, err := stream.Open(ctx, b.URL("orders", "fetch_wait", "10ms"))
		if err != nil {
			t.Fatal(err)
		}
		defer cs.Close()
		cons, err := stream.NewConsumer(cs, h, stream.WithName("billing"), stream.WithCheckpointStore(store), stream.WithDLQ(sink),
			stream.WithBatchSize(50), stream.WithPollInterval(5*time.Millisecond),
			stream.WithRetry(stream.RetryPolicy{MaxAttempts: 3, Initial: time.Millisecond, Multiplier: 2, MaxInterval: 5 * time.Millisecond}))
		if err != nil {
			t.Fatal(err)
		}
		runCtx, stop := context.WithCancel(ctx)
		runErr := make(chan error, 1)
		go func() { runErr <- cons.Run(runCtx) }()
		for deadline := time.Now().Add(60 * time.Second); handled() < until && time.Now().Before(deadline); {
			time.Sleep(2 * time.Millisecond)
		}
		stop()
		if err := <-runErr; err != nil {
			t.Fatalf("Run: %v", err)
		}
		if err := cons.Close(); err != nil {
			t.Fatal(err)
		}
	}
	run(total / 3)
	if n := handled(); n >= total-1 {
		t.Fatalf("the first run handled %d records: the stop came too late to test a restart", n)
	}
	run(total - 1)

	mu.Lock()
	defer mu.Unlock()
	if len(ids) != total-1 {
		t.Errorf("%d records succeeded, want %d", len(ids), total-1)
	}
	for at, n := range succeeded {
		if n != 1 {
			t.Errorf("the message at %s succeeded %d times, want once (a graceful stop repeats nothing)", at, n)
		}
	}
	if attempts[poison] != 3 {
		t.Errorf("the poison record ran %d times, want 3", attempts[poison])
	}
	next := map[string]int{}
	for _, r := range order {
		k, nText, _ := strings.Cut(string(r.Value), ":")
		n, _ := strconv.Atoi(nText)
		if n < next[k] {
			t.Errorf("key %s: value %d after %d: out of order", k, n, next[k]-1)
		}
		next[k] = n + 1
	}
	dl := readN(t, ds.Driver(), "0", driver.Start{}, 1)
	env, err := dlq.DecodeRecord(&dl[0])
	if err != nil {
		t.Fatal(err)
	}
	if env.ID != poison || env.Attempts != 3 || !strings.HasPrefix(env.Source.PointerText, "pulsar:orders/") {
		t.Errorf("envelope = %+v", env)
	}
}

func pulsarPtr(p driver.Pointer) string {
	id, err := pulsar.ParsePointer(p)
	if err != nil {
		return err.Error()
	}
	return id.String()
}

// waitSent waits until p has sent at least n records, failing t after a
// minute.
func waitSent(t *testing.T, p *stream.Producer, n uint64) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); p.Stats().Sent < n; {
		if time.Now().After(deadline) {
			t.Fatalf("the producer sent %d records in a minute, want at least %d", p.Stats().Sent, n)
		}
		time.Sleep(time.Millisecond)
	}
}
