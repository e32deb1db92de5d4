// Package kafkatest runs an embedded Kafka broker for tests: franz-go's
// kfake, listening on 127.0.0.1, which the real franz-go client talks to
// over real sockets. It adds fault injection through kfake's Control and
// Fault hooks: failed produce requests, failed fetches, dropped
// connections.
//
//	func TestOrders(t *testing.T) {
//		c := kafkatest.Start(t, kafkatest.Topic("orders", 4))
//		s, err := stream.Open(ctx, c.URL("orders"))
//		...
//		c.FailProduce("orders", 1, nil) // the next produce request fails
//	}
package kafkatest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/unistream-go/unistream/stream/streamtest"
)

// ErrDropped is the error a control function returns to make kfake close
// the connection of a request (see DropConnections).
var ErrDropped = errors.New("kafkatest: connection dropped by fault injection")

// Cluster is a running embedded broker.
type Cluster struct {
	kc    *kfake.Cluster
	addrs []string

	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{} // the brokers' open connections
	done   chan struct{}         // closed by Close
}

// config collects the options of New and Start.
type config struct {
	brokers int
	topics  []topic
	extra   []kfake.Opt
}

type topic struct {
	name       string
	partitions int32
}

// Option configures New and Start.
type Option func(*config)

// Brokers sets the number of brokers (default 1).
func Brokers(n int) Option { return func(c *config) { c.brokers = n } }

// Topic creates a topic with the given partition count at start.
func Topic(name string, partitions int) Option {
	return func(c *config) { c.topics = append(c.topics, topic{name, int32(partitions)}) }
}

// KfakeOptions passes options to kfake.NewCluster as they are (after the
// package's own: a kfake.ListenFn given here replaces the listener that
// CutConnections needs).
func KfakeOptions(opts ...kfake.Opt) Option {
	return func(c *config) { c.extra = append(c.extra, opts...) }
}

// New starts a cluster on 127.0.0.1 with random ports. Close it when done.
func New(opts ...Option) (*Cluster, error) {
	cfg := config{brokers: 1}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.brokers < 1 {
		return nil, fmt.Errorf("kafkatest: %d brokers: expected at least 1", cfg.brokers)
	}
	kopts := []kfake.Opt{kfake.NumBrokers(cfg.brokers)}
	for _, t := range cfg.topics {
		if t.partitions < 1 {
			return nil, fmt.Errorf("kafkatest: topic %s with %d partitions: expected at least 1", t.name, t.partitions)
		}
		kopts = append(kopts, kfake.SeedTopics(t.partitions, t.name))
	}
	c := &Cluster{conns: map[net.Conn]struct{}{}, done: make(chan struct{})}
	kopts = append(kopts, kfake.ListenFn(c.listen))
	kopts = append(kopts, cfg.extra...)
	kc, err := kfake.NewCluster(kopts...)
	if err != nil {
		return nil, fmt.Errorf("kafkatest: start kfake: %w", err)
	}
	c.kc, c.addrs = kc, kc.ListenAddrs()
	return c, nil
}

// listen is kfake's listen function: it tracks the accepted connections so
// that CutConnections can close them.
func (c *Cluster) listen(network, address string) (net.Listener, error) {
	ln, err := net.Listen(network, address)
	if err != nil {
		return nil, err
	}
	return &trackingListener{Listener: ln, c: c}, nil
}

type trackingListener struct {
	net.Listener
	c *Cluster
}

func (l *trackingListener) Accept() (net.Conn, error) {
	conn, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: conn, c: l.c}
	l.c.mu.Lock()
	l.c.conns[tc] = struct{}{}
	l.c.mu.Unlock()
	return tc, nil
}

type trackedConn struct {
	net.Conn
	c    *Cluster
	once sync.Once
}

func (tc *trackedConn) Close() error {
	tc.once.Do(func() {
		tc.c.mu.Lock()
		delete(tc.c.conns, tc)
		tc.c.mu.Unlock()
	})
	return tc.Conn.Close()
}

