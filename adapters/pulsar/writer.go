package pulsar

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"unsafe"

	pulsarclient "github.com/apache/pulsar-client-go/pulsar"

	"github.com/unistream-go/unistream/stream/driver"
)

// Writer writes records to a topic through one batching producer per
// partition, created on first use and shared by the stream's writers (the
// last writer's Close closes them). It is a driver.Writer.
//
// A keyed record goes to the partition of the FNV-1a hash of its key
// (Stream.PartitionFor); the keyless records of one Write call all go to one
// partition, the next one round robin. Every message of a call is sent
// asynchronously in order, the producers' batches are flushed, and the
// per-message receipts are collected in order: a failed send (the broker's
// error, or no receipt within SendTimeout) is the record's retryable error,
// and the later records of its partition in the call fail with
// driver.ErrPrecedingRecordFailed. Once a failure of a partition is known
// while the call is still sending (its producer could not be created, or
// the client failed a send at once), the later records of that partition
// are not sent, so that "not written" holds for them and the caller's
// re-send keeps per-key order. A failure known only from a later receipt
// cannot take back the messages already handed to the client: without
// broker deduplication such a message may still be stored (the client
// resends its pending messages on reconnect), so the log is at-least-once.
type Writer struct {
	s *Stream

	mu     sync.Mutex // guards closed against Close from the stream
	closed bool

	rr int // the next partition of keyless records

	// props are the messages' property maps, reused from call to call
	// (one per record of the largest call) while every call returned after
	// all its receipts: the client reads a message's properties until its
	// receipt. Used by Write only (one goroutine at a time).
	props []map[string]string
	// spare is the last call, reused by the next (newCall) when it
	// returned after all its receipts. Used by Write only.
	spare *call
}

// call is what one Write shares with its messages' receipt callback.
type call struct {
	msgs   []pulsarclient.ProducerMessage
	parts  []int
	rcpts  []sent
	halted []atomic.Bool // per partition: a record of it failed in this call
	left   atomic.Int64  // receipts to come, plus one until every message is sent
	done   chan struct{} // closed when left reaches zero
}

// receipt is the callback of every message of the call: it keeps the
// message's receipt at its index (the message is an element of c.msgs,
// which the client hands back) and closes done after the last.
func (c *call) receipt(id pulsarclient.MessageID, m *pulsarclient.ProducerMessage, err error) {
	if i, ok := c.index(m); ok {
		if err != nil {
			c.halted[c.parts[i]].Store(true)
		}
		c.rcpts[i] = sent{id: id, err: err, ok: true}
	}
	c.release()
}

// index returns the index of m in c.msgs.
func (c *call) index(m *pulsarclient.ProducerMessage) (int, bool) {
	if len(c.msgs) == 0 {
		return 0, false
	}
	off := uintptr(unsafe.Pointer(m)) - uintptr(unsafe.Pointer(&c.msgs[0]))
	size := unsafe.Sizeof(c.msgs[0])
	i := off / size
	if off%size != 0 || i >= uintptr(len(c.msgs)) {
		return 0, false
	}
	return int(i), true
}

// release counts one receipt (or the end of sending) done.
func (c *call) release() {
	if c.left.Add(-1) == 0 {
		close(c.done)
	}
}

var _ driver.Writer = (*Writer)(nil)

// OpenWriter opens a writer to the topic.
func (s *Stream) OpenWriter(ctx context.Context) (driver.Writer, error) {
	if err := s.check(ctx, "open writer of"); err != nil {
		return nil, err
	}
	w := &Writer{s: s}
	s.prods.acquire() // before track: Close may release it from then on
	if err := s.track(w, "open writer of"); err != nil {
		s.prods.release()
		return nil, err
	}
	return w, nil
}

// sharedProducers are the producers the writers of a stream share, one
// per partition, made on first use and closed with the last writer: a
// producer's send lanes then fill one batching producer per partition
// instead of one each, and cost one producer's goroutine and pending
// queue per partition.
type sharedProducers struct {
	mu   sync.Mutex
	refs int // open writers
	ps   map[int]pulsarclient.Producer
}

// acquire counts one more writer.
func (sp *sharedProducers) acquire() {
	sp.mu.Lock()
	sp.refs++
	sp.mu.Unlock()
}

// release counts one writer less and closes the producers after the last
// (each flushes what it holds).
func (sp *sharedProducers) release() {
	sp.mu.Lock()
	sp.refs--
	var ps map[int]pulsarclient.Producer
	if sp.refs == 0 {
		ps, sp.ps = sp.ps, nil
	}
	sp.mu.Unlock()
	for _, p := range ps {
		p.Close()
	}
}

