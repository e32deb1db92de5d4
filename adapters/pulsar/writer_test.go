package pulsar_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

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