// Connections returns the number of client connections the brokers hold
// open (accepted and not yet closed by either side).
func (c *Cluster) Connections() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.conns)
}

// WaitConnections waits until the brokers hold at most most client
// connections, or timeout has passed, polling, and returns how many they
// hold then: a client closes connections on its own schedule (at Close,
// or once idle), so tests wait for the count rather than guess when.
func (c *Cluster) WaitConnections(most int, timeout time.Duration) int {
	deadline := time.Now().Add(timeout)
	for {
		n := c.Connections()
		if n <= most || !time.Now().Before(deadline) {
			return n
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// CutConnections closes every open client connection of the brokers, as a
// broker restart or a network cut would; clients reconnect. It returns how
// many connections it closed.
func (c *Cluster) CutConnections() int {
	c.mu.Lock()
	conns := make([]net.Conn, 0, len(c.conns))
	for conn := range c.conns {
		conns = append(conns, conn)
	}
	c.mu.Unlock()
	for _, conn := range conns {
		conn.Close()
	}
	return len(conns)
}

// TB is the part of testing.TB that Start uses (streamtest.TB): the package
// names no type of package testing, so that the shipped CLI, whose embedded
// broker it starts, does not link testing.
type TB = streamtest.TB

// Start starts a cluster for a test or benchmark and closes it when tb
// ends; it fails tb if the cluster cannot start.
func Start(tb TB, opts ...Option) *Cluster {
	tb.Helper()
	c, err := New(opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.Close)
	return c
}

// Addrs returns the brokers' "127.0.0.1:PORT" addresses.
func (c *Cluster) Addrs() []string { return append([]string(nil), c.addrs...) }

// Kfake returns the underlying kfake cluster, for what the helpers here do
// not cover.
func (c *Cluster) Kfake() *kfake.Cluster { return c.kc }

// URL returns "kafka://ADDRS/TOPIC" with the query given as alternating
// keys and values: c.URL("orders", "fetch_wait", "10ms").
func (c *Cluster) URL(topic string, keyValues ...string) string {
	u := url.URL{Scheme: "kafka", Host: strings.Join(c.addrs, ","), Path: "/" + topic}
	q := url.Values{}
	for i := 0; i+1 < len(keyValues); i += 2 {
		q.Set(keyValues[i], keyValues[i+1])
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// Client returns a new franz-go client of the cluster with extra options;
// the caller closes it.
func (c *Cluster) Client(opts ...kgo.Opt) (*kgo.Client, error) {
	return kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.addrs...)}, opts...)...)
}

// admin runs fn with an admin client.
func (c *Cluster) admin(ctx context.Context, fn func(*kadm.Client) error) error {
	cl, err := c.Client()
	if err != nil {
		return err
	}
	defer cl.Close()
	return fn(kadm.NewClient(cl))
}

// CreateTopic creates a topic with the given partition count.
func (c *Cluster) CreateTopic(ctx context.Context, name string, partitions int) error {
	return c.admin(ctx, func(adm *kadm.Client) error {
		if _, err := adm.CreateTopic(ctx, int32(partitions), -1, nil, name); err != nil {
			return fmt.Errorf("kafkatest: create topic %s with %d partitions: %w", name, partitions, err)
		}
		return nil
	})
}

// DeleteRecords deletes the records of a partition before offset, as
// retention would: the log then starts at offset.
func (c *Cluster) DeleteRecords(ctx context.Context, topic string, partition int32, offset int64) error {
	return c.admin(ctx, func(adm *kadm.Client) error {
		var os kadm.Offsets
		os.Add(kadm.Offset{Topic: topic, Partition: partition, At: offset})
		resp, err := adm.DeleteRecords(ctx, os)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			return fmt.Errorf("kafkatest: delete records of %s/%d before %d: %w", topic, partition, offset, err)
		}
		return nil
	})
}

