package stream

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/dlq"
)

// processBatch runs the handler over the current batch, sequentially or by
// key groups, until it is final, halted, or the consumer stops.
func (w *partitionWorker) processBatch() error {
	var err error
	if w.c.cfg.concurrency <= 1 {
		// Sequentially, the outcome of record i and the in_progress mark of
		// record i+1 go in one save (see runRecord): pre carries the attempt
		// that save started into the next iteration.
		var pre attemptStart
		for i := w.next; i < len(w.recs) && err == nil && !w.halted; i++ {
			var next *Record
			if i+1 < len(w.recs) {
				next = &w.recs[i+1]
			}
			var stop bool
			stop, pre, err = w.runRecord(&w.recs[i], next, pre)
			if stop {
				break
			}
		}
	} else {
		err = w.processConcurrent()
	}
	if err != nil {
		return err
	}
	w.mu.Lock()
	done := w.cp.Batch == nil
	w.mu.Unlock()
	if done {
		w.recs = nil
	}
	return nil
}

// processConcurrent runs the batch on up to Concurrency goroutines. Each
// goroutine pulls the next record in batch order, and no record more than
// a window of 4×Concurrency past the oldest unfinished one is started, so the
// finished-but-uncommitted records (each a checkpoint entry) stay few. A
// record whose order key is running waits behind it and is run next by the
// same goroutine, keeping per-key order. When a record halts (or the
// consumer stops), its key stops: the key's later records stay pending, the
// other keys go on.
func (w *partitionWorker) processConcurrent() error {
	keyOf := w.c.cfg.orderKey
	window := 4 * w.c.cfg.concurrency
	var (
		qmu     sync.Mutex
		cond    = sync.NewCond(&qmu)
		cursor  = w.next
		low     = w.next                    // oldest record not finished
		done    = make([]bool, len(w.recs)) // finished, dropped or skipped
		waiting = map[string][]int{}        // running key -> records queued behind it
		stopped = map[string]bool{}
		firstE  error
		wg      sync.WaitGroup
	)
	key := func(i int) string {
		if keyOf != nil {
			return keyOf(&w.recs[i])
		}
		return string(w.recs[i].Key)
	}
	finish := func(i int) { // the caller holds qmu
		done[i] = true
		if i == low {
			for low < len(done) && done[low] {
				low++
			}
			cond.Broadcast()
		}
	}
	halt := func() bool { return firstE != nil || w.stopCtx.Err() != nil }
	defer context.AfterFunc(w.stopCtx, func() { qmu.Lock(); cond.Broadcast(); qmu.Unlock() })()
	// take returns the next record to run after finishing one of key k
	// (own == false at the start or after a stop). The caller holds qmu.
	take := func(k string, own bool) (int, string, bool) {
		if own {
			if q := waiting[k]; len(q) > 0 && !halt() {
				waiting[k] = q[1:]
				return q[0], k, true
			}
			delete(waiting, k)
		}
		for !halt() && cursor < len(w.recs) {
			if cursor >= low+window {
				cond.Wait()
				continue
			}
			i := cursor
			cursor++
			rk := key(i)
			if stopped[rk] {
				finish(i)
				continue
			}
			if q, running := waiting[rk]; running {
				waiting[rk] = append(q, i)
				continue
			}
			waiting[rk] = nil
			return i, rk, true
		}
		return 0, "", false
	}
	worker := func() {
		defer wg.Done()
		qmu.Lock()
		defer qmu.Unlock()
		i, k, ok := take("", false)
		for ok {
			qmu.Unlock()
			stop, _, err := w.runRecord(&w.recs[i], nil, attemptStart{})
			qmu.Lock()
			if err != nil && firstE == nil {
				firstE = err
				cond.Broadcast()
			}
			finish(i)
			if stop {
				stopped[k] = true
				for _, j := range waiting[k] {
					finish(j)
				}
				delete(waiting, k)
				i, k, ok = take("", false)
			} else {
				i, k, ok = take(k, true)
			}
		}
	}
	for n := w.c.cfg.concurrency; n > 0; n-- {
		wg.Add(1)
		go worker()
	}
	wg.Wait()
	return firstE
}

// outcome of one handler attempt.
type outcome uint8

const (
	outRetry outcome = iota
	outSucceeded
	outSkipped
	outExhausted
)

// attemptStart is an attempt whose in_progress mark is already persisted:
// the handler must run next, without another save.
type attemptStart struct {
	ok      bool
	attempt int
	at      time.Time
}

