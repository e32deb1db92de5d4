package stream

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
	"unsafe"

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
// without a key all go to lane 0, which keeps their order). Each lane has
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
// The producer never drops a record: it retries for ever, and when its
// buffer (one bound over all lanes) is at its bound Put waits (or returns
// ErrBufferFull). After a crash, the next producer opened on the same WAL
// first re-sends the records that were never acknowledged, each key's in
// order. What a crash may lose of the records accepted and not yet sent
// depends on the fsync policy (none with FsyncAlways); a record that was
// sent is never lost. Delivery is therefore at-least-once: a record may be
// written twice (for example when the process dies after a write and
// before its acknowledgement reaches the WAL), always with the same ID, so
// consumers can de-duplicate.
//
// Because nothing is dropped, a record the backend refuses for good (over
// a limit the backend does not declare in its Capabilities, say) is retried
// for ever and holds back the records of its partition in its lane behind
// it, and in the end fills the buffer: watch EventProducerFailed and
// EventProducerHold.
//
// A Producer is safe for concurrent use. Close it to send what is buffered
// and release the WAL.
type Producer struct {
	s    driver.Stream
	owns bool
	cfg  producerConfig
	caps driver.Capabilities
	log  *wal.Log

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
	hslab       []Header      // and headers here

	walKick    chan struct{} // wakes the WAL writer (FsyncPerBatch, FsyncInterval)
	stopCtx    context.Context
	stop       context.CancelFunc
	senderDone chan struct{} // closed when every lane's sender has stopped
	walDone    chan struct{} // nil without a WAL writer goroutine

	closeMu      sync.Mutex
	closeStarted bool
	closeDone    chan struct{}
	closeErr     error
}

// lane is one send lane: a queue of records (those of the keys that hash
// to it), sent one batch at a time by its own goroutine through its own
// writer.
type lane struct {
	id   int
	wake chan struct{}

	// Under Producer.mu.
	q        pendingQueue // the lane's records, oldest first; the sender's batch is a prefix
	bytes    int          // their bytes
	retryNow bool         // a hold just ended: send at once

	// Owned by the lane's sender goroutine.
	w       driver.Writer
	batch   []Record
	seqs    []uint64
	failed  []bool
	acks    []uint64
	results []driver.WriteResult
	holdN   int
}

// pending is one buffered record.
type pending struct {
	rec   Record
	seq   uint64 // WAL sequence number; 0 without a WAL
	size  int
	ord   uint64
	putAt time.Time // zero for replayed records: they are sent at once
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
	// was sent again later).
	FailedAttempts uint64
	// Batches counts the Write calls.
	Batches uint64
	// Holds counts the backoff waits after a failed write.
	Holds uint64
	// Buffered and BufferedBytes measure the records waiting or in flight.
	Buffered      int
	BufferedBytes int
	// Recovery describes a torn WAL tail cut off at start, if any.
	Recovery wal.Recovery
}

