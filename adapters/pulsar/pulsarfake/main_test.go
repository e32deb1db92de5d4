package pulsarfake_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no goroutine outlives the tests: every broker is
// closed by its test and stops all of its goroutines. pulsar-client-go
// v0.19.0 leaks some of its own, which are ignored:
//   - one failTimeoutMessages per closed producer (it waits on a channel
//     nobody closes);
//   - the dispatcher, events loop and ack grouping tracker of a consumer
//     that was unsubscribed (Close after Unsubscribe returns early).
func TestMain(m *testing.M) {
	const client = "github.com/apache/pulsar-client-go/pulsar."
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction(client+"(*partitionProducer).failTimeoutMessages"),
		goleak.IgnoreTopFunction(client+"(*partitionConsumer).dispatcher"),
		goleak.IgnoreTopFunction(client+"(*partitionConsumer).runEventsLoop"),
		goleak.IgnoreTopFunction(client+"newAckGroupingTracker.func1"),
	)
}
