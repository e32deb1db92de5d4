package pulsarfake

import (
	"fmt"
	"hash/fnv"
	"math"
	"sort"

	"google.golang.org/protobuf/proto"

	"github.com/unistream-go/unistream/adapters/pulsar/pulsarfake/internal/pb"
)

// entry is one stored SEND: a single message or a whole batch. Its id is
// its index in topic.entries.
type entry struct {
	id          int64
	data        []byte // checksum, metadata and payload exactly as sent
	publishTime uint64 // ms, from the metadata
	numMsgs     int32
	batched     bool
	key         string // ordering or partition key, for Key_Shared
}

// topic is a non-partitioned topic or one partition; guarded by Broker.mu.
type topic struct {
	name      string
	partition int32 // -1 when not a partition
	ledger    uint64
	entries   []*entry
	subs      map[string]*subscription
	producers map[*producer]struct{}
	schema    *pb.Schema
}

func newTopic(name string, partition int32, ledger uint64) *topic {
	return &topic{
		name:      name,
		partition: partition,
		ledger:    ledger,
		subs:      map[string]*subscription{},
		producers: map[*producer]struct{}{},
	}
}

func (t *topic) append(b *Broker, data []byte, pm *parsedMessage) (*entry, error) {
	e := &entry{
		id:          int64(len(t.entries)),
		data:        data,
		publishTime: pm.meta.GetPublishTime(),
		numMsgs:     pm.numMsgs,
		batched:     pm.batched,
		key:         pm.key,
	}
	if err := b.journal.write(entryRecord(t, e)); err != nil {
		return nil, err
	}
	t.entries = append(t.entries, e)
	return e, nil
}

func schemaVersion0() []byte { return make([]byte, 8) }

func (t *topic) putSchema(s *pb.Schema) []byte {
	if s != nil && t.schema == nil {
		t.schema = proto.Clone(s).(*pb.Schema)
	}
	return schemaVersion0()
}

// positionOf maps a message id to the entry to read first. The earliest id
// (ledger -1) and ids of older ledgers give 0; the latest id (ledger
// MaxInt64) and later ledgers give the end. The entry itself is included:
// the client drops what precedes its start (or the start itself when it is
// exclusive), as with a real broker.
func (t *topic) positionOf(id *pb.MessageIdData) int64 {
	ledger := int64(id.GetLedgerId())
	entry := int64(id.GetEntryId())
	n := int64(len(t.entries))
	switch {
	case ledger < 0 || uint64(ledger) < t.ledger:
		return 0
	case ledger == math.MaxInt64 || uint64(ledger) > t.ledger:
		return n
	case entry < 0:
		return 0
	case entry > n:
		return n
	default:
		return entry
	}
}

// positionAtTime returns the first entry published at or after ms.
func (t *topic) positionAtTime(ms uint64) int64 {
	i := sort.Search(len(t.entries), func(i int) bool { return t.entries[i].publishTime >= ms })
	return int64(i)
}

func (t *topic) deleteSub(b *Broker, s *subscription) {
	if t.subs[s.name] != s {
		return
	}
	delete(t.subs, s.name)
	if s.durable {
		if err := b.journal.write(record{Op: opUnsub, Topic: t.name, Sub: s.name}); err != nil {
			b.log.Error("pulsarfake: journal unsubscribe", "topic", t.name, "sub", s.name, "err", err)
		}
	}
}

// subscription is a cursor with its consumers; guarded by Broker.mu.
type subscription struct {
	b       *Broker
	t       *topic
	name    string
	typ     pb.CommandSubscribe_SubType
	durable bool

	markDelete int64               // every entry <= markDelete is acknowledged
	acked      map[int64]struct{}  // acknowledged entries > markDelete
	batchAcks  map[int64][]int64   // partly acknowledged batches: bit set = not acked yet
	next       int64               // entries >= next were never dispatched
	replay     []int64             // sorted entries < next to dispatch again
	pending    map[int64]*consumer // dispatched, not acknowledged
	redelivery map[int64]uint32    // redelivery counts
	consumers  []*consumer         // in subscribe order
	active     *consumer           // Exclusive and Failover
	rr         int                 // Shared round robin
	seeking    bool                // kept without consumers until they subscribe again after SEEK
	seq        uint64
}

