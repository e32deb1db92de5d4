package otelstream

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/driver"
)

// ScopeName is the instrumentation scope of the meter the Observer uses.
const ScopeName = "github.com/unistream-go/unistream/stream/otelstream"

// Attribute keys of the metrics.
const (
	AttrSystem        = attribute.Key("messaging.system")
	AttrDestination   = attribute.Key("messaging.destination.name")
	AttrPartition     = attribute.Key("messaging.destination.partition.id")
	AttrConsumerGroup = attribute.Key("messaging.consumer.group.name")
	AttrOperationName = attribute.Key("messaging.operation.name")
	AttrOperationType = attribute.Key("messaging.operation.type")
	AttrErrorType     = attribute.Key("error.type")
	AttrLane          = attribute.Key("unistream.producer.lane")
)

// OtherErrorType is the error.type of an error DefaultErrorType does not
// name, as the semantic conventions spell it.
const OtherErrorType = "_OTHER"

// processBuckets are the semantic conventions' recommended boundaries for
// messaging durations, in seconds.
var processBuckets = []float64{.005, .01, .025, .05, .075, .1, .25, .5, .75, 1, 2.5, 5, 7.5, 10}

// storageBuckets are the boundaries of the WAL fsync and checkpoint save
// durations, in seconds: from 100 µs (an fsync on a fast disk, a save to
// a local store) to 10 s.
var storageBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// Option configures NewObserver.
type Option func(*config)

type config struct {
	provider     metric.MeterProvider
	tracers      trace.TracerProvider          // WithTracerProvider; TracePut and TraceHandler
	propagator   propagation.TextMapPropagator // WithPropagator; TracePut and TraceHandler
	system       string
	group        string
	errorType    func(error) string
	processEvery uint64
	hists        *Histograms // WithHistograms
}

// WithMeterProvider sets the meter provider (default otel.GetMeterProvider()
// at NewObserver). A nil provider keeps the default.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) {
		if mp != nil {
			c.provider = mp
		}
	}
}

// WithSystem sets messaging.system on every metric: "kafka", "pulsar",
// "aws_kinesis" (see SystemForScheme). Without it the attribute is absent:
// the events do not carry the stream's scheme.
func WithSystem(system string) Option { return func(c *config) { c.system = system } }

// WithConsumerGroup sets messaging.consumer.group.name on the consumer
// metrics: the consumer's name (stream.WithName) or group
// (stream.WithGroup). Without it the attribute is absent.
func WithConsumerGroup(name string) Option { return func(c *config) { c.group = name } }

// WithErrorType sets the function that turns an error into error.type
// (default DefaultErrorType). It must return few distinct values: each one
// is a new time series per partition. A nil function keeps the default.
func WithErrorType(f func(error) string) Option {
	return func(c *config) {
		if f != nil {
			c.errorType = f
		}
	}
}

// WithProcessDurationSampling records messaging.process.duration for one
// attempt in every n of each partition (successful, failed and skipped
// alike, so that the share of each outcome is kept) instead of every
// attempt. The default, and any n below 2, records every attempt, as the
// semantic conventions define the metric: its count is then the number of
// attempts.
//
// The histogram is the one per-record measurement the Observer makes
// through OpenTelemetry (the counters are atomic counts read at
// collection), and the SDK's Record costs about 0.3 µs: a consumer whose
// handler takes less than a few microseconds per record may trade the
// histogram's exact count for throughput. With n, the histogram's count
// and sum are about 1/n of the attempts and of their total time, its
// buckets and percentiles keep their shape; the counters
// (messaging.client.consumed.messages, unistream.consumer.retries,
// exhausted, skipped...) stay exact.
func WithProcessDurationSampling(n int) Option {
	return func(c *config) {
		c.processEvery = 1
		if n > 1 {
			c.processEvery = uint64(n)
		}
	}
}

// SystemForScheme returns the messaging.system value for a stream URL
// scheme: kafka, pulsar, aws_kinesis for kinesis; any other scheme is
// returned as it is (mem for memstream).
func SystemForScheme(scheme string) string {
	if scheme == "kinesis" {
		return "aws_kinesis"
	}
	return scheme
}

