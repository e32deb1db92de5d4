package kafka

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// errPartitionShared is returned by openShared when another open reader
// of the stream reads the partition through the shared client: a client
// consumes a partition at one offset only, so the second reader gets a
// client of its own.
var errPartitionShared = errors.New("the partition is read by another reader of the shared client")

// maxSharedFetchWait bounds how long a fetch of the shared client waits at
// the broker for records: a partition added or resumed joins the next
// fetch to its broker, after the one in flight.
const maxSharedFetchWait = 500 * time.Millisecond

// consumer is the franz-go client through which the readers of a Stream
// consume their partitions (the reader_client=shared option): one client,
// so a few connections, however many partitions are read. It consumes
// partitions directly (no group), adding a partition when a reader opens
// and removing it when the reader closes.
//
// One goroutine (run) polls the client and routes each partition's records
// and errors to the reader of that partition, into the reader's buffer;
// the reader's Fetch takes them from there. Between polls the goroutine
// applies the partitions readers opened and closed since the last poll,
// removing before adding, so a partition reopened at another offset is
// first removed (franz-go drops what it fetched for it) and then added at
// the new offset.
//
// Each open of a partition is a new generation of it (a new share): the
// goroutine routes a partition's records only to the share that is current
// and active (added by the goroutine itself, after the removal of any
// earlier one), so records fetched for an earlier generation are dropped,
// never seen by the new reader.
//
// Flow control: when a reader's buffer holds more than its share of
// fetch_max_bytes (fetch_max_bytes divided by the open readers), the
// goroutine pauses the partition (franz-go stops fetching it and drops what
// it fetched for it but has not returned); Fetch resumes it when the
// buffer is down to half the share. A slow reader never holds the others
// up, and the buffered records of all readers stay about fetch_max_bytes,
// plus one fetch response per broker, however many partitions are read.
type consumer struct {
	s     *Stream
	idx   int // the client's place in the pool: it reads the partitions p with p mod reader_clients == idx
	cl    *kgo.Client
	topic string

	stop    context.CancelFunc // ends run
	done    chan struct{}      // closed when run returns
	stopped chan struct{}      // closed by shutdown
	once    sync.Once

	open int // readers open; under s.mu

	mu     sync.Mutex
	shares map[int32]*share   // the current generation of each partition read
	gens   map[int32]uint64   // the last generation of each partition
	add    map[int32]*share   // to add at the next apply
	remove map[int32]struct{} // to remove at the next apply (before the adds)
	dirty  bool               // add or remove is not empty
	wake   context.CancelFunc // cancels run's poll in progress, or nil
	paused map[int32]struct{} // partitions paused by flow control
}

// bound is a reader's share of the buffered bytes: fetch_max_bytes divided
// by the clients of the pool and by the client's open readers. The caller
// holds c.mu.
func (c *consumer) bound() int {
	return max(c.s.o.FetchMaxBytes/max(c.s.o.ReaderClients, 1)/max(len(c.shares), 1), 1)
}

// share is one generation of one partition in the shared consumer: the
// buffer between run and the reader's Fetch. Its fields are guarded by the
// consumer's mu.
type share struct {
	c     *consumer
	p     int32
	gen   uint64
	at    kgo.Offset
	ready chan struct{} // a non-blocking send after each routing into in

	active bool     // added by run: records of the partition are this share's
	closed bool     // the reader closed, or its position is gone
	in     []routed // routed, not yet taken by the reader
	hw     int64    // the high watermark of the last fetch response, -1 before one
	bytes  int      // bytes in in and in the reader's buf
}

// routed is one item of a share's buffer: records of one fetch response,
// or an error of the partition's fetch.
type routed struct {
	recs []*kgo.Record
	err  error
}

// newConsumer makes the stream's shared consuming client idx of the pool
// and starts its goroutine. The caller holds s.mu.
func (s *Stream) newConsumer(idx int) (*consumer, error) {
	wait := max(min(s.o.FetchWait, maxSharedFetchWait), 10*time.Millisecond)
	opts := append(append([]kgo.Opt(nil), s.base...),
		kgo.ConsumeResetOffset(kgo.NoResetOffset()),
		kgo.FetchMaxBytes(int32(s.o.FetchMaxBytes)),
		kgo.FetchMaxPartitionBytes(int32(s.o.FetchMaxBytes)),
		kgo.FetchMaxWait(wait),
		// As the per-partition clients (see OpenReader): no KIP-714
		// telemetry from consuming clients (the stream's own client
		// reports), and no fetch sessions: franz-go v1.22.3 kills the
		// session in Close while a fetch in flight may still bump its
		// epoch (a data race under -race), and the client stops its
		// session at every removal anyway.
		kgo.DisableClientMetrics(),
		kgo.DisableFetchSessions(),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka: open reader of %s: new client: %w", s.o.Topic, err)
	}
	ctx, stop := context.WithCancel(context.Background())
	c := &consumer{
		s: s, idx: idx, cl: cl, topic: s.o.Topic,
		stop: stop, done: make(chan struct{}), stopped: make(chan struct{}),
		shares: map[int32]*share{}, gens: map[int32]uint64{},
		add: map[int32]*share{}, remove: map[int32]struct{}{}, paused: map[int32]struct{}{},
	}
	go c.run(ctx)
	return c, nil
}

