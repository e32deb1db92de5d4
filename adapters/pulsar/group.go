package pulsar

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	pulsarclient "github.com/apache/pulsar-client-go/pulsar"

	"github.com/unistream-go/unistream/stream/driver"
)

var _ driver.Grouper = (*Stream)(nil)

// member is the Stream's place in one group: a Failover consumer of the
// topic on a subscription named after the group (non-durable, or durable
// with the durable_group option), used for membership only. The broker makes one consumer of the subscription
// active per partition (partition index modulo the number of consumers,
// ordered by name) and tells every consumer when that changes
// (ACTIVE_CONSUMER_CHANGE); the engine's readers read the partitions this
// member is active for from their checkpoints. The consumer takes at most
// one message ahead (it never reads them). A non-durable subscription holds
// no backlog on the broker; a durable one keeps the group's position for
// Pulsar's tools, moved by AckStore.
type member struct {
	s     *Stream
	group string
	r     driver.Rebalance
	c     pulsarclient.Consumer // set under s.mu once subscribed
	plain bool                  // the topic is not partitioned

	mu    sync.Mutex
	want  map[string]bool // partition -> active, as the broker last said
	owned map[string]bool // partitions Assigned and not Revoked; the loop's
	wake  chan struct{}   // cap 1: want changed
	stop  chan struct{}   // closed to end the loop
	done  chan struct{}   // closed when the loop ended

	stopOnce  sync.Once
	closeOnce sync.Once
	leaveOnce sync.Once
	leaveErr  error
}

var _ driver.Membership = (*member)(nil)