// DefaultErrorType names an error by what the engines know of it, with a
// small fixed set of values: "timeout" (context.DeadlineExceeded, such as
// an attempt timeout), "canceled" (context.Canceled), "record_too_large"
// and "preceding_record_failed" (the driver errors), "permanent"
// (stream.Permanent or a permanent backend error), else OtherErrorType.
func DefaultErrorType(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, driver.ErrRecordTooLarge):
		return "record_too_large"
	case errors.Is(err, driver.ErrPrecedingRecordFailed):
		return "preceding_record_failed"
	case stream.IsPermanent(err) || driver.IsPermanent(err):
		return "permanent"
	}
	return OtherErrorType
}

// groupKey names the attribute sets of one consumer partition or one
// producer send lane.
type groupKey struct {
	producer  bool
	stream    string
	partition string // consumer
	lane      int    // producer
}

// attrs is a cached attribute set, ready to pass to instruments without
// allocating.
type attrs struct {
	set attribute.Set
	// hist is the set's series in WithHistograms' Histograms (process
	// sets only), or nil.
	hist *series
	rec  []metric.RecordOption
	obs  []metric.ObserveOption
	// sent counts messaging.client.sent.messages with the set of a
	// producer's failed map.
	sent atomic.Int64
}

// group holds the attribute sets of a groupKey, built on its first event,
// and the counts of its counters, read by the Observer's callback at each
// collection. The sets with an error.type are built on a failure's first
// use.
type group struct {
	key groupKey
	// Consumer sets.
	receive   *attrs // operation receive
	process   *attrs // operation process, no error.type
	partition *attrs // unistream.consumer.*
	// Producer sets.
	send   *attrs // operation send, no error.type
	lane   *attrs // unistream.producer.*, with the lane
	stream *attrs // stream only

	// Consumer counts.
	consumed, retries, exhausted, skipped, deadLettered, halts, fetchErrors, cpErrors atomic.Int64
	// attempts numbers the attempts, for WithProcessDurationSampling.
	attempts atomic.Uint64
	// Producer counts (sent with error.type are in failed).
	sent, holds, pDead, pDropped, pDLQErrors, replayed atomic.Int64

	mu     sync.Mutex
	failed map[string]*attrs // process (consumer) or send (producer) with error.type
}

