package otelstream_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/dlq"
	"github.com/unistream-go/unistream/stream/driver"
	"github.com/unistream-go/unistream/stream/otelstream"
)

// newTracer returns a tracer provider whose ended spans rec records.
func newTracer(t *testing.T) (*sdktrace.TracerProvider, *tracetest.SpanRecorder) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	return tp, rec
}

// putTraced puts one record in a producer span of tp on url and flushes
// it; it returns the producer span's context.
func putTraced(t *testing.T, url string, tp trace.TracerProvider, r stream.Record) trace.SpanContext {
	t.Helper()
	ctx := context.Background()
	p, err := stream.OpenProducer(ctx, url, stream.WithoutWAL(), otelstream.TracePut())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	sctx, span := tp.Tracer("test").Start(ctx, "send", trace.WithSpanKind(trace.SpanKindProducer))
	if err := p.Put(sctx, r); err != nil {
		t.Fatal(err)
	}
	span.End()
	if err := p.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	return span.SpanContext()
}

// consumeUntil runs a traced consumer of url with h until h returns done.
func consumeUntil(t *testing.T, url string, tp trace.TracerProvider, sink dlq.Sink, h func(ctx context.Context, r *stream.Record) (done bool, err error)) {
	t.Helper()
	ctx, stop := context.WithTimeout(context.Background(), 30*time.Second)
	defer stop()
	opts := []stream.ConsumerOption{
		stream.WithCheckpointStore(checkpoint.NewMemoryStore()),
		stream.WithRetry(fastRetry), stream.WithPollInterval(time.Millisecond),
		otelstream.TraceHandler(otelstream.WithTracerProvider(tp), otelstream.WithSystem("mem")),
	}
	if sink != nil {
		opts = append(opts, stream.WithDLQ(sink))
	} else {
		opts = append(opts, stream.WithOnExhausted(stream.Halt))
	}
	c, err := stream.OpenConsumer(ctx, url, func(ctx context.Context, r *stream.Record) error {
		done, err := h(ctx, r)
		if done {
			stop()
		}
		return err
	}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Run(ctx); err != nil {
		t.Fatalf("run: %v", err)
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatal("the consumer did not get to the end in 30 s")
	}
}

// processSpans returns the ended spans named "process <name>".
func processSpans(rec *tracetest.SpanRecorder, name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Name() == "process "+name {
			out = append(out, s)
		}
	}
	return out
}

// attr returns span's attribute k.
func attr(s sdktrace.ReadOnlySpan, k attribute.Key) attribute.Value {
	for _, kv := range s.Attributes() {
		if kv.Key == k {
			return kv.Value
		}
	}
	return attribute.Value{}
}

// A record put in a producer span is processed in spans of the same trace,
// children of the producer's span: one per attempt, numbered, the failed
// one with status Error.
func TestTraceContinuesToEachAttempt(t *testing.T) {
	tp, rec := newTracer(t)
	const name = "otel-trace-attempts"
	url := "mem://" + name + "?partitions=1"
	sent := putTraced(t, url, tp, stream.Record{ID: "r1", Key: []byte("k"), Value: []byte("v")})
	var calls atomic.Int32
	var handlerSpan trace.SpanContext
	consumeUntil(t, url, tp, nil, func(ctx context.Context, r *stream.Record) (bool, error) {
		if calls.Add(1) == 1 {
			return false, errors.New("flaky database")
		}
		handlerSpan = trace.SpanContextFromContext(ctx)
		return true, nil
	})
	spans := processSpans(rec, name)
	if len(spans) != 2 {
		t.Fatalf("%d process spans, want 2 (one per attempt)", len(spans))
	}
	for i, s := range spans {
		if s.SpanContext().TraceID() != sent.TraceID() {
			t.Errorf("attempt %d: trace %s, want the producer's %s", i+1, s.SpanContext().TraceID(), sent.TraceID())
		}
		if s.Parent().SpanID() != sent.SpanID() || !s.Parent().IsRemote() {
			t.Errorf("attempt %d: parent %s (remote %v), want the producer's span %s, remote", i+1, s.Parent().SpanID(), s.Parent().IsRemote(), sent.SpanID())
		}
		if s.SpanKind() != trace.SpanKindConsumer {
			t.Errorf("attempt %d: kind %v, want consumer", i+1, s.SpanKind())
		}
		if got := attr(s, otelstream.AttrAttempt).AsInt64(); got != int64(i+1) {
			t.Errorf("attempt %d: unistream.attempt %d", i+1, got)
		}
		for k, want := range map[attribute.Key]string{
			otelstream.AttrSystem: "mem", otelstream.AttrDestination: name, otelstream.AttrPartition: "0",
			otelstream.AttrMessageID: "r1", otelstream.AttrOperationType: "process",
		} {
			if got := attr(s, k).AsString(); got != want {
				t.Errorf("attempt %d: %s = %q, want %q", i+1, k, got, want)
			}
		}
	}
	if st := spans[0].Status(); st.Code != codes.Error || st.Description != "flaky database" {
		t.Errorf("failed attempt: status %v %q, want Error \"flaky database\"", st.Code, st.Description)
	}
	if got := attr(spans[0], otelstream.AttrErrorType).AsString(); got != otelstream.OtherErrorType {
		t.Errorf("failed attempt: error.type %q, want %q", got, otelstream.OtherErrorType)
	}
	if got := attr(spans[0], otelstream.AttrOutcome).AsString(); got != otelstream.OutcomeFailed {
		t.Errorf("failed attempt: outcome %q", got)
	}
	if st := spans[1].Status(); st.Code == codes.Error {
		t.Errorf("successful attempt: status %v", st.Code)
	}
	if got := attr(spans[1], otelstream.AttrOutcome).AsString(); got != otelstream.OutcomeSuccess {
		t.Errorf("successful attempt: outcome %q", got)
	}
	if handlerSpan.SpanID() != spans[1].SpanContext().SpanID() {
		t.Errorf("the handler's context holds span %s, want its attempt's %s", handlerSpan.SpanID(), spans[1].SpanContext().SpanID())
	}
}

