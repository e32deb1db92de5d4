package stream

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/unistream-go/unistream/stream/checkpoint"
)

// save persists the in-memory checkpoint, updated at now: every outcome
// since the last save, the commit included. It first waits for the
// background save in flight, if any. It returns what the save made
// durable, to report once the caller has sent its own events. The caller
// holds w.mu.
func (w *partitionWorker) save(now time.Time) (commitNote, error) {
	if err := w.collect(); err != nil {
		return commitNote{}, err
	}
	if err := w.checkLost(); err != nil {
		return commitNote{}, err
	}
	w.cp.UpdatedAt = now
	if err := w.persist(w.cp); err != nil {
		w.broken = true
		return commitNote{}, err
	}
	w.durableRun = runningSeq(w.cp)
	w.saved(now)
	return w.noteSaved(now), nil
}

// saveAsync starts saving a copy of the in-memory checkpoint, updated at
// now, in the background, and returns at once: the partition goes on
// while the store writes. The caller has collected the save before it
// (at most one is in flight, so they land in order). Only saves that
// nothing waits on go this way: commits of successes, and the saves of
// fast batches (see fetchBatch). The commit event is sent when the save
// lands; the note returned holds the rest. The caller holds w.mu.
func (w *partitionWorker) saveAsync(now time.Time) (commitNote, error) {
	if err := w.checkLost(); err != nil {
		return commitNote{}, err
	}
	w.cp.UpdatedAt = now
	w.cp.CopyTo(&w.snap)
	// The commit event waits for the save to land; the rest is reported
	// by the caller now.
	note := w.noteSaved(now)
	moved, committed := note.moved, note.ptr
	note.moved = false
	if w.landedC == nil {
		w.landedC = make(chan error, 1)
	}
	w.inFlight = true
	w.inFlightRun = runningSeq(w.cp)
	snap, ch := &w.snap, w.landedC
	go func() { // owned by the worker: collect waits for it, and run collects before it returns
		err := w.persist(snap)
		if err != nil {
			w.asyncFailed.Store(true)
		} else if moved {
			w.observe(&Event{Kind: EventCommitted, Pointer: committed, Time: now})
		}
		ch <- err
	}()
	w.saved(now)
	return note, nil
}

// collect waits for the background save in flight, if any: its version
// becomes the checkpoint's, or its error the partition's. The caller
// holds w.mu (or is the worker, alone).
func (w *partitionWorker) collect() error {
	if !w.inFlight {
		return nil
	}
	return w.landed(<-w.landedC)
}

// tryCollect collects the background save if it has landed, without
// waiting. The caller holds w.mu.
func (w *partitionWorker) tryCollect() error {
	if !w.inFlight {
		return nil
	}
	select {
	case err := <-w.landedC:
		return w.landed(err)
	default:
		return nil
	}
}

// landed takes the result of the background save. The caller holds w.mu.
func (w *partitionWorker) landed(err error) error {
	w.inFlight = false
	if err != nil {
		w.broken = true
		return err
	}
	w.cp.Version = w.snap.Version
	w.durableRun = w.inFlightRun
	return nil
}

// runningSeq is the sequence number of cp's batch if it is Running, else 0.
func runningSeq(cp *checkpoint.Checkpoint) uint64 {
	if cp.Batch != nil && cp.Batch.Running {
		return cp.Batch.Seq
	}
	return 0
}

// runAhead is how many batches past the last Running batch the store has
// recorded a fast partition may run while its saves are in flight: a
// slow store does not hold the partition back until it is that far
// behind. A crash then loses at most the batches run ahead, and careful
// mode covers them (see recoverBatch).
const runAhead = 2

// covered reports whether batch seq may run in fast mode now: the store
// has recorded a Running batch at most runAhead batches before it, so a
// crash during it is seen on restart. The caller holds w.mu.
func (w *partitionWorker) covered(seq uint64) bool {
	return w.durableRun > 0 && seq <= w.durableRun+runAhead
}