// Observer records the engines' events as OpenTelemetry metrics. It is a
// stream.Observer, safe for concurrent use; one Observer may serve several
// consumers and producers that share its system and consumer group.
//
// The counters are OpenTelemetry observable counters: an event adds to an
// atomic count of its attribute set, and a callback registered on the
// meter reports the counts at each collection, with the buffers of the
// producers given to WatchProducer. Close unregisters it.
type Observer struct {
	cfg config
	ctx context.Context

	consumed     metric.Int64ObservableCounter
	process      metric.Float64Histogram
	sent         metric.Int64ObservableCounter
	retries      metric.Int64ObservableCounter
	exhausted    metric.Int64ObservableCounter
	skipped      metric.Int64ObservableCounter
	deadLettered metric.Int64ObservableCounter
	halts        metric.Int64ObservableCounter
	batch        metric.Float64Histogram
	lagRecords   metric.Int64Gauge
	lagTime      metric.Float64Gauge
	fetchErrors  metric.Int64ObservableCounter
	cpErrors     metric.Int64ObservableCounter
	holds        metric.Int64ObservableCounter
	holdTime     metric.Float64Histogram
	pDead        metric.Int64ObservableCounter
	pDropped     metric.Int64ObservableCounter
	pDLQErrors   metric.Int64ObservableCounter
	replayed     metric.Int64ObservableCounter
	operation    metric.Float64Histogram // messaging.client.operation.duration (producer Writes)
	walSync      metric.Float64Histogram
	cpSave       metric.Float64Histogram
	bufRecords   metric.Int64ObservableGauge
	bufBytes     metric.Int64ObservableGauge

	// watched are the producers whose buffers the callback reports
	// (WatchProducer), copied on write under mu.
	watched atomic.Pointer[[]*watch]

	// groups is copied on write: the hot path reads it without a lock.
	groups atomic.Pointer[groups]
	// recent caches consumer groups by the address of their partition's
	// name (see consumer); a slot holds any consumer group, checked by key.
	recent [64]atomic.Pointer[group]
	mu     sync.Mutex // serializes the writers of groups

	reg       metric.Registration // the counters' callback
	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

var _ stream.Observer = (*Observer)(nil)

// NewObserver builds the instruments on a meter of the provider (see
// WithMeterProvider). It fails when the meter refuses an instrument.
func NewObserver(opts ...Option) (*Observer, error) {
	cfg := config{errorType: DefaultErrorType, processEvery: 1}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.provider == nil {
		cfg.provider = otel.GetMeterProvider()
	}
	m := cfg.provider.Meter(ScopeName)
	o := &Observer{cfg: cfg, ctx: context.Background()}
	o.groups.Store(&groups{})
	var errs []error
	var counters []metric.Observable
	counter := func(name, unit, desc string) metric.Int64ObservableCounter {
		c, err := m.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		counters = append(counters, c)
		return c
	}
	histogramOf := func(name, desc string, buckets []float64) metric.Float64Histogram {
		h, err := m.Float64Histogram(name, metric.WithUnit("s"), metric.WithDescription(desc),
			metric.WithExplicitBucketBoundaries(buckets...))
		errs = append(errs, err)
		return h
	}
	histogram := func(name, desc string) metric.Float64Histogram { return histogramOf(name, desc, processBuckets) }
	gauge := func(name, unit, desc string) metric.Int64ObservableGauge {
		g, err := m.Int64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		counters = append(counters, g)
		return g
	}
	o.consumed = counter("messaging.client.consumed.messages", "{message}", "Records fetched and handed to the consumer's workers.")
	o.process = histogram("messaging.process.duration", "Duration of one handler attempt.")
	o.sent = counter("messaging.client.sent.messages", "{message}", "Records the producer tried to send; error.type on those not acknowledged.")
	o.retries = counter("unistream.consumer.retries", "{attempt}", "Failed handler attempts after which the record is tried again.")
	o.exhausted = counter("unistream.consumer.exhausted", "{message}", "Records whose last attempt failed: dead-lettered or halted.")
	o.skipped = counter("unistream.consumer.skipped", "{message}", "Records skipped by the handler.")
	o.deadLettered = counter("unistream.consumer.dead_lettered", "{message}", "Records written to the consumer's DLQ.")
	o.halts = counter("unistream.consumer.halts", "{halt}", "Partitions halted at a record.")
	o.batch = histogram("unistream.consumer.batch.duration", "Processing time of a finished batch.")
	var err error
	o.lagRecords, err = m.Int64Gauge("unistream.consumer.lag.messages", metric.WithUnit("{message}"),
		metric.WithDescription("Records after the last one fetched, when the backend tells."))
	errs = append(errs, err)
	o.lagTime, err = m.Float64Gauge("unistream.consumer.lag.time", metric.WithUnit("s"),
		metric.WithDescription("How far the last record fetched is behind the partition's newest one, when the backend tells."))
	errs = append(errs, err)
	o.fetchErrors = counter("unistream.consumer.fetch.errors", "{error}", "Failed partition reads and listings.")
	o.cpErrors = counter("unistream.consumer.checkpoint.errors", "{error}", "Failed checkpoint loads and saves.")
	o.holds = counter("unistream.producer.holds", "{hold}", "Holds of a send lane after a failed write.")
	o.holdTime = histogram("unistream.producer.hold.duration", "Length of a send lane's hold.")
	o.pDead = counter("unistream.producer.dead_lettered", "{message}", "Records refused for good and written to the producer's DLQ.")
	o.pDropped = counter("unistream.producer.dropped", "{message}", "Records refused for good and dropped (no producer DLQ).")
	o.pDLQErrors = counter("unistream.producer.dlq.errors", "{error}", "Failed writes to the producer's DLQ.")
	o.replayed = counter("unistream.producer.replayed", "{message}", "Unacknowledged records recovered from the write-ahead log.")
	o.operation = histogram("messaging.client.operation.duration", "Duration of a producer's backend Write call.")
	o.walSync = histogramOf("unistream.producer.wal.fsync.duration", "Duration of an fsync of the producer's write-ahead log.", storageBuckets)
	o.cpSave = histogramOf("unistream.consumer.checkpoint.save.duration", "Duration of a successful checkpoint save.", storageBuckets)
	o.bufRecords = gauge("unistream.producer.buffer.records", "{message}", "Records a watched producer holds: waiting or in flight.")
	o.bufBytes = gauge("unistream.producer.buffer.bytes", "By", "Bytes of the records a watched producer holds.")
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("otelstream: build the instruments of meter %s: %w", ScopeName, err)
	}
	reg, err := m.RegisterCallback(o.report, counters...)
	if err != nil {
		return nil, fmt.Errorf("otelstream: register the counters' callback on meter %s: %w", ScopeName, err)
	}
	o.reg = reg
	return o, nil
}