// A dead-lettered record's envelope keeps the trace context, and the
// record rebuilt from it for a replay carries it on.
func TestTraceKeptInDLQ(t *testing.T) {
	tp, rec := newTracer(t)
	const name = "otel-trace-dlq"
	url := "mem://" + name + "?partitions=1"
	sent := putTraced(t, url, tp, stream.Record{ID: "bad", Value: []byte("v"), Headers: []stream.Header{{Key: "tenant", Value: []byte("acme")}}})
	path := filepath.Join(t.TempDir(), "dlq.jsonl")
	sink, err := dlq.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	consumeUntil(t, url, tp, sink, func(ctx context.Context, r *stream.Record) (bool, error) {
		return true, stream.Permanent(errors.New("cannot parse"))
	})
	envs, err := dlq.ReadFile(path)
	if err != nil || len(envs) != 1 {
		t.Fatalf("dlq: %d envelopes, %v; want 1", len(envs), err)
	}
	replayed := envs[0].Record()
	var tp1 string
	for _, h := range replayed.Headers {
		if h.Key == "traceparent" {
			tp1 = string(h.Value)
		}
	}
	want := "00-" + sent.TraceID().String() + "-" + sent.SpanID().String() + "-01"
	if tp1 != want {
		t.Fatalf("the envelope's record has traceparent %q (headers %v), want %q", tp1, replayed.Headers, want)
	}
	if len(replayed.Headers) != 2 || replayed.Headers[0].Key != "tenant" {
		t.Errorf("headers %v, want tenant kept and traceparent added", replayed.Headers)
	}
	spans := processSpans(rec, name)
	if len(spans) != 1 || spans[0].Status().Code != codes.Error || attr(spans[0], otelstream.AttrErrorType).AsString() != "permanent" {
		t.Fatalf("%d process spans, want 1 with status Error and error.type permanent", len(spans))
	}
}

