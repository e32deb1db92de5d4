package stream

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/dlq"
	"github.com/unistream-go/unistream/stream/driver"
)

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
	stats    LaneStats    // counters (Buffered and BufferedBytes are filled by Stats)

	// Owned by the lane's sender goroutine.
	w       driver.Writer
	batch   []Record
	seqs    []uint64
	failed  []bool // the batch's records that failed and stay in the lane
	refused []bool // the batch's failed records refused for good: they leave the lane
	fates   []fate // the failed records' attempts, filled by classify
	acks    []uint64
	results []driver.WriteResult
	holdN   int
	// wrote says the batch's Write was called, and took how long (timed
	// only with an observer: Event.Timed).
	wrote bool
	took  time.Duration
}

// fate is what the sender knows of a failed record of its batch.
type fate struct {
	attempts int       // failed sends, this one included
	first    time.Time // when the first send failed
	err      error     // this send's error
}

// pending is one buffered record.
type pending struct {
	rec   Record
	seq   uint64 // WAL sequence number; 0 without a WAL
	size  int
	ord   uint64
	putAt time.Time // zero for replayed records: they are sent at once
	// attempts counts the record's failed sends (a record not written
	// because an earlier one of its partition failed is not counted), and
	// firstFail is when the first one failed.
	attempts  int
	firstFail time.Time
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

// sendBatch writes the oldest records of lane l. A failed record is
// refused for good when its error is permanent (driver.IsPermanent) or
// its failed sends reach RetryPolicy.MaxAttempts (if not 0): it is then
// written to the DLQ sink, if any, and acknowledged in the WAL only once
// that write succeeded, or else dropped and reported. The other failed
// records stay at the lane's front. sendBatch returns nil when no record
// is to be sent again after a hold, else the first such record's error.
func (p *Producer) sendBatch(l *lane) error {
	n, maxSeq, prefetch := p.takeBatch(l)
	synced := p.syncWAL(maxSeq, prefetch)
	p.observe(Event{Kind: EventProducerEmit, Lane: l.id, Count: n, Records: l.batch})
	failed, nfail, firstErr := p.writeBatch(l, n)
	if synced != nil {
		// The batch's fsync ran beside its Write: nothing of the batch is
		// acknowledged, retried or dead-lettered before both are done.
		<-synced
	}
	var nref int
	var retryErr error
	if nfail > 0 {
		nref, retryErr = p.classify(l, failed)
		if nref > 0 && p.cfg.dlq != nil {
			nref = p.deadLetter(l, nref)
		}
	}
	if nfail-nref < n {
		p.ackInWAL(l, failed)
	}
	// Events first, so that a Flush that returns has seen them all.
	p.observeOutcome(l, failed, nfail, firstErr)
	p.settleBatch(l, failed, nfail, nref)
	clear(l.batch) // do not keep record data alive
	if nfail-nref == 0 {
		l.holdN = 0
		return nil
	}
	if retryErr == nil {
		// The records left failed only because an earlier record of
		// their partition was refused: they go again at once.
		if p.stopCtx.Err() == nil {
			l.holdN = 0
			return nil
		}
		retryErr = firstErr
	}
	return retryErr
}

// classify counts a failed send for each failed record of the batch and
// marks in l.refused those refused for good: a permanent error, or
// MaxAttempts failed sends. It returns how many, and the error of the
// first record to be sent again after a hold (nil if the only records
// left failed with driver.ErrPrecedingRecordFailed).
func (p *Producer) classify(l *lane, failed []bool) (nref int, retryErr error) {
	n := len(failed)
	if cap(l.refused) < n {
		l.refused = make([]bool, n)
		l.fates = make([]fate, n)
	}
	l.refused, l.fates = l.refused[:n], l.fates[:n]
	clear(l.refused)
	clear(l.fates)
	max := p.cfg.retry.MaxAttempts
	now := p.cfg.clock.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, f := range failed {
		if !f {
			continue
		}
		err := l.results[i].Err
		if errors.Is(err, driver.ErrPrecedingRecordFailed) {
			continue // not attempted
		}
		perm := driver.IsPermanent(err)
		e := l.q.at(i)
		e.attempts++
		if e.firstFail.IsZero() {
			e.firstFail = now
		}
		l.fates[i] = fate{attempts: e.attempts, first: e.firstFail, err: err}
		if perm || (max > 0 && e.attempts >= max) {
			l.refused[i] = true
			nref++
		} else if retryErr == nil {
			retryErr = err
		}
	}
	return nref, retryErr
}

// deadLetter writes an envelope of each refused record of the batch to
// the DLQ sink. A write that fails holds the lane and is retried with the
// send backoff (EventProducerDLQError) until it succeeds: nothing is
// dropped. If the producer stops first, the records not written stay in
// the lane (and the WAL), as failed ones. It returns how many records
// were dead-lettered.
func (p *Producer) deadLetter(l *lane, nref int) int {
	done := 0
	for i, r := range l.refused {
		if !r {
			continue
		}
		env := p.envelope(&l.batch[i], l.fates[i])
		for attempt := 1; ; attempt++ {
			err := p.cfg.dlq.Put(p.stopCtx, env)
			if err == nil {
				break
			}
			if p.stopCtx.Err() == nil {
				d := p.cfg.retry.Backoff(attempt, nil)
				p.mu.Lock()
				l.stats.Holds++
				p.stats.Holds++
				p.mu.Unlock()
				p.observe(Event{Kind: EventProducerDLQError, Lane: l.id, Record: &l.batch[i], Attempt: attempt, Delay: d,
					Err: fmt.Errorf("stream: producer: write the DLQ envelope of refused record %q (send lane %d holds until it is written): %w", env.ID, l.id, err)})
				if p.cfg.clock.Sleep(p.stopCtx, d) == nil && p.stopCtx.Err() == nil {
					continue
				}
			}
			// Stopping: this record and the later refused ones stay.
			for j := i; j < len(l.refused); j++ {
				l.refused[j] = false
			}
			return done
		}
		done++
	}
	return done
}

// envelope returns the DLQ envelope of a record the stream refused for
// good. Its Source names the stream it was to be written to, without a
// partition or pointer, and its Consumer is empty.
func (p *Producer) envelope(r *Record, f fate) *dlq.Envelope {
	reason := "exhausted"
	if driver.IsPermanent(f.err) {
		reason = "permanent"
	}
	scheme := p.s.Scheme()
	if scheme == "" { // a driver stream that tells no scheme: its pointer text names one
		scheme, _, _ = strings.Cut(p.s.Driver().Codec().Format(p.s.Name(), "", nil), ":")
	}
	now := p.cfg.clock.Now()
	env := dlq.RecordEnvelope(r)
	env.Source = dlq.Source{Scheme: scheme, Stream: p.s.Name()}
	env.Attempts = f.attempts
	env.Errors = []checkpoint.AttemptError{{Attempt: f.attempts, Time: now, Error: f.err.Error()}}
	env.Reason = reason
	env.FirstAttempt, env.LastAttempt, env.DeadLetteredAt = f.first, now, now
	return env
}

// takeBatch makes the lane's batch of its oldest records (at most
// MaxRecords and MaxBytes) and returns its size, its highest WAL sequence
// number, and whether records appended after it wait to be written ahead.
func (p *Producer) takeBatch(l *lane) (n int, maxSeq uint64, prefetch bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	bytes := 0
	for n < l.q.len() && n < p.cfg.maxRecords {
		sz := l.q.at(n).size
		if n > 0 && bytes+sz > p.cfg.maxBytes {
			break
		}
		n++
		bytes += sz
	}
	if cap(l.batch) < n {
		// One allocation of the size wanted (at most a whole batch), not
		// a doubling series: a lane's first big batches would otherwise
		// copy and clear a few megabytes each.
		c := min(max(n, 2*cap(l.batch)), max(n, p.cfg.maxRecords))
		l.batch, l.seqs = make([]Record, 0, c), make([]uint64, 0, c)
	}
	l.batch, l.seqs = l.batch[:0], l.seqs[:0]
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
	// WAL sync, not their sum. The sync before the Write covers everything
	// appended so far, so the writer's count restarts.
	if p.walKick != nil {
		p.groupN, p.groupBytes = 0, 0
		if p.lastSeq > maxSeq {
			p.walTarget = max(p.walTarget, p.lastSeq)
			prefetch = true
		}
	}
	return n, maxSeq, prefetch
}

// syncWAL brings the batch's records (up to maxSeq) to the WAL file, and
// to stable storage unless with FsyncInterval, so that a record the stream
// may have stored survives a crash and is re-sent if its acknowledgement
// was not recorded.
//
// With FsyncPerBatch the fsync runs beside the batch's Write: syncWAL
// starts it and returns a channel closed when it is done (nil if the
// records were durable already, as they are when the WAL writer synced
// them ahead), and the sender waits for it before it acknowledges, retries
// or dead-letters anything of the batch. A batch then costs the longer of
// its Write and its fsync, not their sum. The price is a crash window:
// a record whose Write failed, and whose fsync had not finished when the
// machine crashed, is lost (its Put had returned; see docs/design.md).
// With FsyncAlways the Puts sync their records and the sender syncs before
// the Write (it may take a record before its Put's sync is done); with
// FsyncInterval it writes the records to the file before the Write.
//
// A WAL failure does not hold the records back: they are sent (delivery
// comes first) and the failure is reported by Close. Lanes syncing at once
// share writes and fsyncs (the WAL's group commit): a sync covers
// everything appended before it, whatever the lane. With prefetch, the WAL
// writer is then woken to write the later records ahead.
func (p *Producer) syncWAL(maxSeq uint64, prefetch bool) (done <-chan struct{}) {
	if p.log == nil {
		return nil
	}
	defer func() {
		if prefetch {
			p.kickWAL()
		}
	}()
	if p.log.Synced(maxSeq) {
		return nil
	}
	switch {
	case p.cfg.fsync == FsyncPerBatch:
		ch := make(chan struct{})
		go func() { // owned by the sender, which waits for ch
			defer close(ch)
			p.syncTo(maxSeq)
		}()
		return ch
	case p.cfg.fsync == FsyncAlways:
		p.syncTo(maxSeq)
	case p.cfg.fsync.interval() > 0:
		p.waitMaint()
		if err := p.log.Flush(); err != nil {
			p.noteWALErr(err)
		}
	}
	return nil
}

// syncTo makes the records up to seq durable, after the maintenance the
// last acknowledgement asked for (the sync needs the disk, and it goes in
// the order it was asked for).
func (p *Producer) syncTo(seq uint64) {
	p.waitMaint()
	if err := p.log.SyncTo(seq); err != nil {
		p.noteWALErr(err)
	}
}

// writeBatch writes the lane's batch of n records through the lane's
// writer (opened on first use) and returns which records failed, how
// many, and the first error. Each failed record's error is in l.results.
func (p *Producer) writeBatch(l *lane, n int) (failed []bool, nfail int, firstErr error) {
	if cap(l.results) < n {
		l.results = make([]driver.WriteResult, n)
		l.failed = make([]bool, n)
	}
	results, failed := l.results[:n], l.failed[:n]
	clear(results)
	var werr error
	if l.w == nil {
		w, err := p.s.openWriter(p.stopCtx)
		if err != nil {
			werr = fmt.Errorf("stream: producer: open writer (send lane %d): %w", l.id, err)
		} else {
			l.w = w
		}
	}
	l.wrote, l.took = false, 0
	if werr == nil {
		if p.cfg.observer != nil {
			start := p.cfg.clock.Now()
			werr = l.w.Write(p.stopCtx, l.batch, results)
			l.wrote, l.took = true, p.cfg.clock.Now().Sub(start)
		} else {
			werr = l.w.Write(p.stopCtx, l.batch, results)
		}
	}
	for i := range failed {
		if werr != nil {
			results[i].Err = werr // the whole call failed: each record with its error
		}
		failed[i] = results[i].Err != nil
		if !failed[i] {
			continue
		}
		nfail++
		if firstErr == nil {
			firstErr = results[i].Err
		}
	}
	return failed, nfail, firstErr
}

// ackInWAL marks the batch's written records acknowledged in the WAL, and
// its refused ones (dead-lettered, or dropped without a DLQ sink).
func (p *Producer) ackInWAL(l *lane, failed []bool) {
	if p.log == nil {
		return
	}
	l.acks = l.acks[:0]
	for i, s := range l.seqs {
		if !failed[i] || l.refusedAt(i) {
			l.acks = append(l.acks, s)
		}
	}
	// The acknowledgements go to the WAL's buffer. Cutting the file back
	// or compacting it waits for the disk: with FsyncPerBatch the WAL
	// writer does that while the next batch is sent (with one lane, the
	// sender waits for it before its next acknowledgement, or before a WAL
	// sync that needs the disk, so that the WAL sees the same sequence of
	// operations whatever the timing).
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

// refusedAt reports whether the batch's record i was refused for good.
func (l *lane) refusedAt(i int) bool { return i < len(l.refused) && l.refused[i] }

// observeOutcome reports the batch's sent, failed (to be sent again) and
// refused (dead-lettered or dropped) records.
func (p *Producer) observeOutcome(l *lane, failed []bool, nfail int, firstErr error) {
	if p.cfg.observer == nil {
		if p.cfg.logs != nil && nfail > 0 {
			p.logRefused(l, failed)
		}
		return
	}
	var ok, bad, refused []Record
	var refusedErr error
	if nfail > 0 {
		bad = make([]Record, 0, nfail)
	}
	for i := range l.batch {
		switch {
		case !failed[i]:
			ok = append(ok, l.batch[i])
		case l.refusedAt(i):
			refused = append(refused, l.batch[i])
			if refusedErr == nil {
				refusedErr = l.fates[i].err
			}
		default:
			bad = append(bad, l.batch[i])
		}
	}
	// The Write is reported once (Event.Timed): by the first failure's
	// event if a record failed, else by the Sent one.
	timed := l.wrote
	if len(ok) > 0 {
		p.observe(Event{Kind: EventProducerSent, Lane: l.id, Count: len(ok), Records: ok, Elapsed: l.took, Timed: timed && nfail == 0})
	}
	if len(bad) > 0 {
		err := firstErr
		for i := range l.batch {
			if failed[i] && !l.refusedAt(i) {
				err = l.results[i].Err
				break
			}
		}
		p.observe(Event{Kind: EventProducerFailed, Lane: l.id, Count: len(bad), Records: bad, Err: err, Elapsed: l.took, Timed: timed})
		timed = false
	}
	if len(refused) > 0 {
		kind := EventProducerDropped
		if p.cfg.dlq != nil {
			kind = EventProducerDeadLettered
		}
		p.observe(Event{Kind: kind, Lane: l.id, Count: len(refused), Records: refused, Err: refusedErr, Elapsed: l.took, Timed: timed})
	}
}

// logRefused reports, without a WithObserver observer, the batch's refused
// records to the WithLogger one: their count and the first one's error,
// without copying the records.
func (p *Producer) logRefused(l *lane, failed []bool) {
	n := 0
	var err error
	for i := range l.batch {
		if failed[i] && l.refusedAt(i) {
			if n == 0 {
				err = l.fates[i].err
			}
			n++
		}
	}
	if n == 0 {
		return
	}
	kind := EventProducerDropped
	if p.cfg.dlq != nil {
		kind = EventProducerDeadLettered
	}
	p.observe(Event{Kind: kind, Lane: l.id, Count: n, Err: err})
}

// settleBatch removes the batch's written and refused records from the
// lane, keeping the other failed ones, in order, at its front, notes the
// refused records that were dropped for Flush and Close to report, and
// wakes the Puts waiting for room and the Flushes waiting for progress.
func (p *Producer) settleBatch(l *lane, failed []bool, nfail, nref int) {
	n := len(failed)
	p.mu.Lock()
	defer p.mu.Unlock()
	w, freed := n, 0
	for i := n - 1; i >= 0; i-- {
		if failed[i] && !l.refusedAt(i) {
			w--
			*l.q.at(w) = *l.q.at(i)
		} else {
			freed += l.q.at(i).size
		}
		if l.refusedAt(i) && p.cfg.dlq == nil {
			p.noteDroppedLocked(l, &l.batch[i], l.fates[i])
		}
	}
	l.q.popFront(w)
	l.bytes -= freed
	p.bufBytes -= freed
	left := n - nfail + nref
	p.bufRecords -= left
	p.stats.Sent += uint64(n - nfail)
	l.stats.Sent += uint64(n - nfail)
	p.stats.FailedAttempts += uint64(nfail)
	if p.cfg.dlq != nil {
		p.stats.DeadLettered += uint64(nref)
		l.stats.DeadLettered += uint64(nref)
	} else {
		p.stats.Dropped += uint64(nref)
		l.stats.Dropped += uint64(nref)
	}
	if nfail > nref {
		l.retryNow = true // the records left go again after the hold, or at once
	}
	if left > 0 {
		close(p.roomCh)
		p.roomCh = make(chan struct{})
		close(p.progressCh)
		p.progressCh = make(chan struct{})
	}
}

// noteDroppedLocked counts a record dropped without a DLQ sink, for the
// next Flush or Close to report.
func (p *Producer) noteDroppedLocked(l *lane, r *Record, f fate) {
	if p.dropped == 0 {
		p.firstDrop = fmt.Errorf("the first, %q of send lane %d, after %d failed send(s): %w", r.ID, l.id, f.attempts, f.err)
	}
	p.dropped++
}

// hold waits after a write of lane l that failed with cause; it reports
// false when the producer is stopping. Only lane l waits: the other lanes
// go on sending.
func (p *Producer) hold(l *lane, cause error) bool {
	l.holdN++
	d := p.cfg.retry.Backoff(l.holdN, nil)
	p.mu.Lock()
	p.stats.Holds++
	l.stats.Holds++
	p.mu.Unlock()
	p.observe(Event{Kind: EventProducerHold, Lane: l.id, Delay: d, Attempt: l.holdN, Err: cause})
	if err := p.cfg.clock.Sleep(p.stopCtx, d); err != nil || p.stopCtx.Err() != nil {
		return false
	}
	p.mu.Lock()
	l.retryNow = true
	p.mu.Unlock()
	return true
}

// pendingQueue is a queue of pending records in fixed-size blocks:
// pushing and popping move no record, growing copies only block pointers,
// and emptied blocks are reused.
type pendingQueue struct {
	blocks []*pendingBlock // blocks[0] holds the front record at off
	off    int
	n      int
	free   []*pendingBlock
	// keep is how many emptied blocks are kept for reuse: enough for a
	// whole batch (set by NewProducer), so that a lane that fills and
	// drains a batch at a time allocates no block in steady state.
	keep int
	// spare, if not nil, takes the emptied blocks beyond keep and gives
	// them back before a new one is allocated: a queue that grows well
	// past a batch and drains again (Put outrunning the sends while a
	// batch waits for its Write and fsync) reuses its blocks instead of
	// allocating and clearing 60 KB for every 256 records, and the GC
	// frees them once the queue stays short. The lanes of a producer
	// share one.
	spare *sync.Pool
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
		} else if q.spare != nil {
			b = q.spare.Get().(*pendingBlock)
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
		switch {
		case len(q.free) < max(q.keep, 4):
			q.free = append(q.free, b)
		case q.spare != nil:
			q.spare.Put(b) // cleared: popFront cleared every record in it
		}
	}
	m := copy(q.blocks, q.blocks[done:])
	clear(q.blocks[m:])
	q.blocks = q.blocks[:m]
}
