package kafka

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/unistream-go/unistream/stream/driver"
)

// HeaderID is the record header that carries the record's ID. The writer
// adds it to every record; the reader takes the ID from it and removes it
// from the headers it returns. A record without it (written by another
// producer) gets RecordID of its position as its ID.
const HeaderID = "unistream-id"

// ErrClosed is returned, wrapped, by a closed Stream, Reader or Writer.
var ErrClosed = errors.New("kafka: closed")

// partitionCountTTL is how long the writer trusts its cached partition count
// before it reads the topic's metadata again (Kafka partitions only grow).
const partitionCountTTL = 10 * time.Second

// Stream is a Kafka topic as a driver.Stream. Every method is safe for
// concurrent use.
//
// The Readers share one franz-go client that consumes their partitions
// directly (no consumer group: this is standalone ownership, where the
// engine's checkpoint store holds the progress), or each owns one with the
// reader_client=partition option; each Writer owns an idempotent producing
// client. The Stream holds one more client for metadata and offsets. Close
// closes them all.
type Stream struct {
	o    Options
	base []kgo.Opt
	cl   *kgo.Client
	adm  *kadm.Client

	mu      sync.Mutex
	closed  bool
	clients map[*kgo.Client]struct{} // readers' and writers' own clients
	cons    map[int]*consumer        // the readers' shared clients, by place in the pool
	// ownReaders counts the open readers with a client of their own.
	ownReaders atomic.Int64
	groups     map[string]*member // group memberships (JoinGroup)
	nParts     int                // cached partition count
	nPartsT    time.Time          // when nParts was read

	commits commitState // what the Stores of this stream know of their commits (store.go)
}

var (
	_ driver.Stream  = (*Stream)(nil)
	_ driver.Schemer = (*Stream)(nil)
	_ driver.Aser    = (*Stream)(nil)
)

// Scheme returns "kafka", the adapter's URL scheme (driver.Schemer).
func (s *Stream) Scheme() string { return "kafka" }

// As implements driver.Aser, for stream.Stream.As: a **kgo.Client target
// gets the stream's metadata client and a **kadm.Client target its admin
// client, both owned by the stream (Close closes them: do not close them
// yourself); a **Stream target gets the stream itself. Any other target
// returns false.
func (s *Stream) As(target any) bool {
	return driver.SetAs(target, s.cl) || driver.SetAs(target, s.adm) || driver.SetAs(target, s)
}

// Open connects to the brokers of o and returns the topic o.Topic as a
// stream. It creates the topic first when o.CreateTopic is set (an existing
// topic must then have o.Partitions partitions); otherwise the topic must
// exist. Zero fields take their defaults, so o may be a struct literal
// (kafka.Options{Target: kafka.Target{...}}) as well as the result of
// NewOptions or ParseURL.
func Open(ctx context.Context, o Options) (*Stream, error) {
	o = o.withDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o = o.resolved()
	base, err := baseOpts(o)
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(base...)
	if err != nil {
		return nil, fmt.Errorf("kafka: open %s: new client: %w", o.Topic, err)
	}
	s := &Stream{o: o, base: base, cl: cl, adm: kadm.NewClient(cl), clients: map[*kgo.Client]struct{}{}}
	if err := s.prepare(ctx); err != nil {
		cl.Close()
		return nil, err
	}
	return s, nil
}

// prepare creates the topic if asked and checks that it exists.
func (s *Stream) prepare(ctx context.Context) error {
	if s.o.CreateTopic {
		rctx, cancel := s.reqCtx(ctx)
		_, err := s.adm.CreateTopic(rctx, int32(s.o.Partitions), -1, nil, s.o.Topic)
		cancel()
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("kafka: create topic %s with %d partitions on %v: %w", s.o.Topic, s.o.Partitions, s.o.Brokers, err)
		}
	}
	// A new topic may take a moment to show in the metadata.
	var n int
	var err error
	for attempt := 0; ; attempt++ {
		n, err = s.readPartitionCount(ctx)
		if err == nil || !s.o.CreateTopic || !errors.Is(err, kerr.UnknownTopicOrPartition) || attempt == 50 {
			break
		}
		if werr := sleep(ctx, 20*time.Millisecond); werr != nil {
			return fmt.Errorf("kafka: open %s: %w", s.o.Topic, werr)
		}
	}
	if err != nil {
		if errors.Is(err, kerr.UnknownTopicOrPartition) {
			return fmt.Errorf("kafka: open %s: the topic does not exist on %v (create it, or add create_topic=true&partitions=N to the URL): %w",
				s.o.Topic, s.o.Brokers, err)
		}
		return fmt.Errorf("kafka: open %s: %w", s.o.Topic, err)
	}
	if s.o.CreateTopic && n != s.o.Partitions {
		return fmt.Errorf("kafka: open %s: the topic exists with %d partitions, the options ask for partitions=%d (omit create_topic to use the existing topic)",
			s.o.Topic, n, s.o.Partitions)
	}
	return nil
}

// reqCtx bounds an admin request by the request timeout.
func (s *Stream) reqCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.o.RequestTimeout)
}

// Name returns the topic name.
func (s *Stream) Name() string { return s.o.Topic }

// Options returns the stream's options with the defaults filled in.
func (s *Stream) Options() Options { return s.o }

// Codec returns the Kafka pointer codec.
func (s *Stream) Codec() driver.PointerCodec { return Codec{} }

