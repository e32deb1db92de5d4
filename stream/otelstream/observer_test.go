package otelstream_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/dlq"
	"github.com/unistream-go/unistream/stream/driver"
	"github.com/unistream-go/unistream/stream/memstream"
	"github.com/unistream-go/unistream/stream/otelstream"
)

// fastRetry retries at once, so that the tests wait for events, not time.
var fastRetry = stream.RetryPolicy{MaxAttempts: 3, Initial: time.Millisecond, Multiplier: 1, MaxInterval: time.Millisecond}

// collected is one collection of a manual reader, by metric name.
type collected map[string]metricdata.Aggregation

func collect(t *testing.T, r *sdkmetric.ManualReader) collected {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatalf("collect: %v", err)
	}
	out := collected{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != otelstream.ScopeName {
			t.Errorf("scope %q, want %q", sm.Scope.Name, otelstream.ScopeName)
		}
		for _, m := range sm.Metrics {
			out[m.Name] = m.Data
		}
	}
	return out
}

// match reports whether set holds every key-value of want; a value of ""
// requires the key to be absent.
func match(set attribute.Set, want map[attribute.Key]string) bool {
	for k, v := range want {
		got, ok := set.Value(k)
		if v == "" {
			if ok {
				return false
			}
			continue
		}
		if !ok || got.String() != v {
			return false
		}
	}
	return true
}

// sum adds the points of a counter whose attributes match want.
func (c collected) sum(t *testing.T, name string, want map[attribute.Key]string) int64 {
	t.Helper()
	data, ok := c[name]
	if !ok {
		return 0
	}
	s, ok := data.(metricdata.Sum[int64])
	if !ok {
		t.Fatalf("%s is a %T, want a Sum[int64]", name, data)
	}
	var n int64
	for _, p := range s.DataPoints {
		if match(p.Attributes, want) {
			n += p.Value
		}
	}
	return n
}

// count adds the counts of a histogram's points whose attributes match want.
func (c collected) count(t *testing.T, name string, want map[attribute.Key]string) uint64 {
	t.Helper()
	data, ok := c[name]
	if !ok {
		return 0
	}
	h, ok := data.(metricdata.Histogram[float64])
	if !ok {
		t.Fatalf("%s is a %T, want a Histogram[float64]", name, data)
	}
	var n uint64
	for _, p := range h.DataPoints {
		if match(p.Attributes, want) {
			n += p.Count
		}
	}
	return n
}

// gauge returns the int gauge's points, by partition.
func (c collected) gauge(t *testing.T, name string) map[string]int64 {
	t.Helper()
	data, ok := c[name]
	if !ok {
		return nil
	}
	g, ok := data.(metricdata.Gauge[int64])
	if !ok {
		t.Fatalf("%s is a %T, want a Gauge[int64]", name, data)
	}
	out := map[string]int64{}
	for _, p := range g.DataPoints {
		part, _ := p.Attributes.Value(otelstream.AttrPartition)
		out[part.String()] = p.Value
	}
	return out
}

// memSink is a DLQ sink that counts its envelopes.
type memSink struct {
	mu  sync.Mutex
	ids []string
}

func (s *memSink) Put(_ context.Context, env *dlq.Envelope) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ids = append(s.ids, env.ID)
	return nil
}

func (s *memSink) Close() error { return nil }

func (s *memSink) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.ids)
}

// fanout sends every event to each observer in turn.
func fanout(obs ...stream.Observer) stream.Observer {
	return stream.ObserverFunc(func(e stream.Event) {
		for _, o := range obs {
			o.Observe(e)
		}
	})
}

