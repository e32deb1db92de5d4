package stream

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/driver"
)

// partitionWorker owns one partition while Run runs.
type partitionWorker struct {
	c       *Consumer
	id      string
	stopCtx context.Context // done: start no new work
	workCtx context.Context // done: drain timeout passed
	// persistCtx is never cancelled: a finished attempt's outcome is saved
	// even after the drain timeout (the store's own timeouts bound it).
	persistCtx context.Context
	// lost, in a group, is set when the partition was lost without a
	// handover: the worker must not save any more (another member owns it).
	lost *atomic.Bool

	mu     sync.Mutex // guards cp and the store in concurrent mode
	cp     *checkpoint.Checkpoint
	reader driver.Reader
	start  Start    // where the reader (re)opens when nothing was read yet
	read   Pointer  // the last record the reader returned
	buf    []Record // fetched records not yet in a batch
	recs   []Record // the current batch past the committed pointer
	next   int      // index in recs of the first record not committed
	seq    uint64
	batchT time.Time
	halted bool
	broken bool // a save failed: the in-memory checkpoint is not to be used

	// unsaved counts the outcomes kept in memory since the last save
	// (successes waiting for the commit); lastSave is when that save was.
	unsaved  int
	lastSave time.Time
	// savedCommitted is the committed pointer of the last save, and done
	// the batch finished since: what the next save reports (with an
	// observer only).
	savedCommitted Pointer
	done           batchDone

	// The background save (saveAsync): inFlight while one runs; it saves
	// snap, a copy of cp, whose Running batch is inFlightRun (0: none),
	// and sends its result on landedC. asyncFailed is set when it
	// failed, so that the handlers stop before the next collect.
	// durableRun is the Running batch of the last save that landed (0:
	// none): see covered.
	inFlight    bool
	inFlightRun uint64
	durableRun  uint64
	snap        checkpoint.Checkpoint
	landedC     chan error
	asyncFailed atomic.Bool
	// carefulNext counts the batches still to fetch in careful mode: the
	// batch after a crashed Running batch may have run too.
	carefulNext int
}

// lock takes w.mu unless a save failed; then it returns false, unlocked,
// and the caller must stop: the partition is failing.
func (w *partitionWorker) lock() bool {
	w.mu.Lock()
	if w.broken {
		w.mu.Unlock()
		return false
	}
	return true
}

func (w *partitionWorker) key() checkpoint.Key {
	return checkpoint.Key{Consumer: w.c.cfg.name, Stream: w.c.s.Name(), Partition: w.id}
}

// observe gives e, of this partition, to the consumer's observers (see
// Consumer.observe).
func (w *partitionWorker) observe(e *Event) {
	if !w.c.cfg.events.has(e.Kind) {
		return
	}
	e.Stream, e.Partition = w.c.s.Name(), w.id
	w.c.observe(e)
}

// run processes the partition until stopped, finished or failed. On the
// way out it saves what is only in memory (see saveOnStop), unless the
// partition failed to save or was lost.
func (w *partitionWorker) run() (finished bool, err error) {
	defer func() {
		if w.reader != nil {
			if cerr := w.reader.Close(); cerr != nil && err == nil && w.stopCtx.Err() == nil {
				err = fmt.Errorf("stream: close reader of partition %s: %w", w.id, cerr)
			}
		}
	}()
	cp, err := w.load()
	if err != nil || cp == nil {
		return false, err
	}
	w.cp = cp
	w.savedCommitted = cp.Committed
	w.lastSave = w.c.cfg.clock.Now()
	if cp.Finished {
		return true, nil
	}
	if err := w.validateCheckpoint(); err != nil {
		return false, err
	}
	defer func() {
		if serr := w.saveOnStop(); serr != nil && err == nil {
			err = serr
		}
	}()
	if cp.Batch != nil {
		w.seq = cp.Batch.Seq
		if err := w.recoverBatch(); err != nil {
			return false, err
		}
	}
	for w.stopCtx.Err() == nil {
		if err := w.asyncErr(); err != nil {
			return false, err
		}
		if w.recs == nil {
			ok, fin, err := w.fetchBatch()
			if err != nil || fin {
				return fin, err
			}
			if !ok {
				if w.c.cfg.clock.Sleep(w.stopCtx, w.c.cfg.pollInterval) != nil {
					return false, nil
				}
				continue
			}
		}
		if err := w.processBatch(); err != nil {
			return false, err
		}
		if w.halted {
			if err := w.waitOperator(); err != nil {
				return false, err
			}
		}
	}
	return false, nil
}

