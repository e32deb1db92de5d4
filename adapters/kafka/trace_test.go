package kafka_test

import (
	"context"
	"testing"

	"github.com/unistream-go/unistream/adapters/kafka/kafkatest"
	"github.com/unistream-go/unistream/internal/tracecheck"
	"github.com/unistream-go/unistream/stream"
)

// The trace context of Put's context travels in Kafka headers to the
// consumer's process spans.
func TestTraceOnKafka(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic("traced", 1))
	s, err := stream.Open(context.Background(), c.URL("traced"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tracecheck.RoundTrip(t, s)
}