// runRecord drives one record to a final state, a halt, or the stop. stop
// reports that the caller must not go on to the next record.
//
// pre, if ok, is an attempt of r already persisted in_progress by the
// previous record's outcome save: runRecord calls the handler at once.
//
// next is the record the caller runs after r, or nil (concurrent mode, or
// the end of the batch). When r's attempt ends final (succeeded or skipped)
// and next is fresh (no state in the batch, not committed) and the
// consumer is not stopping, runRecord marks next in_progress (attempt 1) in
// the same save as r's outcome, and returns that attempt as started: one
// save per record instead of two. The contract holds at every crash point:
//   - before that save, the store has r in_progress (or r's earlier
//     outcome) and next pending: as with two saves, r's interrupted attempt
//     counts and r is retried; next was never called.
//   - after it, r's outcome is persisted (at-least-once: r is not called
//     again) and next is in_progress with its attempt counted before its
//     handler runs, exactly the state the second save would have written.
//
// The only state not persisted is "r final, next pending", which no
// handler runs in and which a restart treats the same as "next in_progress
// interrupted" minus one counted attempt; the attempt is counted only
// because the handler does run right after the save (the caller never
// drops a started attempt: it checks for the stop before the save, not
// after).
func (w *partitionWorker) runRecord(r, next *Record, pre attemptStart) (stop bool, started attemptStart, err error) {
	cfg := &w.c.cfg
	obs := cfg.observer != nil
	for {
		var attempt int
		var now time.Time
		if pre.ok {
			attempt, now = pre.attempt, pre.at
			pre = attemptStart{}
		} else {
			var st *checkpoint.RecordState
			if !w.lock() {
				return true, started, nil
			}
			if w.committed(r) {
				// Final already, and committed by another key group's progress.
				w.mu.Unlock()
				return false, started, nil
			}
			i := w.state(r.Pointer)
			fresh := i < 0
			if fresh {
				i = w.addState(r)
			}
			st = &w.cp.Batch.Records[i]
			wait := time.Duration(0)
			if !fresh {
				switch st.Status {
				case checkpoint.Succeeded, checkpoint.DeadLettered, checkpoint.Skipped:
					w.mu.Unlock()
					return false, started, nil
				case checkpoint.Halted:
					w.halted = true
					reason, attempts := st.Reason, st.Attempts
					w.mu.Unlock()
					w.observe(Event{Kind: EventHalted, Record: r, Attempt: attempts, Err: fmt.Errorf("%w: %s", ErrHalted, reason)})
					return true, started, nil
				case checkpoint.InProgress:
					// A crash interrupted this attempt: it counts, and is retried.
					st.Status = checkpoint.Failed
					st.AddError(st.Attempts, cfg.clock.Now(), "attempt interrupted: the consumer stopped during the handler (in_progress at restart)")
					st.NextRetry = st.LastAttempt.Add(cfg.retry.Backoff(st.Attempts, cfg.rand))
				}
				if st.Status == checkpoint.Failed && (st.Exhausted || st.Attempts >= cfg.retry.MaxAttempts) {
					w.mu.Unlock()
					stop, err := w.exhaust(r)
					return stop, started, err
				}
				if st.Status == checkpoint.Failed {
					wait = st.NextRetry.Sub(cfg.clock.Now())
				}
			}
			w.mu.Unlock()
			if wait > 0 && cfg.clock.Sleep(w.stopCtx, wait) != nil {
				return true, started, nil
			}
			// The work context is checked too: a context's Done closes before
			// its children are cancelled, so a drain timeout that fires at once
			// may cancel the work before this partition's stop context shows
			// the stop. No attempt starts with a cancelled context.
			if w.stopCtx.Err() != nil || w.workCtx.Err() != nil {
				return true, started, nil
			}

			// One attempt: persist in_progress (the attempt counts from here).
			if !w.lock() {
				return true, started, nil
			}
			st = &w.cp.Batch.Records[w.state(r.Pointer)]
			now = cfg.clock.Now()
			attempt = w.markInProgress(st, now)
			if err := w.saveAt(now); err != nil {
				w.mu.Unlock()
				return true, started, err
			}
			w.mu.Unlock()
			if obs {
				w.observe(Event{Kind: EventAttemptStarted, Record: r, Attempt: attempt, Time: now})
			}
		}

		herr := w.call(r)

		if !w.lock() {
			return true, started, nil
		}
		end := cfg.clock.Now()
		st := &w.cp.Batch.Records[w.state(r.Pointer)]
		var out outcome
		switch {
		case herr == nil:
			out = outSucceeded
			st.Status = checkpoint.Succeeded
			w.cp.Counts.Succeeded++
		case isSkip(herr):
			out = outSkipped
			st.Status = checkpoint.Skipped
			st.Reason = skipReason(herr)
			w.cp.Counts.Skipped++
		default:
			st.AddError(attempt, end, herr.Error())
			st.Status = checkpoint.Failed
			if IsPermanent(herr) || attempt >= cfg.retry.MaxAttempts {
				out = outExhausted
				st.Exhausted = true
				st.Reason = "exhausted"
				if IsPermanent(herr) {
					st.Reason = "permanent"
				}
			} else {
				out = outRetry
				st.NextRetry = st.LastAttempt.Add(cfg.retry.Backoff(attempt, cfg.rand))
				w.cp.Counts.Retries++
			}
		}
		delay := st.NextRetry.Sub(end)
		// The next record's in_progress mark rides on this save (see the
		// doc comment). The stop is checked here, before the save: once it
		// is persisted, the attempt is started and its handler runs.
		var note commitNote
		var err error
		chain := (out == outSucceeded || out == outSkipped) && next != nil && !w.halted &&
			w.stopCtx.Err() == nil && w.workCtx.Err() == nil
		switch {
		case chain && w.onlyState(r, st):
			// The steady state: r, the oldest unfinished record, is the
			// batch's only state. Its slot becomes next's, in_progress,
			// and the commit moves over r: the checkpoint addState, advance
			// and markInProgress would make, without their searches.
			before := w.cp.Committed
			w.cp.Committed = r.Pointer
			w.next++
			*st = checkpoint.RecordState{Pointer: next.Pointer, ID: next.ID}
			started = attemptStart{ok: true, attempt: w.markInProgress(st, end), at: end}
			note, err = w.saveNoting(before, end)
		case chain && !w.committed(next) && w.state(next.Pointer) < 0:
			j := w.addState(next)
			started = attemptStart{ok: true, attempt: w.markInProgress(&w.cp.Batch.Records[j], end), at: end}
			fallthrough
		default:
			note, err = w.commitAndSaveAt(end)
		}
		w.mu.Unlock()
		if err != nil {
			return true, attemptStart{}, err
		}
		switch out {
		case outSucceeded, outSkipped:
			if obs {
				if out == outSucceeded {
					w.observe(Event{Kind: EventAttemptSucceeded, Record: r, Attempt: attempt, Elapsed: end.Sub(now), Time: end})
				} else {
					w.observe(Event{Kind: EventSkipped, Record: r, Attempt: attempt, Err: herr, Elapsed: end.Sub(now), Time: end})
				}
				w.report(note)
				if started.ok {
					w.observe(Event{Kind: EventAttemptStarted, Record: next, Attempt: started.attempt, Time: end})
				}
			}
			return false, started, nil
		case outRetry:
			w.observe(Event{Kind: EventAttemptFailed, Record: r, Attempt: attempt, Err: herr, Delay: delay, Elapsed: end.Sub(now), Time: end})
		case outExhausted:
			w.observe(Event{Kind: EventAttemptFailed, Record: r, Attempt: attempt, Err: herr, Elapsed: end.Sub(now), Time: end, Final: true})
			stop, err := w.exhaust(r)
			return stop, attemptStart{}, err
		}
	}
}

