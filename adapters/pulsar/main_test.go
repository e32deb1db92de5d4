package pulsar_test

import (
	"testing"

	"go.uber.org/goleak"
)

// clientLeaks are goroutines pulsar-client-go v0.19.0 leaves behind on its
// own (see pulsarfake's main_test.go): one failTimeoutMessages per closed
// producer, which waits on a channel nobody closes; the parts of a
// consumer that Close skips after an Unsubscribe; and the goroutine a
// consumer's (re)subscription starts to tell its dispatcher, which blocks
// for ever when the consumer is closed before the dispatcher takes the
// notice (an unbuffered send without a select, consumer_partition.go:2219
// in v0.19.0; our readers reconnect after every Seek). Every other
// goroutine, ours and the client's, must end.
var clientLeaks = []string{
	"github.com/apache/pulsar-client-go/pulsar.(*partitionProducer).failTimeoutMessages",
	"github.com/apache/pulsar-client-go/pulsar.(*partitionConsumer).dispatcher",
	"github.com/apache/pulsar-client-go/pulsar.(*partitionConsumer).runEventsLoop",
	"github.com/apache/pulsar-client-go/pulsar.newAckGroupingTracker.func1",
	"github.com/apache/pulsar-client-go/pulsar.(*partitionConsumer).grabConn.func1",
}

func TestMain(m *testing.M) {
	var opts []goleak.Option
	for _, f := range clientLeaks {
		opts = append(opts, goleak.IgnoreTopFunction(f))
	}
	goleak.VerifyTestMain(m, opts...)
}
