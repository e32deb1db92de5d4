package pulsar

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	pulsarclient "github.com/apache/pulsar-client-go/pulsar"

	"github.com/unistream-go/unistream/stream/driver"
)

// Reader reads one partition of a topic through an Exclusive consumer on a
// non-durable subscription of its own, positioned with Seek. It is a
// driver.Reader.
//
// It does not use pulsar-client-go's Reader: its Next records the last
// message handed out without synchronizing with the reconnect that reads it
// (apache/pulsar-client-go#605), a data race whenever a connection drops
// during Fetch. A consumer instead resubscribes from its seek position or
// from the first message still queued, and the Reader drops every message
// at or before the last one it returned, so a reconnect never repeats nor
// skips a message (it may make the broker send some again, which cost
// only their transfer).
type Reader struct {
	s         *Stream
	c         pulsarclient.Consumer
	ch        chan pulsarclient.ConsumerMessage
	timer     *time.Timer
	topic     string // the partition's topic name
	partition string
	part      int32

	floor      *MessageID // drop messages before it (at it too unless floorIncl)
	floorIncl  bool
	skipBefore time.Time  // StartAtTime: drop records before it until one is not
	expectAt   *MessageID // StartAt: the first record must be this one

	// For Lag: the partition's last message when Fetch last asked the
	// broker (end.Entry < 0: the partition was empty), the messages in
	// the entry of floor (0 if unknown), and the records behind after the
	// last Fetch (-1 if unknown).
	end       MessageID
	endKnown  bool
	endAt     time.Time
	floorSize int32
	lag       atomic.Int64
	// askMu is held while the broker is asked for the last message id,
	// and by Close around closing the consumer: the client hangs for good
	// on a request to a consumer closed under it.
	askMu sync.Mutex

	closeOnce sync.Once
	closed    atomic.Bool
}

var (
	_ driver.Reader      = (*Reader)(nil)
	_ driver.LagReporter = (*Reader)(nil)
)

// OpenReader opens a reader of partition ("0" to "N-1") at start:
//   - Earliest reads from the first message;
//   - Latest seeks to the partition's last message, so only later messages
//     are read;
//   - After(pointer) seeks to the message and reads what follows it,
//     At(pointer) reads from the message itself, inside a batch too (the
//     batch's messages before the pointer's batch index are dropped);
//   - AtTime(t) reads from the first message and drops messages until the
//     first whose time (event time, or publish time when it has none) is at
//     or after t, so it follows record times as the writer set them.
//
// A pointer past the partition's last message fails with
// driver.ErrPointerNotFound; so does At(pointer) when the partition no longer
// holds that message (on the first Fetch).
func (s *Stream) OpenReader(ctx context.Context, partition string, start driver.Start) (driver.Reader, error) {
	if err := s.check(ctx, "open reader of"); err != nil {
		return nil, err
	}
	idx, err := parsePartition(partition)
	if err != nil {
		return nil, fmt.Errorf("pulsar: open reader of %s: %w", s.o.Topic, err)
	}
	n, plain, err := s.partitionCount(ctx)
	if err != nil {
		return nil, fmt.Errorf("pulsar: open reader of %s/%s: %w", s.o.Topic, partition, err)
	}
	if int(idx) >= n {
		return nil, fmt.Errorf("pulsar: open reader of %s: partition %s: expected 0 to %d", s.o.Topic, partition, n-1)
	}
	rd := &Reader{s: s, topic: s.partitionTopic(int(idx), plain), partition: partition, part: idx}
	rd.lag.Store(-1)
	var seekTo *MessageID
	switch start.Kind {
	case driver.StartEarliest, driver.StartLatest:
	case driver.StartAtTime:
		rd.skipBefore = start.Time
		if rd.skipBefore.IsZero() {
			rd.skipBefore = time.Unix(0, 1)
		}
	case driver.StartAfter, driver.StartAt:
		id, err := ParsePointer(start.Pointer)
		if err != nil {
			return nil, fmt.Errorf("pulsar: open reader of %s/%s %s: %w", s.o.Topic, partition, start.Kind, err)
		}
		rd.floor, rd.floorIncl = &id, start.Kind == driver.StartAt
		seek := id
		if start.Kind == driver.StartAt {
			// The client drops the message it seeks to: seek to a batch
			// index just before it (the broker positions by entry).
			seek.Batch = id.Batch - 1
			rd.expectAt = &id
		}
		seekTo = &seek
	default:
		return nil, fmt.Errorf("pulsar: open reader of %s/%s: start kind %s: expected earliest, latest, at-time, after or at", s.o.Topic, partition, start.Kind)
	}
	rd.ch = make(chan pulsarclient.ConsumerMessage, s.o.ReceiverQueueSize)
	c, err := s.subscribe(ctx, pulsarclient.ConsumerOptions{
		Topic:                       rd.topic,
		SubscriptionName:            fmt.Sprintf("unistream-reader-%d", readerSeq.Add(1)),
		Type:                        pulsarclient.Exclusive,
		SubscriptionMode:            pulsarclient.NonDurable,
		SubscriptionInitialPosition: pulsarclient.SubscriptionPositionEarliest,
		ReceiverQueueSize:           s.o.ReceiverQueueSize,
		MessageChannel:              rd.ch,
	})
	if err != nil {
		return nil, fmt.Errorf("pulsar: open reader of %s/%s: %w", s.o.Topic, partition, classify(err))
	}
	rd.c = c
	if err := s.track(rd, "open reader of"); err != nil {
		c.Close()
		return nil, err
	}
	if err := rd.position(start.Kind, seekTo); err != nil {
		rd.Close()
		return nil, err
	}
	rd.timer = time.NewTimer(time.Hour)
	rd.timer.Stop()
	return rd, nil
}

