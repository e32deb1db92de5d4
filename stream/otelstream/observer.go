package otelstream

import (
	"context"
	"errors"
	"fmt"
	"sync"

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
	AttrSystem         = attribute.Key("messaging.system")
	AttrDestination    = attribute.Key("messaging.destination.name")
	AttrPartition      = attribute.Key("messaging.destination.partition.id")
	AttrConsumerGroup  = attribute.Key("messaging.consumer.group.name")
	AttrOperationName  = attribute.Key("messaging.operation.name")
	AttrOperationType  = attribute.Key("messaging.operation.type")
	AttrErrorType      = attribute.Key("error.type")
	AttrAttemptOutcome = attribute.Key("unistream.attempt.outcome")
	AttrLane           = attribute.Key("unistream.producer.lane")
)

// The values of unistream.attempt.outcome.
const (
	OutcomeSuccess   = "success"   // the handler returned nil
	OutcomeRetry     = "retry"     // the attempt failed; the record is tried again later
	OutcomeExhausted = "exhausted" // the attempt failed and none follows: DLQ or halt
	OutcomeSkip      = "skip"      // the handler skipped the record (stream.Skip)
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

// layout says which attributes a cached set holds.
type layout uint8

const (
	layoutReceive   layout = iota // consumer, operation receive
	layoutProcess                 // consumer, operation process, error.type
	layoutPartition               // consumer, unistream metrics
	layoutAttempt                 // consumer, unistream.attempt.outcome
	layoutSend                    // producer, operation send, error.type
	layoutLane                    // producer, unistream.producer.lane
	layoutStream                  // producer, stream only
)

// setKey names a cached attribute set.
type setKey struct {
	layout    layout
	stream    string
	partition string
	lane      int
	extra     string // error.type or unistream.attempt.outcome
}

// attrs is a cached attribute set, ready to pass to instruments without
// allocating.
type attrs struct {
	add []metric.AddOption
	rec []metric.RecordOption
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
	attempts     metric.Int64Counter
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

	mu   sync.RWMutex
	sets map[setKey]*attrs
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
	o := &Observer{cfg: cfg, ctx: context.Background(), sets: map[setKey]*attrs{}}
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
	o.attempts = counter("unistream.consumer.attempts", "{attempt}", "Finished handler attempts, by outcome.")
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
		o.consumed.Add(ctx, int64(e.Count), o.set(layoutReceive, e.Stream, e.Partition, 0, "").add...)
		if e.Lag != nil {
			p := o.set(layoutPartition, e.Stream, e.Partition, 0, "")
			if e.Lag.Records >= 0 {
				o.lagRecords.Record(ctx, e.Lag.Records, p.rec...)
			}
			if e.Lag.Time >= 0 {
				o.lagTime.Record(ctx, e.Lag.Time.Seconds(), p.rec...)
			}
		}
	case stream.EventBatchDone:
		o.batch.Record(ctx, e.Elapsed.Seconds(), o.set(layoutPartition, e.Stream, e.Partition, 0, "").rec...)
	case stream.EventAttemptSucceeded:
		o.process.Record(ctx, e.Elapsed.Seconds(), o.set(layoutProcess, e.Stream, e.Partition, 0, "").rec...)
		o.attempts.Add(ctx, 1, o.set(layoutAttempt, e.Stream, e.Partition, 0, OutcomeSuccess).add...)
	case stream.EventAttemptFailed:
		o.process.Record(ctx, e.Elapsed.Seconds(), o.set(layoutProcess, e.Stream, e.Partition, 0, o.errorType(e.Err)).rec...)
		outcome := OutcomeRetry
		if e.Final {
			outcome = OutcomeExhausted
		}
		o.attempts.Add(ctx, 1, o.set(layoutAttempt, e.Stream, e.Partition, 0, outcome).add...)
	case stream.EventSkipped:
		o.process.Record(ctx, e.Elapsed.Seconds(), o.set(layoutProcess, e.Stream, e.Partition, 0, "").rec...)
		o.attempts.Add(ctx, 1, o.set(layoutAttempt, e.Stream, e.Partition, 0, OutcomeSkip).add...)
		o.skipped.Add(ctx, 1, o.set(layoutPartition, e.Stream, e.Partition, 0, "").add...)
	case stream.EventDeadLettered:
		o.deadLettered.Add(ctx, 1, o.set(layoutPartition, e.Stream, e.Partition, 0, "").add...)
	case stream.EventHalted:
		o.halts.Add(ctx, 1, o.set(layoutPartition, e.Stream, e.Partition, 0, "").add...)
	case stream.EventFetchError:
		o.fetchErrors.Add(ctx, 1, o.set(layoutPartition, e.Stream, e.Partition, 0, "").add...)
	case stream.EventCheckpointError:
		o.cpErrors.Add(ctx, 1, o.set(layoutPartition, e.Stream, e.Partition, 0, "").add...)

	case stream.EventProducerSent:
		o.sent.Add(ctx, int64(e.Count), o.set(layoutSend, e.Stream, "", 0, "").add...)
	case stream.EventProducerFailed:
		o.sent.Add(ctx, int64(e.Count), o.set(layoutSend, e.Stream, "", 0, o.errorType(e.Err)).add...)
	case stream.EventProducerDeadLettered:
		o.sent.Add(ctx, int64(e.Count), o.set(layoutSend, e.Stream, "", 0, o.errorType(e.Err)).add...)
		o.pDead.Add(ctx, int64(e.Count), o.set(layoutLane, e.Stream, "", e.Lane, "").add...)
	case stream.EventProducerDropped:
		o.sent.Add(ctx, int64(e.Count), o.set(layoutSend, e.Stream, "", 0, o.errorType(e.Err)).add...)
		o.pDropped.Add(ctx, int64(e.Count), o.set(layoutLane, e.Stream, "", e.Lane, "").add...)
	case stream.EventProducerHold:
		a := o.set(layoutLane, e.Stream, "", e.Lane, "")
		o.holds.Add(ctx, 1, a.add...)
		o.holdTime.Record(ctx, e.Delay.Seconds(), a.rec...)
	case stream.EventProducerDLQError:
		o.pDLQErrors.Add(ctx, 1, o.set(layoutLane, e.Stream, "", e.Lane, "").add...)
	case stream.EventProducerReplayed:
		o.replayed.Add(ctx, int64(e.Count), o.set(layoutStream, e.Stream, "", 0, "").add...)
	}
}