// A consumer's run: the records that fail twice then succeed, the poisoned
// ones dead-lettered, the skipped ones, and every record fetched show in
// the metrics, with the observer's attributes.
func TestConsumerMetrics(t *testing.T) {
	const perKind = 3
	kinds := []string{"ok", "flaky", "poison", "skip"}
	total := perKind * len(kinds)

	ms := memstream.New("orders", memstream.WithPartitions(2))
	s := stream.NewStream(ms)
	w, err := ms.OpenWriter(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var recs []driver.Record
	for i := range perKind {
		for _, k := range kinds {
			id := fmt.Sprintf("%s-%d", k, i)
			recs = append(recs, driver.Record{ID: id, Key: []byte(id), Value: []byte(k)})
		}
	}
	res := make([]driver.WriteResult, len(recs))
	if err := w.Write(context.Background(), recs, res); err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("write record %d: %v", i, r.Err)
		}
	}
	w.Close()

	reader := sdkmetric.NewManualReader()
	obs, err := otelstream.NewObserver(
		otelstream.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))),
		otelstream.WithSystem(otelstream.SystemForScheme(ms.Scheme())),
		otelstream.WithConsumerGroup("billing"))
	if err != nil {
		t.Fatal(err)
	}

	// final counts the records that reached their end; the run stops when
	// all did.
	var mu sync.Mutex
	final := 0
	allDone := make(chan struct{})
	counter := stream.ObserverFunc(func(e stream.Event) {
		switch e.Kind {
		case stream.EventAttemptSucceeded, stream.EventSkipped, stream.EventDeadLettered:
			mu.Lock()
			final++
			if final == total {
				close(allDone)
			}
			mu.Unlock()
		}
	})

	var amu sync.Mutex
	attempts := map[string]int{}
	handler := func(_ context.Context, r *stream.Record) error {
		amu.Lock()
		attempts[r.ID]++
		n := attempts[r.ID]
		amu.Unlock()
		switch string(r.Value) {
		case "flaky":
			if n <= 2 {
				return errors.New("flaky: not yet")
			}
		case "poison":
			return stream.Permanent(errors.New("poisoned"))
		case "skip":
			return stream.Skip("not ours")
		}
		return nil
	}
	sink := &memSink{}
	c, err := stream.NewConsumer(s, handler, stream.WithName("billing"),
		stream.WithCheckpointStore(checkpoint.NewMemoryStore()), stream.WithDLQ(sink),
		stream.WithRetry(fastRetry), stream.WithPollInterval(5*time.Millisecond),
		stream.WithObserver(fanout(obs, counter)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	select {
	case <-allDone:
	case err := <-done:
		t.Fatalf("Run returned before every record was final: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}

	got := collect(t, reader)
	all := map[attribute.Key]string{}
	if n := got.sum(t, "messaging.client.consumed.messages", map[attribute.Key]string{
		otelstream.AttrSystem: "mem", otelstream.AttrDestination: "orders", otelstream.AttrConsumerGroup: "billing",
		otelstream.AttrOperationName: "receive",
	}); n != int64(total) {
		t.Errorf("consumed.messages = %d, want %d (every record written)", n, total)
	}
	var attemptsRun int64
	amu.Lock()
	for _, n := range attempts {
		attemptsRun += int64(n)
	}
	amu.Unlock()
	if want := int64(6 * perKind); attemptsRun != want {
		t.Fatalf("the handler ran %d times, want %d (flaky thrice, the others once)", attemptsRun, want)
	}
	if n := got.sum(t, "unistream.consumer.retries", all); n != 2*perKind {
		t.Errorf("retries = %d, want %d (flaky twice)", n, 2*perKind)
	}
	if n := got.sum(t, "unistream.consumer.exhausted", all); n != perKind {
		t.Errorf("exhausted = %d, want %d (the poisoned records)", n, perKind)
	}
	if n := got.count(t, "messaging.process.duration", map[attribute.Key]string{
		otelstream.AttrSystem: "mem", otelstream.AttrConsumerGroup: "billing", otelstream.AttrOperationName: "process",
		otelstream.AttrErrorType: "",
	}); n != 3*perKind {
		t.Errorf("process.duration without error.type count = %d, want %d (ok, flaky's last and skip)", n, 3*perKind)
	}
	if n := got.count(t, "messaging.process.duration", all); n != uint64(attemptsRun) {
		t.Errorf("process.duration count = %d, want %d (one per handler call)", n, attemptsRun)
	}
	if n := got.count(t, "messaging.process.duration", map[attribute.Key]string{otelstream.AttrErrorType: otelstream.OtherErrorType}); n != 2*perKind {
		t.Errorf("process.duration{error.type=_OTHER} count = %d, want %d (the flaky failures)", n, 2*perKind)
	}
	if n := got.count(t, "messaging.process.duration", map[attribute.Key]string{otelstream.AttrErrorType: "permanent"}); n != perKind {
		t.Errorf("process.duration{error.type=permanent} count = %d, want %d (the poisoned records)", n, perKind)
	}
	if n := got.sum(t, "unistream.consumer.dead_lettered", all); n != int64(sink.len()) || n != perKind {
		t.Errorf("dead_lettered = %d, the DLQ holds %d, want %d", n, sink.len(), perKind)
	}
	if n := got.sum(t, "unistream.consumer.skipped", all); n != perKind {
		t.Errorf("skipped = %d, want %d", n, perKind)
	}
	if n := got.sum(t, "unistream.consumer.halts", all); n != 0 {
		t.Errorf("halts = %d, want 0", n)
	}
	if n := got.count(t, "unistream.consumer.batch.duration", all); n == 0 {
		t.Error("batch.duration has no point, want one per finished batch")
	}
	parts, err := s.Partitions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	lag := got.gauge(t, "unistream.consumer.lag.messages")
	for _, p := range parts {
		if v, ok := lag[p.ID]; !ok || v != 0 {
			t.Errorf("lag.messages{partition=%s} = %d (present %v), want 0 after reading it all", p.ID, v, ok)
		}
	}
}

// A producer's run: acknowledged records, a transient failure that holds
// the lane and a record refused for good show in the metrics.
func TestProducerMetrics(t *testing.T) {
	const n = 10
	ms := memstream.New("payments", memstream.WithPartitions(1))
	var hmu sync.Mutex
	flakyFailed := false
	ms.SetRecordHook(func(_ int, r *driver.Record) error {
		hmu.Lock()
		defer hmu.Unlock()
		switch string(r.Value) {
		case "flaky":
			if !flakyFailed {
				flakyFailed = true
				return errors.New("broker busy")
			}
		case "bad":
			return fmt.Errorf("refused: %w", driver.ErrPermanent)
		}
		return nil
	})
	reader := sdkmetric.NewManualReader()
	obs, err := otelstream.NewObserver(
		otelstream.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))),
		otelstream.WithSystem("mem"))
	if err != nil {
		t.Fatal(err)
	}
	// events counts the records of each producer event kind, as the
	// engine reported them.
	var emu sync.Mutex
	events := map[stream.EventKind]int{}
	counter := stream.ObserverFunc(func(e stream.Event) {
		emu.Lock()
		defer emu.Unlock()
		if e.Kind == stream.EventProducerHold {
			events[e.Kind]++
		} else {
			events[e.Kind] += e.Count
		}
	})
	p, err := stream.NewProducer(stream.NewStream(ms), stream.WithoutWAL(), stream.WithSendLanes(1),
		stream.WithSendRetry(fastRetry), stream.WithObserver(fanout(obs, counter)))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range n {
		v := "ok"
		switch i {
		case 3:
			v = "flaky"
		case 7:
			v = "bad"
		}
		if err := p.Put(ctx, stream.Record{ID: fmt.Sprint(i), Value: []byte(v)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(ctx); !errors.Is(err, stream.ErrRecordRefused) {
		t.Fatalf("Close = %v, want ErrRecordRefused for the bad record", err)
	}
	stored, err := ms.Records("0")
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != n-1 {
		t.Fatalf("the stream holds %d records, want %d", len(stored), n-1)
	}

	got := collect(t, reader)
	all := map[attribute.Key]string{}
	if v := got.sum(t, "messaging.client.sent.messages", map[attribute.Key]string{
		otelstream.AttrSystem: "mem", otelstream.AttrDestination: "payments", otelstream.AttrOperationName: "send",
		otelstream.AttrErrorType: "",
	}); v != int64(len(stored)) {
		t.Errorf("sent.messages without error.type = %d, want %d (the records stored)", v, len(stored))
	}
	emu.Lock()
	failed, holds := events[stream.EventProducerFailed], events[stream.EventProducerHold]
	emu.Unlock()
	if failed == 0 || holds == 0 {
		t.Fatalf("the run reported %d failed records and %d holds, want some of both (the flaky record)", failed, holds)
	}
	withErr := got.sum(t, "messaging.client.sent.messages", map[attribute.Key]string{otelstream.AttrErrorType: otelstream.OtherErrorType}) +
		got.sum(t, "messaging.client.sent.messages", map[attribute.Key]string{otelstream.AttrErrorType: "preceding_record_failed"})
	if withErr != int64(failed) {
		t.Errorf("sent.messages with a transient error.type = %d, want %d (the failed records reported)", withErr, failed)
	}
	if v := got.sum(t, "messaging.client.sent.messages", map[attribute.Key]string{otelstream.AttrErrorType: "permanent"}); v != 1 {
		t.Errorf("sent.messages{error.type=permanent} = %d, want 1 (the bad record)", v)
	}
	if v := got.sum(t, "unistream.producer.dropped", map[attribute.Key]string{otelstream.AttrLane: "0"}); v != 1 {
		t.Errorf("producer.dropped{lane=0} = %d, want 1", v)
	}
	if v := got.sum(t, "unistream.producer.holds", all); v != int64(holds) {
		t.Errorf("producer.holds = %d, want %d", v, holds)
	}
	if v := got.count(t, "unistream.producer.hold.duration", all); v != uint64(holds) {
		t.Errorf("producer.hold.duration count = %d, want %d", v, holds)
	}
	if v := got.sum(t, "unistream.producer.dead_lettered", all); v != 0 {
		t.Errorf("producer.dead_lettered = %d, want 0 (no producer DLQ)", v)
	}
}

// Many goroutines observing at once, on new and cached partitions, count
// every event exactly once (run with -race).
func TestObserveConcurrent(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	obs, err := otelstream.NewObserver(otelstream.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))))
	if err != nil {
		t.Fatal(err)
	}
	const goroutines, each = 8, 500
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				obs.Observe(stream.Event{Kind: stream.EventBatchFetched, Stream: "s", Partition: fmt.Sprint((g + i) % 5), Count: 2})
			}
		})
	}
	wg.Wait()
	got := collect(t, reader)
	if n := got.sum(t, "messaging.client.consumed.messages", map[attribute.Key]string{}); n != 2*goroutines*each {
		t.Errorf("consumed.messages = %d, want %d", n, 2*goroutines*each)
	}
	if _, ok := got["messaging.client.consumed.messages"].(metricdata.Sum[int64]); !ok {
		t.Fatal("no consumed.messages")
	}
	if pts := len(got["messaging.client.consumed.messages"].(metricdata.Sum[int64]).DataPoints); pts != 5 {
		t.Errorf("consumed.messages has %d series, want 5 (one per partition)", pts)
	}
}

