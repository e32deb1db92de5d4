// Package tracecheck checks, on any backend, that a record put in a
// producer span is processed in a span of the same trace: the adapters'
// tests of otelstream.TracePut and otelstream.TraceHandler share it.
package tracecheck

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/otelstream"
)

// RoundTrip puts one record on s inside a producer span, with
// otelstream.TracePut, consumes it with otelstream.TraceHandler (a first
// attempt that fails, a second that succeeds) and fails t unless both
// process spans are in the producer span's trace, children of it, with
// unistream.attempt 1 and 2. s must be empty or hold only records the
// consumer may skip past (it stops at the record it put).
func RoundTrip(t *testing.T, s *stream.Stream) {
	t.Helper()
	ctx := context.Background()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(ctx)

	p, err := stream.NewProducer(s, stream.WithoutWAL(), stream.WithMaxAge(time.Millisecond), otelstream.TracePut())
	if err != nil {
		t.Fatal(err)
	}
	id := fmt.Sprintf("traced-%d", time.Now().UnixNano())
	sctx, span := tp.Tracer("tracecheck").Start(ctx, "send", trace.WithSpanKind(trace.SpanKindProducer))
	if err := p.Put(sctx, stream.Record{ID: id, Key: []byte("k"), Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	span.End()
	sent := span.SpanContext()
	if err := p.Close(ctx); err != nil {
		t.Fatalf("producer close (flush): %v", err)
	}

	runCtx, stop := context.WithTimeout(ctx, 60*time.Second)
	defer stop()
	attempts := 0
	c, err := stream.NewConsumer(s, func(ctx context.Context, r *stream.Record) error {
		if r.ID != id {
			return nil
		}
		if attempts++; attempts == 1 {
			return errors.New("first attempt fails")
		}
		stop()
		return nil
	}, stream.WithCheckpointStore(checkpoint.NewMemoryStore()), stream.WithOnExhausted(stream.Halt),
		stream.WithRetry(stream.RetryPolicy{MaxAttempts: 3, Initial: time.Millisecond, Multiplier: 1, MaxInterval: time.Millisecond}),
		stream.WithPollInterval(5*time.Millisecond),
		otelstream.TraceHandler(otelstream.WithTracerProvider(tp)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Run(runCtx); err != nil {
		t.Fatalf("run: %v", err)
	}
	if errors.Is(runCtx.Err(), context.DeadlineExceeded) {
		t.Fatalf("record %s was not processed twice in 60 s (%d attempts)", id, attempts)
	}

	var got []sdktrace.ReadOnlySpan
	for _, sp := range rec.Ended() {
		for _, kv := range sp.Attributes() {
			if kv.Key == otelstream.AttrMessageID && kv.Value.AsString() == id {
				got = append(got, sp)
			}
		}
	}
	if len(got) != 2 {
		t.Fatalf("%d process spans of record %s, want 2 (one per attempt)", len(got), id)
	}
	for i, sp := range got {
		if sp.SpanContext().TraceID() != sent.TraceID() || sp.Parent().SpanID() != sent.SpanID() {
			t.Errorf("attempt %d: span in trace %s with parent %s, want the producer span's trace %s and the producer span %s as parent",
				i+1, sp.SpanContext().TraceID(), sp.Parent().SpanID(), sent.TraceID(), sent.SpanID())
		}
		if sp.Name() != "process "+s.Name() {
			t.Errorf("attempt %d: span named %q, want %q", i+1, sp.Name(), "process "+s.Name())
		}
		for _, kv := range sp.Attributes() {
			if kv.Key == otelstream.AttrAttempt && kv.Value.AsInt64() != int64(i+1) {
				t.Errorf("attempt %d: unistream.attempt %d", i+1, kv.Value.AsInt64())
			}
		}
	}
}
