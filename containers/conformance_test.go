package containers_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/unistream-go/unistream/adapters/kafka"
	"github.com/unistream-go/unistream/adapters/kinesis"
	"github.com/unistream-go/unistream/adapters/pulsar/pulsartest"
	"github.com/unistream-go/unistream/conformance"
	"github.com/unistream-go/unistream/containers"
	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/driver"
)

// The conformance suite on real brokers in Docker: this module's tests are
// the containers target (the root module's tests run the embedded one), so
// that the root module needs none of testcontainers-go's dependencies.
// Faults are not injected here (real brokers have no fault hooks), so the
// fault scenarios are skipped by capability. Without a Docker engine each
// test is skipped and says why.

var seq atomic.Uint64

// needDocker skips t, saying why, when no Docker engine answers.
func needDocker(t *testing.T) {
	t.Helper()
	if err := containers.Available(context.Background()); err != nil {
		t.Skipf("the containers target needs Docker: %v", err)
	}
}

// TestConformanceKafka runs the suite on Kafka (confluent-local, KRaft).
func TestConformanceKafka(t *testing.T) {
	needDocker(t)
	ctx := context.Background()
	k, err := containers.StartKafka(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	if err := k.CreateTopic(ctx, "conformance-store", 1); err != nil {
		t.Fatal(err)
	}
	brokers := strings.Join(k.Brokers, ",")
	conformance.Run(t, conformance.Harness{
		Name:        "kafka",
		NeedsDocker: true,
		NewStream: func(t conformance.T, spec conformance.StreamSpec) (string, error) {
			topic := fmt.Sprintf("conformance-%d", seq.Add(1))
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
	})
}

// TestConformancePulsar runs the suite on Pulsar standalone; the group
// scenario runs on the default WithGroup (a failover subscription).
func TestConformancePulsar(t *testing.T) {
	needDocker(t)
	p, err := containers.StartPulsar(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	conformance.Run(t, conformance.Harness{
		Name:            "pulsar",
		NeedsDocker:     true,
		BrokerFunctions: pulsartest.ClientLeaks(),
		NewStream: func(t conformance.T, spec conformance.StreamSpec) (string, error) {
			topic := fmt.Sprintf("conformance-%d", seq.Add(1))
			if err := p.CreateTopic(context.Background(), topic, spec.Partitions); err != nil {
				return "", err
			}
			q := url.Values{"fetch_wait": {"5ms"}, "send_timeout": {"5s"}, "operation_timeout": {"10s"}}
			return p.ServiceURL + "/" + topic + "?" + q.Encode(), nil
		},
	})
}

// TestConformanceKinesis runs the suite on LocalStack's Kinesis; shard
// splits go through the adapter.
func TestConformanceKinesis(t *testing.T) {
	needDocker(t)
	l, err := containers.StartLocalStack(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	conformance.Run(t, conformance.Harness{
		Name:        "kinesis",
		NeedsDocker: true,
		// The goroutines of an idle HTTP keep-alive connection end on the
		// transport's schedule after the client closes.
		BrokerFunctions: []string{"net/http.(*persistConn).readLoop", "net/http.(*persistConn).writeLoop"},
		NewStream: func(t conformance.T, spec conformance.StreamSpec) (string, error) {
			name := fmt.Sprintf("conformance-%d", seq.Add(1))
			if err := l.CreateStream(context.Background(), name, spec.Partitions); err != nil {
				return "", err
			}
			q := url.Values{"endpoint": {l.Endpoint}, "region": {l.Region}, "access_key_id": {l.AccessKeyID}, "secret_access_key": {l.SecretAccessKey},
				"poll_interval": {"5ms"}, "max_poll_interval": {"20ms"}, "throttle_backoff": {"5ms"}, "request_timeout": {"30s"}}
			return "kinesis://" + name + "?" + q.Encode(), nil
		},
		CanSplit: true,
		Split: func(t conformance.T, rawURL, shard string) ([]string, error) {
			ctx := context.Background()
			u, err := url.Parse(rawURL)
			if err != nil {
				return nil, err
			}
			o, err := kinesis.ParseURL(u)
			if err != nil {
				return nil, err
			}
			s, err := kinesis.Open(ctx, o)
			if err != nil {
				return nil, err
			}
			defer s.Close()
			return s.Split(ctx, shard)
		},
	})
}
