package kinesis_test

import (
	"context"
	"testing"

	"github.com/unistream-go/unistream/adapters/kinesis/kinesistest"
	"github.com/unistream-go/unistream/internal/tracecheck"
	"github.com/unistream-go/unistream/stream"
)

// The trace context of Put's context travels in the Kinesis envelope to
// the consumer's process spans.
func TestTraceOnKinesis(t *testing.T) {
	b := kinesistest.Start(t)
	if err := b.CreateStream("traced", 1); err != nil {
		t.Fatal(err)
	}
	s, err := stream.Open(context.Background(), b.URL("traced", fastKeys...))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tracecheck.RoundTrip(t, s)
}
