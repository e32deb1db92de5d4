package stream

import (
	"errors"
	"fmt"
	"time"

	"github.com/unistream-go/unistream/stream/checkpoint"
)

// Checkpoint saves are retried this often before the partition gives up.
const saveAttempts = 3

// save persists the checkpoint. The caller holds w.mu.
func (w *partitionWorker) save() error { return w.saveAt(w.c.cfg.clock.Now()) }

// saveAt persists the checkpoint, updated at now: the hot path reads the
// clock once per record transition and passes that reading here. The
// caller holds w.mu.
func (w *partitionWorker) saveAt(now time.Time) error {
	if w.lost != nil && w.lost.Load() {
		w.broken = true
		return fmt.Errorf("stream: save checkpoint %s: %w", w.key(), errPartitionLost)
	}
	w.cp.UpdatedAt = now
	ctx := w.persistCtx
	var err error
	for attempt := 1; attempt <= saveAttempts; attempt++ {
		err = w.c.cfg.store.Save(ctx, w.cp)
		if err == nil {
			return nil
		}
		w.observe(Event{Kind: EventCheckpointError, Err: err, Attempt: attempt})
		if errors.Is(err, checkpoint.ErrConflict) {
			break
		}
		if attempt < saveAttempts {
			w.c.cfg.clock.Sleep(ctx, time.Duration(attempt)*50*time.Millisecond)
		}
	}
	w.broken = true
	return fmt.Errorf("stream: save checkpoint %s: %w", w.key(), err)
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

// advance moves the committed pointer over the contiguous prefix of final
// records and drops their states. The caller holds w.mu.
func (w *partitionWorker) advance() {
	moved := false
	for w.next < len(w.recs) {
		r := &w.recs[w.next]
		i := w.state(r.Pointer)
		if i < 0 || !w.cp.Batch.Records[i].Status.Final() {
			break
		}
		b := w.cp.Batch
		b.Records = append(b.Records[:i], b.Records[i+1:]...)
		w.cp.Committed = r.Pointer
		w.next++
		moved = true
	}
	if !moved {
		return
	}
	if w.next == len(w.recs) {
		w.cp.Batch = nil
	}
}

// commitNote is what a save moved: reported after the record's own event.
type commitNote struct {
	moved, batchDone bool
	ptr              Pointer
	count            int
	elapsed          time.Duration
	at               time.Time
}

// noteCommit records whether the commit moved since before, at now. The
// caller holds w.mu, after the save.
func (w *partitionWorker) noteCommit(before Pointer, now time.Time) commitNote {
	if w.c.cfg.observer == nil || string(before) == string(w.cp.Committed) {
		return commitNote{}
	}
	n := commitNote{moved: true, ptr: w.cp.Committed, batchDone: w.cp.Batch == nil, count: len(w.recs), at: now}
	n.elapsed = n.at.Sub(w.batchT)
	return n
}

// commitAndSave advances the commit over what is final and persists the
// checkpoint. The caller holds w.mu.
func (w *partitionWorker) commitAndSave() (commitNote, error) {
	return w.commitAndSaveAt(w.c.cfg.clock.Now())
}

// commitAndSaveAt is commitAndSave with the clock already read. The caller
// holds w.mu.
func (w *partitionWorker) commitAndSaveAt(now time.Time) (commitNote, error) {
	before := w.cp.Committed
	w.advance()
	return w.saveNoting(before, now)
}

// saveNoting persists the checkpoint at now and notes whether the commit
// moved from before. The caller holds w.mu.
func (w *partitionWorker) saveNoting(before Pointer, now time.Time) (commitNote, error) {
	if err := w.saveAt(now); err != nil {
		return commitNote{}, err
	}
	return w.noteCommit(before, now), nil
}

// report emits the commit and batch-done events of a note.
func (w *partitionWorker) report(n commitNote) {
	if !n.moved {
		return
	}
	w.observe(Event{Kind: EventCommitted, Pointer: n.ptr, Time: n.at})
	if n.batchDone {
		w.observe(Event{Kind: EventBatchDone, Count: n.count, Elapsed: n.elapsed, Time: n.at})
	}
}
