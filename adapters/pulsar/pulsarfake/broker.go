package pulsarfake

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/unistream-go/unistream/adapters/pulsar/pulsarfake/internal/pb"
)

// DefaultMaxMessageSize is the max_message_size announced in CONNECTED
// (5 MiB, as a default Pulsar broker).
const DefaultMaxMessageSize = 5 << 20

// ErrClosed is returned by Broker methods called after Close.
var ErrClosed = errors.New("pulsarfake: broker closed")

// ErrTopicNotFound is what DeleteTopic returns for a topic that does not
// exist.
var ErrTopicNotFound = errors.New("pulsarfake: topic not found")

// config holds what the options set.
type config struct {
	addr           string
	httpAddr       string
	dataDir        string
	logger         *slog.Logger
	maxMessageSize int
	autoCreate     bool
}

// Option configures a Broker.
type Option func(*config) error

// WithAddr sets the binary protocol listen address (default
// "127.0.0.1:0", a free loopback port). Restart tests pass the address of
// the previous broker so that running clients reconnect to the new one.
func WithAddr(addr string) Option {
	return func(c *config) error {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return fmt.Errorf("pulsarfake: WithAddr(%q): expected host:port: %w", addr, err)
		}
		c.addr = addr
		return nil
	}
}

// WithHTTPAddr sets the HTTP (lookup and admin) listen address (default
// "127.0.0.1:0").
func WithHTTPAddr(addr string) Option {
	return func(c *config) error {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return fmt.Errorf("pulsarfake: WithHTTPAddr(%q): expected host:port: %w", addr, err)
		}
		c.httpAddr = addr
		return nil
	}
}

// WithDataDir keeps topics, messages and durable subscription cursors in
// dir (created if missing), so a broker started later on the same folder
// finds them again. Without it everything lives in memory.
func WithDataDir(dir string) Option {
	return func(c *config) error {
		if dir == "" {
			return errors.New("pulsarfake: WithDataDir: empty folder name")
		}
		c.dataDir = dir
		return nil
	}
}

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("pulsarfake: WithLogger: nil logger")
		}
		c.logger = l
		return nil
	}
}

// WithMaxMessageSize sets the max_message_size announced to clients and the
// largest SEND accepted (default DefaultMaxMessageSize).
func WithMaxMessageSize(n int) Option {
	return func(c *config) error {
		if n < 1024 || n > 1<<30 {
			return fmt.Errorf("pulsarfake: WithMaxMessageSize(%d): expected 1024..%d bytes", n, 1<<30)
		}
		c.maxMessageSize = n
		return nil
	}
}

// WithAutoCreateTopics sets whether producing to or subscribing on an unknown
// topic creates it as a non-partitioned topic (default true, as Pulsar's
// allowAutoTopicCreation). When false such requests fail with TopicNotFound.
func WithAutoCreateTopics(on bool) Option {
	return func(c *config) error {
		c.autoCreate = on
		return nil
	}
}

// Broker is an in-process Pulsar broker speaking the binary protocol on a
// loopback port, with the HTTP lookup and partitions endpoints on another.
// Create it with NewBroker, then Start it; Close stops it.
type Broker struct {
	cfg config
	log *slog.Logger

	mu          sync.Mutex
	started     bool
	closed      bool
	ln          net.Listener
	httpLn      net.Listener
	httpSrv     *http.Server
	conns       map[*conn]struct{}
	topics      map[string]*topic // by full partition (or non-partitioned) name
	partitioned map[string]int    // base name -> partitions
	nextLedger  uint64
	nextName    uint64
	journal     *journal
	faults      faults
	closeCh     chan struct{}
	wg          sync.WaitGroup
}

// faults are the injected failures; guarded by Broker.mu.
type faults struct {
	failSends   int
	sendErr     pb.ServerError
	delay       time.Duration
	failLookups int
}

// NewBroker validates the options and, with WithDataDir, loads the stored
// state. It does not listen yet: call Start.
func NewBroker(opts ...Option) (*Broker, error) {
	cfg := config{
		addr:           "127.0.0.1:0",
		httpAddr:       "127.0.0.1:0",
		maxMessageSize: DefaultMaxMessageSize,
		autoCreate:     true,
	}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("pulsarfake: nil Option")
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if cfg.logger == nil {
		cfg.logger = slog.New(slog.DiscardHandler)
	}
	b := &Broker{
		cfg:         cfg,
		log:         cfg.logger,
		conns:       map[*conn]struct{}{},
		topics:      map[string]*topic{},
		partitioned: map[string]int{},
		nextLedger:  1,
		closeCh:     make(chan struct{}),
	}
	if cfg.dataDir != "" {
		j, err := openJournal(cfg.dataDir, b)
		if err != nil {
			return nil, err
		}
		b.journal = j
	}
	return b, nil
}