// errorType names err, never empty: a failure always has an error.type.
func (o *Observer) errorType(err error) string {
	if t := o.cfg.errorType(err); t != "" {
		return t
	}
	return OtherErrorType
}

// set returns the cached attribute set of the key, building it on first
// use.
func (o *Observer) set(l layout, streamName, partition string, lane int, extra string) *attrs {
	k := setKey{layout: l, stream: streamName, partition: partition, lane: lane, extra: extra}
	o.mu.RLock()
	a := o.sets[k]
	o.mu.RUnlock()
	if a != nil {
		return a
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if a = o.sets[k]; a == nil {
		a = o.build(k)
		o.sets[k] = a
	}
	return a
}

// build makes the attribute set of k.
func (o *Observer) build(k setKey) *attrs {
	kv := make([]attribute.KeyValue, 0, 8)
	if o.cfg.system != "" {
		kv = append(kv, AttrSystem.String(o.cfg.system))
	}
	kv = append(kv, AttrDestination.String(k.stream))
	consumer := false
	switch k.layout {
	case layoutReceive, layoutProcess, layoutPartition, layoutAttempt:
		consumer = true
	}
	if consumer {
		if k.partition != "" {
			kv = append(kv, AttrPartition.String(k.partition))
		}
		if o.cfg.group != "" {
			kv = append(kv, AttrConsumerGroup.String(o.cfg.group))
		}
	}
	switch k.layout {
	case layoutReceive:
		kv = append(kv, AttrOperationName.String("receive"), AttrOperationType.String("receive"))
	case layoutProcess:
		kv = append(kv, AttrOperationName.String("process"), AttrOperationType.String("process"))
		if k.extra != "" {
			kv = append(kv, AttrErrorType.String(k.extra))
		}
	case layoutAttempt:
		kv = append(kv, AttrAttemptOutcome.String(k.extra))
	case layoutSend:
		kv = append(kv, AttrOperationName.String("send"), AttrOperationType.String("send"))
		if k.extra != "" {
			kv = append(kv, AttrErrorType.String(k.extra))
		}
	case layoutLane:
		kv = append(kv, AttrLane.Int(k.lane))
	}
	opt := metric.WithAttributeSet(attribute.NewSet(kv...))
	return &attrs{add: []metric.AddOption{opt}, rec: []metric.RecordOption{opt}}
}