// load reads the partition's checkpoint. A transient store error pauses
// the partition: the load is retried with the fetch backoff until it
// succeeds or the consumer stops (then it returns nil, nil). A permanent
// one (checkpoint.IsPermanent, such as corrupt data) ends the partition
// with an error naming the store and the key.
func (w *partitionWorker) load() (*checkpoint.Checkpoint, error) {
	store := w.c.cfg.store
	for failures := 0; ; {
		cp, err := store.Load(w.workCtx, w.key())
		if err == nil {
			if failures > 0 {
				w.observe(&Event{Kind: EventCheckpointRecovered, Attempt: failures})
			}
			return cp, nil
		}
		if checkpoint.IsPermanent(err) {
			w.observe(&Event{Kind: EventCheckpointError, Err: err, Attempt: failures + 1})
			return nil, fmt.Errorf("stream: load checkpoint %s from %s: %w", w.key(), storeName(store), err)
		}
		if w.stopCtx.Err() != nil {
			return nil, nil
		}
		failures++
		d := w.c.cfg.fetchRetry.Backoff(failures, w.c.cfg.rand)
		w.observe(&Event{Kind: EventCheckpointError, Err: err, Attempt: failures, Delay: d})
		if w.c.cfg.clock.Sleep(w.stopCtx, d) != nil {
			return nil, nil
		}
	}
}

// validateCheckpoint checks the loaded pointers with the stream's codec, so a
// corrupt or foreign checkpoint is an error, not a silent restart.
func (w *partitionWorker) validateCheckpoint() error {
	return validateCheckpoint(w.c.codec, w.cp)
}

// validateCheckpoint reports the first reason the consumer refuses to
// resume from cp: a committed, batch or batch record pointer that codec
// (the stream's driver.PointerCodec) does not decode, or a batch without
// its first or last pointer. The error names the checkpoint's key (so its
// partition), which pointer, its bytes in hex and the codec's reason,
// which says what was expected. The consumer calls it on every checkpoint
// it loads; tools call it through Stream.ValidateCheckpoint.
func validateCheckpoint(codec driver.PointerCodec, cp *checkpoint.Checkpoint) error {
	if cp == nil {
		return errors.New("stream: validate a nil checkpoint")
	}
	check := func(what string, p []byte) error {
		if p == nil {
			return nil
		}
		if _, err := codec.Decode(p); err != nil {
			return fmt.Errorf("stream: checkpoint %s: %s pointer %s (hex): %w", cp.Key, what, hexOrEmpty(p), err)
		}
		return nil
	}
	if err := check("committed", cp.Committed); err != nil {
		return err
	}
	if b := cp.Batch; b != nil {
		if b.First == nil || b.Last == nil {
			return fmt.Errorf("stream: checkpoint %s: batch without first or last pointer: %w", cp.Key, checkpoint.ErrCorrupt)
		}
		for _, p := range [][]byte{b.First, b.Last} {
			if err := check("batch", p); err != nil {
				return err
			}
		}
		for i := range b.Records {
			if err := check("batch record", b.Records[i].Pointer); err != nil {
				return err
			}
		}
	}
	return nil
}

// hexOrEmpty shows pointer bytes in hex, and an empty pointer as "(empty)".
func hexOrEmpty(p []byte) string {
	if len(p) == 0 {
		return "(empty)"
	}
	return hex.EncodeToString(p)
}

func (w *partitionWorker) openReader() error {
	start := w.start
	if w.read != nil {
		start = After(w.read)
	}
	r, err := w.c.s.d.OpenReader(w.workCtx, w.id, start)
	if err != nil {
		return fmt.Errorf("stream: open reader of %s partition %s at %s: %w", w.c.s.Name(), w.id, start.Kind, err)
	}
	w.reader = r
	return nil
}

// Reader errors other than these are transient: fetch retries them. A
// permanent one (driver.IsPermanent: the stream is gone, reading it is
// not authorized) ends the partition, and Run, with an error naming the
// partition and the cause.
func fatalReadError(err error) bool {
	return errors.Is(err, driver.ErrPartitionFinished) || errors.Is(err, driver.ErrPointerNotFound) || driver.IsPermanent(err)
}

// reopenAfter is how many failed fetches in a row make the worker close
// and reopen its reader, from the last record it returned.
const reopenAfter = 3