// AddPartitions adds n partitions to a topic.
func (c *Cluster) AddPartitions(ctx context.Context, topic string, n int) error {
	return c.admin(ctx, func(adm *kadm.Client) error {
		resp, err := adm.CreatePartitions(ctx, n, topic)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			return fmt.Errorf("kafkatest: add %d partitions to %s: %w", n, topic, err)
		}
		return nil
	})
}

// Fault is an installed fault; Remove it to stop it early.
type Fault struct{ h *kfake.FaultHandle }

// Hits is the number of requests the fault has answered.
func (f *Fault) Hits() int { return f.h.Hits() }

// Wait waits until the fault has answered n requests, or ctx is done.
func (f *Fault) Wait(ctx context.Context, n int) error { return f.h.Wait(ctx, n) }

// Remove uninstalls the fault.
func (f *Fault) Remove() { f.h.Remove() }

// FailProduce makes the next n produce requests that carry topic fail, for
// every partition of the topic in them, with err (UNKNOWN_SERVER_ERROR if
// nil, which franz-go does not retry). The records are not written.
func (c *Cluster) FailProduce(topic string, n int, err *kerr.Error, partitions ...int32) *Fault {
	return &Fault{c.kc.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: topic, Partitions: partitions, Err: err, Count: n})}
}

// FailFetch makes the next n fetch requests that carry topic fail, for
// every partition of the topic in them (or only the given partitions),
// with err (UNKNOWN_SERVER_ERROR if nil). franz-go retries retriable errors
// itself and returns the others to the reader.
func (c *Cluster) FailFetch(topic string, n int, err *kerr.Error, partitions ...int32) *Fault {
	return &Fault{c.kc.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Fetch}, Topic: topic, Partitions: partitions, Err: err, Count: n})}
}

// FailListOffsets makes the next n ListOffsets requests for topic fail with
// err (UNKNOWN_SERVER_ERROR if nil).
func (c *Cluster) FailListOffsets(topic string, n int, err *kerr.Error) *Fault {
	return &Fault{c.kc.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.ListOffsets}, Topic: topic, Err: err, Count: n})}
}

// DropConnections closes the connection of each of the next n requests of
// the given kind (kmsg.Produce, kmsg.Fetch, ...) instead of answering it, as
// a broker crash or a network cut would. It returns a channel closed once
// n connections were dropped.
func (c *Cluster) DropConnections(key kmsg.Key, n int) <-chan struct{} {
	done := make(chan struct{})
	if n <= 0 {
		close(done)
		return done
	}
	var left atomic.Int64
	left.Store(int64(n))
	c.kc.ControlKey(int16(key), func(kmsg.Request) (kmsg.Response, error, bool) {
		switch l := left.Add(-1); {
		case l > 0:
			c.kc.KeepControl()
		case l == 0:
			close(done)
		default:
			return nil, nil, false // already done (a request raced the drop)
		}
		return nil, ErrDropped, true
	})
	return done
}

// Delay holds each of the next n requests of the given kind for d (or
// until Close) before the broker handles it, as a slow broker would. Other
// connections go on meanwhile.
func (c *Cluster) Delay(key kmsg.Key, n int, d time.Duration) {
	if n <= 0 {
		return
	}
	var left atomic.Int64
	left.Store(int64(n))
	c.kc.ControlKey(int16(key), func(kmsg.Request) (kmsg.Response, error, bool) {
		l := left.Add(-1)
		if l <= 0 {
			c.kc.DropControl()
		}
		if l >= 0 {
			c.kc.SleepControl(func() {
				t := time.NewTimer(d)
				defer t.Stop()
				select {
				case <-t.C:
				case <-c.done:
				}
			})
		}
		return nil, nil, false
	})
}

// Close stops the cluster. It is idempotent.
func (c *Cluster) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	close(c.done)
	c.kc.Close()
}
