package pulsar_test

import (
	"context"
	"testing"

	pulsarclient "github.com/apache/pulsar-client-go/pulsar"

	"github.com/unistream-go/unistream/adapters/pulsar"
	"github.com/unistream-go/unistream/adapters/pulsar/pulsartest"
	"github.com/unistream-go/unistream/stream"
)

// TestStreamAs: a stream opened by URL tells its scheme and hands out the
// stream's own pulsar-client-go client (which works) and the
// *pulsar.Stream through As, and refuses other targets without touching
// them.
func TestStreamAs(t *testing.T) {
	b := pulsartest.Start(t, pulsartest.Topic("orders", 2))
	s, err := stream.Open(context.Background(), b.URL("orders"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.Scheme(); got != "pulsar" {
		t.Errorf("Scheme() = %q, want pulsar", got)
	}
	var ps *pulsar.Stream
	if !s.As(&ps) || ps.Name() != "orders" {
		t.Fatalf("As(**pulsar.Stream) = %v, want the adapter's stream", ps)
	}
	var cl pulsarclient.Client
	if !s.As(&cl) || cl == nil {
		t.Fatal("As(*pulsar.Client) = false, want the stream's client")
	}
	parts, err := cl.TopicPartitions(ps.FullTopic())
	if err != nil || len(parts) != 2 {
		t.Errorf("the client from As lists partitions %v, %v; want 2", parts, err)
	}
	wrong := "untouched"
	var nilClient *pulsarclient.Client
	for name, target := range map[string]any{"*string": &wrong, "nil": nil, "non-pointer": cl, "nil *pulsar.Client": nilClient} {
		if s.As(target) {
			t.Errorf("As(%s) = true, want false", name)
		}
	}
	if wrong != "untouched" {
		t.Errorf("As(*string) changed its target to %q", wrong)
	}
}