type consumer struct {
	c        *conn
	id       uint64
	name     string
	sub      *subscription
	permits  int64
	priority int32
	seq      uint64
	flowed   bool // sent its first FLOW
}

func newSubscription(b *Broker, t *topic, name string, typ pb.CommandSubscribe_SubType, durable bool, pos int64) *subscription {
	return &subscription{
		b: b, t: t, name: name, typ: typ, durable: durable,
		markDelete: pos - 1,
		next:       pos,
		acked:      map[int64]struct{}{},
		batchAcks:  map[int64][]int64{},
		pending:    map[int64]*consumer{},
		redelivery: map[int64]uint32{},
	}
}

// subscribe adds a consumer, creating the subscription if needed.
func (t *topic) subscribe(c *conn, m *pb.CommandSubscribe) (*consumer, pb.ServerError, error) {
	b := c.b
	name := m.GetSubscription()
	typ := m.GetSubType()
	s, ok := t.subs[name]
	if ok {
		if len(s.consumers) > 0 {
			if s.typ != typ {
				return nil, pb.ServerError_ConsumerBusy, fmt.Errorf("subscription %s on %s is %s, the consumer asked for %s", name, t.name, s.typ, typ)
			}
			if typ == pb.CommandSubscribe_Exclusive {
				return nil, pb.ServerError_ConsumerBusy, fmt.Errorf("exclusive consumer is already connected to subscription %s on %s", name, t.name)
			}
		}
		s.typ = typ
	} else {
		durable := m.Durable == nil || m.GetDurable()
		var pos int64
		switch {
		case !durable && m.StartMessageId != nil:
			pos = t.positionOf(m.StartMessageId)
		case m.GetInitialPosition() == pb.CommandSubscribe_Earliest:
			pos = 0
		default:
			pos = int64(len(t.entries))
		}
		s = newSubscription(b, t, name, typ, durable, pos)
		t.subs[name] = s
		if err := s.persist(); err != nil {
			delete(t.subs, name)
			return nil, pb.ServerError_PersistenceError, err
		}
	}
	s.seeking = false
	s.seq++
	cons := &consumer{c: c, id: m.GetConsumerId(), name: m.GetConsumerName(), sub: s, priority: m.GetPriorityLevel(), seq: s.seq}
	s.consumers = append(s.consumers, cons)
	return cons, 0, nil
}

// persist journals a durable subscription's cursor.
func (s *subscription) persist() error {
	if !s.durable {
		return nil
	}
	return s.b.journal.write(s.cursorRecord())
}

// cursorRecord is the journal record of the subscription's cursor.
func (s *subscription) cursorRecord() record {
	r := record{Op: opCursor, Topic: s.t.name, Sub: s.name, Type: int32(s.typ), MarkDelete: s.markDelete}
	for e := range s.acked {
		r.Acked = append(r.Acked, e)
	}
	sort.Slice(r.Acked, func(i, j int) bool { return r.Acked[i] < r.Acked[j] })
	if len(s.batchAcks) > 0 {
		r.Batch = map[int64][]int64{}
		for e, bits := range s.batchAcks {
			r.Batch[e] = bits
		}
	}
	return r
}

func (s *subscription) persistOrLog() {
	if err := s.persist(); err != nil {
		s.b.log.Error("pulsarfake: journal cursor", "topic", s.t.name, "sub", s.name, "err", err)
	}
}

