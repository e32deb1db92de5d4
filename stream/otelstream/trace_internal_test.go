package otelstream

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/unistream-go/unistream/stream"
)

// Injecting from a context without a span allocates nothing: Put pays
// nothing for tracing when there is no trace.
func TestInjectWithoutSpanAllocs(t *testing.T) {
	prop := propagation.TraceContext{}
	ctx := context.Background()
	r := stream.Record{Headers: []stream.Header{{Key: "a", Value: []byte("b")}}}
	allocs := testing.AllocsPerRun(1000, func() {
		prop.Inject(ctx, headerCarrier{&r})
	})
	if allocs != 0 {
		t.Fatalf("Inject without a span: %v allocations, want 0", allocs)
	}
	if len(r.Headers) != 1 {
		t.Fatalf("headers %v, want the one given", r.Headers)
	}
}

// BenchmarkTraceMiddleware measures TraceHandler's wrapping alone, one
// attempt of a handler that does nothing per op: with the SDK (spans to a
// batch span processor with an exporter that discards them, blocking when
// its queue is full) on a record with a traceparent header and on one
// without, and with the no-op tracer provider (the extraction and the
// attributes, no span).
func BenchmarkTraceMiddleware(b *testing.B) {
	sdk := sdktrace.NewTracerProvider(sdktrace.WithBatcher(discardExporter{}, sdktrace.WithBlocking()))
	defer sdk.Shutdown(context.Background())
	parent := []stream.Header{{Key: "traceparent", Value: []byte("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")}}
	for _, bc := range []struct {
		name    string
		opts    []Option
		headers []stream.Header
	}{
		{"sdk/parent", []Option{WithTracerProvider(sdk)}, parent},
		{"sdk/root", []Option{WithTracerProvider(sdk)}, nil},
		{"noop/parent", []Option{WithTracerProvider(noop.NewTracerProvider())}, parent},
	} {
		b.Run(bc.name, func(b *testing.B) {
			h := traceMiddleware(append(bc.opts, WithSystem("kafka"), WithConsumerGroup("billing")))(
				func(context.Context, *stream.Record) error { return nil })
			r := &stream.Record{ID: "r1", Stream: "orders", Partition: "3", Headers: bc.headers}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if err := h(ctx, r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// discardExporter is a span exporter that drops what it is given.
type discardExporter struct{}

func (discardExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardExporter) Shutdown(context.Context) error                             { return nil }
