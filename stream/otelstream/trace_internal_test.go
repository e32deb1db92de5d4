package otelstream

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/propagation"

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
