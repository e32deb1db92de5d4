package stream

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/unistream-go/unistream/stream/driver"
	"github.com/unistream-go/unistream/stream/wal"
)

// Producer writes records to a stream through a buffer that is persisted
// in a write-ahead log (WAL) on disk.
//
// Put appends a record to the WAL's group buffer and to the queue of the
// record's send lane, and returns (with FsyncAlways, once the record is
// written and fsynced; see FsyncPolicy). A record goes to lane
// hash(Key) mod the number of lanes (WithSendLanes, default 4; records
// without a key all go to lane 0, which keeps their order). The hash is
// the one the backend partitions by where the driver tells it
// (driver.KeyHasher: Kafka's murmur2, Pulsar's FNV-1a), so that when the
// lanes divide the partitions each lane writes partitions of its own. Each lane has
// its own queue, its own sender goroutine and its own driver.Writer, and
// at most one Write in flight: up to that many batches are in flight at
// once, and the records of one key are never in two concurrent writes. A
// lane's sender writes the WAL to disk ahead of each batch and emits a
// batch (of at most MaxRecords records and MaxBytes bytes) when the lane
// holds its share of a batch (MaxRecords records or MaxBytes bytes divided
// by the number of lanes), when the lane's oldest record is MaxAge old, or
// on Flush and Close. A write that fails, wholly or for some records, puts
// its lane on hold with exponential backoff; then only the failed records
// are sent again, in their original order, ahead of the lane's newer ones.
// Records of one key keep their order (given a backend with per-key order,
// see driver.Writer). The other lanes go on sending while one holds, so a
// failing key holds back only the keys of its own lane (until the buffer
// is full of them). The producer's events come from the lanes' goroutines,
// possibly at once; the Attempt of an EventProducerHold counts the holds
// of its lane in a row.
//
// The producer never drops a record that may still be written: a
// transient failure is retried with backoff, for ever by default, or until
// the record's failed sends reach the MaxAttempts of WithSendRetry. When
// the buffer (one bound over all lanes) is at its bound Put waits (or
// returns ErrBufferFull). After a crash, the next producer opened on the
// same WAL first re-sends the records that were never acknowledged, each
// key's in order. What a crash may lose of the records accepted and not
// yet sent depends on the fsync policy (none with FsyncAlways); a record
// that was sent is never lost. Delivery is therefore at-least-once: a
// record may be written twice (for example when the process dies after a
// write and before its acknowledgement reaches the WAL), always with the
// same ID, so consumers can de-duplicate.
//
// A record the backend refuses for good (an error the adapter marks
// permanent, driver.IsPermanent: too large, authorization denied, an
// invalid key, a stream that does not exist), or whose MaxAttempts sends
// failed, is refused: it leaves its lane at once, without a hold, so it
// holds back no other record; the later records of its key go on after
// it, in order. With WithProducerDLQ it is written to the DLQ sink in an
// Envelope (reason "permanent" or "exhausted", its last error, its
// attempts) and then acknowledged in the WAL (EventProducerDeadLettered);
// a DLQ write that fails holds the lane and is retried with the send
// backoff until it succeeds (EventProducerDLQError), so nothing is lost.
// A crash after the DLQ write and before the acknowledgement makes the
// next producer send the record again (and, refused again, dead-letter it
// again: at-least-once). Without a DLQ sink the record is dropped:
// acknowledged in the WAL, reported by EventProducerDropped, and by the
// next Flush or Close, which return an error matching ErrRecordRefused.
//
// The producer's events carry the send lane (Event.Lane), and Stats the
// counters of each lane (ProducerStats.Lanes).
//
// A Producer is safe for concurrent use. Close it to send what is buffered
// and release the WAL.
type Producer struct {
	s    *Stream
	owns bool
	cfg  producerConfig
	caps driver.Capabilities
	// checker is the stream as a driver.RecordChecker, or nil.
	checker driver.RecordChecker
	// hasher is the stream as a driver.KeyHasher, or nil: laneOf then
	// hashes keys with FNV-1a.
	hasher driver.KeyHasher
	log    *wal.Log

	// lanes are fixed at start; a lane's queue and counters are guarded
	// by mu, the rest of it is owned by its sender goroutine.
	lanes []*lane
	// A lane's batch is due when it holds laneRecords records or
	// laneBytes bytes: its share of MaxRecords and MaxBytes.
	laneRecords int
	laneBytes   int

	mu          sync.Mutex
	bufRecords  int    // records buffered in every lane (waiting or in flight)
	bufBytes    int    // their bytes
	nextOrd     uint64 // ordinal of the next record, from 1
	lastSeq     uint64 // WAL sequence number of the last record appended
	flushTarget uint64 // records with ord ≤ flushTarget are sent without waiting
	waiting     int    // Puts blocked at the bound
	closed      bool   // Close (or abandon) started: Put refuses
	closedCh    chan struct{}
	roomCh      chan struct{} // closed and replaced when records leave the buffer
	progressCh  chan struct{} // closed and replaced when records are acknowledged
	stats       ProducerStats
	walErr      error         // last WAL error met by a sender or the WAL writer
	groupN      int           // records appended to the WAL since the last kick of the WAL writer
	groupBytes  int           // their bytes
	walTarget   uint64        // WAL sequence number the WAL writer is to reach
	walMaint    chan struct{} // maintenance (cut back or compaction) asked for and not yet taken by the WAL writer
	maint       chan struct{} // the last maintenance asked for, closed by the WAL writer when done
	walBusy     bool          // the WAL writer is working on a kick (tests wait for it to be idle)
	senders     int           // sender goroutines running
	slab        []byte        // record data is copied here (see cloneRecordData)
	ids         uuidGen       // the IDs of records Put without one
	hslab       []Header      // and headers here
	dropped     int           // records refused and dropped (no DLQ sink) since Flush or Close last reported them
	firstDrop   error         // the first of them

	walKick    chan struct{} // wakes the WAL writer (FsyncPerBatch, FsyncInterval)
	blocks     sync.Pool     // the lanes' spare pendingBlocks (pendingQueue.spare)
	stopCtx    context.Context
	stop       context.CancelFunc
	senderDone chan struct{} // closed when every lane's sender has stopped
	walDone    chan struct{} // nil without a WAL writer goroutine

	closeMu      sync.Mutex
	closeStarted bool
	closeDone    chan struct{}
	closeErr     error
}