// openShared opens a reader of partition p at offset at on the stream's
// shared client, making the client if none is open. It returns
// errPartitionShared when another open reader reads p through it.
func (s *Stream) openShared(partition string, p int32, at kgo.Offset) (*reader, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("kafka: open reader of %s: stream is closed: %w", s.o.Topic, ErrClosed)
	}
	idx := int(p) % max(s.o.ReaderClients, 1)
	c := s.cons[idx]
	if c == nil {
		// The pool's clients buffer about fetch_max_bytes in all, and each
		// may hold one more fetch response.
		if err := s.checkReaderMemory(1+int64(s.o.ReaderClients), "1 + reader_clients: the readers' share and a fetch response per pooled client"); err != nil {
			return nil, err
		}
		var err error
		if c, err = s.newConsumer(idx); err != nil {
			return nil, err
		}
		if s.cons == nil {
			s.cons = map[int]*consumer{}
		}
		s.cons[idx] = c
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.shares[p] != nil {
		return nil, errPartitionShared
	}
	c.open++
	c.gens[p]++
	sh := &share{c: c, p: p, gen: c.gens[p], at: at, ready: make(chan struct{}, 1), hw: -1}
	c.shares[p] = sh
	c.add[p] = sh
	c.kick()
	r := &reader{s: s, sh: sh, partition: partition, p: p}
	r.hw.Store(-1)
	r.next.Store(-1)
	return r, nil
}

// kick makes run apply the pending additions and removals: it ends the
// poll in progress. The caller holds c.mu.
func (c *consumer) kick() {
	c.dirty = true
	if c.wake != nil {
		c.wake()
		c.wake = nil
	}
}

// run polls the client until ctx is done or the client is closed, applying
// the readers' changes between polls and routing what each poll returns.
func (c *consumer) run(ctx context.Context) {
	defer close(c.done)
	for ctx.Err() == nil {
		c.apply()
		pctx, cancel := context.WithCancel(ctx)
		c.mu.Lock()
		if c.dirty {
			cancel()
		} else {
			c.wake = cancel
		}
		c.mu.Unlock()
		fs := c.cl.PollRecords(pctx, -1)
		cancel()
		c.mu.Lock()
		c.wake = nil
		closed := c.route(fs)
		c.mu.Unlock()
		if closed {
			return
		}
	}
}

// apply removes the partitions whose readers closed, then adds those of
// the readers opened, since the last call, and activates the new shares.
func (c *consumer) apply() {
	c.mu.Lock()
	rm, add := c.remove, c.add
	c.remove, c.add, c.dirty = map[int32]struct{}{}, map[int32]*share{}, false
	c.mu.Unlock()
	if len(rm) > 0 {
		ps := make([]int32, 0, len(rm))
		for p := range rm {
			ps = append(ps, p)
		}
		// Removing stops the client's fetch session: what it fetched for
		// these partitions is dropped, never polled.
		c.cl.RemoveConsumePartitions(map[string][]int32{c.topic: ps})
	}
	if len(add) == 0 {
		return
	}
	offs := make(map[int32]kgo.Offset, len(add))
	ps := make([]int32, 0, len(add))
	for p, sh := range add {
		offs[p] = sh.at
		ps = append(ps, p)
	}
	// A partition paused for an earlier generation starts unpaused. The
	// client is called without c.mu (its metadata goroutine may hold it
	// up): no one pauses or resumes these partitions meanwhile, as their
	// earlier shares are closed and the new ones not active yet.
	c.mu.Lock()
	var res []int32
	for _, p := range ps {
		if _, ok := c.paused[p]; ok {
			delete(c.paused, p)
			res = append(res, p)
		}
	}
	c.mu.Unlock()
	if len(res) > 0 {
		c.cl.ResumeFetchPartitions(map[string][]int32{c.topic: res})
	}
	c.cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{c.topic: offs})
	c.activate(add)
}

// activate makes the shares the client has just added active: records of
// their partitions are theirs from now on. A share whose partition was
// closed, or opened again, since stays inactive: a later generation is
// added at the next apply.
func (c *consumer) activate(added map[int32]*share) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for p, sh := range added {
		if sh.gen == c.gens[p] && !sh.closed {
			sh.active = true
		}
	}
}

