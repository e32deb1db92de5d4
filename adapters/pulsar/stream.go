package pulsar

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	pulsarclient "github.com/apache/pulsar-client-go/pulsar"
	pulsarlog "github.com/apache/pulsar-client-go/pulsar/log"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/unistream-go/unistream/stream/driver"
)

// ErrClosed is returned, wrapped, by a closed Stream, Reader or Writer.
var ErrClosed = errors.New("pulsar: closed")

// partitionCountTTL is how long the writer trusts its cached partition count
// before it asks the broker again (Pulsar partitions only grow).
const partitionCountTTL = 10 * time.Second

// Stream is a Pulsar topic as a driver.Stream. Every method is safe for
// concurrent use.
//
// The Stream owns one pulsar-client-go client (one connection pool); its
// Readers and Writers create their readers and producers on it, and Close
// closes them all.
type Stream struct {
	o     Options
	full  string // persistent://tenant/ns/topic
	cl    pulsarclient.Client
	owned map[closer]struct{} // open readers and writers

	mu      sync.Mutex
	closed  bool
	nParts  int  // cached partition count
	plain   bool // the topic is not partitioned
	nPartsT time.Time
	members map[string]*member // by group (JoinGroup)

	prods sharedProducers // the writers' producers
}

// closer is a reader or writer the stream closes on Close.
type closer interface{ closeFromStream() }

var (
	_ driver.Stream  = (*Stream)(nil)
	_ driver.Schemer = (*Stream)(nil)
	_ driver.Aser    = (*Stream)(nil)
)

// Scheme returns "pulsar", the adapter's URL scheme (driver.Schemer).
func (s *Stream) Scheme() string { return "pulsar" }

// As implements driver.Aser, for stream.Stream.As: a *pulsar.Client
// target (of pulsar-client-go) gets the stream's client, owned by the
// stream (Close closes it: do not close it yourself); a **Stream target
// gets the stream itself. Any other target returns false.
func (s *Stream) As(target any) bool {
	return driver.SetAs(target, s.cl) || driver.SetAs(target, s)
}

// Open connects to the service of o and returns the topic o.Topic as a
// stream. The topic must exist (or the broker must create topics on first
// use). Zero fields take their defaults, so o may be a struct literal
// (pulsar.Options{Target: pulsar.Target{...}}) as well as the result of
// NewOptions or ParseURL.
func Open(ctx context.Context, o Options) (*Stream, error) {
	o = o.withDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	copts, err := clientOptions(o)
	if err != nil {
		return nil, err
	}
	cl, err := pulsarclient.NewClient(copts)
	if err != nil {
		return nil, fmt.Errorf("pulsar: open %s at %s: new client: %w", o.Topic, o.ServiceURL(), err)
	}
	s := &Stream{o: o, full: o.FullTopic(), cl: cl, owned: map[closer]struct{}{}}
	if _, err := s.readPartitions(ctx); err != nil {
		cl.Close()
		return nil, fmt.Errorf("pulsar: open %s at %s: %w", o.Topic, o.ServiceURL(), err)
	}
	return s, nil
}

// clientOptions builds the client's options: service URL, timeouts, TLS,
// authentication, a private metrics registry and a logger that passes the
// client's lines to slog's default logger (as it is when the stream is
// opened), one level down: its errors at Warn, its warnings and info
// lines at Debug.
func clientOptions(o Options) (pulsarclient.ClientOptions, error) {
	c := pulsarclient.ClientOptions{
		URL:                        o.ServiceURL(),
		ConnectionTimeout:          o.ConnectionTimeout,
		OperationTimeout:           o.OperationTimeout,
		TLSTrustCertsFilePath:      o.TLSCAFile,
		TLSAllowInsecureConnection: o.TLSInsecure,
		TLSValidateHostname:        o.TLSVerifyHostname,
		MetricsRegisterer:          prometheus.NewRegistry(),
		Logger:                     clientLogger(slog.Default().Handler()),
	}
	switch {
	case o.AuthToken != "":
		c.Authentication = pulsarclient.NewAuthenticationToken(o.AuthToken)
	case o.AuthTokenFile != "":
		c.Authentication = pulsarclient.NewAuthenticationTokenFromFile(o.AuthTokenFile)
	case o.OAuth2IssuerURL != "":
		params := map[string]string{
			"type":       "client_credentials",
			"issuerUrl":  o.OAuth2IssuerURL,
			"privateKey": o.OAuth2KeyFile,
		}
		if o.OAuth2Audience != "" {
			params["audience"] = o.OAuth2Audience
		}
		if o.OAuth2Scope != "" {
			params["scope"] = o.OAuth2Scope
		}
		c.Authentication = pulsarclient.NewAuthenticationOAuth2(params)
	case o.TLSCertFile != "":
		c.Authentication = pulsarclient.NewAuthenticationTLS(o.TLSCertFile, o.TLSKeyFile)
	}
	return c, nil
}