func (s *subscription) removeConsumer(cons *consumer) {
	for i, c := range s.consumers {
		if c == cons {
			s.consumers = append(s.consumers[:i], s.consumers[i+1:]...)
			break
		}
	}
	for e, c := range s.pending {
		if c == cons {
			delete(s.pending, e)
			s.redelivery[e]++
			s.addReplay(e)
		}
	}
	if s.active == cons {
		s.active = nil
	}
	if len(s.consumers) == 0 && !s.durable && !s.seeking {
		s.t.deleteSub(s.b, s)
		return
	}
	s.consumersChanged()
	s.dispatch()
}

// consumersChanged picks the active consumer of an Exclusive or Failover
// subscription (sorted by priority and name; partition index modulo the
// number of consumers for a partition) and tells every Failover consumer
// whether it is active.
func (s *subscription) consumersChanged() {
	if s.typ != pb.CommandSubscribe_Exclusive && s.typ != pb.CommandSubscribe_Failover {
		s.active = nil
		return
	}
	var act *consumer
	if len(s.consumers) > 0 {
		sorted := append([]*consumer(nil), s.consumers...)
		sort.SliceStable(sorted, func(i, j int) bool {
			a, b := sorted[i], sorted[j]
			if a.priority != b.priority {
				return a.priority < b.priority
			}
			if a.name != b.name {
				return a.name < b.name
			}
			return a.seq < b.seq
		})
		idx := 0
		if s.typ == pb.CommandSubscribe_Failover && s.t.partition >= 0 {
			idx = int(s.t.partition) % len(sorted)
		}
		act = sorted[idx]
	}
	if act != s.active {
		old := s.active
		s.active = act
		if old != nil {
			s.rewind(old)
		}
	}
	for _, c := range s.consumers {
		if c.flowed {
			s.notifyActive(c)
		}
	}
}

// notifyActive tells a Failover consumer whether it is the active one.
// pulsar-client-go registers a consumer's handler only after SUBSCRIBE
// succeeded, so a notice sent before its first FLOW would be dropped: the
// first FLOW triggers the notice instead.
func (s *subscription) notifyActive(c *consumer) {
	if s.typ != pb.CommandSubscribe_Failover {
		return
	}
	cmd := base(pb.BaseCommand_ACTIVE_CONSUMER_CHANGE)
	cmd.ActiveConsumerChange = &pb.CommandActiveConsumerChange{ConsumerId: proto.Uint64(c.id), IsActive: proto.Bool(c == s.active)}
	c.c.send(cmd, nil)
}

// rewind puts every message dispatched to cons and not acknowledged back
// in line, as Pulsar rewinds the cursor of a single-active-consumer
// subscription.
func (s *subscription) rewind(cons *consumer) {
	for e, c := range s.pending {
		if c == cons {
			delete(s.pending, e)
			s.redelivery[e]++
			s.addReplay(e)
		}
	}
}

func (s *subscription) addReplay(e int64) {
	i := sort.Search(len(s.replay), func(i int) bool { return s.replay[i] >= e })
	if i < len(s.replay) && s.replay[i] == e {
		return
	}
	s.replay = append(s.replay, 0)
	copy(s.replay[i+1:], s.replay[i:])
	s.replay[i] = e
}

func (s *subscription) isAcked(e int64) bool {
	if e <= s.markDelete {
		return true
	}
	_, ok := s.acked[e]
	return ok
}

// pick chooses the consumer for ent. ok=false skips the entry for now
// (Key_Shared: its key's consumer has no permits); stop=true ends the pass.
func (s *subscription) pick(ent *entry, blocked map[string]bool) (target *consumer, ok, stop bool) {
	switch s.typ {
	case pb.CommandSubscribe_Shared:
		n := len(s.consumers)
		for i := 0; i < n; i++ {
			c := s.consumers[(s.rr+i)%n]
			if c.permits > 0 {
				s.rr = (s.rr + i + 1) % n
				return c, true, false
			}
		}
		return nil, false, true
	case pb.CommandSubscribe_Key_Shared:
		anyPermits := false
		for _, c := range s.consumers {
			if c.permits > 0 {
				anyPermits = true
				break
			}
		}
		if !anyPermits {
			return nil, false, true
		}
		c := s.consumerForKey(ent.key)
		if blocked[ent.key] || c.permits <= 0 {
			blocked[ent.key] = true
			return nil, false, false
		}
		return c, true, false
	default:
		if s.active == nil || s.active.permits <= 0 {
			return nil, false, true
		}
		return s.active, true, false
	}
}

