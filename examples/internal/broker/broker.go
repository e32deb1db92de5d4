// Package broker gives the examples a stream URL: the one in the
// UNISTREAM_STREAM environment variable (any backend, such as
// kafka://127.0.0.1:9092/orders from `unistream serve`), or else a stream
// on an embedded broker started for the example's run: Kafka (franz-go's
// kfake on loopback), Kinesis (kinesisfake, over HTTP on loopback) or
// Pulsar (pulsarfake, the binary protocol on loopback).
//
//	url, stop, err := broker.StreamURL("orders", 2)
//	if err != nil { ... }
//	defer stop()
package broker

import (
	"context"
	"fmt"
	"os"
	"strconv"

	"github.com/unistream-go/unistream/adapters/kafka/kafkatest"
	"github.com/unistream-go/unistream/adapters/kinesis/kinesistest"
	"github.com/unistream-go/unistream/adapters/pulsar/pulsartest"

	// The backends the examples open by URL.
	_ "github.com/unistream-go/unistream/adapters/kafka"
	_ "github.com/unistream-go/unistream/adapters/kinesis"
	_ "github.com/unistream-go/unistream/adapters/pulsar"
	_ "github.com/unistream-go/unistream/stream/memstream"
)

// EnvStream names the environment variable holding a stream URL.
const EnvStream = "UNISTREAM_STREAM"

// StreamURL returns $UNISTREAM_STREAM if set, else the URL of topic with
// the given partition count on a new embedded Kafka broker; stop ends the
// broker (a no-op for an external URL).
func StreamURL(topic string, partitions int) (url string, stop func(), err error) {
	return Embedded("kafka", topic, partitions)
}

// Embedded is StreamURL on the named embedded backend: "kafka", "kinesis"
// or "pulsar". $UNISTREAM_STREAM still wins.
func Embedded(backend, name string, partitions int) (url string, stop func(), err error) {
	if u := os.Getenv(EnvStream); u != "" {
		return u, func() {}, nil
	}
	switch backend {
	case "kafka":
		return kafka(name, partitions)
	case "kinesis":
		b, err := kinesistest.New()
		if err != nil {
			return "", nil, fmt.Errorf("start the embedded Kinesis: %w", err)
		}
		return b.URL(name, "create_stream", "true", "shards", strconv.Itoa(partitions), "poll_interval", "50ms", "max_poll_interval", "200ms"), func() { b.Close() }, nil
	case "pulsar":
		b, err := pulsartest.New(context.Background())
		if err != nil {
			return "", nil, fmt.Errorf("start the embedded Pulsar broker: %w", err)
		}
		if err := b.CreateTopic(name, partitions); err != nil {
			b.Close()
			return "", nil, err
		}
		return b.URL(name), b.Close, nil
	}
	return "", nil, fmt.Errorf("embedded backend %q: expected kafka, kinesis or pulsar", backend)
}

func kafka(topic string, partitions int) (string, func(), error) {
	c, err := kafkatest.New()
	if err != nil {
		return "", nil, fmt.Errorf("start the embedded Kafka broker: %w", err)
	}
	return c.URL(topic, "create_topic", "true", "partitions", strconv.Itoa(partitions), "fetch_wait", "50ms"), c.Close, nil
}