// Put without a span adds no header; Put with one replaces an old
// traceparent without writing into the caller's headers.
func TestTracePutHeaders(t *testing.T) {
	tp, _ := newTracer(t)
	const name = "otel-trace-headers"
	url := "mem://" + name + "?partitions=1"
	ctx := context.Background()
	p, err := stream.OpenProducer(ctx, url, stream.WithoutWAL(), otelstream.TracePut())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	if err := p.Put(ctx, stream.Record{ID: "plain"}); err != nil {
		t.Fatal(err)
	}
	old := []stream.Header{{Key: "traceparent", Value: []byte("00-stale")}, {Key: "a", Value: []byte("b")}}
	sctx, span := tp.Tracer("test").Start(ctx, "send")
	span.End()
	if err := p.Put(sctx, stream.Record{ID: "traced", Headers: old}); err != nil {
		t.Fatal(err)
	}
	if string(old[0].Value) != "00-stale" {
		t.Fatalf("Put wrote into the caller's headers: %q", old[0].Value)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	rd, err := p.Stream().OpenReader(ctx, "0", stream.Earliest())
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	recs, err := rd.Fetch(ctx, 10)
	if err != nil || len(recs) != 2 {
		t.Fatalf("fetch: %d records, %v; want 2", len(recs), err)
	}
	if len(recs[0].Headers) != 0 {
		t.Errorf("a Put without a span got headers %v", recs[0].Headers)
	}
	var tps []string
	for _, h := range recs[1].Headers {
		if h.Key == "traceparent" {
			tps = append(tps, string(h.Value))
		}
	}
	want := "00-" + span.SpanContext().TraceID().String() + "-" + span.SpanContext().SpanID().String() + "-01"
	if len(tps) != 1 || tps[0] != want || len(recs[1].Headers) != 2 {
		t.Errorf("headers %v, want a and one traceparent %s", recs[1].Headers, want)
	}
}

// A panicking attempt ends its span with status Error before the consumer
// turns the panic into a failed attempt; a skip is an outcome, not an
// error.
func TestTracePanicAndSkip(t *testing.T) {
	tp, rec := newTracer(t)
	const name = "otel-trace-panic"
	url := "mem://" + name + "?partitions=1"
	putTraced(t, url, tp, stream.Record{ID: "r"})
	var calls atomic.Int32
	consumeUntil(t, url, tp, nil, func(ctx context.Context, r *stream.Record) (bool, error) {
		if calls.Add(1) == 1 {
			panic("nil map")
		}
		return true, stream.Skip("not for us")
	})
	spans := processSpans(rec, name)
	if len(spans) != 2 {
		t.Fatalf("%d process spans, want 2", len(spans))
	}
	if st := spans[0].Status(); st.Code != codes.Error || st.Description != "handler panic: nil map" {
		t.Errorf("panicking attempt: status %v %q, want Error \"handler panic: nil map\"", st.Code, st.Description)
	}
	if got := attr(spans[1], otelstream.AttrOutcome).AsString(); got != otelstream.OutcomeSkipped || spans[1].Status().Code == codes.Error {
		t.Errorf("skipped attempt: outcome %q, status %v; want skipped, not Error", got, spans[1].Status().Code)
	}
}

// BenchmarkTracePut measures Put on memstream without a WAL: plain, with
// TracePut and no span in the context, and with TracePut and a span.
func BenchmarkTracePut(b *testing.B) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(context.Background())
	sctx, span := tp.Tracer("bench").Start(context.Background(), "send")
	defer span.End()
	for _, bc := range []struct {
		name string
		ctx  context.Context
		opts []stream.ProducerOption
	}{
		{"plain", context.Background(), nil},
		{"traceput-nospan", context.Background(), []stream.ProducerOption{otelstream.TracePut()}},
		{"traceput-span", sctx, []stream.ProducerOption{otelstream.TracePut()}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			p, err := stream.OpenProducer(ctx, "mem://otel-bench-put-"+bc.name+"?partitions=4",
				append([]stream.ProducerOption{stream.WithoutWAL()}, bc.opts...)...)
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close(ctx)
			r := stream.Record{Key: []byte("customer-1"), Value: make([]byte, 100)}
			b.ReportAllocs()
			for b.Loop() {
				if err := p.Put(bc.ctx, r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkTraceHandler measures what TraceHandler costs a consumer per
// record: the consumer engine on memstream with a no-op handler, bare and
// with TraceHandler, in alternating rounds, on records that carry a
// traceparent header (each attempt's span is a child of it). The spans go
// to the SDK's batch span processor (blocking when its queue is full, so
// none is dropped) with an exporter that discards them: what the CLI's
// --otlp-endpoint runs, without the network. It reports traced/bare
// (below 1: tracing costs throughput) and the nanoseconds a record added.
func BenchmarkTraceHandler(b *testing.B) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(discardSpans{}, sdktrace.WithBlocking()))
	defer tp.Shutdown(context.Background())
	parent := []driver.Header{{Key: "traceparent", Value: []byte("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")}}
	bare, traced := compareConsumers(b, parent, otelstream.TraceHandler(otelstream.WithTracerProvider(tp),
		otelstream.WithSystem("mem"), otelstream.WithConsumerGroup("bench")))
	b.ReportMetric(float64(b.N)/bare.Seconds(), "bare-records/s")
	b.ReportMetric(float64(b.N)/traced.Seconds(), "traced-records/s")
	b.ReportMetric(bare.Seconds()/traced.Seconds(), "traced/bare")
	b.ReportMetric(float64((traced-bare).Nanoseconds())/float64(b.N), "added-ns/record")
}

// discardSpans is a span exporter that drops what it is given.
type discardSpans struct{}

func (discardSpans) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardSpans) Shutdown(context.Context) error                             { return nil }