// Close unregisters the callback that reports the counters and the
// watched producers' buffers (WatchProducer), so that a collection no
// longer sees them, forgets the watched producers, and makes Observe a
// no-op: call it when the consumers and producers the Observer serves are
// closed. The
// histograms and gauges already recorded stay with the meter provider.
// Close may be called more than once; the later calls return what the
// first returned.
func (o *Observer) Close() error {
	o.closeOnce.Do(func() {
		o.closed.Store(true)
		o.mu.Lock()
		o.watched.Store(nil)
		o.mu.Unlock()
		if err := o.reg.Unregister(); err != nil {
			o.closeErr = fmt.Errorf("otelstream: unregister the counters' callback: %w", err)
		}
	})
	return o.closeErr
}

// report is the callback of the counters: it reports every group's counts
// that are not zero (a counter's series appears with its first event, as
// with a synchronous counter).
func (o *Observer) report(_ context.Context, ob metric.Observer) error {
	put := func(c metric.Int64ObservableCounter, n *atomic.Int64, a *attrs) {
		if v := n.Load(); v != 0 {
			ob.ObserveInt64(c, v, a.obs...)
		}
	}
	for _, g := range o.groups.Load().all {
		if g.key.producer {
			put(o.sent, &g.sent, g.send)
			put(o.holds, &g.holds, g.lane)
			put(o.pDead, &g.pDead, g.lane)
			put(o.pDropped, &g.pDropped, g.lane)
			put(o.pDLQErrors, &g.pDLQErrors, g.lane)
			put(o.replayed, &g.replayed, g.stream)
			g.mu.Lock()
			for _, a := range g.failed {
				put(o.sent, &a.sent, a)
			}
			g.mu.Unlock()
			continue
		}
		put(o.consumed, &g.consumed, g.receive)
		put(o.retries, &g.retries, g.partition)
		put(o.exhausted, &g.exhausted, g.partition)
		put(o.skipped, &g.skipped, g.partition)
		put(o.deadLettered, &g.deadLettered, g.partition)
		put(o.halts, &g.halts, g.partition)
		put(o.fetchErrors, &g.fetchErrors, g.partition)
		put(o.cpErrors, &g.cpErrors, g.partition)
	}
	if ws := o.watched.Load(); ws != nil && len(*ws) > 0 {
		o.reportBuffers(ob, *ws)
	}
	return nil
}

// recordProcess records one attempt's messaging.process.duration with the
// attribute set a of group g: in the Histograms (WithHistograms), or
// through the SDK when sampled.
func (o *Observer) recordProcess(g *group, a *attrs, d time.Duration) {
	switch {
	case a.hist != nil:
		a.hist.record(d)
	case o.sampled(g):
		o.process.Record(o.ctx, d.Seconds(), a.rec...)
	}
}

// sampled reports whether the process duration of g's next attempt is
// recorded (WithProcessDurationSampling).
func (o *Observer) sampled(g *group) bool {
	return o.cfg.processEvery <= 1 || g.attempts.Add(1)%o.cfg.processEvery == 0
}

// Observes reports whether the Observer has a use for events of kind k
// (stream.EventFilter): it has none for stream.EventAttemptStarted (one per
// record, which the engine then does not build), EventCommitted,
// EventPartitionFinished, EventCheckpointRecovered and
// EventProducerEmit.
func (o *Observer) Observes(k stream.EventKind) bool {
	switch k {
	case stream.EventAttemptStarted, stream.EventCommitted, stream.EventPartitionFinished,
		stream.EventCheckpointRecovered, stream.EventProducerEmit:
		return false
	}
	return true
}