// asyncErr returns the error of a background save that failed, once the
// save has returned; nil if none failed. The caller does not hold w.mu.
func (w *partitionWorker) asyncErr() error {
	if !w.asyncFailed.Load() {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.collect()
}

// checkLost refuses a save of a partition the group took away without a
// handover. The caller holds w.mu.
func (w *partitionWorker) checkLost() error {
	if w.lost != nil && w.lost.Load() {
		w.broken = true
		return fmt.Errorf("stream: save checkpoint %s: %w", w.key(), errPartitionLost)
	}
	return nil
}

// saved notes a save (started or done) at now: nothing is kept only in
// memory any more. The caller holds w.mu.
func (w *partitionWorker) saved(now time.Time) {
	w.unsaved = 0
	w.lastSave = now
}

// persist writes cp to the store and sets its new version, and reports
// the save (EventCheckpointSaved). It reads only what does not change
// while the partition runs, so the background save may call it.
//
// A transient store error pauses the partition: the save is retried with
// the fetch backoff until it succeeds, each failure reported as an
// EventCheckpointError and the recovery as an EventCheckpointRecovered. A
// permanent error (checkpoint.IsPermanent: corrupt data, a lost
// compare-and-swap, a checkpoint too large for the store, or an error the
// store marks permanent) ends the partition, and so does a store still
// failing when the drain timeout of a stop has passed: the outcomes since
// the last commit are then not saved, and are handled again by the next
// owner.
func (w *partitionWorker) persist(cp *checkpoint.Checkpoint) error {
	store := w.c.cfg.store
	// The save is timed only for someone to see it (EventCheckpointSaved).
	timed := w.c.cfg.observer != nil || w.c.cfg.logs != nil
	var start time.Time
	for failures := 0; ; {
		if timed {
			start = w.c.cfg.clock.Now()
		}
		err := store.Save(w.persistCtx, cp)
		if err == nil || (failures > 0 && errors.Is(err, checkpoint.ErrConflict) && w.applied(cp)) {
			if failures > 0 {
				w.observe(&Event{Kind: EventCheckpointRecovered, Attempt: failures})
			}
			if timed {
				end := w.c.cfg.clock.Now()
				w.observe(&Event{Kind: EventCheckpointSaved, Elapsed: end.Sub(start), Time: end})
			}
			return nil
		}
		if checkpoint.IsPermanent(err) {
			w.observe(&Event{Kind: EventCheckpointError, Err: err, Attempt: failures + 1})
			return fmt.Errorf("stream: save checkpoint %s to %s: %w", w.key(), storeName(store), err)
		}
		failures++
		d := w.c.cfg.fetchRetry.Backoff(failures, w.c.cfg.rand)
		w.observe(&Event{Kind: EventCheckpointError, Err: err, Attempt: failures, Delay: d})
		if w.c.cfg.clock.Sleep(w.workCtx, d) != nil {
			return fmt.Errorf("stream: save checkpoint %s to %s: the store was still failing when the stop's drain timeout passed, after %d attempt(s); the outcomes since the last commit were not saved and will be handled again: %w",
				w.key(), storeName(store), failures, err)
		}
	}
}

// applied reports whether a save of cp that failed transiently and then
// met a version conflict was in fact applied by the store the first time
// (a timeout after the write): the stored checkpoint is cp, one version
// on. Then the save succeeded, and cp takes that version.
func (w *partitionWorker) applied(cp *checkpoint.Checkpoint) bool {
	stored, err := w.c.cfg.store.Load(w.persistCtx, w.key())
	if err != nil || stored.Version != cp.Version+1 {
		return false
	}
	mine := *cp
	mine.Version = stored.Version
	a, err1 := checkpoint.EncodeDocument(&mine)
	b, err2 := checkpoint.EncodeDocument(stored)
	if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
		return false
	}
	cp.Version = stored.Version
	return true
}

// storeName names a checkpoint store in errors: its String method, or its
// type.
func storeName(s checkpoint.Store) string {
	if str, ok := s.(fmt.Stringer); ok {
		return str.String()
	}
	return fmt.Sprintf("%T", s)
}

// commitDue reports whether the progress kept in memory is to be committed
// now, at now, in the middle of a batch: after CommitPolicy.Records final
// records, or CommitPolicy.Interval after the last save. (The end of a
// batch is committed by the save of the next one, see fetchBatch.) The
// caller holds w.mu.
func (w *partitionWorker) commitDue(now time.Time) bool {
	p := &w.c.cfg.commit
	return (p.Records > 0 && w.unsaved >= p.Records) || (p.Interval > 0 && now.Sub(w.lastSave) >= p.Interval)
}