// Once an event's attribute set is cached, observing it allocates nothing
// in the Observer (the noop provider allocates nothing of its own).
func TestObserveAllocs(t *testing.T) {
	obs, err := otelstream.NewObserver(otelstream.WithMeterProvider(noop.NewMeterProvider()), otelstream.WithSystem("kafka"))
	if err != nil {
		t.Fatal(err)
	}
	rec := &stream.Record{ID: "1"}
	evs := []stream.Event{
		{Kind: stream.EventBatchFetched, Stream: "s", Partition: "3", Count: 100, Lag: &stream.Lag{Records: 5, Time: -1}},
		{Kind: stream.EventAttemptStarted, Stream: "s", Partition: "3", Record: rec, Attempt: 1},
		{Kind: stream.EventAttemptSucceeded, Stream: "s", Partition: "3", Record: rec, Attempt: 1, Elapsed: time.Millisecond},
		{Kind: stream.EventBatchDone, Stream: "s", Partition: "3", Count: 100, Elapsed: time.Millisecond},
		{Kind: stream.EventProducerSent, Stream: "s", Lane: 2, Count: 100},
		{Kind: stream.EventProducerHold, Stream: "s", Lane: 2, Delay: time.Second},
		{Kind: stream.EventProducerSent, Stream: "s", Lane: 2, Count: 100, Elapsed: time.Millisecond, Timed: true},
		{Kind: stream.EventProducerWALSynced, Stream: "s", Count: 100, Elapsed: time.Millisecond},
		{Kind: stream.EventCheckpointSaved, Stream: "s", Partition: "3", Elapsed: time.Millisecond},
	}
	for _, e := range evs {
		obs.Observe(e) // builds the sets
	}
	for _, e := range evs {
		if a := testing.AllocsPerRun(100, func() { obs.Observe(e) }); a != 0 {
			t.Errorf("Observe(%s) allocates %v times per call, want 0", e.Kind, a)
		}
	}
	// A failure's error.type costs what DefaultErrorType costs: the
	// errors.As of stream.IsPermanent and driver.IsPermanent.
	failed := stream.Event{Kind: stream.EventAttemptFailed, Stream: "s", Partition: "3", Record: rec, Attempt: 1, Err: errors.New("x"), Elapsed: time.Millisecond}
	obs.Observe(failed)
	classify := testing.AllocsPerRun(100, func() { otelstream.DefaultErrorType(failed.Err) })
	if a := testing.AllocsPerRun(100, func() { obs.Observe(failed) }); a > classify {
		t.Errorf("Observe(%s) allocates %v times per call, want at most DefaultErrorType's %v", failed.Kind, a, classify)
	}
}

