package otelstream

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

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

// Option configures NewObserver.
type Option func(*config)

type config struct {
	provider  metric.MeterProvider
	system    string
	group     string
	errorType func(error) string
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
	add []metric.AddOption
	rec []metric.RecordOption
}

// group holds the attribute sets of a groupKey, built on its first event.
// The sets with an error.type are built on a failure's first use.
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

	mu     sync.Mutex
	failed map[string]*attrs // process (consumer) or send (producer) with error.type
}

// Observer records the engines' events as OpenTelemetry metrics. It is a
// stream.Observer, safe for concurrent use; one Observer may serve several
// consumers and producers that share its system and consumer group.
type Observer struct {
	cfg config
	ctx context.Context

	consumed     metric.Int64Counter
	process      metric.Float64Histogram
	sent         metric.Int64Counter
	retries      metric.Int64Counter
	exhausted    metric.Int64Counter
	skipped      metric.Int64Counter
	deadLettered metric.Int64Counter
	halts        metric.Int64Counter
	batch        metric.Float64Histogram
	lagRecords   metric.Int64Gauge
	lagTime      metric.Float64Gauge
	fetchErrors  metric.Int64Counter
	cpErrors     metric.Int64Counter
	holds        metric.Int64Counter
	holdTime     metric.Float64Histogram
	pDead        metric.Int64Counter
	pDropped     metric.Int64Counter
	pDLQErrors   metric.Int64Counter
	replayed     metric.Int64Counter

	// groups is copied on write: the hot path reads it without a lock.
	groups atomic.Pointer[map[groupKey]*group]
	mu     sync.Mutex // serializes the writers of groups
}

var _ stream.Observer = (*Observer)(nil)

// NewObserver builds the instruments on a meter of the provider (see
// WithMeterProvider). It fails when the meter refuses an instrument.
func NewObserver(opts ...Option) (*Observer, error) {
	cfg := config{errorType: DefaultErrorType}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.provider == nil {
		cfg.provider = otel.GetMeterProvider()
	}
	m := cfg.provider.Meter(ScopeName)
	o := &Observer{cfg: cfg, ctx: context.Background()}
	o.groups.Store(&map[groupKey]*group{})
	var errs []error
	counter := func(name, unit, desc string) metric.Int64Counter {
		c, err := m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	histogram := func(name, desc string) metric.Float64Histogram {
		h, err := m.Float64Histogram(name, metric.WithUnit("s"), metric.WithDescription(desc),
			metric.WithExplicitBucketBoundaries(processBuckets...))
		errs = append(errs, err)
		return h
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
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("otelstream: build the instruments of meter %s: %w", ScopeName, err)
	}
	return o, nil
}

// Observe records e. It implements stream.Observer.
func (o *Observer) Observe(e stream.Event) {
	ctx := o.ctx
	switch e.Kind {
	case stream.EventBatchFetched:
		g := o.consumer(e)
		o.consumed.Add(ctx, int64(e.Count), g.receive.add...)
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
		o.process.Record(ctx, e.Elapsed.Seconds(), o.consumer(e).process.rec...)
	case stream.EventAttemptFailed:
		g := o.consumer(e)
		o.process.Record(ctx, e.Elapsed.Seconds(), o.failed(g, e.Err).rec...)
		if e.Final {
			o.exhausted.Add(ctx, 1, g.partition.add...)
		} else {
			o.retries.Add(ctx, 1, g.partition.add...)
		}
	case stream.EventSkipped:
		g := o.consumer(e)
		o.process.Record(ctx, e.Elapsed.Seconds(), g.process.rec...)
		o.skipped.Add(ctx, 1, g.partition.add...)
	case stream.EventDeadLettered:
		o.deadLettered.Add(ctx, 1, o.consumer(e).partition.add...)
	case stream.EventHalted:
		o.halts.Add(ctx, 1, o.consumer(e).partition.add...)
	case stream.EventFetchError:
		o.fetchErrors.Add(ctx, 1, o.consumer(e).partition.add...)
	case stream.EventCheckpointError:
		o.cpErrors.Add(ctx, 1, o.consumer(e).partition.add...)

	case stream.EventProducerSent:
		o.sent.Add(ctx, int64(e.Count), o.producer(e).send.add...)
	case stream.EventProducerFailed:
		o.sent.Add(ctx, int64(e.Count), o.failed(o.producer(e), e.Err).add...)
	case stream.EventProducerDeadLettered:
		g := o.producer(e)
		o.sent.Add(ctx, int64(e.Count), o.failed(g, e.Err).add...)
		o.pDead.Add(ctx, int64(e.Count), g.lane.add...)
	case stream.EventProducerDropped:
		g := o.producer(e)
		o.sent.Add(ctx, int64(e.Count), o.failed(g, e.Err).add...)
		o.pDropped.Add(ctx, int64(e.Count), g.lane.add...)
	case stream.EventProducerHold:
		g := o.producer(e)
		o.holds.Add(ctx, 1, g.lane.add...)
		o.holdTime.Record(ctx, e.Delay.Seconds(), g.lane.rec...)
	case stream.EventProducerDLQError:
		o.pDLQErrors.Add(ctx, 1, o.producer(e).lane.add...)
	case stream.EventProducerReplayed:
		o.replayed.Add(ctx, int64(e.Count), o.producer(e).stream.add...)
	}
}

// consumer returns the attribute sets of a consumer event's partition.
func (o *Observer) consumer(e stream.Event) *group {
	return o.group(groupKey{stream: e.Stream, partition: e.Partition})
}

// producer returns the attribute sets of a producer event's send lane.
func (o *Observer) producer(e stream.Event) *group {
	return o.group(groupKey{producer: true, stream: e.Stream, lane: e.Lane})
}

// group returns the cached attribute sets of k, building them on first
// use.
func (o *Observer) group(k groupKey) *group {
	if g := (*o.groups.Load())[k]; g != nil {
		return g
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	old := *o.groups.Load()
	if g := old[k]; g != nil {
		return g
	}
	g := o.build(k)
	m := make(map[groupKey]*group, len(old)+1)
	maps.Copy(m, old)
	m[k] = g
	o.groups.Store(&m)
	return g
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
	return newAttrs(kv)
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
	opt := metric.WithAttributeSet(attribute.NewSet(kv...))
	return &attrs{add: []metric.AddOption{opt}, rec: []metric.RecordOption{opt}}
}
