package pulsar_test

import (
	"context"
	"testing"

	"github.com/unistream-go/unistream/adapters/pulsar/pulsartest"
	"github.com/unistream-go/unistream/internal/tracecheck"
	"github.com/unistream-go/unistream/stream"
)

// The trace context of Put's context travels in Pulsar properties to the
// consumer's process spans.
func TestTraceOnPulsar(t *testing.T) {
	b := pulsartest.Start(t, pulsartest.Topic("traced", 0))
	s, err := stream.Open(context.Background(), b.URL("traced"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tracecheck.RoundTrip(t, s)
}