// ProducerStats are a producer's counters.
type ProducerStats struct {
	// Put counts the records accepted by Put.
	Put uint64
	// Replayed counts the records recovered from the WAL at start.
	Replayed uint64
	// Sent counts the records the stream acknowledged.
	Sent uint64
	// FailedAttempts counts the record sends that failed (each such record
	// was sent again later, unless refused for good).
	FailedAttempts uint64
	// DeadLettered counts the records refused for good and written to the
	// DLQ sink (WithProducerDLQ); Dropped those refused without one.
	DeadLettered uint64
	Dropped      uint64
	// Batches counts the Write calls.
	Batches uint64
	// Holds counts the backoff waits after a failed write.
	Holds uint64
	// WALSyncs counts the fsyncs of the WAL file (0 without a WAL): one
	// serves every record appended before it (group commit), so with
	// FsyncPerBatch it is at most Batches and fewer when batches overlap.
	WALSyncs uint64
	// Buffered and BufferedBytes measure the records waiting or in flight.
	Buffered      int
	BufferedBytes int
	// Recovery describes a torn WAL tail cut off at start, if any.
	Recovery wal.Recovery
	// Lanes are the counters of each send lane, by lane number.
	Lanes []LaneStats
}

// LaneStats are the counters of one send lane.
type LaneStats struct {
	// Buffered and BufferedBytes measure the lane's records waiting or in
	// flight.
	Buffered      int
	BufferedBytes int
	// Sent counts the lane's records the stream acknowledged.
	Sent uint64
	// Holds counts the lane's backoff waits: after a failed write, or a
	// failed DLQ write.
	Holds uint64
	// DeadLettered and Dropped count the lane's records refused for good,
	// written to the DLQ sink or dropped.
	DeadLettered uint64
	Dropped      uint64
}

