// Package consumertest runs the consumer engine of package stream on a
// checkpoint store under test: what a store's own suite (storetest)
// cannot show, such as two consumers sharing a stream through the store's
// leases. Only tests import it.
package consumertest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/driver"
	"github.com/unistream-go/unistream/stream/memstream"
)

// Store is a checkpoint store that keeps leases.
type Store interface {
	checkpoint.Store
	checkpoint.Leaser
}

// SharedLeases runs two consumers with stream.WithLeases on store (new and
// empty) over a memstream stream of 4 partitions: they split the
// partitions, every record is handled and counted once, and a graceful
// stop releases the leases.
func SharedLeases(t *testing.T, store Store) {
	t.Helper()
	s, err := memstream.NewBroker().Stream("orders", memstream.WithPartitions(4))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var mu sync.Mutex
	handled := map[string]map[string]bool{}
	consumer := func(worker string) *stream.Consumer {
		h := func(_ context.Context, r *stream.Record) error {
			mu.Lock()
			defer mu.Unlock()
			if handled[worker] == nil {
				handled[worker] = map[string]bool{}
			}
			handled[worker][r.ID] = true
			return nil
		}
		c, err := stream.NewConsumer(stream.NewStream(s), h, stream.WithName("billing"), stream.WithCheckpointStore(store),
			stream.WithOnExhausted(stream.Halt), stream.WithPollInterval(5*time.Millisecond), stream.WithBatchSize(10),
			stream.WithLeases(store, stream.WithWorkerID(worker), stream.WithLeaseDuration(900*time.Millisecond), stream.WithLeaseRenewInterval(100*time.Millisecond)))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	// owners counts the owned leases per worker: partition leases only, or
	// with presence too (each worker's "~worker:ID" lease).
	leases := func(presence bool) map[string]int {
		ls, err := store.ListLeases(context.Background(), "billing", "orders")
		if err != nil {
			t.Fatal(err)
		}
		n := map[string]int{}
		for _, l := range ls {
			if l.Owner != "" && (presence || !stream.IsWorkerLease(l)) {
				n[l.Owner]++
			}
		}
		return n
	}
	owners := func() map[string]int { return leases(false) }
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not reached in 30s (leases per worker %v)", what, owners())
			}
		}
	}
	type run struct {
		cancel context.CancelFunc
		done   chan error
	}
	start := func(c *stream.Consumer) run {
		ctx, cancel := context.WithCancel(context.Background())
		r := run{cancel, make(chan error, 1)}
		go func() { r.done <- c.Run(ctx) }()
		return r
	}
	a, b := start(consumer("a")), start(consumer("b"))
	defer func() { a.cancel(); b.cancel() }()
	waitFor("2 leases each", func() bool { o := owners(); return o["a"] == 2 && o["b"] == 2 })

	w, err := s.OpenWriter(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	const n = 120
	recs := make([]stream.Record, n)
	for i := range recs {
		recs[i] = stream.Record{ID: fmt.Sprintf("r%d", i), Key: []byte(fmt.Sprintf("k%d", i))}
	}
	res := make([]driver.WriteResult, n)
	if err := w.Write(context.Background(), recs, res); err != nil {
		t.Fatal(err)
	}
	w.Close()
	total := func() uint64 {
		cps, err := store.List(context.Background(), "billing", "orders")
		if err != nil {
			t.Fatal(err)
		}
		var sum uint64
		for _, cp := range cps {
			sum += cp.Counts.Succeeded
		}
		return sum
	}
	waitFor("every record succeeded", func() bool { return total() == n })
	for _, r := range []run{a, b} {
		r.cancel()
		if err := <-r.done; err != nil {
			t.Fatalf("Run: %v", err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(handled["a"]) == 0 || len(handled["b"]) == 0 || len(handled["a"])+len(handled["b"]) != n {
		t.Fatalf("handled by a: %d, by b: %d; want both, %d in all, none twice", len(handled["a"]), len(handled["b"]), n)
	}
	if o := leases(true); len(o) != 0 {
		t.Fatalf("leases (partitions and presence) still owned after both stopped: %v", o)
	}
	// The store never saw a corrupt item.
	if _, err := store.List(context.Background(), "billing", "orders"); err != nil {
		t.Fatal(err)
	}
}