// onlyState reports whether st, the state of r, is the batch's only record
// state and r the oldest record not committed: then r's final outcome
// commits it, and the record after it in the batch has no state yet. The
// caller holds w.mu.
func (w *partitionWorker) onlyState(r *Record, st *checkpoint.RecordState) bool {
	b := w.cp.Batch
	return len(b.Records) == 1 && &b.Records[0] == st && w.next < len(w.recs) && &w.recs[w.next] == r
}

// isSkip reports whether a handler error is a SkipError. It and
// skipReason keep the errors.As target off runRecord's frame: a target
// declared there escapes to the heap on every record, error or not.
func isSkip(err error) bool {
	var skip *SkipError
	return errors.As(err, &skip)
}

// skipReason returns the reason of the SkipError in err.
func skipReason(err error) string {
	var skip *SkipError
	if errors.As(err, &skip) {
		return skip.Reason
	}
	return ""
}

// markInProgress starts an attempt of a record in the checkpoint (not yet
// saved) at now and returns its number. The caller holds w.mu.
func (w *partitionWorker) markInProgress(st *checkpoint.RecordState, now time.Time) int {
	st.Status = checkpoint.InProgress
	st.Attempts++
	st.LastAttempt = now
	if st.FirstAttempt.IsZero() {
		st.FirstAttempt = now
	}
	st.NextRetry = time.Time{}
	return st.Attempts
}