// NewProducer returns a producer writing to s. It needs WithWAL(path) or,
// to accept losing buffered records in a crash, WithoutWAL(). If the WAL
// holds records a previous producer never had acknowledged, they are sent
// first, in their original order (EventProducerReplayed). The caller keeps
// ownership of s: Close does not close it.
//
// A corrupt WAL makes NewProducer fail with an error that names the file
// and the byte offset (matching wal.ErrCorrupt); the file is left as it was.
func NewProducer(s *Stream, opts ...ProducerOption) (*Producer, error) {
	if s == nil || s.d == nil {
		return nil, &OptionError{Option: "NewProducer stream", Value: nil, Expected: "a non-nil *stream.Stream (from stream.Open or stream.NewStream)"}
	}
	cfg := defaultProducerConfig()
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o.applyToProducer(&cfg); err != nil {
			return nil, err
		}
	}
	cfg.logs = newLogObserver(cfg.logger)
	switch {
	case cfg.noWAL && cfg.walPath != "":
		return nil, &OptionError{Option: "WithoutWAL", Value: "together with WithWAL(" + cfg.walPath + ")", Expected: "either WithWAL(path) or WithoutWAL(), not both"}
	case !cfg.noWAL && cfg.walPath == "":
		return nil, &OptionError{Option: "WithWAL", Value: "none", Expected: "a write-ahead log path (WithWAL), or WithoutWAL() to accept losing buffered records in a crash"}
	case cfg.noWAL && cfg.fsync != FsyncPerBatch:
		return nil, &OptionError{Option: "WithFsync", Value: cfg.fsync, Expected: "no fsync policy with WithoutWAL (there is nothing to sync)"}
	}
	caps := s.Capabilities()
	if caps.MaxBatchRecords > 0 && cfg.maxRecords > caps.MaxBatchRecords {
		cfg.maxRecords = caps.MaxBatchRecords
	}
	if caps.MaxBatchBytes > 0 && cfg.maxBytes > caps.MaxBatchBytes {
		cfg.maxBytes = caps.MaxBatchBytes
	}
	checker, _ := s.Driver().(driver.RecordChecker)
	hasher, _ := s.Driver().(driver.KeyHasher)
	p := &Producer{
		s:          s,
		cfg:        cfg,
		caps:       caps,
		checker:    checker,
		hasher:     hasher,
		nextOrd:    1,
		closedCh:   make(chan struct{}),
		roomCh:     make(chan struct{}),
		progressCh: make(chan struct{}),
		senderDone: make(chan struct{}),
		closeDone:  make(chan struct{}),
	}
	p.blocks.New = func() any { return new(pendingBlock) }
	p.lanes = make([]*lane, cfg.sendLanes)
	p.laneRecords = (cfg.maxRecords + cfg.sendLanes - 1) / cfg.sendLanes
	p.laneBytes = (cfg.maxBytes + cfg.sendLanes - 1) / cfg.sendLanes
	for i := range p.lanes {
		p.lanes[i] = &lane{id: i, wake: make(chan struct{}, 1)}
		p.lanes[i].q.keep = cfg.maxRecords/pendingBlockLen + 1
		p.lanes[i].q.spare = &p.blocks
	}
	if !cfg.noWAL {
		log, entries, err := wal.Open(cfg.walPath, p.walOptions())
		if err != nil {
			return nil, fmt.Errorf("stream: producer write-ahead log: %w", err)
		}
		p.log = log
		p.stats.Recovery = log.Recovery()
		// Each record to its key's lane, in WAL order: each lane, and so
		// each key, gets its records in their original order.
		for _, e := range entries {
			size := e.Record.Size()
			l := p.lanes[p.laneOf(e.Record.Key)]
			l.q.push(pending{rec: e.Record, seq: e.Seq, size: size, ord: p.nextOrd})
			l.bytes += size
			p.nextOrd++
			p.bufRecords++
			p.bufBytes += size
			p.lastSeq = e.Seq
		}
		p.stats.Replayed = uint64(len(entries))
		if len(entries) > 0 || p.stats.Recovery.Repaired() {
			var rerr error
			if rv := p.stats.Recovery; rv.Repaired() {
				rerr = fmt.Errorf("stream: producer WAL %s: %s", cfg.walPath, rv)
			}
			p.observe(Event{Kind: EventProducerReplayed, Count: len(entries), Err: rerr})
		}
	}
	p.stopCtx, p.stop = context.WithCancel(context.Background())
	if p.log != nil && cfg.fsync != FsyncAlways {
		// Before the senders start: they kick the WAL writer too.
		p.walKick = make(chan struct{}, 1)
		p.walDone = make(chan struct{})
	}
	p.senders = len(p.lanes)
	for _, l := range p.lanes {
		go p.run(l)
	}
	if p.walKick != nil {
		d := cfg.fsync.interval()
		if cfg.fsync == FsyncPerBatch {
			d = cfg.maxAge
		}
		go p.walLoop(d)
	}
	return p, nil
}