// NewProducer returns a producer writing to s. It needs WithWAL(path) or,
// to accept losing buffered records in a crash, WithoutWAL(). If the WAL
// holds records a previous producer never had acknowledged, they are sent
// first, in their original order (EventProducerReplayed). The caller keeps
// ownership of s: Close does not close it.
//
// A corrupt WAL makes NewProducer fail with an error that names the file
// and the byte offset (matching wal.ErrCorrupt); the file is left as it was.
func NewProducer(s driver.Stream, opts ...ProducerOption) (*Producer, error) {
	if s == nil {
		return nil, errors.New("stream: NewProducer: nil stream")
	}
	cfg := defaultProducerConfig()
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
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
	p := &Producer{
		s:          s,
		cfg:        cfg,
		caps:       caps,
		nextOrd:    1,
		closedCh:   make(chan struct{}),
		roomCh:     make(chan struct{}),
		progressCh: make(chan struct{}),
		senderDone: make(chan struct{}),
		closeDone:  make(chan struct{}),
	}
	p.lanes = make([]*lane, cfg.sendLanes)
	p.laneRecords = (cfg.maxRecords + cfg.sendLanes - 1) / cfg.sendLanes
	p.laneBytes = (cfg.maxBytes + cfg.sendLanes - 1) / cfg.sendLanes
	for i := range p.lanes {
		p.lanes[i] = &lane{id: i, wake: make(chan struct{}, 1)}
	}
	if !cfg.noWAL {
		log, entries, err := wal.Open(cfg.walPath, cfg.walOpts)
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
func (p *Producer) Stream() driver.Stream { return p.s }

// Put accepts a record for sending. It gives the record an ID (if it has
// none) and a Time (if zero), clears its Stream, Partition and Pointer, and
// copies its bytes, so the caller may reuse them. A record whose Size is
// over the stream's Capabilities().MaxRecordBytes is refused with an error
// matching driver.ErrRecordTooLarge.
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
	now := p.cfg.clock.Now()
	genID := false
	if rec.ID == "" {
		if p.cfg.idFunc == nil {
			genID = true
		} else if rec.ID = p.cfg.idFunc(); rec.ID == "" {
			return errors.New("stream: Put: the WithIDFunc function returned an empty ID")
		}
	}
	if rec.Time.IsZero() {
		rec.Time = now
	}
	rec.Stream, rec.Partition, rec.Pointer = "", "", nil
	size := rec.Size()
	if genID {
		size += uuidLen
	}
	if max := p.caps.MaxRecordBytes; max > 0 && size > max {
		id := rec.ID
		if genID {
			id = "(to be generated)"
		}
		return fmt.Errorf("stream: Put: record %q is %d bytes (id, key, value and headers), over the stream's limit of %d bytes: %w",
			id, size, max, driver.ErrRecordTooLarge)
	}
	l := p.lanes[p.laneOf(rec.Key)]
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
	p.cloneRecordData(&rec, genID, now)
	var seq uint64
	walKick := false
	if p.log != nil {
		// Under mu, so that WAL order is buffer order. Append does no I/O.
		s, err := p.log.Append(&rec)
		if err != nil {
			p.mu.Unlock()
			return fmt.Errorf("stream: Put: record %q not accepted: %w", rec.ID, err)
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
	l.q.push(pending{rec: rec, seq: seq, size: size, ord: p.nextOrd, putAt: now})
	l.bytes += size
	p.nextOrd++
	p.bufRecords++
	p.bufBytes += size
	p.stats.Put++
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

// laneOf returns the lane of a record with this key: FNV-1a of the key
// modulo the number of lanes, so that one key always goes to one lane;
// records without a key go to lane 0.
func (p *Producer) laneOf(key []byte) int {
	n := len(p.lanes)
	if n == 1 || len(key) == 0 {
		return 0
	}
	h := uint32(2166136261)
	for _, c := range key {
		h ^= uint32(c)
		h *= 16777619
	}
	return int(h % uint32(n))
}

// kickWAL wakes the WAL writer.
func (p *Producer) kickWAL() {
	select {
	case p.walKick <- struct{}{}:
	default:
	}
}

// walGroupBytes bounds the bytes the WAL buffers before its writer is
// woken: a batch's worth, at most 1 MiB.
func (p *Producer) walGroupBytes() int { return min(p.cfg.maxBytes, 1<<20) }

// Flush sends everything Put before the call, in every send lane, and
// returns once the stream acknowledged it all, or when ctx is done (the
// records stay buffered).
func (p *Producer) Flush(ctx context.Context) error {
	p.mu.Lock()
	target := p.nextOrd - 1
	p.mu.Unlock()
	return p.flushTo(ctx, target)
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
// WAL they are lost. Close is idempotent: later calls return the first
// call's result.
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
	p.closeErr = p.shutdown(ferr)
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

// Stats returns the producer's counters, totals over every send lane.
func (p *Producer) Stats() ProducerStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.stats
	st.Buffered = p.bufRecords
	st.BufferedBytes = p.bufBytes
	return st
}

// wakeSender wakes the sender of every lane.
func (p *Producer) wakeSender() {
	for _, l := range p.lanes {
		l.wakeUp()
	}
}

// wakeUp wakes the lane's sender.
func (l *lane) wakeUp() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

func (p *Producer) observe(e Event) {
	if p.cfg.observer == nil {
		return
	}
	e.Time = p.cfg.clock.Now()
	e.Stream = p.s.Name()
	p.cfg.observer.Observe(e)
}

func (p *Producer) noteWALErr(err error) {
	p.mu.Lock()
	p.walErr = err
	p.mu.Unlock()
}

// run is the sender goroutine of lane l.
func (p *Producer) run(l *lane) {
	defer func() {
		p.mu.Lock()
		p.senders--
		if p.senders == 0 {
			close(p.senderDone)
		}
		p.mu.Unlock()
	}()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		if p.stopCtx.Err() != nil {
			return
		}
		p.mu.Lock()
		send, wait := p.readyLocked(l)
		p.mu.Unlock()
		if send {
			if err := p.sendBatch(l); err != nil && !p.hold(l, err) {
				return
			}
			continue
		}
		var tc <-chan time.Time
		if wait > 0 {
			timer.Reset(wait)
			tc = timer.C
		}
		select {
		case <-l.wake:
		case <-tc:
		case <-p.stopCtx.Done():
			return
		}
		timer.Stop()
	}
}

// readyLocked says whether a batch of lane l is due, or how long until the
// lane's oldest record is MaxAge old (0: the lane is empty). A batch is due
// when the lane holds its share of a batch (MaxRecords or MaxBytes divided
// by the number of lanes): when the lanes keep up with the Puts, each sends
// smaller batches sooner; when they do not, records pile up while their
// Write is in flight and the batches grow to MaxRecords or MaxBytes.
func (p *Producer) readyLocked(l *lane) (bool, time.Duration) {
	n := l.q.len()
	if n == 0 {
		return false, 0
	}
	front := l.q.at(0)
	if l.retryNow || p.waiting > 0 || p.flushTarget >= front.ord || n >= p.laneRecords || l.bytes >= p.laneBytes {
		return true, 0
	}
	age := p.cfg.clock.Now().Sub(front.putAt)
	if age >= p.cfg.maxAge {
		return true, 0
	}
	return false, p.cfg.maxAge - age
}

// sendBatch writes the oldest records of lane l. It returns nil when all
// of them were acknowledged, else the first error.
func (p *Producer) sendBatch(l *lane) error {
	p.mu.Lock()
	n, bytes := 0, 0
	for n < l.q.len() && n < p.cfg.maxRecords {
		sz := l.q.at(n).size
		if n > 0 && bytes+sz > p.cfg.maxBytes {
			break
		}
		n++
		bytes += sz
	}
	l.batch, l.seqs = l.batch[:0], l.seqs[:0]
	var maxSeq uint64
	for i := range n {
		e := l.q.at(i)
		l.batch = append(l.batch, e.rec)
		l.seqs = append(l.seqs, e.seq)
		maxSeq = max(maxSeq, e.seq)
	}
	l.retryNow = false
	p.stats.Batches++
	// With a WAL writer, the records appended after this batch's (in any
	// lane) are written (FsyncPerBatch: and fsynced) by the WAL writer
	// while this batch's Write is in flight, so that the next batch finds
	// them on disk: each batch then costs the longer of its Write and its
	// WAL sync, not their sum. The sync below covers everything appended
	// so far, so the writer's count restarts.
	prefetch := false
	if p.walKick != nil {
		p.groupN, p.groupBytes = 0, 0
		if p.lastSeq > maxSeq {
			p.walTarget = max(p.walTarget, p.lastSeq)
			prefetch = true
		}
	}
	p.mu.Unlock()

	// The batch's records reach the WAL file before they are sent (and
	// stable storage, unless with FsyncInterval), so that a record the
	// stream may have stored survives a crash and is re-sent if its
	// acknowledgement was not recorded. A WAL failure does not hold the
	// records back: they are sent (delivery comes first) and the failure
	// is reported by Close. Lanes syncing at once share writes and fsyncs
	// (the WAL's group commit): a sync covers everything appended before
	// it, whatever the lane.
	if p.log != nil {
		var err error
		if !p.log.Synced(maxSeq) {
			// The sync needs the disk: the maintenance asked for by the
			// last acknowledgement goes first, in the order it was asked
			// for.
			p.waitMaint()
		}
		switch {
		case p.cfg.fsync == FsyncPerBatch || p.cfg.fsync == FsyncAlways:
			// With FsyncAlways the Puts sync their records, but the
			// sender may take a record before its Put's sync is done.
			err = p.log.SyncTo(maxSeq)
		case p.cfg.fsync.interval() > 0:
			err = p.log.Flush()
		}
		if err != nil {
			p.noteWALErr(err)
		}
		if prefetch {
			p.kickWAL()
		}
	}
	p.observe(Event{Kind: EventProducerEmit, Count: n, Records: l.batch})

	if cap(l.results) < n {
		l.results = make([]driver.WriteResult, n)
		l.failed = make([]bool, n)
	}
	results, failed := l.results[:n], l.failed[:n]
	clear(results)
	var werr error
	if l.w == nil {
		w, err := p.s.OpenWriter(p.stopCtx)
		if err != nil {
			werr = fmt.Errorf("stream: producer: open writer (send lane %d): %w", l.id, err)
		} else {
			l.w = w
		}
	}
	if werr == nil {
		werr = l.w.Write(p.stopCtx, l.batch, results)
	}
	nfail := 0
	var firstErr error
	for i := range failed {
		failed[i] = werr != nil || results[i].Err != nil
		if failed[i] {
			nfail++
			if firstErr == nil {
				firstErr = werr
				if firstErr == nil {
					firstErr = results[i].Err
				}
			}
		}
	}
	if p.log != nil && nfail < n {
		l.acks = l.acks[:0]
		for i, s := range l.seqs {
			if !failed[i] {
				l.acks = append(l.acks, s)
			}
		}
		// The acknowledgements go to the WAL's buffer. Cutting the file
		// back or compacting it waits for the disk: with FsyncPerBatch
		// the WAL writer does that while the next batch is sent (with one
		// lane, the sender waits for it before its next acknowledgement,
		// or before a WAL sync that needs the disk, so that the WAL sees
		// the same sequence of operations whatever the timing).
		p.waitMaint()
		maint, err := p.log.MarkAcked(l.acks...)
		if err == nil && maint {
			if p.walKick != nil && p.cfg.fsync == FsyncPerBatch {
				p.askMaint()
			} else {
				err = p.log.Maintain()
			}
		}
		if err != nil {
			p.noteWALErr(err)
		}
	}

	// Events first, so that a Flush that returns has seen them all.
	if p.cfg.observer != nil {
		var ok, bad []Record
		for i := range l.batch {
			if failed[i] {
				bad = append(bad, l.batch[i])
			} else {
				ok = append(ok, l.batch[i])
			}
		}
		if len(ok) > 0 {
			p.observe(Event{Kind: EventProducerSent, Count: len(ok), Records: ok})
		}
		if len(bad) > 0 {
			p.observe(Event{Kind: EventProducerFailed, Count: len(bad), Records: bad, Err: firstErr})
		}
	}
	p.mu.Lock()
	// Keep the failed records, in order, at the front of the lane.
	w, freed := n, 0
	for i := n - 1; i >= 0; i-- {
		if failed[i] {
			w--
			*l.q.at(w) = *l.q.at(i)
		} else {
			freed += l.q.at(i).size
		}
	}
	l.q.popFront(w)
	l.bytes -= freed
	p.bufBytes -= freed
	p.bufRecords -= n - nfail
	p.stats.Sent += uint64(n - nfail)
	p.stats.FailedAttempts += uint64(nfail)
	if nfail < n {
		close(p.roomCh)
		p.roomCh = make(chan struct{})
		close(p.progressCh)
		p.progressCh = make(chan struct{})
	}
	p.mu.Unlock()

	clear(l.batch) // do not keep record data alive
	if nfail == 0 {
		l.holdN = 0
		return nil
	}
	return firstErr
}

// askMaint asks the WAL writer for the maintenance (cut back or
// compaction) the WAL asked for, unless a request it has not taken yet
// covers it (Maintain looks at the log when it runs).
func (p *Producer) askMaint() {
	p.mu.Lock()
	if p.walMaint == nil {
		ch := make(chan struct{})
		p.walMaint, p.maint = ch, ch
	}
	p.mu.Unlock()
	p.kickWAL()
}

// waitMaint waits until the WAL writer did the last maintenance asked
// for, if any, or the producer stops. With one lane only: the wait keeps
// the WAL's sequence of operations the same whatever the timing (the crash
// tests count on it), which several lanes acknowledging and syncing at once
// do not anyway, and the log needs no such order (MarkAcked and SyncTo may
// run during a maintenance).
func (p *Producer) waitMaint() {
	if len(p.lanes) > 1 {
		return
	}
	p.mu.Lock()
	ch := p.maint
	p.mu.Unlock()
	if ch == nil {
		return
	}
	select {
	case <-ch:
	case <-p.stopCtx.Done():
	}
}

// hold waits after a write of lane l that failed with cause; it reports
// false when the producer is stopping. Only lane l waits: the other lanes
// go on sending.
func (p *Producer) hold(l *lane, cause error) bool {
	l.holdN++
	d := p.cfg.retry.Backoff(l.holdN, nil)
	p.mu.Lock()
	p.stats.Holds++
	p.mu.Unlock()
	p.observe(Event{Kind: EventProducerHold, Delay: d, Attempt: l.holdN, Err: cause})
	if err := p.cfg.clock.Sleep(p.stopCtx, d); err != nil || p.stopCtx.Err() != nil {
		return false
	}
	p.mu.Lock()
	l.retryNow = true
	p.mu.Unlock()
	return true
}

// walLoop is the WAL writer goroutine of FsyncPerBatch and FsyncInterval.
// It is woken (walKick) when a batch's worth of records was appended since
// the last sync, and by a sender when it starts the Write of a batch while
// later records wait: it then writes those records ahead of the senders
// (with FsyncPerBatch it also fsyncs them), so that the fsync of the next
// batch overlaps the Write of the current one and the senders find their
// records already durable, and so that records waiting behind a stream
// outage reach the disk. With FsyncPerBatch it also does, before that sync,
// the maintenance the WAL asked for on acknowledgement (cutting the file
// back or compacting it), so that it overlaps the senders' next Writes
// instead of following their acknowledgement. Every interval of real time
// (MaxAge with FsyncPerBatch), it syncs what was appended and not synced
// yet.
func (p *Producer) walLoop(interval time.Duration) {
	defer close(p.walDone)
	var tick <-chan time.Time
	if interval > 0 {
		t := time.NewTicker(interval)
		defer t.Stop()
		tick = t.C
	}
	for {
		var err error
		select {
		case <-p.walKick:
			p.mu.Lock()
			target, maint := p.walTarget, p.walMaint
			p.walMaint, p.walBusy = nil, true
			p.mu.Unlock()
			if maint != nil {
				// First, so that the senders' kicks that came with or
				// after it find the same log whatever the timing.
				err = p.log.Maintain()
				p.mu.Lock()
				if p.maint == maint {
					p.maint = nil
				}
				p.mu.Unlock()
				close(maint)
			}
			if p.cfg.fsync == FsyncPerBatch {
				err = errors.Join(err, p.log.SyncTo(target))
			} else {
				err = errors.Join(err, p.log.Flush())
			}
			p.mu.Lock()
			p.walBusy = false
			p.mu.Unlock()
		case <-tick:
			if p.cfg.fsync == FsyncPerBatch {
				err = p.log.SyncTo(p.log.LastSeq())
			} else {
				err = p.log.Sync()
			}
		case <-p.stopCtx.Done():
			return
		}
		if err != nil {
			p.noteWALErr(err)
		}
	}
}

// uuidLen is the length of a UUID in its text form.
const uuidLen = 36

// slabBytes is the size of the slabs record data is copied into, and
// slabMax the largest copy made in a slab (larger ones get their own
// allocation). A slab is freed once every record in it is gone.
const (
	slabBytes   = 16 << 10
	slabMax     = 2 << 10
	slabHeaders = 256
)

// cloneRecordData copies the record's byte slices, so the caller may reuse
// its buffers after Put. With genID, it also makes the record a UUIDv7 ID
// from now. Small records are copied into a shared slab (no allocation per
// record). It needs p.mu.
func (p *Producer) cloneRecordData(r *Record, genID bool, now time.Time) {
	n := len(r.Key) + len(r.Value)
	for _, h := range r.Headers {
		n += len(h.Value)
	}
	if genID {
		n += uuidLen
	}
	var buf []byte
	switch {
	case n == 0:
	case n > slabMax:
		buf = make([]byte, 0, n)
	default:
		if cap(p.slab)-len(p.slab) < n {
			p.slab = make([]byte, 0, slabBytes)
		}
		start := len(p.slab)
		p.slab = p.slab[:start+n]
		buf = p.slab[start : start : start+n]
	}
	if genID {
		buf = appendUUIDv7(buf, now)
		// The bytes are never written again: the slices below are capped
		// and start after them.
		r.ID = unsafe.String(&buf[0], uuidLen)
	}
	clone := func(b []byte) []byte {
		if b == nil {
			return nil
		}
		start := len(buf)
		buf = append(buf, b...)
		return buf[start:len(buf):len(buf)]
	}
	r.Key = clone(r.Key)
	r.Value = clone(r.Value)
	if k := len(r.Headers); k > 0 {
		var hs []Header
		if k > slabHeaders/8 {
			hs = make([]Header, k)
		} else {
			if cap(p.hslab)-len(p.hslab) < k {
				p.hslab = make([]Header, 0, slabHeaders)
			}
			start := len(p.hslab)
			p.hslab = p.hslab[:start+k]
			hs = p.hslab[start : start+k : start+k]
		}
		for i, h := range r.Headers {
			hs[i] = Header{Key: h.Key, Value: clone(h.Value)}
		}
		r.Headers = hs
	}
}

// uuidV7 returns a UUID version 7 (RFC 9562): 48 bits of Unix milliseconds,
// then 74 random bits, so IDs sort roughly by creation time.
func uuidV7(now time.Time) string {
	return string(appendUUIDv7(make([]byte, 0, uuidLen), now))
}

// appendUUIDv7 appends the text form of a new UUIDv7 to dst.
func appendUUIDv7(dst []byte, now time.Time) []byte {
	var b [16]byte
	ms := uint64(now.UnixMilli())
	binary.BigEndian.PutUint64(b[0:8], ms<<16)
	r := rand.Uint64()
	binary.BigEndian.PutUint16(b[6:8], uint16(r)&0x0fff|0x7000)
	binary.BigEndian.PutUint64(b[8:16], rand.Uint64()&0x3fffffffffffffff|0x8000000000000000)
	var s [uuidLen]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:36], b[10:16])
	return append(dst, s[:]...)
}

// pendingQueue is a queue of pending records in fixed-size blocks:
// pushing and popping move no record, growing copies only block pointers,
// and emptied blocks are reused.
type pendingQueue struct {
	blocks []*pendingBlock // blocks[0] holds the front record at off
	off    int
	n      int
	free   []*pendingBlock
}

const pendingBlockLen = 256

type pendingBlock [pendingBlockLen]pending

func (q *pendingQueue) len() int { return q.n }

// at returns the i-th record from the front (0 ≤ i < len).
func (q *pendingQueue) at(i int) *pending {
	i += q.off
	return &q.blocks[i/pendingBlockLen][i%pendingBlockLen]
}

func (q *pendingQueue) push(e pending) {
	i := q.off + q.n
	if i == len(q.blocks)*pendingBlockLen {
		var b *pendingBlock
		if k := len(q.free); k > 0 {
			b, q.free = q.free[k-1], q.free[:k-1]
		} else {
			b = new(pendingBlock)
		}
		q.blocks = append(q.blocks, b)
	}
	q.blocks[i/pendingBlockLen][i%pendingBlockLen] = e
	q.n++
}

// popFront drops the k oldest records (k ≤ len), clearing them so that no
// record data is kept alive.
func (q *pendingQueue) popFront(k int) {
	for i := range k {
		*q.at(i) = pending{}
	}
	q.off += k
	q.n -= k
	done := q.off / pendingBlockLen
	if q.n == 0 {
		done = len(q.blocks)
		q.off = 0
	} else {
		q.off %= pendingBlockLen
	}
	if done == 0 {
		return
	}
	for _, b := range q.blocks[:done] {
		if len(q.free) < 4 {
			q.free = append(q.free, b)
		}
	}
	m := copy(q.blocks, q.blocks[done:])
	clear(q.blocks[m:])
	q.blocks = q.blocks[:m]
}
