package otelstream_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/driver"
	"github.com/unistream-go/unistream/stream/memstream"
	"github.com/unistream-go/unistream/stream/otelstream"
)

// sumOf adds the sums of a histogram's points whose attributes match want.
func (c collected) sumOf(t *testing.T, name string, want map[attribute.Key]string) float64 {
	t.Helper()
	h, ok := c[name].(metricdata.Histogram[float64])
	if !ok {
		return 0
	}
	var s float64
	for _, p := range h.DataPoints {
		if match(p.Attributes, want) {
			s += p.Sum
		}
	}
	return s
}

// The Write's duration is recorded once, from the event that is Timed,
// with the error.type of a failure; the WAL fsync and checkpoint save
// durations from their events.
func TestDurationEvents(t *testing.T) {
	ms := time.Millisecond
	busy := errors.New("busy")
	refused := fmt.Errorf("refused: %w", driver.ErrPermanent)
	send := func(errType string) map[attribute.Key]string {
		return map[attribute.Key]string{otelstream.AttrDestination: "s", otelstream.AttrOperationName: "send", otelstream.AttrErrorType: errType}
	}
	for _, tc := range []struct {
		name   string
		events []stream.Event
		metric string
		attrs  map[attribute.Key]string
		count  uint64
		sum    float64
	}{
		{"sent", []stream.Event{
			{Kind: stream.EventProducerSent, Stream: "s", Count: 3, Elapsed: 2 * ms, Timed: true},
		}, "messaging.client.operation.duration", send(""), 1, .002},
		{"sent, not the Write's report", []stream.Event{
			{Kind: stream.EventProducerSent, Stream: "s", Count: 3, Elapsed: 2 * ms},
		}, "messaging.client.operation.duration", map[attribute.Key]string{}, 0, 0},
		{"partial failure", []stream.Event{
			{Kind: stream.EventProducerSent, Stream: "s", Count: 3, Elapsed: 2 * ms},
			{Kind: stream.EventProducerFailed, Stream: "s", Count: 1, Elapsed: 2 * ms, Err: busy, Timed: true},
		}, "messaging.client.operation.duration", send(otelstream.OtherErrorType), 1, .002},
		{"partial failure, nothing without error.type", []stream.Event{
			{Kind: stream.EventProducerSent, Stream: "s", Count: 3, Elapsed: 2 * ms},
			{Kind: stream.EventProducerFailed, Stream: "s", Count: 1, Elapsed: 2 * ms, Err: busy, Timed: true},
		}, "messaging.client.operation.duration", send(""), 0, 0},
		{"refused and dropped", []stream.Event{
			{Kind: stream.EventProducerDropped, Stream: "s", Count: 1, Elapsed: 4 * ms, Err: refused, Timed: true},
		}, "messaging.client.operation.duration", send("permanent"), 1, .004},
		{"refused and dead-lettered", []stream.Event{
			{Kind: stream.EventProducerDeadLettered, Stream: "s", Count: 1, Elapsed: 4 * ms, Err: refused, Timed: true},
		}, "messaging.client.operation.duration", send("permanent"), 1, .004},
		{"wal fsync", []stream.Event{
			{Kind: stream.EventProducerWALSynced, Stream: "s", Count: 7, Elapsed: 3 * ms},
			{Kind: stream.EventProducerWALSynced, Stream: "s", Count: 2, Elapsed: 1 * ms},
		}, "unistream.producer.wal.fsync.duration", map[attribute.Key]string{otelstream.AttrDestination: "s", otelstream.AttrLane: ""}, 2, .004},
		{"checkpoint save", []stream.Event{
			{Kind: stream.EventCheckpointSaved, Stream: "s", Partition: "4", Elapsed: 5 * ms},
		}, "unistream.consumer.checkpoint.save.duration", map[attribute.Key]string{otelstream.AttrDestination: "s", otelstream.AttrPartition: "4"}, 1, .005},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obs, reader := newObserved(t)
			defer obs.Close()
			for _, e := range tc.events {
				obs.Observe(e)
			}
			got := collect(t, reader)
			if n := got.count(t, tc.metric, tc.attrs); n != tc.count {
				t.Errorf("%s count = %d, want %d", tc.metric, n, tc.count)
			}
			if s := got.sumOf(t, tc.metric, tc.attrs); s < tc.sum-1e-9 || s > tc.sum+1e-9 {
				t.Errorf("%s sum = %v, want %v", tc.metric, s, tc.sum)
			}
		})
	}
}