// walOptions returns the options of the producer's WAL: with an observer
// or a logger that logs EventProducerWALSynced, each fsync is reported.
// (The log counts its fsyncs itself, for ProducerStats.WALSyncs: a count
// kept here, after the fsync's records were seen synced, could lag behind
// a Flush that returned.)
func (p *Producer) walOptions() wal.Options {
	opts := p.cfg.walOpts
	prev := opts.OnSync // a test's
	report := p.cfg.observer != nil || p.cfg.logs != nil
	if !report {
		return opts // without OnSync the log does not time its fsyncs
	}
	opts.OnSync = func(i wal.SyncInfo) {
		if prev != nil {
			prev(i)
		}
		p.observe(Event{Kind: EventProducerWALSynced, Count: i.Records, Elapsed: i.Elapsed})
	}
	return opts
}

// OpenProducer opens the stream at rawURL (see Open) and returns a producer
// writing to it. The producer owns the stream and closes it on Close.
func OpenProducer(ctx context.Context, rawURL string, opts ...ProducerOption) (*Producer, error) {
	s, err := Open(ctx, rawURL)
	if err != nil {
		return nil, err
	}
	p, err := NewProducer(s, opts...)
	if err != nil {
		s.Close()
		return nil, err
	}
	p.owns = true
	return p, nil
}

// Stream returns the stream the producer writes to.
func (p *Producer) Stream() *Stream { return p.s }

// refuse returns why the stream would refuse rec for good: the stream's
// CheckRecord (a driver.RecordChecker), or headers on a stream that
// declares PlainRecords.
func (p *Producer) refuse(rec *Record, genID bool) error {
	id := rec.ID
	if genID {
		id = "(to be generated)"
	}
	if p.checker != nil {
		if err := p.checker.CheckRecord(rec); err != nil {
			return fmt.Errorf("stream: Put: record %q: %w", id, err)
		}
	}
	if p.caps.PlainRecords && len(rec.Headers) > 0 {
		return fmt.Errorf("stream: Put: record %q has %d headers, and the stream writes plain records, which carry none (Capabilities().PlainRecords)", id, len(rec.Headers))
	}
	return nil
}