// readerSeq numbers the readers' subscriptions within the process.
var readerSeq atomic.Uint64

// position seeks the new consumer: to the last message for Latest, to
// seekTo for After and At (past the end fails with ErrPointerNotFound).
func (rd *Reader) position(kind driver.StartKind, seekTo *MessageID) error {
	if kind != driver.StartLatest && seekTo == nil {
		return nil
	}
	ids, err := rd.c.GetLastMessageIDs()
	if err != nil || len(ids) != 1 {
		return fmt.Errorf("pulsar: open reader of %s/%s %s: last message id: %d ids, %v", rd.s.o.Topic, rd.partition, kind, len(ids), err)
	}
	last := ids[0]
	empty := last.LedgerID() < 0 || last.EntryID() < 0
	if kind == driver.StartLatest {
		if empty {
			return nil // nothing to skip: every message is new
		}
		l := MessageID{Ledger: last.LedgerID(), Entry: last.EntryID(), Batch: last.BatchIdx()}
		rd.floor = &l
		if err := rd.c.Seek(pulsarclient.NewMessageID(l.Ledger, l.Entry, l.Batch, 0)); err != nil {
			return fmt.Errorf("pulsar: open reader of %s/%s latest: seek to %s: %w", rd.s.o.Topic, rd.partition, l, err)
		}
		return nil
	}
	if empty || (MessageID{Ledger: seekTo.Ledger, Entry: seekTo.Entry}).Compare(MessageID{Ledger: last.LedgerID(), Entry: last.EntryID()}) > 0 {
		return fmt.Errorf("pulsar: open reader of %s/%s %s %s: the partition ends at %d:%d: %w",
			rd.s.o.Topic, rd.partition, kind, rd.floor, last.LedgerID(), last.EntryID(), driver.ErrPointerNotFound)
	}
	if err := rd.c.Seek(pulsarclient.NewMessageID(seekTo.Ledger, seekTo.Entry, seekTo.Batch, 0)); err != nil {
		return fmt.Errorf("pulsar: open reader of %s/%s %s: seek to %s: %w", rd.s.o.Topic, rd.partition, kind, rd.floor, err)
	}
	return nil
}

// subscribe creates a consumer, giving up when ctx is done (the client's
// own creation is bounded by the operation timeout; a consumer made after
// ctx is done is closed).
func (s *Stream) subscribe(ctx context.Context, copts pulsarclient.ConsumerOptions) (pulsarclient.Consumer, error) {
	type result struct {
		c   pulsarclient.Consumer
		err error
	}
	ch := make(chan result, 1)
	go func() { // owned by this call; it ends within the operation timeout
		c, err := s.cl.Subscribe(copts)
		ch <- result{c, err}
	}()
	select {
	case res := <-ch:
		return res.c, res.err
	case <-ctx.Done():
		go func() { // closes a late consumer; ends with the creation
			if res := <-ch; res.c != nil {
				res.c.Close()
			}
		}()
		return nil, ctx.Err()
	}
}

