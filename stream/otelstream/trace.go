package otelstream

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/unistream-go/unistream/stream"
)

// Attribute keys of the process spans, besides the metrics' ones.
const (
	AttrMessageID = attribute.Key("messaging.message.id")
	AttrAttempt   = attribute.Key("unistream.attempt")
	AttrOutcome   = attribute.Key("unistream.outcome")
)

// The values of unistream.outcome on a process span.
const (
	OutcomeSuccess = "success" // the handler returned nil
	OutcomeSkipped = "skipped" // the handler returned stream.Skip
	OutcomeFailed  = "failed"  // the handler returned another error, or panicked
)

// WithTracerProvider sets the tracer provider of TraceHandler's spans
// (default otel.GetTracerProvider() when the option is built). A nil
// provider keeps the default.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) {
		if tp != nil {
			c.tracers = tp
		}
	}
}

// WithPropagator sets how TracePut writes the trace context into a
// record's headers and TraceHandler reads it back. The default is W3C
// Trace Context (propagation.TraceContext: the headers traceparent and
// tracestate), not otel.GetTextMapPropagator(), whose own default carries
// nothing: pass WithPropagator(otel.GetTextMapPropagator()) to use the
// application's. A nil propagator keeps the default.
func WithPropagator(p propagation.TextMapPropagator) Option {
	return func(c *config) {
		if p != nil {
			c.propagator = p
		}
	}
}

// traceConfig applies opts over the tracing defaults.
func traceConfig(opts []Option) config {
	c := config{tracers: otel.GetTracerProvider(), propagator: propagation.TraceContext{}, errorType: DefaultErrorType}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	return c
}

// TracePut returns a producer option that writes the trace context of each
// Put's context into the record's headers (traceparent and tracestate,
// with the default propagator), replacing headers of the same names: the
// headers travel as Kafka headers, Pulsar properties or in the Kinesis
// envelope, are kept by DLQ envelopes and re-sent by `unistream dlq
// replay`, so a consumer with TraceHandler continues the trace. A Put
// whose context has no span gets no header and costs no allocation. It
// starts no span of its own: the producer's span is the caller's.
//
// A stream that writes plain records (Capabilities().PlainRecords: Kinesis
// with envelope=false) carries no headers, and Put refuses a record that
// has some: a Put with a span fails on it, so do not use TracePut there.
//
// Options: WithPropagator.
func TracePut(opts ...Option) stream.ProducerOption {
	c := traceConfig(opts)
	prop := c.propagator
	return stream.WithPutHook(func(ctx context.Context, r *stream.Record) {
		prop.Inject(ctx, headerCarrier{r})
	})
}

// TraceHandler returns a consumer option that runs each attempt of the
// handler in a span named "process <stream>", of kind consumer, whose
// parent is the trace context read from the record's headers (as TracePut
// wrote it), so that the trace goes on from the producer's span to every
// attempt. The semantic conventions make the process span of a single
// message a child of the message's creation context; a retried record
// gets one span per attempt, all children of the producer's span (not
// links: a link is for batch processing, where one span has many parents).
// A record without trace context gets a span whose parent is the
// handler's context's span, if any.
//
// The span has messaging.system (WithSystem), messaging.destination.name
// (the stream), messaging.destination.partition.id,
// messaging.consumer.group.name (WithConsumerGroup), messaging.message.id
// (the record's ID), messaging.operation.name and .type ("process"),
// unistream.attempt (stream.AttemptOf's Number) and unistream.outcome
// (success, skipped or failed). A failed attempt (an error other than
// stream.Skip, or a panic) sets the span's status to Error with the
// error's message, error.type (WithErrorType) and an exception event. The
// handler's context holds the span, so its own spans are its children.
//
// Options: WithTracerProvider, WithPropagator, WithSystem,
// WithConsumerGroup, WithErrorType.
func TraceHandler(opts ...Option) stream.ConsumerOption {
	return stream.WithHandlerMiddleware(traceMiddleware(opts))
}

// traceMiddleware returns TraceHandler's wrapping of a handler.
func traceMiddleware(opts []Option) func(stream.Handler) stream.Handler {
	c := traceConfig(opts)
	tracer := c.tracers.Tracer(ScopeName)
	prop := c.propagator
	var fixed []attribute.KeyValue
	if c.system != "" {
		fixed = append(fixed, AttrSystem.String(c.system))
	}
	if c.group != "" {
		fixed = append(fixed, AttrConsumerGroup.String(c.group))
	}
	fixed = append(fixed, AttrOperationName.String("process"), AttrOperationType.String("process"))
	errorType := c.errorType
	return func(next stream.Handler) stream.Handler {
		return func(ctx context.Context, r *stream.Record) (err error) {
			parent := prop.Extract(ctx, headerCarrier{r})
			attempt, _ := stream.AttemptOf(ctx)
			attrs := make([]attribute.KeyValue, 0, len(fixed)+4)
			attrs = append(attrs, fixed...)
			attrs = append(attrs,
				AttrDestination.String(r.Stream),
				AttrPartition.String(r.Partition),
				AttrMessageID.String(r.ID),
				AttrAttempt.Int(attempt.Number))
			sctx, span := tracer.Start(parent, "process "+r.Stream,
				trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(attrs...))
			defer func() {
				if p := recover(); p != nil {
					failed(span, fmt.Errorf("handler panic: %v", p), errorType)
					span.End()
					panic(p)
				}
				var skip *stream.SkipError
				switch {
				case err == nil:
					span.SetAttributes(AttrOutcome.String(OutcomeSuccess))
				case errors.As(err, &skip):
					span.SetAttributes(AttrOutcome.String(OutcomeSkipped))
				default:
					failed(span, err, errorType)
				}
				span.End()
			}()
			return next(sctx, r)
		}
	}
}

// failed marks span as a failed attempt with err.
func failed(span trace.Span, err error, errorType func(error) string) {
	span.SetAttributes(AttrOutcome.String(OutcomeFailed), AttrErrorType.String(errorType(err)))
	span.RecordError(err)
	span.SetStatus(codes.Error, err.Error())
}

// headerCarrier is a propagation.TextMapCarrier over a record's headers.
// It is one pointer, so making it a TextMapCarrier allocates nothing. Set
// never writes into the record's header slice, which may be the Put
// caller's: it sets a new one.
type headerCarrier struct{ r *stream.Record }

// Get returns the value of the first header named key, or "".
func (c headerCarrier) Get(key string) string {
	for _, h := range c.r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// Set replaces the headers named key with one of value, or adds it.
func (c headerCarrier) Set(key, value string) {
	old := c.r.Headers
	hs := make([]stream.Header, 0, len(old)+1)
	for _, h := range old {
		if h.Key != key {
			hs = append(hs, h)
		}
	}
	c.r.Headers = append(hs, stream.Header{Key: key, Value: []byte(value)})
}

// Keys returns the header names.
func (c headerCarrier) Keys() []string {
	keys := make([]string, len(c.r.Headers))
	for i, h := range c.r.Headers {
		keys[i] = h.Key
	}
	return keys
}
