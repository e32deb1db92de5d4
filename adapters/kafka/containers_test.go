package kafka_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/unistream-go/unistream/adapters/kafka"
	"github.com/unistream-go/unistream/conformance"
	"github.com/unistream-go/unistream/internal/containers"
	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/driver"
)

// containersHarness runs the suite on a real Kafka broker in Docker
// (UNISTREAM_TARGET=containers), started by testcontainers-go. Faults are
// not injected there (no kfake Control), so the fault scenarios are
// skipped by capability.
func containersHarness(t *testing.T) conformance.Harness {
	ctx := context.Background()
	if err := containers.Available(ctx); err != nil {
		t.Skipf("UNISTREAM_TARGET=containers: %v", err)
	}
	k, err := containers.StartKafka(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	if err := k.CreateTopic(ctx, "conformance-store", 1); err != nil {
		t.Fatal(err)
	}
	brokers := strings.Join(k.Brokers, ",")
	return conformance.Harness{
		Name:        "kafka",
		NeedsDocker: true,
		NewStream: func(t conformance.T, spec conformance.StreamSpec) (string, error) {
			topic := fmt.Sprintf("conformance-%d", conformanceSeq.Add(1))
			if err := k.CreateTopic(context.Background(), topic, spec.Partitions); err != nil {
				return "", err
			}
			q := url.Values{"fetch_wait": {"5ms"}, "metadata_min_age": {"50ms"}, "session_timeout": {"1s"}, "rebalance_timeout": {"10s"}}
			return "kafka://" + brokers + "/" + topic + "?" + q.Encode(), nil
		},
		Group: func(t conformance.T, s driver.Stream, name string) ([]stream.ConsumerOption, error) {
			ks, ok := s.(*kafka.Stream)
			if !ok {
				return nil, fmt.Errorf("a kafka harness stream is a %T", s)
			}
			return []stream.ConsumerOption{stream.WithGroup(name), stream.WithCheckpointStore(kafka.NewStore(ks))}, nil
		},
		GroupStores: []conformance.StoreFactory{{Name: "kafka", New: func(t conformance.T) (checkpoint.Store, error) {
			s, err := kafka.Open(context.Background(), kafka.Options{Target: kafka.Target{Brokers: k.Brokers, Topic: "conformance-store"}})
			if err != nil {
				return nil, err
			}
			t.Cleanup(func() { s.Close() })
			return kafka.NewStore(s), nil
		}}},
	}
}