// Start listens on the binary and HTTP addresses and serves until Close.
// ctx bounds only the start itself.
func (b *Broker) Start(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	if b.started {
		return errors.New("pulsarfake: Start called twice")
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", b.cfg.addr)
	if err != nil {
		return fmt.Errorf("pulsarfake: listen on %s: %w", b.cfg.addr, err)
	}
	hln, err := lc.Listen(ctx, "tcp", b.cfg.httpAddr)
	if err != nil {
		ln.Close()
		return fmt.Errorf("pulsarfake: listen (http) on %s: %w", b.cfg.httpAddr, err)
	}
	b.ln, b.httpLn = ln, hln
	b.httpSrv = &http.Server{Handler: b.httpHandler(), ReadHeaderTimeout: 10 * time.Second}
	b.started = true
	b.wg.Add(2)
	go func() { // owned by b: accepts connections until Close closes ln
		defer b.wg.Done()
		b.acceptLoop(ln)
	}()
	go func() { // owned by b: serves HTTP until Close
		defer b.wg.Done()
		_ = b.httpSrv.Serve(hln)
	}()
	b.log.Info("pulsarfake: started", "addr", ln.Addr().String(), "http", hln.Addr().String())
	return nil
}

// Addr returns the binary protocol address, "127.0.0.1:port" ("" before Start).
func (b *Broker) Addr() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ln == nil {
		return ""
	}
	return b.ln.Addr().String()
}

// ServiceURL returns "pulsar://127.0.0.1:port", the URL clients connect to.
func (b *Broker) ServiceURL() string { return "pulsar://" + b.Addr() }

// HTTPURL returns "http://127.0.0.1:port", usable as a client service URL
// (HTTP lookup) and for the admin partitions endpoint.
func (b *Broker) HTTPURL() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.httpLn == nil {
		return ""
	}
	return "http://" + b.httpLn.Addr().String()
}

// Close stops listening, drops every connection, waits for every goroutine
// of the broker and closes the data folder. It is safe to call more than once.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	close(b.closeCh)
	var errs []error
	if b.ln != nil {
		_ = b.ln.Close()
	}
	if b.httpSrv != nil {
		_ = b.httpSrv.Close()
	}
	for c := range b.conns {
		c.close()
	}
	b.mu.Unlock()
	b.wg.Wait()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.journal != nil {
		if err := b.journal.close(); err != nil {
			errs = append(errs, err)
		}
		b.journal = nil
	}
	return errors.Join(errs...)
}

func (b *Broker) acceptLoop(ln net.Listener) {
	for {
		nc, err := ln.Accept()
		if err != nil {
			select {
			case <-b.closeCh:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			b.log.Warn("pulsarfake: accept", "err", err)
			return
		}
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			nc.Close()
			return
		}
		c := newConn(b, nc)
		b.conns[c] = struct{}{}
		b.wg.Add(2)
		b.mu.Unlock()
		go func() { // owned by b through c: reads and handles commands
			defer b.wg.Done()
			c.readLoop()
		}()
		go func() { // owned by b through c: writes queued frames
			defer b.wg.Done()
			c.writeLoop()
		}()
	}
}