// consumerForKey maps a key to a consumer by hash, over the consumers in
// subscribe order, so a key stays on one consumer while they do not change.
func (s *subscription) consumerForKey(key string) *consumer {
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	return s.consumers[int(h.Sum32()%65536)*len(s.consumers)/65536]
}

// dispatch sends what the consumers have permits for: first the entries
// to redeliver, then new ones, in entry order.
func (s *subscription) dispatch() {
	if len(s.consumers) == 0 {
		return
	}
	var blocked map[string]bool
	if s.typ == pb.CommandSubscribe_Key_Shared {
		blocked = map[string]bool{}
	}
	kept := s.replay[:0]
	for i := 0; i < len(s.replay); i++ {
		e := s.replay[i]
		if s.isAcked(e) || s.pending[e] != nil || e >= int64(len(s.t.entries)) {
			continue
		}
		target, ok, stop := s.pick(s.t.entries[e], blocked)
		if stop {
			kept = append(kept, s.replay[i:]...)
			s.replay = kept
			return
		}
		if !ok {
			kept = append(kept, e)
			continue
		}
		s.deliver(target, s.t.entries[e])
	}
	s.replay = kept
	for n := int64(len(s.t.entries)); s.next < n; s.next++ {
		e := s.next
		if s.isAcked(e) || s.pending[e] != nil {
			continue
		}
		target, ok, stop := s.pick(s.t.entries[e], blocked)
		if stop {
			return
		}
		if !ok {
			s.replay = append(s.replay, e) // e >= every replay entry
			continue
		}
		s.deliver(target, s.t.entries[e])
	}
}

func (s *subscription) deliver(c *consumer, ent *entry) {
	msg := &pb.CommandMessage{
		ConsumerId: proto.Uint64(c.id),
		MessageId: &pb.MessageIdData{
			LedgerId:  proto.Uint64(s.t.ledger),
			EntryId:   proto.Uint64(uint64(ent.id)),
			Partition: proto.Int32(s.t.partition),
		},
	}
	if n := s.redelivery[ent.id]; n > 0 {
		msg.RedeliveryCount = proto.Uint32(n)
	}
	if bits, ok := s.batchAcks[ent.id]; ok {
		msg.AckSet = bits
	}
	cmd := base(pb.BaseCommand_MESSAGE)
	cmd.Message = msg
	c.permits -= int64(ent.numMsgs)
	s.pending[ent.id] = c
	c.c.send(cmd, ent.data)
}