// DefaultErrorType keeps to its small set of names.
func TestDefaultErrorType(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{fmt.Errorf("attempt: %w", context.DeadlineExceeded), "timeout"},
		{context.Canceled, "canceled"},
		{fmt.Errorf("w: %w", driver.ErrRecordTooLarge), "record_too_large"},
		{driver.ErrPrecedingRecordFailed, "preceding_record_failed"},
		{stream.Permanent(errors.New("no")), "permanent"},
		{fmt.Errorf("backend: %w", driver.ErrPermanent), "permanent"},
		{errors.New(strings.Repeat("x", 10)), otelstream.OtherErrorType},
	} {
		if got := otelstream.DefaultErrorType(c.err); got != c.want {
			t.Errorf("DefaultErrorType(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}

// newObserved returns an Observer on an SDK meter provider with a manual
// reader, and the reader.
func newObserved(t *testing.T, opts ...otelstream.Option) (*otelstream.Observer, *sdkmetric.ManualReader) {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	obs, err := otelstream.NewObserver(append([]otelstream.Option{
		otelstream.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return obs, reader
}

// The counters are cumulative: a collection after more events sees the
// new totals, not the events since the last collection, and a series
// without new events keeps its total.
func TestCountersCumulative(t *testing.T) {
	obs, reader := newObserved(t)
	defer obs.Close()
	all := map[attribute.Key]string{}
	p0 := map[attribute.Key]string{otelstream.AttrPartition: "0"}
	obs.Observe(stream.Event{Kind: stream.EventBatchFetched, Stream: "s", Partition: "0", Count: 3})
	obs.Observe(stream.Event{Kind: stream.EventSkipped, Stream: "s", Partition: "0", Elapsed: time.Millisecond})
	obs.Observe(stream.Event{Kind: stream.EventProducerSent, Stream: "s", Lane: 1, Count: 4})
	obs.Observe(stream.Event{Kind: stream.EventProducerFailed, Stream: "s", Lane: 1, Count: 2, Err: errors.New("busy")})
	got := collect(t, reader)
	if n := got.sum(t, "messaging.client.consumed.messages", all); n != 3 {
		t.Fatalf("first collection: consumed.messages = %d, want 3", n)
	}

	obs.Observe(stream.Event{Kind: stream.EventBatchFetched, Stream: "s", Partition: "0", Count: 5})
	obs.Observe(stream.Event{Kind: stream.EventBatchFetched, Stream: "s", Partition: "1", Count: 7})
	obs.Observe(stream.Event{Kind: stream.EventProducerSent, Stream: "s", Lane: 1, Count: 6})
	obs.Observe(stream.Event{Kind: stream.EventProducerFailed, Stream: "s", Lane: 1, Count: 1, Err: errors.New("busy")})
	got = collect(t, reader)
	if n := got.sum(t, "messaging.client.consumed.messages", p0); n != 8 {
		t.Errorf("second collection: consumed.messages{partition=0} = %d, want 8 (3 then 5)", n)
	}
	if n := got.sum(t, "messaging.client.consumed.messages", all); n != 15 {
		t.Errorf("second collection: consumed.messages = %d, want 15", n)
	}
	if n := got.sum(t, "unistream.consumer.skipped", p0); n != 1 {
		t.Errorf("second collection: skipped{partition=0} = %d, want 1 (kept from the first)", n)
	}
	if n := got.sum(t, "messaging.client.sent.messages", map[attribute.Key]string{otelstream.AttrErrorType: ""}); n != 10 {
		t.Errorf("second collection: sent.messages without error.type = %d, want 10 (4 then 6)", n)
	}
	if n := got.sum(t, "messaging.client.sent.messages", map[attribute.Key]string{otelstream.AttrErrorType: otelstream.OtherErrorType}); n != 3 {
		t.Errorf("second collection: sent.messages{error.type=_OTHER} = %d, want 3 (2 then 1)", n)
	}
	sum, ok := got["messaging.client.consumed.messages"].(metricdata.Sum[int64])
	if !ok || !sum.IsMonotonic || sum.Temporality != metricdata.CumulativeTemporality {
		t.Errorf("consumed.messages is %+v, want a monotonic cumulative Sum[int64]", got["messaging.client.consumed.messages"])
	}
}

// Close stops the reporting of the counters and the recording of events,
// and may be called twice.
func TestClose(t *testing.T) {
	obs, reader := newObserved(t)
	all := map[attribute.Key]string{}
	obs.Observe(stream.Event{Kind: stream.EventBatchFetched, Stream: "s", Partition: "0", Count: 3})
	obs.Observe(stream.Event{Kind: stream.EventAttemptSucceeded, Stream: "s", Partition: "0", Elapsed: time.Millisecond})
	got := collect(t, reader)
	if n := got.sum(t, "messaging.client.consumed.messages", all); n != 3 {
		t.Fatalf("before Close: consumed.messages = %d, want 3", n)
	}
	if err := obs.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := obs.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	obs.Observe(stream.Event{Kind: stream.EventBatchFetched, Stream: "s", Partition: "0", Count: 4})
	obs.Observe(stream.Event{Kind: stream.EventAttemptSucceeded, Stream: "s", Partition: "0", Elapsed: time.Millisecond})
	got = collect(t, reader)
	if data, ok := got["messaging.client.consumed.messages"]; ok {
		if s, _ := data.(metricdata.Sum[int64]); len(s.DataPoints) != 0 {
			t.Errorf("after Close: consumed.messages has points %+v, want none (the callback is unregistered)", s.DataPoints)
		}
	}
	if n := got.count(t, "messaging.process.duration", all); n != 1 {
		t.Errorf("after Close: process.duration count = %d, want 1 (the attempt before Close only)", n)
	}
}

// WithProcessDurationSampling records one attempt in n per partition and
// keeps the counters exact.
func TestProcessDurationSampling(t *testing.T) {
	const n, every = 100, 10
	obs, reader := newObserved(t, otelstream.WithProcessDurationSampling(every))
	defer obs.Close()
	for i := range n {
		part := fmt.Sprint(i % 2)
		obs.Observe(stream.Event{Kind: stream.EventAttemptSucceeded, Stream: "s", Partition: part, Elapsed: time.Millisecond})
		obs.Observe(stream.Event{Kind: stream.EventSkipped, Stream: "s", Partition: part, Elapsed: time.Millisecond})
	}
	got := collect(t, reader)
	all := map[attribute.Key]string{}
	if c := got.count(t, "messaging.process.duration", all); c != 2*n/every {
		t.Errorf("process.duration count = %d, want %d (one attempt in %d)", c, 2*n/every, every)
	}
	if s := got.sum(t, "unistream.consumer.skipped", all); s != n {
		t.Errorf("skipped = %d, want %d (counters are not sampled)", s, n)
	}

	// Without the option (or with n below 2) every attempt is recorded.
	for _, opts := range [][]otelstream.Option{nil, {otelstream.WithProcessDurationSampling(1)}, {otelstream.WithProcessDurationSampling(0)}} {
		obs, reader := newObserved(t, opts...)
		for range n {
			obs.Observe(stream.Event{Kind: stream.EventAttemptSucceeded, Stream: "s", Partition: "0", Elapsed: time.Millisecond})
		}
		if c := collect(t, reader).count(t, "messaging.process.duration", all); c != n {
			t.Errorf("with %d options: process.duration count = %d, want %d", len(opts), c, n)
		}
		obs.Close()
	}
}

// Collections while goroutines observe new and cached partitions and
// lanes see totals that only grow, and the last one every event (run with
// -race).
func TestCollectWhileObserving(t *testing.T) {
	obs, reader := newObserved(t)
	defer obs.Close()
	const goroutines, each = 4, 300
	all := map[attribute.Key]string{}
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				obs.Observe(stream.Event{Kind: stream.EventBatchFetched, Stream: "s", Partition: fmt.Sprint((g + i) % 7), Count: 1})
				obs.Observe(stream.Event{Kind: stream.EventProducerFailed, Stream: "s", Lane: i % 3, Count: 1, Err: errors.New("busy")})
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	var last int64
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		got := collect(t, reader)
		n := got.sum(t, "messaging.client.consumed.messages", all)
		if n < last {
			t.Fatalf("consumed.messages went from %d down to %d", last, n)
		}
		last = n
	}
	got := collect(t, reader)
	if n := got.sum(t, "messaging.client.consumed.messages", all); n != goroutines*each {
		t.Errorf("consumed.messages = %d, want %d", n, goroutines*each)
	}
	if n := got.sum(t, "messaging.client.sent.messages", all); n != goroutines*each {
		t.Errorf("sent.messages = %d, want %d", n, goroutines*each)
	}
}
