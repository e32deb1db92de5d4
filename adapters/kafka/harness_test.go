package kafka_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/unistream-go/unistream/adapters/kafka"
	"github.com/unistream-go/unistream/adapters/kafka/kafkatest"
	"github.com/unistream-go/unistream/conformance"
	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/driver"
)

// conformanceSeq numbers the topics the conformance harness creates.
var conformanceSeq atomic.Uint64

// conformanceHarness describes the Kafka adapter to the conformance suite,
// in standalone ownership mode, on one embedded kfake broker for the whole
// run: every stream is a fresh topic. Faults are injected in the broker
// through kfake (failed fetches), at the socket level (every connection
// cut) and, for whole failed writes, by the adapter's test hook. Kafka fails a write per partition batch,
// never a single record of it, so the harness does not implement
// conformance.PartialWriteFaults; the per-record write rule is tested by
// the adapter's own tests. Kafka partitions never split or merge.
//
// Group mode runs the group scenarios with the Kafka store: each member
// keeps its checkpoints in its own group's commits, fenced by its
// generation. The broker allows short sessions so that rebalances (paced
// by the members' heartbeats) take a fraction of a second.
func conformanceHarness(t *testing.T) conformance.Harness {
	if target, err := conformance.CurrentTarget(); err == nil && target == conformance.Containers {
		t.Skip("UNISTREAM_TARGET=containers: Kafka in Docker is the containers module's test (make test-containers)")
	}
	c := kafkatest.Start(t, kafkatest.KfakeOptions(kfake.GroupMinSessionTimeout(100*time.Millisecond)))
	if err := c.CreateTopic(context.Background(), "conformance-store", 1); err != nil {
		t.Fatal(err)
	}
	return conformance.Harness{
		Name: "kafka",
		// kfake serves each client connection with a read and a write
		// goroutine that end after the client has closed, on kfake's time.
		BrokerFunctions: []string{
			"github.com/twmb/franz-go/pkg/kfake.(*clientConn).read",
			"github.com/twmb/franz-go/pkg/kfake.(*clientConn).write",
		},
		NewStream: func(t conformance.T, spec conformance.StreamSpec) (string, error) {
			topic := fmt.Sprintf("conformance-%d", conformanceSeq.Add(1))
			if err := c.CreateTopic(context.Background(), topic, spec.Partitions); err != nil {
				return "", err
			}
			// Short waits: an empty Fetch costs real time, and injected
			// faults should heal fast.
			return c.URL(topic, "fetch_wait", "5ms", "metadata_min_age", "50ms", "session_timeout", "1s", "rebalance_timeout", "10s"), nil
		},
		// DeleteTopics through kadm, as unistream conformance does.
		DeleteStream: func(t conformance.T, url string) error { return kafka.DeleteTopicURL(context.Background(), url) },
		Group: func(t conformance.T, s driver.Stream, name string) ([]stream.ConsumerOption, error) {
			ks, ok := s.(*kafka.Stream)
			if !ok {
				return nil, fmt.Errorf("a kafka harness stream is a %T", s)
			}
			return []stream.ConsumerOption{stream.WithGroup(name), stream.WithCheckpointStore(kafka.NewStore(ks))}, nil
		},
		GroupStores: []conformance.StoreFactory{{Name: "kafka", New: func(t conformance.T) (checkpoint.Store, error) {
			s, err := kafka.Open(context.Background(), kafka.Options{Target: kafka.Target{Brokers: c.Addrs(), Topic: "conformance-store"}})
			if err != nil {
				return nil, err
			}
			t.Cleanup(func() { s.Close() })
			return kafka.NewStore(s), nil
		}}},
		CanInjectFaults: true,
		Faults: func(t conformance.T, rawURL string) (conformance.Faults, error) {
			u, err := url.Parse(rawURL)
			if err != nil {
				return nil, err
			}
			return &kafkaFaults{c: c, topic: strings.TrimPrefix(u.Path, "/")}, nil
		},
	}
}

// kafkaFaults injects broker faults into one topic; it is a
// conformance.Faults and a conformance.ConnectionDropper.
type kafkaFaults struct {
	c     *kafkatest.Cluster
	topic string

	mu     sync.Mutex
	faults []*kafkatest.Fault
}

var _ conformance.ConnectionDropper = (*kafkaFaults)(nil)

func (f *kafkaFaults) add(x *kafkatest.Fault) {
	f.mu.Lock()
	f.faults = append(f.faults, x)
	f.mu.Unlock()
}

// FailFetches fails the next n fetch requests of the topic with
// UNKNOWN_SERVER_ERROR, which franz-go does not retry by itself: the
// reader returns it and the engine retries. (Errors Kafka calls retriable,
// such as NOT_LEADER_OR_FOLLOWER, franz-go retries inside the reader, and
// the engine never sees them; the adapter's tests cover both.)
func (f *kafkaFaults) FailFetches(n int) {
	f.add(f.c.FailFetch(f.topic, n, kerr.UnknownServerError))
}

// FailWrites fails the next n Write calls to the topic whole, before
// anything is sent. This is the adapter's test hook, not a broker fault:
// franz-go may split one Write into several produce requests, so a broker
// fault counted in requests cannot fail exactly n Writes. Broker produce
// failures (per partition, with the preceding-record rule) are covered by
// TestWriteBrokerFailure and TestEngineOnKafka.
func (f *kafkaFaults) FailWrites(n int) {
	kafka.FailWrites(f.topic, n)
}

// DropConnections cuts every client connection of the broker.
func (f *kafkaFaults) DropConnections() { f.c.CutConnections() }

// Clear removes the faults installed through f.
func (f *kafkaFaults) Clear() {
	kafka.FailWrites(f.topic, 0)
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, x := range f.faults {
		x.Remove()
	}
	f.faults = nil
}