// state returns the index of r's state in the batch, or -1 (pending).
func (w *partitionWorker) state(p Pointer) int {
	recs := w.cp.Batch.Records
	for i := len(recs) - 1; i >= 0; i-- {
		if string(recs[i].Pointer) == string(p) {
			return i
		}
	}
	return -1
}

// committed reports whether r is at or before the committed pointer. The
// caller holds w.mu.
func (w *partitionWorker) committed(r *Record) bool {
	return w.cp.Batch == nil || (w.cp.Committed != nil && w.c.codec.Compare(r.Pointer, w.cp.Committed) <= 0)
}

// addState inserts a state for r in pointer order and returns its index.
func (w *partitionWorker) addState(r *Record) int {
	b := w.cp.Batch
	i := len(b.Records)
	for i > 0 && w.c.codec.Compare(b.Records[i-1].Pointer, r.Pointer) > 0 {
		i--
	}
	b.Records = append(b.Records, checkpoint.RecordState{})
	copy(b.Records[i+1:], b.Records[i:])
	b.Records[i] = checkpoint.RecordState{Pointer: r.Pointer, ID: r.ID}
	return i
}

// advance moves the committed pointer, in memory, over the contiguous
// prefix of final records and drops their states; at the end of the batch
// it drops the batch. The next save makes it durable. The caller holds
// w.mu.
func (w *partitionWorker) advance(now time.Time) {
	for w.next < len(w.recs) {
		r := &w.recs[w.next]
		i := w.state(r.Pointer)
		if i < 0 || !w.cp.Batch.Records[i].Status.Final() {
			return
		}
		b := w.cp.Batch
		b.Records = append(b.Records[:i], b.Records[i+1:]...)
		w.commitNext(now)
	}
}

// commitNext moves the committed pointer, in memory, over the record at
// w.next, whose outcome is final and which has no state left in the
// batch; after the batch's last record it drops the batch. The caller
// holds w.mu.
func (w *partitionWorker) commitNext(now time.Time) {
	w.cp.Committed = w.recs[w.next].Pointer
	w.next++
	if w.next == len(w.recs) {
		w.cp.Batch = nil
		w.done = batchDone{count: len(w.recs), elapsed: now.Sub(w.batchT)}
	}
}

// batchDone is a batch finished in memory, reported when a save makes it
// durable.
type batchDone struct {
	count   int
	elapsed time.Duration
}

// commitNote is what a save made durable: reported after the record's own
// event.
type commitNote struct {
	moved bool
	ptr   Pointer
	done  batchDone
	at    time.Time
}

// noteSaved returns what a save at now makes durable: the batch finished
// since the last save and a commit that moved. The caller holds w.mu.
func (w *partitionWorker) noteSaved(now time.Time) commitNote {
	if w.c.cfg.observer == nil {
		return commitNote{}
	}
	n := commitNote{done: w.done, at: now}
	w.done = batchDone{}
	if string(w.savedCommitted) != string(w.cp.Committed) {
		n.moved, n.ptr = true, w.cp.Committed
		w.savedCommitted = w.cp.Committed
	}
	return n
}

// commitAndSave advances the commit over what is final and persists the
// checkpoint at now. The caller holds w.mu.
func (w *partitionWorker) commitAndSave(now time.Time) (commitNote, error) {
	w.advance(now)
	return w.save(now)
}

// report emits the commit and batch-done events of a note.
func (w *partitionWorker) report(n commitNote) {
	if n.moved {
		w.observe(&Event{Kind: EventCommitted, Pointer: n.ptr, Time: n.at})
	}
	if n.done.count > 0 {
		w.observe(&Event{Kind: EventBatchDone, Count: n.done.count, Elapsed: n.done.elapsed, Time: n.at})
	}
}

// saveOnStop persists, when the partition stops, what is only in memory:
// the successes since the last commit, and the end of the batch's Running
// mark (a restart after a graceful stop is not a crash). It waits for the
// background save first, and reports its error. The caller does not hold
// w.mu.
func (w *partitionWorker) saveOnStop() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.collect(); err != nil || w.broken {
		return err
	}
	if w.cp == nil || (w.unsaved == 0 && (w.cp.Batch == nil || !w.cp.Batch.Running)) {
		return nil
	}
	if w.cp.Batch != nil {
		w.cp.Batch.Running = false
	}
	note, err := w.save(w.c.cfg.clock.Now())
	w.report(note)
	return err
}