// call runs the handler once, turning a panic into an error.
func (w *partitionWorker) call(r *Record) (err error) {
	ctx := w.workCtx
	if w.c.cfg.attemptTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, w.c.cfg.attemptTimeout)
		defer cancel()
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handler panic: %v", p)
		}
	}()
	return w.c.h(ctx, r)
}

// exhaust dead-letters the record, or halts the partition at it.
func (w *partitionWorker) exhaust(r *Record) (stop bool, err error) {
	cfg := &w.c.cfg
	reason := ""
	var dlqErr error
	if cfg.onExhausted == DeadLetter {
		if !w.lock() {
			return true, nil
		}
		env := w.envelope(r, &w.cp.Batch.Records[w.state(r.Pointer)])
		w.mu.Unlock()
		dlqErr = w.writeDLQ(env)
		if dlqErr == nil {
			if !w.lock() {
				return true, nil
			}
			st := &w.cp.Batch.Records[w.state(r.Pointer)]
			st.Status = checkpoint.DeadLettered
			w.cp.Counts.DeadLettered++
			attempts := st.Attempts
			note, err := w.commitAndSave()
			w.mu.Unlock()
			if err != nil {
				return true, err
			}
			w.observe(Event{Kind: EventDeadLettered, Record: r, Attempt: attempts})
			w.report(note)
			return false, nil
		}
		if w.workCtx.Err() != nil {
			return true, nil // stopping: the record stays exhausted and is dead-lettered on restart
		}
		reason = "DLQ unavailable: " + dlqErr.Error()
	}
	if !w.lock() {
		return true, nil
	}
	st := &w.cp.Batch.Records[w.state(r.Pointer)]
	if reason == "" {
		reason = fmt.Sprintf("%s after %d attempt(s): %s", st.Reason, st.Attempts, st.LastError())
	}
	st.Status = checkpoint.Halted
	st.Reason = reason
	if err := w.save(); err != nil {
		w.mu.Unlock()
		return true, err
	}
	w.halted = true
	attempts := st.Attempts
	w.mu.Unlock()
	herr := fmt.Errorf("%w: %s", ErrHalted, reason)
	if dlqErr != nil {
		herr = fmt.Errorf("%w: %w", ErrHalted, dlqErr)
	}
	w.observe(Event{Kind: EventHalted, Record: r, Attempt: attempts, Err: herr})
	return true, nil
}

func (w *partitionWorker) envelope(r *Record, st *checkpoint.RecordState) *dlq.Envelope {
	text := w.c.codec.Format(w.c.s.Name(), w.id, r.Pointer)
	scheme, _, _ := strings.Cut(text, ":")
	env := &dlq.Envelope{
		Version: dlq.Version,
		ID:      r.ID,
		Key:     r.Key,
		Value:   r.Value,
		Time:    r.Time,
		Source: dlq.Source{
			Scheme:      scheme,
			Stream:      w.c.s.Name(),
			Partition:   w.id,
			Pointer:     r.Pointer,
			PointerText: text,
		},
		Consumer:       w.c.cfg.name,
		Attempts:       st.Attempts,
		Errors:         append([]checkpoint.AttemptError(nil), st.Errors...),
		Reason:         st.Reason,
		FirstAttempt:   st.FirstAttempt,
		LastAttempt:    st.LastAttempt,
		DeadLetteredAt: w.c.cfg.clock.Now(),
	}
	for _, h := range r.Headers {
		env.Headers = append(env.Headers, dlq.Header{Key: h.Key, Value: h.Value})
	}
	return env
}

// writeDLQ writes the envelope with the DLQ retry policy.
func (w *partitionWorker) writeDLQ(env *dlq.Envelope) error {
	p := w.c.cfg.dlqRetry
	var err error
	for attempt := 1; ; attempt++ {
		if err = w.c.cfg.dlq.Put(w.workCtx, env); err == nil {
			return nil
		}
		if attempt >= p.MaxAttempts || w.c.cfg.clock.Sleep(w.workCtx, p.Backoff(attempt, w.c.cfg.rand)) != nil {
			return fmt.Errorf("write DLQ envelope for %s after %d attempt(s): %w", env.Source.PointerText, attempt, err)
		}
	}
}