// A producer with a WAL and a consumer record one Write duration per
// Write call, WAL fsyncs and one checkpoint save duration per save.
func TestStorageDurations(t *testing.T) {
	const n = 20
	broker := memstream.NewBroker()
	ms, err := broker.Stream("orders", memstream.WithPartitions(2))
	if err != nil {
		t.Fatal(err)
	}
	var hmu sync.Mutex
	flakyFailed := false
	ms.SetRecordHook(func(_ int, r *driver.Record) error {
		hmu.Lock()
		defer hmu.Unlock()
		if string(r.Value) == "flaky" && !flakyFailed {
			flakyFailed = true
			return errors.New("broker busy")
		}
		return nil
	})
	obs, reader := newObserved(t, otelstream.WithSystem("mem"))
	defer obs.Close()
	var emu sync.Mutex
	events := map[stream.EventKind]int{}
	counter := stream.ObserverFunc(func(e stream.Event) {
		emu.Lock()
		defer emu.Unlock()
		if e.Timed || e.Kind == stream.EventCheckpointSaved || e.Kind == stream.EventProducerWALSynced {
			events[e.Kind]++
		}
	})
	p, err := stream.NewProducer(stream.NewStream(ms), stream.WithWAL(filepath.Join(t.TempDir(), "p.wal")),
		stream.WithSendRetry(fastRetry), stream.WithMaxRecords(4), stream.WithObserver(fanout(obs, counter)))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range n {
		v := "ok"
		if i == 5 {
			v = "flaky"
		}
		if err := p.Put(ctx, stream.Record{ID: fmt.Sprint(i), Key: []byte(fmt.Sprint(i % 3)), Value: []byte(v)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	writes := p.Stats().Batches

	done := make(chan struct{})
	var seen sync.Map
	c, err := stream.NewConsumer(stream.NewStream(ms), func(_ context.Context, r *stream.Record) error {
		if _, dup := seen.LoadOrStore(r.ID, true); !dup {
			if count(&seen) == n {
				close(done)
			}
		}
		return nil
	}, stream.WithName("billing"), stream.WithDLQ(&memSink{}), stream.WithCheckpointStore(checkpoint.NewMemoryStore()), stream.WithPollInterval(time.Millisecond), stream.WithCommit(stream.CommitPerRecord),
		stream.WithObserver(fanout(obs, counter)))
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- c.Run(runCtx) }()
	select {
	case <-done:
	case err := <-ran:
		t.Fatalf("Run returned before the records were consumed: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("the records were not consumed in 20 s")
	}
	cancel()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}

	got := collect(t, reader)
	all := map[attribute.Key]string{}
	emu.Lock()
	defer emu.Unlock()
	if v := got.count(t, "messaging.client.operation.duration", all); v != writes || v == 0 {
		t.Errorf("operation.duration count = %d, want %d (the Write calls)", v, writes)
	}
	if v := got.count(t, "messaging.client.operation.duration", map[attribute.Key]string{
		otelstream.AttrSystem: "mem", otelstream.AttrOperationName: "send", otelstream.AttrErrorType: otelstream.OtherErrorType}); v != 1 {
		t.Errorf("operation.duration{error.type=_OTHER} count = %d, want 1 (the flaky record's Write)", v)
	}
	syncs := events[stream.EventProducerWALSynced]
	if v := got.count(t, "unistream.producer.wal.fsync.duration", map[attribute.Key]string{otelstream.AttrDestination: "orders"}); v != uint64(syncs) || v == 0 {
		t.Errorf("wal.fsync.duration count = %d, want %d (the fsyncs reported)", v, syncs)
	}
	saves := events[stream.EventCheckpointSaved]
	if v := got.count(t, "unistream.consumer.checkpoint.save.duration", all); v != uint64(saves) || v < 2 {
		t.Errorf("checkpoint.save.duration count = %d, want %d (the saves reported), at least one per partition", v, saves)
	}
	for _, part := range []string{"0", "1"} {
		if v := got.count(t, "unistream.consumer.checkpoint.save.duration", map[attribute.Key]string{otelstream.AttrPartition: part}); v == 0 {
			t.Errorf("no checkpoint.save.duration for partition %s", part)
		}
	}
}

// count returns the number of entries of m.
func count(m *sync.Map) int {
	n := 0
	m.Range(func(any, any) bool { n++; return true })
	return n
}
