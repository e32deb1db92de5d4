package containers

import (
	"context"
	"errors"
	"fmt"

	"github.com/testcontainers/testcontainers-go"
	tckafka "github.com/testcontainers/testcontainers-go/modules/kafka"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// KafkaImage is the pinned Kafka image: Confluent's single-node KRaft
// broker (Apache Kafka 3.5), the image testcontainers-go's kafka module
// is written and tested against (its start script drives the
// /etc/confluent/docker scripts of this image family, so apache/kafka
// images do not work with it; tags before 7.4.0 have no KRaft and are
// refused).
const KafkaImage = "confluentinc/confluent-local:7.5.0"

// Kafka is a running single-broker Kafka cluster in a container.
type Kafka struct {
	// Brokers are the seed brokers as host:port, reachable from this
	// host (the broker advertises the mapped port).
	Brokers []string
	// ClusterID is the KRaft cluster id.
	ClusterID string

	started
}

// StartKafka starts a Kafka broker and waits until it serves clients.
// Consumer groups may use session timeouts down to 100 ms (the broker's
// own floor is 6 s). It fails with an error matching ErrNoDocker when no
// Docker engine answers. Close removes it.
func StartKafka(ctx context.Context, opts ...Option) (*Kafka, error) {
	c := newConfig(KafkaImage, opts)
	ctx, cancel, err := startContext(ctx, c, "kafka")
	if err != nil {
		return nil, err
	}
	defer cancel()
	custom := append(c.customizers(), testcontainers.WithEnv(map[string]string{
		// Let consumer groups use sessions down to 100 ms (the broker's
		// default floor is 6 s), as the embedded kfake harness does, so
		// group tests rebalance in a fraction of a second. The Confluent
		// image turns KAFKA_X_Y into the broker setting x.y.
		"KAFKA_GROUP_MIN_SESSION_TIMEOUT_MS": "100",
	}))
	kc, err := tckafka.Run(ctx, c.image, custom...)
	k := &Kafka{}
	if kc != nil {
		k.ctr = kc.Container
	}
	if err != nil {
		return nil, errors.Join(fmt.Errorf("containers: start kafka (%s): %w", c.image, err), k.Close())
	}
	k.ClusterID = kc.ClusterID
	if k.Brokers, err = kc.Brokers(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("containers: kafka (%s): broker address: %w", c.image, err), k.Close())
	}
	return k, nil
}

// CreateTopic creates a topic with the given number of partitions and
// replication factor 1, and waits for the broker to confirm it.
func (k *Kafka) CreateTopic(ctx context.Context, topic string, partitions int) error {
	if topic == "" || partitions < 1 {
		return fmt.Errorf("containers: kafka: create topic %q with %d partitions: expected a name and at least one partition", topic, partitions)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.Brokers...))
	if err != nil {
		return fmt.Errorf("containers: kafka: client for %v: %w", k.Brokers, err)
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, int32(partitions), 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return fmt.Errorf("containers: kafka: create topic %s with %d partitions: %w", topic, partitions, err)
	}
	return nil
}

// Container is the testcontainers-go container, for logs or exec.
func (k *Kafka) Container() testcontainers.Container { return k.ctr }

// Close stops the broker and removes its container. Later calls return
// the first call's result.
func (k *Kafka) Close() error { return k.close("kafka") }
