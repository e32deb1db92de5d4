package pulsar_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/unistream-go/unistream/adapters/pulsar/pulsartest"
	"github.com/unistream-go/unistream/stream/driver"
)

// TestProducerFailureSendsNothingLater makes the creation of a partition's
// producer fail inside a call: the record that needed it fails, and the
// later record of the same key, reported as not written
// (ErrPrecedingRecordFailed), must not be written, or it would stand in
// the log before the failed record's re-send. (The writer used to try the
// creation again for the next record, which then succeeded: after a
// dropped connection, the crash-safe producer's re-send made the log b, a,
// b, and a consumer saw b before a.)
//
// The fault is a failed lookup (ServiceNotReady), which also makes the
// client close its connection; when that close wins the race with the
// answer, the client retries the lookup on a new connection and the
// creation succeeds. Such a round proves nothing, so the test tries again
// on a fresh topic.
func TestProducerFailureSendsNothingLater(t *testing.T) {
	ctx := context.Background()
	b := pulsartest.Start(t)
	for round := 0; ; round++ {
		if round == 20 {
			t.Fatalf("the injected lookup failure never failed a producer creation in %d rounds", round)
		}
		topic := fmt.Sprintf("mid-%d", round)
		if err := b.CreateTopic(topic, 2); err != nil {
			t.Fatal(err)
		}
		s := openStream(t, b.URL(topic))
		k := keyOf(t, s, "1") // also reads the partition count, before the fault
		w, err := s.OpenWriter(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { w.Close() })
		in := []driver.Record{{ID: "a", Key: k, Value: []byte("0")}, {ID: "b", Key: k, Value: []byte("1")}}
		res := make([]driver.WriteResult, len(in))

		b.Fake().FailLookups(1) // the lookup for the partition's producer
		if err := w.Write(ctx, in, res); err != nil {
			t.Fatal(err)
		}
		if res[0].Err == nil {
			continue // the client retried the lookup
		}
		if !errors.Is(res[1].Err, driver.ErrPrecedingRecordFailed) {
			t.Fatalf("results %v, want b to fail with ErrPrecedingRecordFailed after a", res)
		}
		if n, err := b.Fake().MessageCount(topic); err != nil || n != 0 {
			t.Fatalf("%d entries stored (%v) by a write that reported nothing written, want 0", n, err)
		}

		// The caller sends both again, in order: the log holds a, b.
		if err := w.Write(ctx, in, res); err != nil {
			t.Fatal(err)
		}
		for i, r := range res {
			if r.Err != nil {
				t.Fatalf("re-send: record %d: %v", i, r.Err)
			}
		}
		got := readN(t, s, "1", driver.Start{}, 2)
		if got[0].ID != "a" || got[1].ID != "b" {
			t.Errorf("log of partition 1 starts %s, %s, want a, b", got[0].ID, got[1].ID)
		}
		return
	}
}

// TestWritersShareProducers writes through 4 writers of one stream at
// once to a topic of 4 partitions: they share one producer per partition
// (4 on the broker, not 16); every record is written where its result
// says; closing 3 writers leaves the producers to the last one, whose
// Close closes them, and a writer opened afterwards makes them anew.
func TestWritersShareProducers(t *testing.T) {
	ctx := context.Background()
	b := pulsartest.Start(t)
	const topic, parts, writers, perCall = "shared-producers", 4, 4, 100
	if err := b.CreateTopic(topic, parts); err != nil {
		t.Fatal(err)
	}
	s := openStream(t, b.URL(topic))
	ws := make([]driver.Writer, writers)
	for i := range ws {
		w, err := s.OpenWriter(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ws[i] = w
	}
	producers := func() int {
		t.Helper()
		n, err := b.Fake().Producers(topic)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	var mu sync.Mutex
	perPart := map[string]int{}
	errs := make(chan error, writers)
	for i, w := range ws {
		go func() {
			recs := make([]driver.Record, perCall)
			for j := range recs {
				recs[j] = driver.Record{ID: fmt.Sprintf("w%d-%d", i, j), Key: []byte(fmt.Sprintf("k%d", j)), Value: []byte("v")}
			}
			res := make([]driver.WriteResult, perCall)
			if err := w.Write(ctx, recs, res); err != nil {
				errs <- err
				return
			}
			for j, r := range res {
				if r.Err != nil || r.Pointer == nil {
					errs <- fmt.Errorf("writer %d record %d: %v (pointer %v)", i, j, r.Err, r.Pointer)
					return
				}
				mu.Lock()
				perPart[r.Partition]++
				mu.Unlock()
			}
			errs <- nil
		}()
	}
	for range writers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := producers(); n != parts {
		t.Errorf("%d writers hold %d producers on the broker, want %d (one per partition)", writers, n, parts)
	}
	seen := map[string]bool{}
	for p, n := range perPart {
		for _, r := range readN(t, s, p, driver.Start{}, n) {
			seen[r.ID] = true
		}
	}
	if len(seen) != writers*perCall {
		t.Errorf("the topic holds %d distinct records where the results say, want %d", len(seen), writers*perCall)
	}
	for _, w := range ws[1:] {
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	res := make([]driver.WriteResult, 1)
	if err := ws[0].Write(ctx, []driver.Record{{ID: "last", Key: []byte("k0"), Value: []byte("v")}}, res); err != nil || res[0].Err != nil {
		t.Fatalf("Write by the last open writer: %v %v", err, res[0].Err)
	}
	if err := ws[0].Close(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); producers() > 0; {
		if time.Now().After(deadline) {
			t.Fatalf("%d producers still connected 10 s after the last writer closed", producers())
		}
		time.Sleep(5 * time.Millisecond)
	}
	w, err := s.OpenWriter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Write(ctx, []driver.Record{{ID: "anew", Key: []byte("k0"), Value: []byte("v")}}, res); err != nil || res[0].Err != nil {
		t.Fatalf("Write by a writer opened after the last was closed: %v %v", err, res[0].Err)
	}
}