// fetch returns up to max records, from the lookahead buffer first. It
// opens the reader if needed, and retries transient backend errors with
// the fetch backoff until the consumer stops (then it returns the stop's
// error): a broker outage pauses the partition, it does not end the run.
// A permanent error (fatalReadError) is returned at once.
func (w *partitionWorker) fetch(max int) ([]Record, error) {
	if len(w.buf) > 0 {
		n := min(max, len(w.buf))
		out := w.buf[:n:n]
		w.buf = w.buf[n:]
		if len(w.buf) == 0 {
			w.buf = nil
		}
		return out, nil
	}
	for failures := 0; ; {
		var recs []Record
		err := w.stopCtx.Err()
		if err == nil && w.reader == nil {
			err = w.openReader()
		}
		if err == nil {
			if recs, err = w.reader.Fetch(w.stopCtx, max); err == nil {
				if len(recs) > 0 {
					w.read = recs[len(recs)-1].Pointer
				}
				return recs, nil
			}
		}
		if w.stopCtx.Err() != nil || fatalReadError(err) {
			return nil, err
		}
		failures++
		d := w.c.cfg.fetchRetry.Backoff(failures, w.c.cfg.rand)
		w.observe(&Event{Kind: EventFetchError, Err: err, Attempt: failures, Delay: d})
		if failures%reopenAfter == 0 && w.reader != nil {
			w.reader.Close() // its error adds nothing: the reader is being replaced
			w.reader = nil
		}
		if w.c.cfg.clock.Sleep(w.stopCtx, d) != nil {
			return nil, w.stopCtx.Err()
		}
	}
}

// recoverBatch re-fetches the unfinished batch of a loaded checkpoint and
// picks how it is handled: in careful mode if a crash interrupted it.
func (w *partitionWorker) recoverBatch() error {
	b := w.cp.Batch
	w.start = Start{Kind: driver.StartAt, Pointer: b.First}
	if w.cp.Committed != nil && w.c.codec.Compare(w.cp.Committed, b.First) >= 0 {
		w.start = After(w.cp.Committed)
	}
	var recs []Record
	for {
		got, err := w.fetch(w.c.cfg.batchSize)
		if err != nil {
			if w.stopCtx.Err() != nil {
				return nil
			}
			return fmt.Errorf("stream: re-fetch batch %d of %s: %w", b.Seq, w.key(), err)
		}
		if len(got) == 0 {
			if w.c.cfg.clock.Sleep(w.stopCtx, w.c.cfg.pollInterval) != nil {
				return nil
			}
			continue
		}
		done := false
		for i := range got {
			if w.c.codec.Compare(got[i].Pointer, b.Last) > 0 {
				w.buf = append(w.buf, got[i:]...)
				done = true
				break
			}
			recs = append(recs, got[i])
		}
		if len(recs) == 0 && done {
			return fmt.Errorf("stream: checkpoint %s: the records of unfinished batch %d (%s to %s) are no longer in the stream; refusing to skip them",
				w.key(), b.Seq, w.c.codec.Format(w.c.s.Name(), w.id, b.First), w.c.codec.Format(w.c.s.Name(), w.id, b.Last))
		}
		if done || w.c.codec.Compare(recs[len(recs)-1].Pointer, b.Last) == 0 {
			break
		}
	}
	w.setBatch(recs)
	switch {
	case b.Running || inProgress(b):
		// The batch was handled with its successes in memory when the
		// consumer stopped without saving them, or a record was in
		// progress: a crash, maybe caused by one of its records. Careful
		// mode isolates that record, in this batch and the runAhead
		// batches after it (which ran if the saves that would have
		// marked them Running were not written yet).
		b.Running, b.Careful = false, true
		w.carefulNext = runAhead
	case !b.Careful && !w.c.cfg.commit.perRecord():
		// A graceful stop (or per-record mode) left the batch: mark it
		// Running again before any success is kept only in memory.
		w.mu.Lock()
		defer w.mu.Unlock()
		b.Running = true
		if _, err := w.save(w.c.cfg.clock.Now()); err != nil {
			return err
		}
	}
	return nil
}

// inProgress reports whether a record of b was in progress: a crash
// interrupted its attempt.
func inProgress(b *checkpoint.Batch) bool {
	for i := range b.Records {
		if b.Records[i].Status == checkpoint.InProgress {
			return true
		}
	}
	return false
}

func (w *partitionWorker) setBatch(recs []Record) {
	w.recs, w.next = recs, 0
	w.batchT = w.c.cfg.clock.Now()
	if w.c.cfg.observer != nil {
		w.observe(&Event{Kind: EventBatchFetched, Count: len(recs), Time: w.batchT, Lag: w.lag()})
	}
}