// Observe records e. It implements stream.Observer. A counter's event costs
// an atomic add; an attempt's end also records messaging.process.duration
// (see WithProcessDurationSampling).
func (o *Observer) Observe(e stream.Event) {
	if o.closed.Load() {
		return
	}
	ctx := o.ctx
	switch e.Kind {
	case stream.EventBatchFetched:
		g := o.consumer(e)
		g.consumed.Add(int64(e.Count))
		if e.Lag != nil {
			if e.Lag.Records >= 0 {
				o.lagRecords.Record(ctx, e.Lag.Records, g.partition.rec...)
			}
			if e.Lag.Time >= 0 {
				o.lagTime.Record(ctx, e.Lag.Time.Seconds(), g.partition.rec...)
			}
		}
	case stream.EventBatchDone:
		o.batch.Record(ctx, e.Elapsed.Seconds(), o.consumer(e).partition.rec...)
	case stream.EventAttemptSucceeded:
		g := o.consumer(e)
		o.recordProcess(g, g.process, e.Elapsed)
	case stream.EventAttemptFailed:
		g := o.consumer(e)
		o.recordProcess(g, o.failed(g, e.Err), e.Elapsed)
		if e.Final {
			g.exhausted.Add(1)
		} else {
			g.retries.Add(1)
		}
	case stream.EventSkipped:
		g := o.consumer(e)
		o.recordProcess(g, g.process, e.Elapsed)
		g.skipped.Add(1)
	case stream.EventDeadLettered:
		o.consumer(e).deadLettered.Add(1)
	case stream.EventHalted:
		o.consumer(e).halts.Add(1)
	case stream.EventFetchError:
		o.consumer(e).fetchErrors.Add(1)
	case stream.EventCheckpointError:
		o.consumer(e).cpErrors.Add(1)

	case stream.EventCheckpointSaved:
		o.cpSave.Record(ctx, e.Elapsed.Seconds(), o.consumer(e).partition.rec...)

	case stream.EventProducerSent:
		g := o.producer(e)
		g.sent.Add(int64(e.Count))
		if e.Timed {
			o.operation.Record(ctx, e.Elapsed.Seconds(), g.send.rec...)
		}
	case stream.EventProducerFailed:
		o.sendFailed(ctx, o.producer(e), e)
	case stream.EventProducerDeadLettered:
		g := o.producer(e)
		o.sendFailed(ctx, g, e)
		g.pDead.Add(int64(e.Count))
	case stream.EventProducerDropped:
		g := o.producer(e)
		o.sendFailed(ctx, g, e)
		g.pDropped.Add(int64(e.Count))
	case stream.EventProducerWALSynced:
		o.walSync.Record(ctx, e.Elapsed.Seconds(), o.producer(e).stream.rec...)
	case stream.EventProducerHold:
		g := o.producer(e)
		g.holds.Add(1)
		o.holdTime.Record(ctx, e.Delay.Seconds(), g.lane.rec...)
	case stream.EventProducerDLQError:
		o.producer(e).pDLQErrors.Add(1)
	case stream.EventProducerReplayed:
		o.producer(e).replayed.Add(int64(e.Count))
	}
}

// sendFailed counts the records of a producer failure event e of group g
// as sent with its error.type, and records the Write's duration with it
// when e is the one that reports the Write (Event.Timed).
func (o *Observer) sendFailed(ctx context.Context, g *group, e stream.Event) {
	a := o.failed(g, e.Err)
	a.sent.Add(int64(e.Count))
	if e.Timed {
		o.operation.Record(ctx, e.Elapsed.Seconds(), a.rec...)
	}
}

// groups indexes the groups by stream, then partition or send lane: two
// lookups by string (or int) key cost less than one by groupKey.
type groups struct {
	consumers map[string]map[string]*group
	producers map[string]map[int]*group
	all       []*group
}

// consumer returns the attribute sets of a consumer event's partition. A
// small cache indexed by the address of the partition's name comes first:
// a consumer's events of one partition all carry the same string (its
// worker's), so the usual lookup is one atomic load and two string
// comparisons that stop at equal pointers, instead of two map lookups that
// hash the names (about half an attempt's cost to the observer).
func (o *Observer) consumer(e stream.Event) *group {
	slot := &o.recent[(uintptr(unsafe.Pointer(unsafe.StringData(e.Partition)))>>4^uintptr(len(e.Partition)))%uintptr(len(o.recent))]
	if g := slot.Load(); g != nil && g.key.partition == e.Partition && g.key.stream == e.Stream {
		return g
	}
	g := o.groups.Load().consumers[e.Stream][e.Partition]
	if g == nil {
		g = o.add(groupKey{stream: e.Stream, partition: e.Partition})
	}
	slot.Store(g)
	return g
}

// producer returns the attribute sets of a producer event's send lane.
func (o *Observer) producer(e stream.Event) *group {
	if g := o.groups.Load().producers[e.Stream][e.Lane]; g != nil {
		return g
	}
	return o.add(groupKey{producer: true, stream: e.Stream, lane: e.Lane})
}