// Put accepts a record for sending. It gives the record an ID (if it has
// none) and a Time (if zero), clears its Stream, Partition and Pointer, and
// copies its bytes, so the caller may reuse them. A record whose Size is
// over the stream's Capabilities().MaxRecordBytes is refused with an error
// matching driver.ErrRecordTooLarge. A record the stream would refuse for
// good is refused too: one with headers when the stream declares
// Capabilities().PlainRecords, and one a driver.RecordChecker stream's
// CheckRecord refuses.
//
// Put appends the record to the WAL's group buffer and to the send buffer,
// and returns; the record is then sent eventually. What a crash may still
// lose depends on the fsync policy (see FsyncPolicy):
//
//   - FsyncAlways: Put returns once the record is written and fsynced
//     (concurrent Puts share one write and one fsync). No crash loses it.
//   - FsyncPerBatch: Put returns with the record in memory. The WAL is
//     written and fsynced before the record's batch is sent, or earlier in
//     the background once a batch's worth of records waits, so a record
//     handed to the stream survives any crash and is re-sent if its
//     acknowledgement was not recorded; a crash before its record is
//     synced (about one batch's worth of records at most) may lose it.
//   - FsyncInterval(d): Put returns with the record in memory. The WAL is
//     written before the record's batch is sent and fsynced every d, so a
//     crash loses at most about the records of the last d that were not
//     sent yet (of the last d, if the machine crashed).
//
// To know that records are safe whatever the policy, call Flush: it
// returns once the stream acknowledged them.
//
// At the buffer bound, Put waits for room until ctx is done, or returns
// ErrBufferFull if so configured. After Close it returns ErrClosed.
//
// When Put returns an error the record was not accepted, with one
// exception: with FsyncAlways, when writing or syncing the WAL failed, the
// record is already buffered and may still be sent (the error says so).
// Give records your own IDs to make a retried Put idempotent for consumers.
func (p *Producer) Put(ctx context.Context, rec Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(p.cfg.putHooks) > 0 {
		rec = p.runPutHooks(ctx, rec)
	}
	now := p.cfg.clock.Now()
	genID, size, err := p.admit(&rec, now)
	if err != nil {
		return err
	}
	l := p.lanes[p.laneOf(rec.Key)]
	if err := p.waitRoom(ctx, size); err != nil {
		return err
	}
	seq, walKick, err := p.appendLocked(l, &rec, genID, size, now)
	if err != nil {
		p.mu.Unlock()
		return err
	}
	n := l.q.len()
	kick := n == 1 || n >= p.laneRecords || l.bytes >= p.laneBytes
	p.mu.Unlock()
	if kick {
		l.wakeUp()
	}
	if walKick {
		p.kickWAL()
	}
	if p.log != nil && p.cfg.fsync == FsyncAlways {
		if err := p.log.SyncTo(seq); err != nil {
			return fmt.Errorf("stream: Put: record %q is buffered and may still be sent, but writing or syncing the write-ahead log failed: %w", rec.ID, err)
		}
	}
	return nil
}

// putHookRecords holds the records runPutHooks hands to the hooks.
var putHookRecords = sync.Pool{New: func() any { return new(Record) }}

// runPutHooks runs the WithPutHook hooks on a copy of rec and returns it.
// The copy is a pooled record (hooks must not keep it): handing &rec
// itself to a function value would move every Put's record to the heap,
// hooks or not, and a fresh copy would cost an allocation per Put.
func (p *Producer) runPutHooks(ctx context.Context, rec Record) Record {
	r := putHookRecords.Get().(*Record)
	*r = rec
	for _, h := range p.cfg.putHooks {
		h(ctx, r)
	}
	rec = *r
	*r = Record{}
	putHookRecords.Put(r)
	return rec
}