// JoinGroup makes the stream a member of group: it subscribes to the topic
// with a Failover consumer on the subscription called group (durable from
// the earliest message with the durable_group option, else non-durable).
// The member calls r from a goroutine it owns, one call at a time:
// Assigned with the partitions ("0", "1", ...) the broker made it active
// for, Revoked with those it made another member active for (the engine
// drains and persists them; the next owner may already have started, and
// the checkpoint store's compare-and-swap makes it reload the checkpoint
// until the handover is complete). Leave revokes every owned partition and
// then closes the consumer, so the others take the partitions over from
// their final checkpoints.
//
// A Stream joins a group at most once at a time: open another Stream for a
// second member in one process.
func (s *Stream) JoinGroup(ctx context.Context, group string, r driver.Rebalance) (driver.Membership, error) {
	if err := s.check(ctx, "join a group of"); err != nil {
		return nil, err
	}
	if r == nil {
		return nil, fmt.Errorf("pulsar: join a group of %s: expected a non-nil driver.Rebalance", s.o.Topic)
	}
	if err := validateName("group (subscription)", group); err != nil {
		return nil, fmt.Errorf("pulsar: join a group of %s: %w", s.o.Topic, err)
	}
	_, plain, err := s.partitionCount(ctx)
	if err != nil {
		return nil, fmt.Errorf("pulsar: join group %q of %s: %w", group, s.o.Topic, err)
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	m := &member{s: s, group: group, r: r, want: map[string]bool{}, owned: map[string]bool{},
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	copts := pulsarclient.ConsumerOptions{
		Topic:                       s.full,
		SubscriptionName:            group,
		Name:                        "unistream-" + hex.EncodeToString(rnd[:]),
		Type:                        pulsarclient.Failover,
		SubscriptionMode:            pulsarclient.NonDurable,
		SubscriptionInitialPosition: pulsarclient.SubscriptionPositionLatest,
		ReceiverQueueSize:           1,
		EventListener:               listener{m: m, plain: plain},
	}
	if s.o.DurableGroup {
		copts.SubscriptionMode = pulsarclient.Durable
		copts.SubscriptionInitialPosition = pulsarclient.SubscriptionPositionEarliest
	}
	m.plain = plain
	s.mu.Lock()
	if s.members[group] != nil {
		s.mu.Unlock()
		return nil, fmt.Errorf("pulsar: join group %q of %s: this Stream is a member already (open another Stream for a second member)", group, s.o.Topic)
	}
	if s.members == nil {
		s.members = map[string]*member{}
	}
	s.members[group] = m
	s.mu.Unlock()
	c, err := s.subscribe(ctx, copts)
	if err != nil {
		s.forget(m)
		return nil, fmt.Errorf("pulsar: join group %q of %s: %w", group, s.o.Topic, err)
	}
	s.mu.Lock()
	m.c = c
	s.mu.Unlock()
	if err := s.track(m, "join a group of"); err != nil {
		s.forget(m)
		c.Close()
		return nil, err
	}
	go m.loop() // owned by m: ends when Leave or Stream.Close closes m.stop
	return m, nil
}

// listener turns the consumer's active/inactive notices into the member's
// wanted partitions; it never blocks the client's connection goroutine.
type listener struct {
	m     *member
	plain bool
}

func (l listener) BecameActive(_ pulsarclient.Consumer, topic string, partition int32) {
	l.m.set(l.partitionID(topic, partition), true)
}

func (l listener) BecameInactive(_ pulsarclient.Consumer, topic string, partition int32) {
	l.m.set(l.partitionID(topic, partition), false)
}

// partitionID returns the partition id of a notice: "0" for a
// non-partitioned topic, else the index in the partition's topic name.
func (l listener) partitionID(topic string, partition int32) string {
	if l.plain {
		return "0"
	}
	if i := strings.LastIndex(topic, partitionSuffix); i >= 0 {
		if n, err := parsePartition(topic[i+len(partitionSuffix):]); err == nil {
			return strconv.Itoa(int(n))
		}
	}
	return strconv.Itoa(int(max(partition, 0)))
}

// set records the broker's latest word on a partition and wakes the loop.
func (m *member) set(id string, active bool) {
	m.mu.Lock()
	m.want[id] = active
	m.mu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// loop calls the Rebalance methods, one at a time, until stop is closed:
// Revoked first for partitions no longer active here, then Assigned for
// newly active ones.
func (m *member) loop() {
	defer close(m.done)
	ctx := context.Background()
	for {
		select {
		case <-m.stop:
			return
		case <-m.wake:
		}
		m.mu.Lock()
		var revoke, assign []string
		for id := range m.owned {
			if !m.want[id] {
				revoke = append(revoke, id)
			}
		}
		for id, on := range m.want {
			if on && !m.owned[id] {
				assign = append(assign, id)
			}
		}
		m.mu.Unlock()
		slices.Sort(revoke)
		slices.Sort(assign)
		if len(revoke) > 0 {
			m.r.Revoked(ctx, revoke)
			m.mu.Lock()
			for _, id := range revoke {
				delete(m.owned, id)
			}
			m.mu.Unlock()
		}
		if len(assign) > 0 {
			select {
			case <-m.stop:
				return
			default:
			}
			m.mu.Lock()
			for _, id := range assign {
				m.owned[id] = true
			}
			m.mu.Unlock()
			m.r.Assigned(ctx, assign)
		}
	}
}

// stopLoop ends the loop and waits for it.
func (m *member) stopLoop() {
	m.stopOnce.Do(func() { close(m.stop) })
	<-m.done
}

// closeConsumer closes the Failover consumer once: the broker makes other
// members active for this one's partitions.
func (m *member) closeConsumer() {
	m.closeOnce.Do(func() { m.c.Close() })
}

// Leave revokes every partition the member owns (through
// Rebalance.Revoked, which returns once the engine has drained and
// persisted them), then closes the consumer so that the broker hands them
// to the other members at once. Calling it again returns the first result.
func (m *member) Leave(ctx context.Context) error {
	m.leaveOnce.Do(func() {
		m.stopLoop()
		m.mu.Lock()
		owned := make([]string, 0, len(m.owned))
		for id := range m.owned {
			owned = append(owned, id)
		}
		m.owned = map[string]bool{}
		m.mu.Unlock()
		slices.Sort(owned)
		if len(owned) > 0 {
			m.r.Revoked(ctx, owned)
		}
		m.s.forget(m)
		m.closeConsumer()
		m.s.untrack(m)
	})
	return m.leaveErr
}

// closeFromStream stops the member without handing over, as a process
// that goes away would: the broker gives its partitions to the others.
func (m *member) closeFromStream() {
	m.stopLoop()
	m.closeConsumer()
}

// forget removes m from the stream's members.
func (s *Stream) forget(m *member) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.members[m.group] == m {
		delete(s.members, m.group)
	}
}

// ackCommitted moves the cumulative ack of group's subscription (or, if the
// stream has one member, of its group's) on partition up to committed: to
// the message itself when it was sent alone, else to the entry before its
// batch, since a batch is acknowledged whole and may hold messages after
// the committed one. It never acknowledges a message the engine has not
// finished with; errors are ignored (the checkpoint store is the record,
// the acknowledgement mirrors it for Pulsar's tools).
func (s *Stream) ackCommitted(group, partition string, committed driver.Pointer) {
	if len(committed) == 0 {
		return
	}
	s.mu.Lock()
	m := s.members[group]
	if m == nil && len(s.members) == 1 {
		for _, only := range s.members {
			m = only
		}
	}
	var c pulsarclient.Consumer
	if m != nil {
		c = m.c
	}
	s.mu.Unlock()
	if c == nil {
		return
	}
	id, err := ParsePointer(committed)
	if err != nil {
		return
	}
	idx, err := parsePartition(partition)
	if err != nil {
		return
	}
	if m.plain {
		idx = 0
	}
	entry := id.Entry
	if id.Batch >= 0 {
		entry--
	}
	if entry < 0 {
		return
	}
	_ = c.AckIDCumulative(pulsarclient.NewMessageID(id.Ledger, entry, -1, idx))
}