// producer returns the producer of partition i, creating it.
func (w *Writer) producer(i int, plain bool) (pulsarclient.Producer, error) {
	w.mu.Lock()
	closed := w.closed
	w.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("writer is closed: %w", ErrClosed)
	}
	sp := &w.s.prods
	sp.mu.Lock() // one producer is made at a time
	defer sp.mu.Unlock()
	if p, ok := sp.ps[i]; ok {
		return p, nil
	}
	p, err := w.s.cl.CreateProducer(pulsarclient.ProducerOptions{
		Topic:                   w.s.partitionTopic(i, plain),
		SendTimeout:             w.s.o.SendTimeout,
		BatchingMaxPublishDelay: w.s.o.BatchingDelay,
		BatchingMaxMessages:     1000,
		BatchingMaxSize:         1 << 20,
		MaxPendingMessages:      DefaultMaxBatchRecords,
	})
	if err != nil {
		return nil, fmt.Errorf("create producer of %s: %w", w.s.partitionTopic(i, plain), err)
	}
	if sp.ps == nil {
		sp.ps = map[int]pulsarclient.Producer{}
	}
	sp.ps[i] = p
	return p, nil
}

// dropProducer closes and forgets the producer of partition i if it is p
// (after the client closed it), so that the next Write makes a new one.
func (w *Writer) dropProducer(i int, p pulsarclient.Producer) {
	sp := &w.s.prods
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if cur, ok := sp.ps[i]; ok && cur == p {
		delete(sp.ps, i)
		p.Close()
	}
}

// sent is one receipt.
type sent struct {
	id  pulsarclient.MessageID
	err error
	ok  bool // the receipt came
}