// ack applies an ACK from cons.
func (s *subscription) ack(cons *consumer, m *pb.CommandAck) error {
	n := int64(len(s.t.entries))
	valid := func(id *pb.MessageIdData) (int64, error) {
		e := int64(id.GetEntryId())
		if id.GetLedgerId() != s.t.ledger || e < 0 || e >= n {
			return 0, fmt.Errorf("message id %d:%d is not on %s (ledger %d, %d entries)", id.GetLedgerId(), int64(id.GetEntryId()), s.t.name, s.t.ledger, n)
		}
		return e, nil
	}
	var firstErr error
	switch m.GetAckType() {
	case pb.CommandAck_Cumulative:
		if len(m.MessageId) != 1 {
			return fmt.Errorf("cumulative ack with %d message ids, expected 1", len(m.MessageId))
		}
		id := m.MessageId[0]
		e, err := valid(id)
		if err != nil {
			return err
		}
		upTo := e
		if len(id.AckSet) > 0 && !s.applyBatchAck(e, id.AckSet) {
			upTo = e - 1
		}
		if upTo > s.markDelete {
			s.markDelete = upTo
			for k := range s.acked {
				if k <= upTo {
					delete(s.acked, k)
				}
			}
			for k := range s.batchAcks {
				if k <= upTo {
					delete(s.batchAcks, k)
				}
			}
			for k := range s.pending {
				if k <= upTo {
					delete(s.pending, k)
				}
			}
			for k := range s.redelivery {
				if k <= upTo {
					delete(s.redelivery, k)
				}
			}
		}
	default:
		for _, id := range m.MessageId {
			e, err := valid(id)
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				continue
			}
			if len(id.AckSet) > 0 && !s.applyBatchAck(e, id.AckSet) {
				continue
			}
			s.ackEntry(e)
		}
	}
	for {
		if _, ok := s.acked[s.markDelete+1]; !ok {
			break
		}
		delete(s.acked, s.markDelete+1)
		s.markDelete++
	}
	s.persistOrLog()
	return firstErr
}

// applyBatchAck records a batch index ack (set bits = still unacknowledged)
// and reports whether the whole batch is now acknowledged.
func (s *subscription) applyBatchAck(e int64, ackSet []int64) bool {
	cur, ok := s.batchAcks[e]
	if !ok {
		cur = make([]int64, len(ackSet))
		for i := range cur {
			cur[i] = -1
		}
	}
	out := make([]int64, len(ackSet))
	allZero := true
	for i := range out {
		var c int64 = -1
		if i < len(cur) {
			c = cur[i]
		}
		out[i] = c & ackSet[i]
		if out[i] != 0 {
			allZero = false
		}
	}
	if allZero {
		delete(s.batchAcks, e)
		return true
	}
	s.batchAcks[e] = out
	return false
}

func (s *subscription) ackEntry(e int64) {
	delete(s.batchAcks, e)
	delete(s.pending, e)
	delete(s.redelivery, e)
	if e > s.markDelete {
		s.acked[e] = struct{}{}
	}
}

// redeliver handles REDELIVER_UNACKNOWLEDGED_MESSAGES. Shared and
// Key_Shared redeliver the listed messages; Exclusive and Failover (and a
// request without ids) rewind every unacknowledged message of the consumer,
// as Pulsar does to keep order.
func (s *subscription) redeliver(cons *consumer, ids []*pb.MessageIdData) {
	shared := s.typ == pb.CommandSubscribe_Shared || s.typ == pb.CommandSubscribe_Key_Shared
	if !shared || len(ids) == 0 {
		s.rewind(cons)
	} else {
		for _, id := range ids {
			e := int64(id.GetEntryId())
			if id.GetLedgerId() != s.t.ledger || s.pending[e] != cons {
				continue
			}
			delete(s.pending, e)
			s.redelivery[e]++
			s.addReplay(e)
		}
	}
	s.dispatch()
}

// resetTo moves the cursor so that pos is the next entry (SEEK).
func (s *subscription) resetTo(pos int64) {
	s.markDelete = pos - 1
	s.next = pos
	s.acked = map[int64]struct{}{}
	s.batchAcks = map[int64][]int64{}
	s.pending = map[int64]*consumer{}
	s.redelivery = map[int64]uint32{}
	s.replay = nil
	s.seeking = true
	s.persistOrLog()
}

func (s *subscription) unackedOf(cons *consumer) int {
	n := 0
	for _, c := range s.pending {
		if c == cons {
			n++
		}
	}
	return n
}

// backlog counts the entries not acknowledged.
func (s *subscription) backlog() int {
	total := int64(len(s.t.entries)) - (s.markDelete + 1) - int64(len(s.acked))
	if total < 0 {
		return 0
	}
	return int(total)
}