// clientLogger returns pulsar-client-go's logger: its lines go to h one
// level down (see quietHandler), so that the library is quiet at the
// usual Info level.
func clientLogger(h slog.Handler) pulsarlog.Logger {
	return pulsarlog.NewLoggerWithSlog(slog.New(quietHandler{h}))
}

// quietHandler passes pulsar-client-go's lines on one level down: its
// errors (a lost connection it reconnects) as warnings, its warnings (such
// as "receive 1 messages , all filtered", which a reader positioned inside
// a batch meets on every start) and its info lines (every connection and
// subscription) at Debug, and its debug lines below Debug.
type quietHandler struct{ slog.Handler }

// quieter returns the level a pulsar-client-go line of level l is passed at.
func quieter(l slog.Level) slog.Level {
	switch {
	case l >= slog.LevelError:
		return slog.LevelWarn
	case l >= slog.LevelInfo:
		return slog.LevelDebug
	}
	return slog.LevelDebug - 4
}

func (h quietHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.Handler.Enabled(ctx, quieter(l))
}
func (h quietHandler) Handle(ctx context.Context, r slog.Record) error {
	r.Level = quieter(r.Level)
	return h.Handler.Handle(ctx, r)
}
func (h quietHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return quietHandler{h.Handler.WithAttrs(as)}
}
func (h quietHandler) WithGroup(name string) slog.Handler {
	return quietHandler{h.Handler.WithGroup(name)}
}

// Name returns the topic as the URL names it ("orders" or
// "tenant/ns/orders").
func (s *Stream) Name() string { return s.o.Topic }

// FullTopic returns the topic's full name, persistent://TENANT/NS/TOPIC.
func (s *Stream) FullTopic() string { return s.full }

// Options returns the stream's options with the defaults filled in.
func (s *Stream) Options() Options { return s.o }

// Client returns the stream's pulsar-client-go client, for what the adapter
// does not cover (admin-free lookups, a Pulsar-native consumer). Do not
// close it: Close does.
func (s *Stream) Client() pulsarclient.Client { return s.cl }

// Codec returns the Pulsar pointer codec.
func (s *Stream) Codec() driver.PointerCodec { return Codec{} }

// Capabilities returns the capabilities adapter.yaml declares
// (Options.Capabilities): MaxRecordBytes from the options, per-key order
// and consumer groups (Failover subscriptions, JoinGroup). Pulsar
// partitions never split or merge.
func (s *Stream) Capabilities() driver.Capabilities { return s.o.Capabilities() }

// check fails on a closed stream or a done context.
func (s *Stream) check(ctx context.Context, op string) error {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return fmt.Errorf("pulsar: %s %s: stream is closed: %w", op, s.o.Topic, ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("pulsar: %s %s: %w", op, s.o.Topic, err)
	}
	return nil
}

// Partitions lists the topic's partitions, "0" to "N-1"; a non-partitioned
// topic is the one partition "0". None has parents or is closed.
func (s *Stream) Partitions(ctx context.Context) ([]driver.Partition, error) {
	if err := s.check(ctx, "list partitions of"); err != nil {
		return nil, err
	}
	n, err := s.readPartitions(ctx)
	if err != nil {
		return nil, fmt.Errorf("pulsar: list partitions of %s: %w", s.o.Topic, err)
	}
	out := make([]driver.Partition, n)
	for i := range out {
		out[i] = driver.Partition{ID: strconv.Itoa(i)}
	}
	return out, nil
}