// admit completes rec (an ID, a Time, no position) and checks it against
// the stream's limits and what it refuses for good; it returns whether the
// ID is still to be generated and the record's size.
func (p *Producer) admit(rec *Record, now time.Time) (genID bool, size int, err error) {
	if rec.ID == "" {
		if p.cfg.idFunc == nil {
			genID = true
		} else if rec.ID = p.cfg.idFunc(); rec.ID == "" {
			return false, 0, errors.New("stream: Put: the WithIDFunc function returned an empty ID")
		}
	}
	if rec.Time.IsZero() {
		rec.Time = now
	}
	rec.Stream, rec.Partition, rec.Pointer = "", "", nil
	size = rec.Size()
	if genID {
		size += uuidLen
	}
	if max := p.caps.MaxRecordBytes; max > 0 && size > max {
		id := rec.ID
		if genID {
			id = "(to be generated)"
		}
		return false, 0, fmt.Errorf("stream: Put: record %q is %d bytes (id, key, value and headers), over the stream's limit of %d bytes: %w",
			id, size, max, driver.ErrRecordTooLarge)
	}
	if p.checker != nil || p.caps.PlainRecords && len(rec.Headers) > 0 {
		// A copy to check: handing &rec to an interface would move every
		// Put's record to the heap.
		r := *rec
		if err := p.refuse(&r, genID); err != nil {
			return false, 0, err
		}
	}
	return genID, size, nil
}

// waitRoom waits until the buffer has room for a record of size bytes (or
// returns ErrBufferFull without WithBlockWhenFull); it returns with p.mu
// held, or an error with p.mu released.
func (p *Producer) waitRoom(ctx context.Context, size int) error {
	p.mu.Lock()
	for {
		if p.closed {
			p.mu.Unlock()
			return ErrClosed
		}
		n := p.bufRecords
		if n == 0 || (n < p.cfg.bufferRecords && p.bufBytes+size <= p.cfg.bufferBytes) {
			break
		}
		if !p.cfg.block {
			p.mu.Unlock()
			return fmt.Errorf("%w: %d records of %d bytes buffered (limits %d records, %d bytes)",
				ErrBufferFull, n, p.bufBytes, p.cfg.bufferRecords, p.cfg.bufferBytes)
		}
		room := p.roomCh
		p.waiting++
		p.mu.Unlock()
		p.wakeSender()
		var err error
		select {
		case <-room:
		case <-p.closedCh:
		case <-ctx.Done():
			err = ctx.Err()
		}
		p.mu.Lock()
		p.waiting--
		if err != nil {
			p.mu.Unlock()
			return fmt.Errorf("stream: Put: waiting for room in the producer buffer: %w", err)
		}
	}
	return nil
}

// appendLocked copies rec's data, appends it to the WAL (without I/O) and
// queues it on lane l; it returns its WAL sequence number and whether the
// WAL writer is to be woken. The caller holds p.mu.
func (p *Producer) appendLocked(l *lane, rec *Record, genID bool, size int, now time.Time) (seq uint64, walKick bool, err error) {
	p.cloneRecordData(rec, genID, now)
	if p.log != nil {
		// Under mu, so that WAL order is buffer order. Append does no I/O.
		s, err := p.log.Append(rec)
		if err != nil {
			return 0, false, fmt.Errorf("stream: Put: record %q not accepted: %w", rec.ID, err)
		}
		seq = s
		p.lastSeq = s
		if p.walKick != nil {
			p.groupN++
			p.groupBytes += size
			// Kicked at a lane's share of a batch, when a lane becomes
			// due: the writer then syncs while the lanes fill, and a lane
			// that becomes due mostly finds its records on disk.
			if p.groupN >= p.laneRecords || p.groupBytes >= min(p.laneBytes, p.walGroupBytes()) {
				p.groupN, p.groupBytes = 0, 0
				p.walTarget = seq
				walKick = true
			}
		}
	}
	l.q.push(pending{rec: *rec, seq: seq, size: size, ord: p.nextOrd, putAt: now})
	l.bytes += size
	p.nextOrd++
	p.bufRecords++
	p.bufBytes += size
	p.stats.Put++
	return seq, walKick, nil
}