// CreateTopic creates topic with the given number of partitions (0 for a
// non-partitioned topic). A short name means persistent://public/default/name.
// Creating a topic that exists with the same partitioning is not an error.
func (b *Broker) CreateTopic(name string, partitions int) error {
	full, err := fullTopicName(name)
	if err != nil {
		return err
	}
	if partitions < 0 || partitions > 10000 {
		return fmt.Errorf("pulsarfake: CreateTopic(%q, %d): expected 0..10000 partitions", name, partitions)
	}
	if _, idx := splitPartition(full); idx >= 0 {
		return fmt.Errorf("pulsarfake: CreateTopic(%q): the name is a partition, expected the topic's base name", name)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	if n, ok := b.partitioned[full]; ok {
		if n == partitions {
			return nil
		}
		return fmt.Errorf("pulsarfake: CreateTopic(%q, %d): exists with %d partitions", name, partitions, n)
	}
	if partitions == 0 {
		if _, ok := b.topics[full]; ok {
			return nil
		}
		_, err := b.createTopicLocked(full)
		return err
	}
	if _, ok := b.topics[full]; ok {
		return fmt.Errorf("pulsarfake: CreateTopic(%q, %d): exists as a non-partitioned topic", name, partitions)
	}
	b.partitioned[full] = partitions
	if err := b.journal.write(record{Op: opPartitioned, Topic: full, N: partitions}); err != nil {
		delete(b.partitioned, full)
		return err
	}
	for i := 0; i < partitions; i++ {
		if _, err := b.createTopicLocked(partitionName(full, i)); err != nil {
			return err
		}
	}
	return nil
}

// createTopicLocked creates a topic (or partition) and journals it.
func (b *Broker) createTopicLocked(full string) (*topic, error) {
	_, idx := splitPartition(full)
	if idx >= 0 {
		base, _ := splitPartition(full)
		if _, ok := b.partitioned[base]; !ok {
			idx = -1 // "x-partition-3" on a topic that is not partitioned is a plain name
		}
	}
	t := newTopic(full, int32(idx), b.nextLedger)
	if err := b.journal.write(record{Op: opTopic, Topic: full, Ledger: t.ledger}); err != nil {
		return nil, err
	}
	b.nextLedger++
	b.topics[full] = t
	return t, nil
}

// topicForUseLocked returns the topic a producer or consumer names,
// creating it when auto-creation is on.
func (b *Broker) topicForUseLocked(name string) (*topic, pb.ServerError, error) {
	full, err := fullTopicName(name)
	if err != nil {
		return nil, pb.ServerError_InvalidTopicName, err
	}
	if t, ok := b.topics[full]; ok {
		return t, 0, nil
	}
	if n, ok := b.partitioned[full]; ok {
		return nil, pb.ServerError_MetadataError, fmt.Errorf("topic %s has %d partitions: use one of its partitions", full, n)
	}
	base, idx := splitPartition(full)
	if idx >= 0 {
		if n, ok := b.partitioned[base]; ok {
			return nil, pb.ServerError_TopicNotFound, fmt.Errorf("topic %s has %d partitions, no partition %d", base, n, idx)
		}
	}
	if !b.cfg.autoCreate {
		return nil, pb.ServerError_TopicNotFound, fmt.Errorf("topic %s not found", full)
	}
	t, err := b.createTopicLocked(full)
	if err != nil {
		return nil, pb.ServerError_PersistenceError, err
	}
	return t, 0, nil
}

// partitionsLocked answers PARTITIONED_METADATA: the partition count of a
// partitioned topic, 0 otherwise.
func (b *Broker) partitionsLocked(name string) (int, error) {
	full, err := fullTopicName(name)
	if err != nil {
		return 0, err
	}
	return b.partitioned[full], nil
}

// topicsOfNamespaceLocked lists the topics (partitions by their partition
// names, as Pulsar does) of namespace "tenant/ns" for GET_TOPICS_OF_NAMESPACE.
func (b *Broker) topicsOfNamespaceLocked(ns string, mode pb.CommandGetTopicsOfNamespace_Mode) []string {
	var out []string
	for name := range b.topics {
		domain, rest, ok := strings.Cut(name, "://")
		if !ok {
			continue
		}
		switch {
		case mode == pb.CommandGetTopicsOfNamespace_PERSISTENT && domain != "persistent",
			mode == pb.CommandGetTopicsOfNamespace_NON_PERSISTENT && domain != "non-persistent":
			continue
		}
		if i := strings.LastIndex(rest, "/"); i >= 0 && rest[:i] == ns {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// Topics returns the names of the topics, partitioned topics by their base
// name, sorted.
func (b *Broker) Topics() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for n := range b.partitioned {
		out = append(out, n)
	}
	for n, t := range b.topics {
		if t.partition < 0 {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// DeleteTopic deletes topic with its partitions, messages and
// subscriptions, as the admin API's delete (without force) does: a topic
// with a connected producer or consumer is not deleted. A short name means
// persistent://public/default/name. A topic that does not exist is
// ErrTopicNotFound.
func (b *Broker) DeleteTopic(name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	full, ts, err := b.partsLocked(name)
	if err != nil {
		return fmt.Errorf("pulsarfake: DeleteTopic(%q): %w", name, ErrTopicNotFound)
	}
	for _, t := range ts {
		consumers := 0
		for _, sub := range t.subs {
			consumers += len(sub.consumers)
		}
		if len(t.producers) > 0 || consumers > 0 {
			return fmt.Errorf("pulsarfake: DeleteTopic(%q): %s has %d producers and %d consumers connected: close them first", name, t.name, len(t.producers), consumers)
		}
	}
	if err := b.journal.write(record{Op: opDelete, Topic: full}); err != nil {
		return err
	}
	b.deleteLocked(full)
	return nil
}

// deleteLocked removes a topic, or a partitioned topic and its partitions.
func (b *Broker) deleteLocked(full string) {
	if n, ok := b.partitioned[full]; ok {
		for i := 0; i < n; i++ {
			delete(b.topics, partitionName(full, i))
		}
		delete(b.partitioned, full)
		return
	}
	delete(b.topics, full)
}

// partsLocked returns the topics behind a name: the partitions of a
// partitioned topic, or the topic itself.
func (b *Broker) partsLocked(name string) (string, []*topic, error) {
	full, err := fullTopicName(name)
	if err != nil {
		return "", nil, err
	}
	if n, ok := b.partitioned[full]; ok {
		ts := make([]*topic, 0, n)
		for i := 0; i < n; i++ {
			if t := b.topics[partitionName(full, i)]; t != nil {
				ts = append(ts, t)
			}
		}
		return full, ts, nil
	}
	if t, ok := b.topics[full]; ok {
		return full, []*topic{t}, nil
	}
	return "", nil, fmt.Errorf("pulsarfake: topic %s not found", full)
}

// MessageCount returns the number of entries stored on topic (all its
// partitions for a partitioned topic). A batch counts as one entry.
func (b *Broker) MessageCount(name string) (int, error) {
	return b.sumParts(name, func(t *topic) int { return len(t.entries) })
}

// Producers returns the number of producers connected to topic (to all
// its partitions for a partitioned topic).
func (b *Broker) Producers(name string) (int, error) {
	return b.sumParts(name, func(t *topic) int { return len(t.producers) })
}

// sumParts returns the sum of count over topic name, or over each of its
// partitions for a partitioned topic.
func (b *Broker) sumParts(name string, count func(*topic) int) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, ts, err := b.partsLocked(name)
	if err != nil {
		return 0, err
	}
	total := 0
	for _, t := range ts {
		total += count(t)
	}
	return total, nil
}

// Subscriptions returns the subscription names on topic (or on any of its
// partitions), sorted.
func (b *Broker) Subscriptions(name string) ([]string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, ts, err := b.partsLocked(name)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	out := []string{}
	for _, t := range ts {
		for s := range t.subs {
			if !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// Backlog returns the number of entries of topic (all partitions) not yet
// acknowledged on subscription sub. A batch counts as one entry until all
// its messages are acknowledged.
func (b *Broker) Backlog(name, sub string) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	full, ts, err := b.partsLocked(name)
	if err != nil {
		return 0, err
	}
	total, found := 0, false
	for _, t := range ts {
		if s, ok := t.subs[sub]; ok {
			found = true
			total += s.backlog()
		}
	}
	if !found {
		return 0, fmt.Errorf("pulsarfake: subscription %q not found on %s", sub, full)
	}
	return total, nil
}

// DropConnections closes every client connection now, as a broker crash or
// network cut would. Clients reconnect on their own; unacknowledged
// messages are redelivered. It returns the number of connections closed.
func (b *Broker) DropConnections() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for c := range b.conns {
		c.close()
		n++
	}
	return n
}

// FailSends makes the next n SEND commands (any producer) fail with a
// SEND_ERROR of the given code instead of being stored; n = 0 clears it.
// Note that pulsar-client-go treats most send errors as transient: it drops
// the connection, reconnects and sends again, so a failure surfaces to the
// application only when the sends keep failing until its SendTimeout.
func (b *Broker) FailSends(n int, code ServerError) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if n < 0 {
		n = 0
	}
	b.faults.failSends = n
	b.faults.sendErr = pb.ServerError(code)
}

// FailLookups makes the next n LOOKUP and PARTITIONED_METADATA requests
// fail with ServiceNotReady.
func (b *Broker) FailLookups(n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if n < 0 {
		n = 0
	}
	b.faults.failLookups = n
}

// SetDelay delays the handling of every command received from now on by d
// (0 turns it off). Replies keep their order.
func (b *Broker) SetDelay(d time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if d < 0 {
		d = 0
	}
	b.faults.delay = d
}

// ClearFaults removes every injected fault.
func (b *Broker) ClearFaults() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.faults = faults{}
}

// ServerError is a Pulsar server error code, as sent in SEND_ERROR and ERROR.
type ServerError int32

// Server error codes for FailSends (the values of the protocol's ServerError).
const (
	// ErrPersistence is PersistenceError: the broker could not store the message.
	ErrPersistence ServerError = ServerError(pb.ServerError_PersistenceError)
	// ErrServiceNotReady is ServiceNotReady.
	ErrServiceNotReady ServerError = ServerError(pb.ServerError_ServiceNotReady)
	// ErrProducerBlockedQuota is ProducerBlockedQuotaExceededError.
	ErrProducerBlockedQuota ServerError = ServerError(pb.ServerError_ProducerBlockedQuotaExceededError)
	// ErrNotAllowed is NotAllowedError: pulsar-client-go then forgets the
	// producer on that connection and the send completes only by timeout.
	ErrNotAllowed ServerError = ServerError(pb.ServerError_NotAllowedError)
)

// String returns the protocol name of the code.
func (e ServerError) String() string { return pb.ServerError(e).String() }