// Capabilities returns the capabilities adapter.yaml declares
// (Options.Capabilities): MaxRecordBytes from the options, MaxBatchRecords
// DefaultMaxBatchRecords, MaxBatchBytes DefaultMaxBatchBytes, and
// PerKeyOrder and ConsumerGroups (JoinGroup). Kafka partitions never split
// or merge (they are only added).
func (s *Stream) Capabilities() driver.Capabilities { return s.o.Capabilities() }

// check fails on a closed stream or a done context.
func (s *Stream) check(ctx context.Context, op string) error {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return fmt.Errorf("kafka: %s %s: stream is closed: %w", op, s.o.Topic, ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("kafka: %s %s: %w", op, s.o.Topic, err)
	}
	return nil
}

// Partitions lists the topic's partitions, "0" to "N-1", from the brokers'
// metadata. None has parents or is closed.
func (s *Stream) Partitions(ctx context.Context) ([]driver.Partition, error) {
	if err := s.check(ctx, "list partitions of"); err != nil {
		return nil, err
	}
	n, err := s.readPartitionCount(ctx)
	if err != nil {
		return nil, fmt.Errorf("kafka: list partitions of %s: %w", s.o.Topic, err)
	}
	out := make([]driver.Partition, n)
	for i := range out {
		out[i] = driver.Partition{ID: strconv.Itoa(i)}
	}
	return out, nil
}

// readPartitionCount reads the topic's partition count from the metadata
// and caches it.
func (s *Stream) readPartitionCount(ctx context.Context) (int, error) {
	rctx, cancel := s.reqCtx(ctx)
	defer cancel()
	tds, err := s.adm.ListTopics(rctx, s.o.Topic)
	if err != nil {
		return 0, fmt.Errorf("metadata of topic %s: %w", s.o.Topic, err)
	}
	td, ok := tds[s.o.Topic]
	if !ok {
		return 0, fmt.Errorf("metadata of topic %s: not in the response: %w", s.o.Topic, kerr.UnknownTopicOrPartition)
	}
	if td.Err != nil {
		return 0, fmt.Errorf("metadata of topic %s: %w", s.o.Topic, td.Err)
	}
	ids := make([]int, 0, len(td.Partitions))
	for p := range td.Partitions {
		ids = append(ids, int(p))
	}
	sort.Ints(ids)
	for i, id := range ids {
		if id != i {
			return 0, fmt.Errorf("metadata of topic %s: partition ids %v are not 0 to %d", s.o.Topic, ids, len(ids)-1)
		}
	}
	if len(ids) == 0 {
		return 0, fmt.Errorf("metadata of topic %s: no partitions yet: %w", s.o.Topic, kerr.UnknownTopicOrPartition)
	}
	s.mu.Lock()
	s.nParts, s.nPartsT = len(ids), time.Now()
	s.mu.Unlock()
	return len(ids), nil
}

// partitionCount returns the cached partition count, read again when older
// than partitionCountTTL.
func (s *Stream) partitionCount(ctx context.Context) (int, error) {
	s.mu.Lock()
	n, t := s.nParts, s.nPartsT
	s.mu.Unlock()
	if n > 0 && time.Since(t) < partitionCountTTL {
		return n, nil
	}
	return s.readPartitionCount(ctx)
}

// PartitionFor returns the partition a record with key is written to: the
// murmur2 hash of the key, as Kafka's Java client and franz-go's default
// partitioner compute it, modulo the partition count. An empty key has no
// fixed partition (the writer spreads such records round robin); it
// returns an error.
func (s *Stream) PartitionFor(ctx context.Context, key []byte) (string, error) {
	if len(key) == 0 {
		return "", fmt.Errorf("kafka: partition of %s for an empty key: records without a key go round robin", s.o.Topic)
	}
	n, err := s.partitionCount(ctx)
	if err != nil {
		return "", fmt.Errorf("kafka: partition of %s: %w", s.o.Topic, err)
	}
	return strconv.Itoa(int(keyPartition(key, n))), nil
}

// newClient makes a client for a reader or writer and tracks it so that
// Close closes it.
func (s *Stream) newClient(op string, extra ...kgo.Opt) (*kgo.Client, error) {
	opts := append(append([]kgo.Opt(nil), s.base...), extra...)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("kafka: %s %s: stream is closed: %w", op, s.o.Topic, ErrClosed)
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka: %s %s: new client: %w", op, s.o.Topic, err)
	}
	s.clients[cl] = struct{}{}
	return cl, nil
}

// closeClient closes a reader's or writer's client and forgets it.
func (s *Stream) closeClient(cl *kgo.Client) {
	s.mu.Lock()
	_, ok := s.clients[cl]
	delete(s.clients, cl)
	s.mu.Unlock()
	if ok {
		cl.Close()
	}
}

// Close closes the stream's client and those of its open readers and
// writers, which fail with ErrClosed afterwards. It is idempotent.
func (s *Stream) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	clients := s.clients
	s.clients = map[*kgo.Client]struct{}{}
	cons := s.cons
	s.cons = nil
	s.mu.Unlock()
	for _, c := range cons {
		c.shutdown()
	}
	for cl := range clients {
		cl.Close()
	}
	s.cl.Close()
	return nil
}

// isClosed reports whether Close was called.
func (s *Stream) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