// laneOf returns the lane of a record with this key: the stream's key
// hash (driver.KeyHasher; FNV-1a of the key for a stream without one)
// modulo the number of lanes, so that one key always goes to one lane and,
// when the lanes divide the partitions, one partition to one lane;
// records without a key go to lane 0.
func (p *Producer) laneOf(key []byte) int {
	n := len(p.lanes)
	if n == 1 || len(key) == 0 {
		return 0
	}
	if p.hasher != nil {
		return int(p.hasher.KeyHash(key) % uint32(n))
	}
	h := uint32(2166136261)
	for _, c := range key {
		h ^= uint32(c)
		h *= 16777619
	}
	return int(h % uint32(n))
}

// Flush sends everything Put before the call, in every send lane, and
// returns once the stream acknowledged it all, or when ctx is done (the
// records stay buffered). Records refused for good leave the buffer too:
// without a DLQ sink, Flush then returns an error matching
// ErrRecordRefused that counts the records dropped since the last Flush
// or Close reported them, and names the first with its cause.
func (p *Producer) Flush(ctx context.Context) error {
	p.mu.Lock()
	target := p.nextOrd - 1
	p.mu.Unlock()
	if err := p.flushTo(ctx, target); err != nil {
		return errors.Join(err, p.droppedErr())
	}
	return p.droppedErr()
}

func (p *Producer) flushTo(ctx context.Context, target uint64) error {
	p.mu.Lock()
	if target > p.flushTarget {
		p.flushTarget = target
	}
	p.mu.Unlock()
	p.wakeSender()
	for {
		p.mu.Lock()
		done := p.flushedLocked(target)
		ch := p.progressCh
		p.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("stream: producer flush: %d records not acknowledged yet: %w", p.countUpTo(target), ctx.Err())
		case <-p.senderDone:
			if left := p.countUpTo(target); left > 0 {
				return fmt.Errorf("stream: producer flush: %d records not acknowledged: %w", left, ErrClosed)
			}
			return nil
		}
	}
}

// flushedLocked reports whether every record with ord ≤ target was
// acknowledged: a lane's queue is in ord order, failed records included.
func (p *Producer) flushedLocked(target uint64) bool {
	for _, l := range p.lanes {
		if l.q.len() > 0 && l.q.at(0).ord <= target {
			return false
		}
	}
	return true
}

// countUpTo counts the buffered records with ord ≤ target.
func (p *Producer) countUpTo(target uint64) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, l := range p.lanes {
		k := 0
		for k < l.q.len() && l.q.at(k).ord <= target {
			k++
		}
		n += k
	}
	return n
}