// lag returns how far the partition is behind after the current batch, if
// the reader tells: its lag plus the records fetched ahead of the batch.
func (w *partitionWorker) lag() *Lag {
	lr, ok := w.reader.(driver.LagReporter)
	if !ok {
		return nil
	}
	l := lr.Lag()
	if l.Records >= 0 {
		l.Records += int64(len(w.buf))
	}
	return &l
}

// fetchBatch fetches the next batch and persists it before any handler runs.
func (w *partitionWorker) fetchBatch() (ok, finished bool, err error) {
	if w.reader == nil && w.read == nil {
		w.start = w.c.cfg.start
		if w.cp.Committed != nil {
			w.start = After(w.cp.Committed)
		}
	}
	recs, err := w.fetch(w.c.cfg.batchSize)
	if errors.Is(err, driver.ErrPartitionFinished) {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.cp.Finished = true
		if _, err := w.save(w.c.cfg.clock.Now()); err != nil {
			return false, false, err
		}
		w.observe(&Event{Kind: EventPartitionFinished})
		return false, true, nil
	}
	if err != nil {
		if w.stopCtx.Err() != nil {
			return false, false, nil
		}
		return false, false, fmt.Errorf("stream: fetch %s partition %s: %w", w.c.s.Name(), w.id, err)
	}
	if len(recs) == 0 {
		return false, false, w.commitIdle()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seq++
	perRecord := w.c.cfg.commit.perRecord()
	careful := w.carefulNext > 0 && !perRecord
	if careful {
		w.carefulNext--
	}
	// Running marks the batch as handled with successes kept in memory:
	// found on load, it tells of a crash (see recoverBatch). Its save
	// also commits the batches before.
	w.cp.Batch = &checkpoint.Batch{Seq: w.seq, First: recs[0].Pointer, Last: recs[len(recs)-1].Pointer, Size: len(recs),
		Running: !perRecord && !careful, Careful: careful}
	note, err := w.saveBatch(w.c.cfg.clock.Now())
	if err != nil {
		return false, false, err
	}
	w.report(note) // the batch before is done: reported before this one is fetched
	w.setBatch(recs)
	return true, false, nil
}

// commitIdle commits, when a fetch found nothing new, the successes kept in
// memory: the end of a batch waits for the next fetch to be committed with
// it, and there is none yet.
func (w *partitionWorker) commitIdle() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.tryCollect(); err != nil || w.unsaved == 0 || w.inFlight {
		return err // with a save in flight, the next poll commits
	}
	note, err := w.saveAsync(w.c.cfg.clock.Now())
	w.report(note)
	return err
}

// saveBatch saves a batch just fetched, with the commit of the ones
// before, at now. A careful batch (or one in per-record mode) is saved
// before any of its handlers runs. A fast (Running) batch is saved in
// the background, and its handlers run at once if the store has
// recorded a Running batch at most runAhead batches before it; else they
// wait for the store. While a save is in flight, the next one waits for
// it, and one save then commits all that was done meanwhile: the number
// of saves adapts to the store's speed. The caller holds w.mu.
func (w *partitionWorker) saveBatch(now time.Time) (commitNote, error) {
	if !w.cp.Batch.Running {
		return w.save(now)
	}
	if err := w.tryCollect(); err != nil {
		return commitNote{}, err
	}
	var note commitNote
	var err error
	if !w.inFlight {
		note, err = w.saveAsync(now)
	}
	for err == nil && !w.covered(w.cp.Batch.Seq) {
		if err = w.collect(); err == nil && !w.covered(w.cp.Batch.Seq) {
			note, err = w.saveAsync(now)
		}
	}
	return note, err
}

// waitOperator waits, while halted, for an operator to retry or skip the
// halted record (a new checkpoint version without a halted record).
func (w *partitionWorker) waitOperator() error {
	for {
		if w.c.cfg.clock.Sleep(w.stopCtx, w.c.cfg.pollInterval) != nil {
			return nil
		}
		cp, err := w.load()
		if err != nil || cp == nil {
			return err
		}
		if cp.Version == w.cp.Version || cp.Halted() != nil {
			continue
		}
		w.mu.Lock()
		w.cp = cp
		w.halted = false
		if err := w.validateCheckpoint(); err != nil {
			w.mu.Unlock()
			return err
		}
		if cp.Batch == nil {
			// The operator moved past the whole batch.
			w.recs = nil
			w.mu.Unlock()
			return nil
		}
		note, err := w.commitAndSave(w.c.cfg.clock.Now())
		if err != nil {
			w.mu.Unlock()
			return err
		}
		if w.cp.Batch == nil {
			w.recs = nil
		}
		w.mu.Unlock()
		w.report(note)
		return nil
	}
}