// add returns the group of k, building it if no other goroutine did.
func (o *Observer) add(k groupKey) *group {
	o.mu.Lock()
	defer o.mu.Unlock()
	old := o.groups.Load()
	if k.producer {
		if g := old.producers[k.stream][k.lane]; g != nil {
			return g
		}
	} else if g := old.consumers[k.stream][k.partition]; g != nil {
		return g
	}
	g := o.build(k)
	gs := &groups{consumers: old.consumers, producers: old.producers, all: append(slices.Clip(old.all), g)}
	if k.producer {
		gs.producers = withGroup(old.producers, k.stream, k.lane, g)
	} else {
		gs.consumers = withGroup(old.consumers, k.stream, k.partition, g)
	}
	o.groups.Store(gs)
	return g
}

// withGroup returns a copy of idx (copy on write: readers hold the old
// one) with g under stream and key (a partition or a send lane).
func withGroup[K comparable](idx map[string]map[K]*group, stream string, key K, g *group) map[string]map[K]*group {
	out := maps.Clone(idx)
	if out == nil {
		out = map[string]map[K]*group{}
	}
	inner := maps.Clone(idx[stream])
	if inner == nil {
		inner = map[K]*group{}
	}
	inner[key] = g
	out[stream] = inner
	return out
}

// failed returns g's process (consumer) or send (producer) set with the
// error.type of err, never empty: a failure always has an error.type.
func (o *Observer) failed(g *group, err error) *attrs {
	t := o.cfg.errorType(err)
	if t == "" {
		t = OtherErrorType
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	a := g.failed[t]
	if a == nil {
		if g.failed == nil {
			g.failed = map[string]*attrs{}
		}
		if g.key.producer {
			a = o.sendSet(g.key, t)
		} else {
			a = o.processSet(g.key, t)
		}
		g.failed[t] = a
	}
	return a
}

// base returns the attributes every set of k starts with.
func (o *Observer) base(k groupKey) []attribute.KeyValue {
	kv := make([]attribute.KeyValue, 0, 8)
	if o.cfg.system != "" {
		kv = append(kv, AttrSystem.String(o.cfg.system))
	}
	kv = append(kv, AttrDestination.String(k.stream))
	if !k.producer {
		if k.partition != "" {
			kv = append(kv, AttrPartition.String(k.partition))
		}
		if o.cfg.group != "" {
			kv = append(kv, AttrConsumerGroup.String(o.cfg.group))
		}
	}
	return kv
}

// processSet is the process set of consumer k, with errType if not empty.
func (o *Observer) processSet(k groupKey, errType string) *attrs {
	kv := append(o.base(k), AttrOperationName.String("process"), AttrOperationType.String("process"))
	if errType != "" {
		kv = append(kv, AttrErrorType.String(errType))
	}
	a := newAttrs(kv)
	if o.cfg.hists != nil {
		a.hist = o.cfg.hists.of(a.set)
	}
	return a
}

// sendSet is the send set of producer k, with errType if not empty.
func (o *Observer) sendSet(k groupKey, errType string) *attrs {
	kv := append(o.base(k), AttrOperationName.String("send"), AttrOperationType.String("send"))
	if errType != "" {
		kv = append(kv, AttrErrorType.String(errType))
	}
	return newAttrs(kv)
}

// build makes the attribute sets of k.
func (o *Observer) build(k groupKey) *group {
	g := &group{key: k}
	if k.producer {
		g.send = o.sendSet(k, "")
		g.lane = newAttrs(append(o.base(k), AttrLane.Int(k.lane)))
		g.stream = newAttrs(o.base(k))
		return g
	}
	g.receive = newAttrs(append(o.base(k), AttrOperationName.String("receive"), AttrOperationType.String("receive")))
	g.process = o.processSet(k, "")
	g.partition = newAttrs(o.base(k))
	return g
}

// newAttrs makes the cached set of kv.
func newAttrs(kv []attribute.KeyValue) *attrs {
	set := attribute.NewSet(kv...)
	opt := metric.WithAttributeSet(set)
	return &attrs{set: set, rec: []metric.RecordOption{opt}, obs: []metric.ObserveOption{opt}}
}

var _ stream.EventFilter = (*Observer)(nil)