// Close sends everything buffered in every send lane, then stops the
// senders and closes the WAL, the lanes' writers and, for OpenProducer,
// the stream. If ctx ends first, the unsent records stay in the WAL for
// the next producer opened on it (and the error says how many); without a
// WAL they are lost. Like Flush, Close reports the records refused and
// dropped that no Flush reported (ErrRecordRefused). Close is idempotent:
// later calls return the first call's result. It does not close the DLQ
// sink.
func (p *Producer) Close(ctx context.Context) error {
	p.closeMu.Lock()
	if p.closeStarted {
		p.closeMu.Unlock()
		select {
		case <-p.closeDone:
			return p.closeErr
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	p.closeStarted = true
	p.closeMu.Unlock()
	defer close(p.closeDone)

	p.mu.Lock()
	p.markClosedLocked()
	target := p.nextOrd - 1
	p.mu.Unlock()
	ferr := p.flushTo(ctx, target)
	p.closeErr = errors.Join(p.shutdown(ferr), p.droppedErr())
	return p.closeErr
}

func (p *Producer) markClosedLocked() {
	if !p.closed {
		p.closed = true
		close(p.closedCh)
	}
}

// shutdown stops the goroutines and releases everything.
func (p *Producer) shutdown(ferr error) error {
	p.stop()
	<-p.senderDone
	if p.walDone != nil {
		<-p.walDone
	}
	var errs []error
	p.mu.Lock()
	left := p.bufRecords
	walErr := p.walErr
	p.mu.Unlock()
	if ferr != nil && left > 0 {
		if p.log != nil {
			errs = append(errs, fmt.Errorf("stream: producer closed with %d records unsent; they remain in the write-ahead log %s and the next producer opened on it sends them: %w",
				left, p.log.Path(), ferr))
		} else {
			errs = append(errs, fmt.Errorf("stream: producer closed with %d records unsent, which are lost (no write-ahead log): %w", left, ferr))
		}
	}
	for _, l := range p.lanes {
		if l.w != nil {
			if err := l.w.Close(); err != nil {
				errs = append(errs, fmt.Errorf("stream: producer: close the writer of send lane %d: %w", l.id, err))
			}
		}
	}
	if p.log != nil {
		if walErr != nil {
			errs = append(errs, fmt.Errorf("stream: producer write-ahead log failed while running (records may be re-sent after a restart): %w", walErr))
		}
		// Maintenance the WAL writer had no time for (cutting back a
		// log whose records are all acknowledged, say).
		if err := p.log.Maintain(); err != nil {
			errs = append(errs, fmt.Errorf("stream: producer: %w", err))
		}
		if err := p.log.Close(); err != nil {
			errs = append(errs, fmt.Errorf("stream: producer: %w", err))
		}
	}
	if p.owns {
		if err := p.s.Close(); err != nil {
			errs = append(errs, fmt.Errorf("stream: producer: close stream: %w", err))
		}
	}
	return errors.Join(errs...)
}

// abandon stops the producer as a crash would: nothing more is sent or
// written, and the WAL keeps whatever it holds. For tests.
func (p *Producer) abandon() {
	p.closeMu.Lock()
	if p.closeStarted {
		p.closeMu.Unlock()
		<-p.closeDone
		return
	}
	p.closeStarted = true
	p.closeMu.Unlock()
	p.mu.Lock()
	p.markClosedLocked()
	p.mu.Unlock()
	p.stop()
	<-p.senderDone
	if p.walDone != nil {
		<-p.walDone
	}
	for _, l := range p.lanes {
		if l.w != nil {
			l.w.Close()
		}
	}
	if p.log != nil {
		p.log.Abandon()
	}
	if p.owns {
		p.s.Close()
	}
	close(p.closeDone)
}

// Stats returns the producer's counters, totals over every send lane, and
// each lane's in Lanes.
func (p *Producer) Stats() ProducerStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.stats
	if p.log != nil {
		st.WALSyncs = p.log.Syncs()
	}
	st.Buffered = p.bufRecords
	st.BufferedBytes = p.bufBytes
	st.Lanes = make([]LaneStats, len(p.lanes))
	for i, l := range p.lanes {
		st.Lanes[i] = l.stats
		st.Lanes[i].Buffered = l.q.len()
		st.Lanes[i].BufferedBytes = l.bytes
	}
	return st
}

// droppedErr returns, and forgets, the records refused and dropped since
// the last report: nil if none.
func (p *Producer) droppedErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dropped == 0 {
		return nil
	}
	err := fmt.Errorf("stream: producer: %d record(s) refused for good by the stream and dropped (no DLQ sink, see WithProducerDLQ); %w: %w",
		p.dropped, ErrRecordRefused, p.firstDrop)
	p.dropped, p.firstDrop = 0, nil
	return err
}

// observe stamps e and gives it to the WithObserver observer and, for the
// kinds it logs, to the WithLogger one.
func (p *Producer) observe(e Event) {
	log := p.cfg.logs != nil && logged(e.Kind)
	if p.cfg.observer == nil && !log {
		return
	}
	e.Time = p.cfg.clock.Now()
	e.Stream = p.s.Name()
	if p.cfg.observer != nil {
		p.cfg.observer.Observe(e)
	}
	if log {
		p.cfg.logs.Observe(e)
	}
}
