// Package pulsartest runs pulsarfake, the in-process Pulsar broker, for
// tests and demos: the real pulsar-client-go talks to it over loopback
// sockets. It returns ready unistream URLs for its topics and exposes the
// broker's fault injection.
//
//	func TestOrders(t *testing.T) {
//		b := pulsartest.Start(t, pulsartest.Topic("orders", 4))
//		s, err := stream.Open(ctx, b.URL("orders"))
//		...
//		b.DropConnections() // every client reconnects
//	}
package pulsartest

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/unistream-go/unistream/adapters/pulsar/pulsarfake"
	"github.com/unistream-go/unistream/stream/streamtest"
)

// Broker is a running pulsarfake broker.
type Broker struct {
	b *pulsarfake.Broker
}

// config collects the options of New and Start.
type config struct {
	topics []topic
	fake   []pulsarfake.Option
}

type topic struct {
	name       string
	partitions int
}

// Option configures New and Start.
type Option func(*config)

// Topic creates a topic at start with the given partition count (0 for a
// non-partitioned topic).
func Topic(name string, partitions int) Option {
	return func(c *config) { c.topics = append(c.topics, topic{name, partitions}) }
}

// DataDir keeps the broker's topics in dir, so that a later broker on the
// same folder finds them (restart tests, a demo that outlives a run).
func DataDir(dir string) Option {
	return func(c *config) { c.fake = append(c.fake, pulsarfake.WithDataDir(dir)) }
}

// Addr makes the broker listen on addr ("127.0.0.1:6650") instead of a
// random loopback port.
func Addr(addr string) Option {
	return func(c *config) { c.fake = append(c.fake, pulsarfake.WithAddr(addr)) }
}

// FakeOptions passes options to pulsarfake.NewBroker as they are.
func FakeOptions(opts ...pulsarfake.Option) Option {
	return func(c *config) { c.fake = append(c.fake, opts...) }
}

// New starts a broker on 127.0.0.1 and creates the topics of opts. Close it
// when done.
func New(ctx context.Context, opts ...Option) (*Broker, error) {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	fb, err := pulsarfake.NewBroker(cfg.fake...)
	if err != nil {
		return nil, fmt.Errorf("pulsartest: %w", err)
	}
	if err := fb.Start(ctx); err != nil {
		fb.Close()
		return nil, fmt.Errorf("pulsartest: %w", err)
	}
	b := &Broker{b: fb}
	for _, t := range cfg.topics {
		if err := b.CreateTopic(t.name, t.partitions); err != nil {
			fb.Close()
			return nil, err
		}
	}
	return b, nil
}

// TB is the part of testing.TB that Start uses (streamtest.TB): the package
// names no type of package testing, so that the shipped CLI, whose embedded
// broker it starts, does not link testing.
type TB = streamtest.TB

// Start is New for a test: it fails the test on error and closes the broker
// in a t.Cleanup.
func Start(tb TB, opts ...Option) *Broker {
	tb.Helper()
	b, err := New(context.Background(), opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(b.Close)
	return b
}

// Fake returns the broker, for its fault injection and inspection.
func (b *Broker) Fake() *pulsarfake.Broker { return b.b }

// Addr returns the binary protocol address, "127.0.0.1:PORT".
func (b *Broker) Addr() string { return b.b.Addr() }

// ServiceURL returns the client service URL, "pulsar://127.0.0.1:PORT".
func (b *Broker) ServiceURL() string { return b.b.ServiceURL() }

// HTTPURL returns the HTTP service URL, "http://127.0.0.1:PORT".
func (b *Broker) HTTPURL() string { return b.b.HTTPURL() }

// CreateTopic creates a topic with the given partition count (0 for a
// non-partitioned topic). A short name lives in public/default; the name
// may also be TENANT/NAMESPACE/TOPIC.
func (b *Broker) CreateTopic(name string, partitions int) error {
	full := name
	if strings.Count(name, "/") == 2 && !strings.Contains(name, "://") {
		full = "persistent://" + name
	}
	if err := b.b.CreateTopic(full, partitions); err != nil {
		return fmt.Errorf("pulsartest: create topic %s with %d partitions: %w", name, partitions, err)
	}
	return nil
}

// URL returns the unistream URL of topic on this broker, with the
// key-value pairs as its query ("send_timeout", "2s", ...).
func (b *Broker) URL(topic string, keyValues ...string) string {
	return b.url(b.Addr(), topic, keyValues)
}

// HTTPLookupURL is URL with lookup=http: the client finds the topic through
// the broker's HTTP service.
func (b *Broker) HTTPLookupURL(topic string, keyValues ...string) string {
	host := strings.TrimPrefix(b.HTTPURL(), "http://")
	return b.url(host, topic, append([]string{"lookup", "http"}, keyValues...))
}

func (b *Broker) url(host, topic string, kv []string) string {
	u := url.URL{Scheme: "pulsar", Host: host, Path: "/" + topic}
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Add(kv[i], kv[i+1])
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// DropConnections closes every client connection, as a broker restart
// would; clients reconnect. It returns the number of connections closed.
func (b *Broker) DropConnections() int { return b.b.DropConnections() }

// Close stops the broker.
func (b *Broker) Close() { b.b.Close() }

// ClientLeaks returns the goroutines pulsar-client-go v0.19.0 leaves behind
// on its own, for goleak's IgnoreAnyFunction; every other goroutine, ours
// and the client's, must end:
//   - failTimeoutMessages, one per closed producer: it waits on a channel
//     nobody closes;
//   - the dispatcher, events loop and ack grouping tracker of a consumer
//     that was unsubscribed (Close after Unsubscribe returns early);
//   - the goroutine a consumer's (re)subscription starts to tell its
//     dispatcher, which blocks for ever when the consumer is closed before
//     the dispatcher takes the notice (an unbuffered send without a select,
//     consumer_partition.go:2219). Any test that closes a consumer soon
//     after a reconnect can hit it;
//   - a connection's run loop, reader and ping check, when a producer's or
//     consumer's reconnect asks the pool for a connection while the client
//     closes: the pool's GetConnection has no closed check, so it adds a
//     new connection to the pool Close has just emptied, and nothing ever
//     closes it (connection_pool.go). Seen under load (make stress) only.
func ClientLeaks() []string {
	return []string{
		"github.com/apache/pulsar-client-go/pulsar.(*partitionProducer).failTimeoutMessages",
		"github.com/apache/pulsar-client-go/pulsar.(*partitionConsumer).dispatcher",
		"github.com/apache/pulsar-client-go/pulsar.(*partitionConsumer).runEventsLoop",
		"github.com/apache/pulsar-client-go/pulsar.newAckGroupingTracker.func1",
		"github.com/apache/pulsar-client-go/pulsar.(*partitionConsumer).grabConn.func1",
		"github.com/apache/pulsar-client-go/pulsar/internal.(*connection).run",
		"github.com/apache/pulsar-client-go/pulsar/internal.(*connectionReader).readFromConnection",
		"github.com/apache/pulsar-client-go/pulsar/internal.(*connection).runPingCheck",
	}
}
