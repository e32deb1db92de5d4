package main

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kfake"

	// The Kafka scheme, which this binary opens by URL, and its admin.
	"github.com/unistream-go/unistream/adapters/kafka"
	"github.com/unistream-go/unistream/adapters/kafka/kafkatest"
	"github.com/unistream-go/unistream/stream/memstream"
)

// An embeddedBackend is a broker this binary can run in-process, for demo
// and serve. Adding a backend is one entry in embeddedBackends: a start
// function returning a running broker.
type embeddedBackend struct {
	name string
	// port is serve's default loopback port (0: in-process only, no port).
	port int
	// start runs the broker; nil when the backend is not built in yet, and
	// missing says why.
	start   func(ctx context.Context, o embedOptions) (runningBackend, error)
	missing string
}

// embedOptions configure a started broker.
type embedOptions struct {
	// port is the loopback port (0: a free one).
	port int
}

// runningBackend is a started embedded broker.
type runningBackend interface {
	// URL returns the URL of a stream on the broker that creates it with
	// the given partition count if it does not exist.
	URL(stream string, partitions int) string
	// Addr is the broker's address ("127.0.0.1:9092"), or "in-process".
	Addr() string
	// Close stops the broker.
	Close()
}

var embeddedBackends = []embeddedBackend{
	{name: "kafka", port: 9092, start: startKafka},
	{name: "mem", start: startMem},
	kinesisEmbedded, // backend_kinesis.go, or its stand-in under the lite tag
	pulsarEmbedded,  // backend_pulsar.go, or its stand-in under the lite tag
}

func backendNames() string {
	var n []string
	for _, b := range embeddedBackends {
		n = append(n, b.name)
	}
	sort.Strings(n)
	return strings.Join(n, ", ")
}

// lookupBackend returns the embedded backend called name, or an error that
// names the ones there are and says why one is unavailable.
func lookupBackend(name string) (embeddedBackend, error) {
	for _, b := range embeddedBackends {
		if b.name != name {
			continue
		}
		if b.start == nil {
			return b, fmt.Errorf("backend %q is not available: %s (available: %s)", name, b.missing, availableBackends())
		}
		return b, nil
	}
	return embeddedBackend{}, fmt.Errorf("backend %q: expected one of %s", name, backendNames())
}

func availableBackends() string {
	var n []string
	for _, b := range embeddedBackends {
		if b.start != nil {
			n = append(n, b.name)
		}
	}
	return strings.Join(n, ", ")
}

// A streamAdmin deletes the streams of one URL scheme, for the streams
// `unistream conformance` creates on the user's cluster.
type streamAdmin struct {
	// delete deletes the stream at url with the backend's admin API and
	// returns once it is gone; a stream that does not exist is gone.
	delete func(ctx context.Context, url string) error
	// perShard: the backend bills and limits streams per shard (Kinesis),
	// so conformance --max-shards applies to it.
	perShard bool
}

// streamAdmins are the schemes whose streams this binary can delete.
var streamAdmins = map[string]streamAdmin{
	"kafka":   {delete: kafka.DeleteTopicURL}, // DeleteTopics through kadm
	"mem":     {delete: deleteMemStream},
	"kinesis": kinesisAdmin, // backend_kinesis.go, or none under the lite tag
	"pulsar":  pulsarAdmin,  // backend_pulsar.go, or none under the lite tag
}

// deleteMemStream deletes a mem:// stream of this process.
func deleteMemStream(_ context.Context, rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("mem: delete stream: %w", err)
	}
	memstream.Default().Delete(u.Host)
	return nil
}

// kafkaBackend is kfake through kafkatest, with real sockets on loopback.
type kafkaBackend struct{ c *kafkatest.Cluster }

func startKafka(_ context.Context, o embedOptions) (runningBackend, error) {
	var opts []kafkatest.Option
	if o.port != 0 {
		// kfake reports a busy port obscurely: check it first.
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(o.port)))
		if err != nil {
			return nil, fmt.Errorf("kafka: port %d is not free: %w", o.port, err)
		}
		ln.Close()
		opts = append(opts, kafkatest.KfakeOptions(kfake.Ports(o.port)))
	}
	c, err := kafkatest.New(opts...)
	if err != nil {
		return nil, err
	}
	return kafkaBackend{c}, nil
}

func (k kafkaBackend) URL(name string, partitions int) string {
	return k.c.URL(name, "create_topic", "true", "partitions", strconv.Itoa(partitions))
}
func (k kafkaBackend) Addr() string { return strings.Join(k.c.Addrs(), ",") }
func (k kafkaBackend) Close()       { k.c.Close() }

// memBackend is the in-memory backend of this process.
type memBackend struct{ names []string }

func startMem(context.Context, embedOptions) (runningBackend, error) { return &memBackend{}, nil }

func (m *memBackend) URL(name string, partitions int) string {
	m.names = append(m.names, name)
	return (&url.URL{Scheme: "mem", Host: name, RawQuery: "partitions=" + strconv.Itoa(partitions)}).String()
}
func (m *memBackend) Addr() string { return "in-process" }
func (m *memBackend) Close() {
	for _, n := range m.names {
		memstream.Default().Delete(n)
	}
}
