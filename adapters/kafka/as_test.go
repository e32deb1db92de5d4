package kafka_test

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/unistream-go/unistream/adapters/kafka"
	"github.com/unistream-go/unistream/adapters/kafka/kafkatest"
	"github.com/unistream-go/unistream/stream"
)

// TestStreamAs: a stream opened by URL tells its scheme and hands out the
// stream's own franz-go clients (which work) and the *kafka.Stream through
// As, and refuses other targets without touching them.
func TestStreamAs(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic("orders", 2))
	s, err := stream.Open(context.Background(), c.URL("orders"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.Scheme(); got != "kafka" {
		t.Errorf("Scheme() = %q, want kafka", got)
	}
	var cl *kgo.Client
	if !s.As(&cl) || cl == nil {
		t.Fatal("As(**kgo.Client) = false, want the stream's client")
	}
	if err := cl.Ping(context.Background()); err != nil {
		t.Errorf("the client from As does not reach the broker: %v", err)
	}
	var adm *kadm.Client
	if !s.As(&adm) || adm == nil {
		t.Fatal("As(**kadm.Client) = false, want the stream's admin client")
	}
	topics, err := adm.ListTopics(context.Background(), "orders")
	if err != nil || !topics.Has("orders") {
		t.Errorf("the admin client from As lists %v, %v; want the topic orders", topics.Names(), err)
	}
	var ks *kafka.Stream
	if !s.As(&ks) || ks.Name() != "orders" {
		t.Errorf("As(**kafka.Stream) = %v, want the adapter's stream", ks)
	}
	wrong := "untouched"
	var nilClient **kgo.Client
	for name, target := range map[string]any{"*string": &wrong, "nil": nil, "non-pointer": cl, "nil **kgo.Client": nilClient} {
		if s.As(target) {
			t.Errorf("As(%s) = true, want false", name)
		}
	}
	if wrong != "untouched" {
		t.Errorf("As(*string) changed its target to %q", wrong)
	}
}