// Write writes records and fills results. A record over MaxRecordBytes
// fails alone with driver.ErrRecordTooLarge; a call over MaxBatchRecords or
// MaxBatchBytes fails whole.
func (w *Writer) Write(ctx context.Context, records []driver.Record, results []driver.WriteResult) error {
	topic := w.s.o.Topic
	if len(results) != len(records) {
		return fmt.Errorf("pulsar: write %s: %d results for %d records: expected one per record", topic, len(results), len(records))
	}
	w.mu.Lock()
	closed := w.closed
	w.mu.Unlock()
	if closed {
		return fmt.Errorf("pulsar: write %s: writer is closed: %w", topic, ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("pulsar: write %s: %w", topic, err)
	}
	if len(records) > DefaultMaxBatchRecords {
		return fmt.Errorf("pulsar: write %s: %d records: expected at most %d per call", topic, len(records), DefaultMaxBatchRecords)
	}
	total := 0
	for i := range records {
		if sz := records[i].Size(); sz <= w.s.o.MaxRecordBytes {
			total += sz
		}
	}
	if total > DefaultMaxBatchBytes {
		return fmt.Errorf("pulsar: write %s: %d bytes of records: expected at most %d per call", topic, total, DefaultMaxBatchBytes)
	}
	n, plain, err := w.s.partitionCount(ctx)
	if err != nil {
		return fmt.Errorf("pulsar: write %s: %w", topic, classify(err))
	}
	keyless := w.rr % n
	w.rr = (w.rr + 1) % n

	c := w.newCall(len(records), n)
	parts := c.parts
	for i := range results {
		results[i] = driver.WriteResult{}
	}
	for len(w.props) < len(records) {
		w.props = append(w.props, make(map[string]string, 2))
	}
	used := map[int]pulsarclient.Producer{}
	// c.halted[p] is set once a record of partition p in this call has
	// failed: its producer could not be made, or its receipt (which the
	// client may give inside SendAsync) is an error. The later records of p
	// are then not sent at all, because they are reported as not written
	// (ErrPrecedingRecordFailed) and sent again after the failed one: had
	// they reached the log, they would stand there before it.
	for i := range records {
		r := &records[i]
		p := keyless
		if len(r.Key) > 0 {
			p = keyPartition(r.Key, n)
		}
		parts[i] = p
		results[i].Partition = strconv.Itoa(p)
		if sz := r.Size(); sz > w.s.o.MaxRecordBytes {
			results[i].Err = fmt.Errorf("pulsar: write %s: record %q of %d bytes: the limit is %d (max_record_bytes): %w", topic, r.ID, sz, w.s.o.MaxRecordBytes, driver.ErrRecordTooLarge)
			parts[i] = -1
			continue
		}
		if c.halted[p].Load() {
			results[i].Err = fmt.Errorf("pulsar: write %s/%d: record %q: %w", topic, p, r.ID, driver.ErrPrecedingRecordFailed)
			continue
		}
		prod, err := w.producer(p, plain)
		if err != nil {
			results[i].Err = fmt.Errorf("pulsar: write %s/%d: %w", topic, p, classify(err))
			c.halted[p].Store(true)
			continue
		}
		used[p] = prod
		toMessage(&c.msgs[i], w.props[i], r)
		c.left.Add(1)
		prod.SendAsync(ctx, &c.msgs[i], c.receipt)
	}
	for _, prod := range used {
		// Errors show in the receipts; a flush only cuts the batching delay.
		_ = prod.FlushWithCtx(ctx)
	}
	c.release() // every message is sent
	select {
	case <-c.done:
	case <-ctx.Done():
		// The client still holds messages, and reads their properties
		// until their receipts: the next call gets maps of its own.
		w.props = nil // and no spare call: c is still in use
		pending := c.left.Load()
		return fmt.Errorf("pulsar: write %s: waiting for %d receipts: %w", topic, pending, ctx.Err())
	}
	for i := range records {
		rc := c.rcpts[i]
		if !rc.ok {
			continue // not sent: its result is set
		}
		p := parts[i]
		switch {
		case rc.err != nil && errors.Is(rc.err, pulsarclient.ErrMessageTooLarge):
			results[i].Err = fmt.Errorf("pulsar: write %s/%d: record %q: the broker's message size limit: %v: %w", topic, p, records[i].ID, rc.err, driver.ErrRecordTooLarge)
		case rc.err != nil:
			if errors.Is(rc.err, pulsarclient.ErrProducerClosed) {
				w.dropProducer(p, used[p])
			}
			results[i].Err = fmt.Errorf("pulsar: write %s/%d: record %q: %w", topic, p, records[i].ID, classify(rc.err))
		case rc.id == nil:
			results[i].Err = fmt.Errorf("pulsar: write %s/%d: record %q: the client reported no message id", topic, p, records[i].ID)
		default:
			mid := MessageID{Ledger: rc.id.LedgerID(), Entry: rc.id.EntryID(), Batch: rc.id.BatchIdx(), Partition: int32(p)}
			if err := mid.check(); err != nil {
				results[i].Err = fmt.Errorf("pulsar: write %s/%d: record %q: receipt: %w", topic, p, records[i].ID, err)
				break
			}
			results[i].Pointer = mid.Pointer()
		}
	}
	// A partition is a log without holes: after a failed record, the later
	// records of its partition in this call count as failed.
	failed := map[int]bool{}
	for i := range records {
		p := parts[i]
		if p < 0 {
			continue
		}
		if failed[p] {
			if results[i].Err == nil {
				results[i].Pointer = nil
				results[i].Err = fmt.Errorf("pulsar: write %s/%d: record %q: %w", topic, p, records[i].ID, driver.ErrPrecedingRecordFailed)
			}
			continue
		}
		if results[i].Err != nil {
			failed[p] = true
		}
	}
	w.spare = c // every receipt came: the client is done with c
	return nil
}

// newCall returns the state of a call of k records to n partitions,
// reusing the last call's arrays when it returned after all its receipts:
// its messages (a few hundred bytes each) were otherwise allocated and
// cleared anew for every call, megabytes for a call of 10,000 records.
// Messages that this call does not send keep the last call's contents,
// which nothing reads: receipts come only for the messages sent.
func (w *Writer) newCall(k, n int) *call {
	c := w.spare
	w.spare = nil
	if c == nil || cap(c.msgs) < k || cap(c.halted) < n {
		c = &call{
			msgs:   make([]pulsarclient.ProducerMessage, k),
			parts:  make([]int, k),
			rcpts:  make([]sent, k),
			halted: make([]atomic.Bool, n),
		}
	} else {
		c.msgs, c.parts, c.rcpts, c.halted = c.msgs[:k], c.parts[:k], c.rcpts[:k], c.halted[:n]
		clear(c.rcpts)
		for i := range c.halted {
			c.halted[i].Store(false)
		}
	}
	c.done = make(chan struct{})
	c.left.Store(1) // sending
	return c
}

// Close closes the writer; the last writer of the stream closes the
// shared producers (each flushes what it holds). It is idempotent.
func (w *Writer) Close() error {
	w.closeFromStream()
	w.s.untrack(w)
	return nil
}

// closeFromStream closes the writer once.
func (w *Writer) closeFromStream() {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.closed = true
	w.mu.Unlock()
	w.s.prods.release()
}
