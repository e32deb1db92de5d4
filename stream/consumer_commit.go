package stream

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/unistream-go/unistream/stream/checkpoint"
)

// save persists the in-memory checkpoint, updated at now: every outcome
// since the last save, the commit included. It returns what the save
// made durable, to report once the caller has sent its own events. The
// caller holds w.mu.
//
// A transient store error pauses the partition (the caller holds w.mu, so
// nothing else of the partition moves): the save is retried with the fetch
// backoff until it succeeds, each failure reported as an
// EventCheckpointError. A permanent error (checkpoint.IsPermanent: corrupt
// data, a lost compare-and-swap, a checkpoint too large for the store, or
// an error the store marks permanent) ends the partition. So does a store
// still down when the drain timeout of a stop has passed: the outcomes
// since the last commit are then not saved, and are handled again by the
// next owner.
func (w *partitionWorker) save(now time.Time) (commitNote, error) {
	if w.lost != nil && w.lost.Load() {
		w.broken = true
		return commitNote{}, fmt.Errorf("stream: save checkpoint %s: %w", w.key(), errPartitionLost)
	}
	w.cp.UpdatedAt = now
	store := w.c.cfg.store
	for failures := 0; ; {
		err := store.Save(w.persistCtx, w.cp)
		if err == nil || (failures > 0 && errors.Is(err, checkpoint.ErrConflict) && w.landed()) {
			if failures > 0 {
				w.observe(Event{Kind: EventCheckpointRecovered, Attempt: failures})
			}
			break
		}
		if checkpoint.IsPermanent(err) {
			w.broken = true
			w.observe(Event{Kind: EventCheckpointError, Err: err, Attempt: failures + 1})
			return commitNote{}, fmt.Errorf("stream: save checkpoint %s to %s: %w", w.key(), storeName(store), err)
		}
		failures++
		d := w.c.cfg.fetchRetry.Backoff(failures, w.c.cfg.rand)
		w.observe(Event{Kind: EventCheckpointError, Err: err, Attempt: failures, Delay: d})
		if w.c.cfg.clock.Sleep(w.workCtx, d) != nil {
			w.broken = true
			return commitNote{}, fmt.Errorf("stream: save checkpoint %s to %s: the store was still failing when the stop's drain timeout passed, after %d attempt(s); the outcomes since the last commit were not saved and will be handled again: %w",
				w.key(), storeName(store), failures, err)
		}
	}
	w.unsaved = 0
	w.lastSave = now
	return w.noteSaved(now), nil
}

// landed reports whether a save that failed transiently and then met a
// version conflict was in fact applied by the store the first time (a
// timeout after the write): the stored checkpoint is the one being saved,
// one version on. Then the save succeeded, and cp takes that version.
func (w *partitionWorker) landed() bool {
	stored, err := w.c.cfg.store.Load(w.persistCtx, w.key())
	if err != nil || stored.Version != w.cp.Version+1 {
		return false
	}
	mine := *w.cp
	mine.Version = stored.Version
	a, err1 := checkpoint.EncodeDocument(&mine)
	b, err2 := checkpoint.EncodeDocument(stored)
	if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
		return false
	}
	w.cp.Version = stored.Version
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
// now, at now, by the commit policy: at the end of a batch, after
// CommitPolicy.Records final records, or CommitPolicy.Interval after the
// last save. The caller holds w.mu.
func (w *partitionWorker) commitDue(now time.Time) bool {
	p := &w.c.cfg.commit
	return w.cp.Batch == nil || (p.Records > 0 && w.unsaved >= p.Records) ||
		(p.Interval > 0 && now.Sub(w.lastSave) >= p.Interval)
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

// noteSaved returns what the save just made, at now, made durable: a
// commit that moved and a batch that finished. The caller holds w.mu.
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
		w.observe(Event{Kind: EventCommitted, Pointer: n.ptr, Time: n.at})
	}
	if n.done.count > 0 {
		w.observe(Event{Kind: EventBatchDone, Count: n.done.count, Elapsed: n.done.elapsed, Time: n.at})
	}
}

// saveOnStop persists, when the partition stops, what is only in memory:
// the successes since the last commit, and the end of the batch's Running
// mark (a restart after a graceful stop is not a crash). The caller does
// not hold w.mu.
func (w *partitionWorker) saveOnStop() error {
	if !w.lock() {
		return nil
	}
	if w.cp == nil || (w.unsaved == 0 && (w.cp.Batch == nil || !w.cp.Batch.Running)) {
		w.mu.Unlock()
		return nil
	}
	if w.cp.Batch != nil {
		w.cp.Batch.Running = false
	}
	note, err := w.save(w.c.cfg.clock.Now())
	w.mu.Unlock()
	w.report(note)
	return err
}