// readPartitions asks the broker for the topic's partitions and caches the
// count.
func (s *Stream) readPartitions(ctx context.Context) (int, error) {
	type result struct {
		names []string
		err   error
	}
	ch := make(chan result, 1)
	go func() { // owned by this call; TopicPartitions is bounded by the operation timeout
		names, err := s.cl.TopicPartitions(s.full)
		ch <- result{names, err}
	}()
	var r result
	select {
	case r = <-ch:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	if r.err != nil {
		return 0, fmt.Errorf("partitions of %s: %w", s.full, r.err)
	}
	if len(r.names) == 0 {
		return 0, fmt.Errorf("partitions of %s: the broker lists none", s.full)
	}
	plain := len(r.names) == 1 && r.names[0] == s.full
	s.mu.Lock()
	s.nParts, s.plain, s.nPartsT = len(r.names), plain, time.Now()
	s.mu.Unlock()
	return len(r.names), nil
}

// partitionCount returns the cached partition count, read again when older
// than partitionCountTTL.
func (s *Stream) partitionCount(ctx context.Context) (int, bool, error) {
	s.mu.Lock()
	n, plain, t := s.nParts, s.plain, s.nPartsT
	s.mu.Unlock()
	if n > 0 && time.Since(t) < partitionCountTTL {
		return n, plain, nil
	}
	n, err := s.readPartitions(ctx)
	if err != nil {
		return 0, false, err
	}
	s.mu.Lock()
	plain = s.plain
	s.mu.Unlock()
	return n, plain, nil
}

// partitionTopic returns the topic name of partition index i.
func (s *Stream) partitionTopic(i int, plain bool) string {
	if plain {
		return s.full
	}
	return s.full + partitionSuffix + strconv.Itoa(i)
}

// PartitionFor returns the partition a record with key is written to: the
// FNV-1a hash of the key modulo the partition count. An empty key has no
// fixed partition (the writer spreads such records round robin); it
// returns an error.
func (s *Stream) PartitionFor(ctx context.Context, key []byte) (string, error) {
	if len(key) == 0 {
		return "", fmt.Errorf("pulsar: partition of %s for an empty key: records without a key go round robin", s.o.Topic)
	}
	n, _, err := s.partitionCount(ctx)
	if err != nil {
		return "", fmt.Errorf("pulsar: partition of %s: %w", s.o.Topic, err)
	}
	return strconv.Itoa(keyPartition(key, n)), nil
}

// keyPartition returns the partition of a non-empty key among n.
func keyPartition(key []byte, n int) int { return int(fnv1a(key) % uint32(n)) }

// fnv1a is the 32-bit FNV-1a hash of b.
func fnv1a(b []byte) uint32 {
	h := uint32(2166136261)
	for _, c := range b {
		h ^= uint32(c)
		h *= 16777619
	}
	return h
}

// KeyHash returns the hash by which the stream's writers place a record
// with this key, FNV-1a: the partition is KeyHash(key) modulo the
// partition count (driver.KeyHasher). The producer engine assigns send
// lanes by it.
func (s *Stream) KeyHash(key []byte) uint32 { return fnv1a(key) }

var _ driver.KeyHasher = (*Stream)(nil)

// track registers an open reader or writer; it fails on a closed stream.
func (s *Stream) track(c closer, op string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("pulsar: %s %s: stream is closed: %w", op, s.o.Topic, ErrClosed)
	}
	s.owned[c] = struct{}{}
	return nil
}

// untrack forgets a closed reader or writer.
func (s *Stream) untrack(c closer) {
	s.mu.Lock()
	delete(s.owned, c)
	s.mu.Unlock()
}

// Close closes the stream's open readers and writers, which fail with
// ErrClosed afterwards, and its client. It is idempotent.
func (s *Stream) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	owned := s.owned
	s.owned = map[closer]struct{}{}
	s.mu.Unlock()
	for c := range owned {
		c.closeFromStream()
	}
	s.cl.Close()
	return nil
}