// route hands the records and errors of a poll to the active shares of
// their partitions, drops those of other partitions (an earlier
// generation, a reader closed since), and pauses the partitions whose
// buffers are over their bound. It reports whether the client is closed.
// The caller holds c.mu.
func (c *consumer) route(fs kgo.Fetches) (closed bool) {
	bound := c.bound()
	var pause []int32
	for _, f := range fs {
		for _, t := range f.Topics {
			for i := range t.Partitions {
				fp := &t.Partitions[i]
				if fp.Partition < 0 {
					closed = c.routeInjected(t.Topic, fp.Err) || closed
					continue
				}
				sh := c.shares[fp.Partition]
				if t.Topic != c.topic || sh == nil || !sh.active {
					continue
				}
				if fp.Err == nil && fp.HighWatermark >= 0 {
					sh.hw = fp.HighWatermark
				}
				sh.push(fp.Records, fp.Err)
				if _, ok := c.paused[fp.Partition]; !ok && sh.bytes > bound {
					c.paused[fp.Partition] = struct{}{}
					pause = append(pause, fp.Partition)
				}
			}
		}
	}
	if len(pause) > 0 {
		c.cl.PauseFetchPartitions(map[string][]int32{c.topic: pause})
	}
	return closed
}

// routeInjected handles an error of no one partition, injected by the
// client into a poll: the poll was woken (a done context), the client
// closed (it reports true), or an error of the whole topic (its metadata)
// or of a whole fetch response, which every active share gets. The
// caller holds c.mu.
func (c *consumer) routeInjected(topic string, err error) (closed bool) {
	switch {
	case errors.Is(err, kgo.ErrClientClosed):
		return true
	case err == nil, errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
	case topic == "" || topic == c.topic:
		for _, sh := range c.shares {
			if sh.active {
				sh.push(nil, err)
			}
		}
	}
	return false
}

// push appends records and then an error (either may be nil) to the
// share's buffer and wakes its reader. Consecutive errors are one: a
// partition that fails again and again while its reader is away buffers
// one. The caller holds c.mu.
func (sh *share) push(recs []*kgo.Record, err error) {
	if len(recs) > 0 {
		sh.in = append(sh.in, routed{recs: recs})
		sh.bytes += recordsSize(recs)
	}
	if err != nil && (len(sh.in) == 0 || sh.in[len(sh.in)-1].err == nil) {
		sh.in = append(sh.in, routed{err: err})
	}
	select {
	case sh.ready <- struct{}{}:
	default:
	}
}

// take moves what run routed to the share into the reader's buffer, up to
// the first error, which it returns (consumed) after the records before
// it.
func (sh *share) take(r *reader) error {
	c := sh.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if sh.hw >= 0 {
		r.hw.Store(sh.hw)
	}
	for i, f := range sh.in {
		if f.err != nil {
			sh.in = slices.Delete(sh.in, 0, i+1)
			if len(sh.in) == 0 {
				sh.in = nil
			}
			return f.err
		}
		r.buf = append(r.buf, f.recs)
		r.n += len(f.recs)
	}
	sh.in = nil
	return nil
}

// release accounts for n bytes of records the reader returned, and resumes
// the partition if it was paused and its buffer is down to half its bound.
func (sh *share) release(n int) {
	c := sh.c
	c.mu.Lock()
	defer c.mu.Unlock()
	sh.bytes -= n
	// Under c.mu, so that pausing (route) and resuming happen in the
	// order of their decisions.
	if _, ok := c.paused[sh.p]; ok && !sh.closed && sh.bytes <= c.bound()/2 {
		delete(c.paused, sh.p)
		c.cl.ResumeFetchPartitions(map[string][]int32{c.topic: {sh.p}})
	}
}

// retire stops fetching the share's partition for good (its position is
// gone: the reader's every Fetch fails) and drops its buffer; the reader
// still holds the partition until it closes.
func (sh *share) retire() {
	c := sh.c
	c.mu.Lock()
	defer c.mu.Unlock()
	sh.drop()
}

// drop deactivates the share, empties its buffer and has run remove its
// partition from the client. The caller holds c.mu.
func (sh *share) drop() {
	c := sh.c
	if sh.closed {
		return
	}
	sh.closed, sh.active, sh.in, sh.bytes = true, false, nil, 0
	if c.shares[sh.p] == sh {
		if c.add[sh.p] == sh {
			delete(c.add, sh.p)
		}
		c.remove[sh.p] = struct{}{}
		c.kick()
	}
}

// closeShare ends the reader's share: the partition is free for another
// reader (run removes it from the client first), and the client is closed
// when this was the last open reader.
func (s *Stream) closeShare(sh *share) {
	c := sh.c
	s.mu.Lock()
	c.mu.Lock()
	sh.drop()
	if c.shares[sh.p] == sh {
		delete(c.shares, sh.p)
	}
	c.mu.Unlock()
	c.open--
	last := c.open == 0 && s.cons[c.idx] == c
	if last {
		delete(s.cons, c.idx)
	}
	s.mu.Unlock()
	if last {
		c.shutdown()
	}
}

// shutdown stops run and closes the client. It is idempotent.
func (c *consumer) shutdown() {
	c.once.Do(func() {
		close(c.stopped)
		c.stop()
		<-c.done
		c.cl.Close()
	})
}

// recordsSize is the bytes of records counted against a reader's buffer
// bound: keys, values and headers.
func recordsSize(rs []*kgo.Record) int {
	n := 0
	for _, r := range rs {
		n += len(r.Key) + len(r.Value)
		for _, h := range r.Headers {
			n += len(h.Key) + len(h.Value)
		}
	}
	return n
}