// Fetch returns up to max records in partition order. It waits up to
// FetchWait for a first message, then takes what else arrives without a
// gap longer than a linger (a tenth of FetchWait, from 100µs to 2ms).
func (rd *Reader) Fetch(ctx context.Context, max int) ([]driver.Record, error) {
	if rd.closed.Load() {
		return nil, fmt.Errorf("pulsar: fetch %s/%s: reader is closed: %w", rd.s.o.Topic, rd.partition, ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("pulsar: fetch %s/%s: %w", rd.s.o.Topic, rd.partition, err)
	}
	if max <= 0 {
		return nil, nil
	}
	var out []driver.Record
	var last pulsarclient.MessageID
	rd.timer.Reset(rd.s.o.FetchWait)
	defer rd.timer.Stop()
	waiting := true
	for len(out) < max {
		var cm pulsarclient.ConsumerMessage
		var ok bool
		if waiting {
			select {
			case cm, ok = <-rd.ch:
			case <-rd.timer.C:
				rd.updateLag(ctx, false) // nothing returned, some perhaps skipped
				return out, nil
			case <-ctx.Done():
				if len(out) > 0 {
					return out, nil
				}
				return nil, fmt.Errorf("pulsar: fetch %s/%s: %w", rd.s.o.Topic, rd.partition, ctx.Err())
			}
		} else {
			select {
			case cm, ok = <-rd.ch:
			default:
				// The client hands messages over one at a time: give the
				// next one a moment before returning a short batch.
				rd.timer.Reset(lingerOf(rd.s.o.FetchWait))
				select {
				case cm, ok = <-rd.ch:
					rd.timer.Stop() // Go 1.23 timers: nothing stale is left in C
				case <-rd.timer.C:
					rd.ack(last)
					rd.updateLag(ctx, true)
					return out, nil
				case <-ctx.Done():
					rd.timer.Stop()
					rd.ack(last)
					rd.updateLag(ctx, true)
					return out, nil
				}
			}
		}
		if !ok || rd.closed.Load() {
			return nil, fmt.Errorf("pulsar: fetch %s/%s: reader is closed: %w", rd.s.o.Topic, rd.partition, ErrClosed)
		}
		rec, err := toRecord(rd.s.o.Topic, rd.partition, rd.part, cm.Message)
		if err != nil {
			return nil, err
		}
		id, _ := ParsePointer(rec.Pointer)
		if rd.floor != nil {
			if c := id.Compare(*rd.floor); c < 0 || (c == 0 && !rd.floorIncl) {
				continue // sent again after a reconnect, or from before a seek
			}
		}
		if rd.expectAt != nil {
			want := *rd.expectAt
			rd.expectAt = nil
			if id.Compare(want) != 0 {
				return nil, fmt.Errorf("pulsar: fetch %s/%s at %s: the first message is %s: %w",
					rd.s.o.Topic, rd.partition, want, id, driver.ErrPointerNotFound)
			}
		}
		rd.floor, rd.floorIncl = &id, false
		last = cm.Message.ID()
		rd.floorSize = last.BatchSize()
		if !rd.skipBefore.IsZero() {
			if rec.Time.Before(rd.skipBefore) {
				continue
			}
			rd.skipBefore = time.Time{}
		}
		out = append(out, rec)
		if waiting {
			waiting = false
			rd.timer.Stop()
		}
	}
	rd.ack(last)
	rd.updateLag(ctx, true)
	return out, nil
}

// lingerOf is how long Fetch waits for the next message of a batch.
func lingerOf(fetchWait time.Duration) time.Duration {
	return min(max(fetchWait/10, 100*time.Microsecond), 2*time.Millisecond)
}

// ack acknowledges up to id, so that the broker forgets what the reader
// has read (the subscription is not durable: it only saves broker memory).
func (rd *Reader) ack(id pulsarclient.MessageID) {
	if id != nil {
		_ = rd.c.AckIDCumulative(id)
	}
}

// Close closes the consumer, and so its subscription. It is idempotent.
func (rd *Reader) Close() error {
	rd.closeFromStream()
	rd.s.untrack(rd)
	return nil
}

// closeFromStream closes the consumer once, after a request for the last
// message id in flight (bounded by the operation timeout).
func (rd *Reader) closeFromStream() {
	rd.closeOnce.Do(func() {
		rd.closed.Store(true)
		rd.askMu.Lock()
		defer rd.askMu.Unlock()
		rd.c.Close()
	})
}
