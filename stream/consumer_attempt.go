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

// processBatch runs the handler over the current batch until it is final,
// halted, or the consumer stops; then it saves what is only in memory if
// the batch is not done (a halt, or a stop, left part of it).
//
// The batch runs in one of two modes:
//   - careful: every attempt is saved in_progress before its handler runs
//     and its outcome after (runRecord), one record at a time. This is
//     per-record mode (CommitPerRecord, where Concurrency still applies),
//     and the mode of a batch a crash interrupted (Batch.Careful), so that
//     a record that kills the process is charged for it and no other
//     record is.
//   - fast (the default): a record's first attempt runs without a save,
//     its success is kept in memory until the commit policy commits it
//     (runFast). Failures, skips, DLQ writes and halts are saved when they
//     happen, and every later attempt of a record is careful.
func (w *partitionWorker) processBatch() error {
	var err error
	perRecord := w.c.cfg.commit.perRecord()
	switch {
	case w.c.cfg.concurrency > 1 && (perRecord || !w.cp.Batch.Careful):
		err = w.processConcurrent(perRecord)
	case perRecord || w.cp.Batch.Careful:
		err = w.processCareful()
	default:
		err = w.processFast()
	}
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cp.Batch == nil {
		w.recs = nil
		return nil
	}
	// A stop saves in saveOnStop; a halt waits here for an operator, and
	// the other keys' successes since the last commit are saved first.
	if w.unsaved == 0 || w.broken || w.stopCtx.Err() != nil {
		return nil
	}
	note, err := w.save(w.c.cfg.clock.Now())
	w.report(note)
	return err
}

// processCareful runs the batch one record at a time, each attempt saved
// before and after its handler. The outcome of record i and the
// in_progress mark of record i+1 go in one save (see runRecord): pre
// carries the attempt that save started into the next iteration.
func (w *partitionWorker) processCareful() error {
	var pre attemptStart
	for i := w.next; i < len(w.recs) && !w.halted; i++ {
		var next *Record
		if i+1 < len(w.recs) {
			next = &w.recs[i+1]
		}
		stop, started, err := w.runRecord(&w.recs[i], next, pre)
		if err != nil || stop {
			return err
		}
		pre = started
	}
	if pre.ok {
		w.c.iso.leave(false) // never left chained, but the gate must not leak
	}
	return nil
}

// processFast runs the batch one record at a time in fast mode. The
// clock is read once per record: a record's end is the next one's start.
func (w *partitionWorker) processFast() error {
	t := w.c.cfg.clock.Now()
	fctx := w.fastContext()
	for i := w.next; i < len(w.recs) && !w.halted; i++ {
		stop, end, err := w.runFast(&w.recs[i], t, fctx)
		if err != nil || stop {
			return err
		}
		t = end
	}
	return nil
}

// processConcurrent runs the batch on up to Concurrency goroutines, in
// per-record mode (runRecord) or fast mode (runFast). Each
// goroutine pulls the next record in batch order, and no record more than
// a window of 4×Concurrency past the oldest unfinished one is started, so the
// finished-but-uncommitted records (each a checkpoint entry) stay few. A
// record whose order key is running waits behind it and is run next by the
// same goroutine, keeping per-key order. When a record halts (or the
// consumer stops), its key stops: the key's later records stay pending, the
// other keys go on.
func (w *partitionWorker) processConcurrent(perRecord bool) error {
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
	fctx := w.fastContext()
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
			var stop bool
			var err error
			if perRecord {
				stop, _, err = w.runRecord(&w.recs[i], nil, attemptStart{})
			} else {
				stop, _, err = w.runFast(&w.recs[i], w.c.cfg.clock.Now(), fctx)
			}
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
	ok          bool
	attempt     int
	at          time.Time
	interrupted int       // earlier attempts a crash interrupted
	first       time.Time // the record's first attempt
}

// info is the Attempt the handler of a sees. First is zero on a first
// attempt, as in the fast mode (see fastContext).
func (a *attemptStart) info() Attempt {
	info := Attempt{Number: a.attempt, Interrupted: a.interrupted}
	if a.attempt > 1 {
		info.First = a.first
	}
	return info
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
	for {
		a, isolated := pre, false // a chained attempt is never isolated
		pre = attemptStart{}
		if !a.ok {
			step, wait := w.examine(r)
			switch step {
			case stepDone:
				return false, attemptStart{}, nil
			case stepStop:
				return true, attemptStart{}, nil
			case stepExhaust:
				stop, err := w.exhaust(r)
				return stop, attemptStart{}, err
			}
			if a, isolated, stop, err = w.startAttempt(r, wait); stop || err != nil {
				return true, attemptStart{}, err
			}
		}
		herr := w.call(r, &attemptCtx{Context: w.workCtx, a: a.info()})
		out, started, stop, err := w.finishAttempt(r, next, a, herr, isolated)
		if stop || err != nil {
			return true, attemptStart{}, err
		}
		switch out {
		case outSucceeded, outSkipped:
			if started.ok && w.c.cfg.events.has(EventAttemptStarted) {
				w.observe(&Event{Kind: EventAttemptStarted, Record: next, Attempt: started.attempt, Time: started.at})
			}
			return false, started, nil
		case outExhausted:
			stop, err := w.exhaust(r)
			return stop, attemptStart{}, err
		}
		// outRetry: the next attempt, after its backoff.
	}
}

// recordStep is what the state of a record calls for before an attempt.
type recordStep uint8

const (
	stepRun     recordStep = iota // attempt it
	stepDone                      // it is final already: nothing to do
	stepStop                      // the partition stops (halted, or stopping)
	stepExhaust                   // its attempts are used up: dead-letter or halt it
)

// examine looks at r's state before an attempt: a record final already
// needs none; a halted one stops the partition; one interrupted by a crash
// (in_progress) counts that attempt as failed; one whose attempts are used
// up is exhausted; a failed one waits until its next retry time, returned
// as wait. A record without a state gets one.
func (w *partitionWorker) examine(r *Record) (step recordStep, wait time.Duration) {
	if !w.lock() {
		return stepStop, 0
	}
	step, wait, halted := w.examineLocked(r)
	w.mu.Unlock()
	if halted != nil {
		w.observe(halted)
	}
	return step, wait
}

// examineLocked is examine under w.mu; a halted record's event is returned
// to be observed after the lock is released.
func (w *partitionWorker) examineLocked(r *Record) (step recordStep, wait time.Duration, halted *Event) {
	cfg := &w.c.cfg
	if w.committed(r) {
		// Final already, and committed by another key group's progress.
		return stepDone, 0, nil
	}
	i := w.state(r.Pointer)
	if i < 0 {
		w.addState(r)
		return stepRun, 0, nil
	}
	st := &w.cp.Batch.Records[i]
	switch st.Status {
	case checkpoint.Succeeded, checkpoint.DeadLettered, checkpoint.Skipped:
		return stepDone, 0, nil
	case checkpoint.Halted:
		w.halted = true
		return stepStop, 0, &Event{Kind: EventHalted, Record: r, Attempt: st.Attempts, Err: fmt.Errorf("%w: %s", ErrHalted, st.Reason)}
	case checkpoint.InProgress:
		// A crash interrupted this attempt: it counts, and is retried.
		st.Status = checkpoint.Failed
		st.Interrupted++
		st.AddError(st.Attempts, cfg.clock.Now(), interruptedError)
		st.NextRetry = st.LastAttempt.Add(cfg.retry.Backoff(st.Attempts, cfg.rand))
	}
	if st.Status != checkpoint.Failed {
		return stepRun, 0, nil
	}
	if st.Exhausted || st.Attempts >= cfg.retry.MaxAttempts {
		if !st.Exhausted {
			st.Exhausted = true
			st.Reason = exhaustedReason(st)
		}
		return stepExhaust, 0, nil
	}
	return stepRun, st.NextRetry.Sub(cfg.clock.Now()), nil
}

// startAttempt waits out wait, then starts an attempt of r: it enters the
// isolation gate (held from this save to the outcome's, see isolation) and
// persists r in_progress, from which the attempt counts. stop reports that
// the partition is stopping (no attempt started, the gate not held).
func (w *partitionWorker) startAttempt(r *Record, wait time.Duration) (a attemptStart, isolated, stop bool, err error) {
	cfg := &w.c.cfg
	if wait > 0 && cfg.clock.Sleep(w.stopCtx, wait) != nil {
		return attemptStart{}, false, true, nil
	}
	// The work context is checked too: a context's Done closes before its
	// children are cancelled, so a drain timeout that fires at once may
	// cancel the work before this partition's stop context shows the stop.
	// No attempt starts with a cancelled context.
	if w.stopCtx.Err() != nil || w.workCtx.Err() != nil || !w.lock() {
		return attemptStart{}, false, true, nil
	}
	isolated = w.cp.Batch.Careful
	w.mu.Unlock()
	w.c.iso.enter(isolated)
	if !w.lock() {
		w.c.iso.leave(isolated)
		return attemptStart{}, false, true, nil
	}
	st := &w.cp.Batch.Records[w.state(r.Pointer)]
	now := cfg.clock.Now()
	a = w.markInProgress(st, now)
	note, err := w.save(now)
	w.mu.Unlock()
	if err != nil {
		w.c.iso.leave(isolated)
		return attemptStart{}, false, true, err
	}
	if cfg.observer != nil {
		if cfg.events.has(EventAttemptStarted) {
			w.observe(&Event{Kind: EventAttemptStarted, Record: r, Attempt: a.attempt, Time: now})
		}
		w.report(note)
	}
	return a, isolated, false, nil
}

// finishAttempt records the outcome of r's attempt a, whose handler
// returned herr, and saves it. When r succeeded or was skipped and next
// follows, next's in_progress mark rides on that save (see runRecord) and
// started describes next's attempt, which keeps the isolation gate;
// otherwise the gate is left. stop reports that the partition is stopping.
func (w *partitionWorker) finishAttempt(r, next *Record, a attemptStart, herr error, isolated bool) (out outcome, started attemptStart, stop bool, err error) {
	if !w.lock() {
		w.c.iso.leave(isolated)
		return 0, attemptStart{}, true, nil
	}
	end := w.c.cfg.clock.Now()
	st := &w.cp.Batch.Records[w.state(r.Pointer)]
	out = w.settle(st, a.attempt, herr, end)
	delay := st.NextRetry.Sub(end)
	// The stop is checked here, before the save: once next's in_progress
	// is persisted, its attempt is started and its handler runs. An
	// isolated attempt does not chain: the gate is left between two
	// records, so other partitions go on.
	var note commitNote
	chain := (out == outSucceeded || out == outSkipped) && next != nil && !w.halted && !isolated &&
		w.stopCtx.Err() == nil && w.workCtx.Err() == nil
	switch {
	case chain && w.onlyState(r, st):
		// The steady state: r, the oldest unfinished record, is the
		// batch's only state. Its slot becomes next's, in_progress, and
		// the commit moves over r: the checkpoint addState, advance and
		// markInProgress would make, without their searches.
		w.commitNext(end)
		*st = checkpoint.RecordState{Pointer: next.Pointer, ID: next.ID}
		started = w.markInProgress(st, end)
		note, err = w.save(end)
	case chain && !w.committed(next) && w.state(next.Pointer) < 0:
		j := w.addState(next)
		started = w.markInProgress(&w.cp.Batch.Records[j], end)
		fallthrough
	default:
		note, err = w.commitAndSave(end)
	}
	w.mu.Unlock()
	switch {
	case err != nil:
		w.c.iso.leave(isolated) // a chained attempt is not isolated
		return out, attemptStart{}, true, err
	case !started.ok:
		w.c.iso.leave(isolated)
	}
	w.reportOutcome(r, out, a.attempt, herr, a.at, end, delay, note)
	return out, started, false, nil
}

// settle records in st the outcome of attempt number attempt, which ended
// at end with the handler's error herr (nil: success), and counts it. The
// caller holds w.mu.
func (w *partitionWorker) settle(st *checkpoint.RecordState, attempt int, herr error, end time.Time) outcome {
	cfg := &w.c.cfg
	switch {
	case herr == nil:
		st.Status = checkpoint.Succeeded
		w.cp.Counts.Succeeded++
		return outSucceeded
	case isSkip(herr):
		st.Status = checkpoint.Skipped
		st.Reason = skipReason(herr)
		w.cp.Counts.Skipped++
		return outSkipped
	}
	st.AddError(attempt, end, herr.Error())
	st.Status = checkpoint.Failed
	if IsPermanent(herr) || attempt >= cfg.retry.MaxAttempts {
		st.Exhausted = true
		st.Reason = "exhausted"
		if IsPermanent(herr) {
			st.Reason = "permanent"
		}
		return outExhausted
	}
	st.NextRetry = st.LastAttempt.Add(cfg.retry.Backoff(attempt, cfg.rand))
	w.cp.Counts.Retries++
	return outRetry
}

// reportOutcome sends the events of a finished attempt that started at
// start: its outcome, then what its save made durable (note).
func (w *partitionWorker) reportOutcome(r *Record, out outcome, attempt int, herr error, start, end time.Time, delay time.Duration, note commitNote) {
	if w.c.cfg.observer == nil {
		return
	}
	e := Event{Record: r, Attempt: attempt, Elapsed: end.Sub(start), Time: end}
	switch out {
	case outSucceeded:
		e.Kind = EventAttemptSucceeded
	case outSkipped:
		e.Kind, e.Err = EventSkipped, herr
	case outRetry:
		e.Kind, e.Err, e.Delay = EventAttemptFailed, herr, delay
	case outExhausted:
		e.Kind, e.Err, e.Final = EventAttemptFailed, herr, true
	}
	w.observe(&e)
	w.report(note)
}

// runFast drives one record in fast mode, starting at start; it returns
// when the record is final, halted or stopped, and the time it ended. A
// record with a state (an earlier attempt failed, or a crash interrupted
// one) goes through runRecord, careful. A fresh record's first attempt
// runs without a save: the batch is saved Running, so a crash during it
// is detected on restart and the batch handled again carefully. Its
// success is kept in memory until the commit policy commits it (in the
// background, see saveAsync; the end of the batch is committed with the
// next batch's save); any other outcome is saved at once, with the
// progress kept until then, and a failed record's later attempts are
// careful.
//
// fctx is the handler's context (see fastContext).
func (w *partitionWorker) runFast(r *Record, start time.Time, fctx *attemptCtx) (stop bool, end time.Time, err error) {
	cfg := &w.c.cfg
	if !w.lock() {
		return true, start, nil
	}
	// The oldest record not committed is not committed: the steady state
	// skips the pointer comparison.
	if w.next >= len(w.recs) || (&w.recs[w.next] != r && w.committed(r)) {
		// Final already, and committed by another key group's progress.
		w.mu.Unlock()
		return false, start, nil
	}
	if len(w.cp.Batch.Records) > 0 && w.state(r.Pointer) >= 0 {
		w.mu.Unlock()
		stop, _, err := w.runRecord(r, nil, attemptStart{})
		return stop, cfg.clock.Now(), err
	}
	w.mu.Unlock()
	// As in runRecord: no attempt starts once the stop or the drain
	// timeout is seen, nor after a background save failed.
	if w.stopCtx.Err() != nil || w.workCtx.Err() != nil {
		return true, start, nil
	}
	if err := w.asyncErr(); err != nil {
		return true, start, err
	}
	if cfg.events.has(EventAttemptStarted) {
		w.observe(&Event{Kind: EventAttemptStarted, Record: r, Attempt: 1, Time: start})
	}

	w.c.iso.enterFast()
	herr := w.call(r, fctx)
	w.c.iso.leaveFast()

	end = cfg.clock.Now()
	if !w.lock() {
		return true, end, nil
	}
	out := outSucceeded
	var delay time.Duration
	if herr == nil && len(w.cp.Batch.Records) == 0 && &w.recs[w.next] == r {
		// The steady state: r is the oldest record not committed and the
		// batch has no state; the commit moves over it in memory.
		w.cp.Counts.Succeeded++
		w.commitNext(end)
	} else {
		st := &w.cp.Batch.Records[w.addState(r)]
		st.Attempts, st.FirstAttempt, st.LastAttempt = 1, start, start
		out = w.settle(st, 1, herr, end)
		delay = st.NextRetry.Sub(end)
		if out == outSucceeded || out == outSkipped {
			w.advance(end)
		}
	}
	w.unsaved++
	var note commitNote
	switch {
	case out != outSucceeded:
		note, err = w.save(end)
	case w.cp.Batch != nil && w.commitDue(end):
		// In the background, after the save in flight: the policy's
		// cadence is kept even when the store is slower than it.
		if err = w.collect(); err == nil {
			note, err = w.saveAsync(end)
		}
	}
	w.mu.Unlock()
	if err != nil {
		return true, end, err
	}
	w.reportOutcome(r, out, 1, herr, start, end, delay, note)
	switch out {
	case outRetry:
		stop, _, err := w.runRecord(r, nil, attemptStart{})
		return stop, cfg.clock.Now(), err
	case outExhausted:
		stop, err := w.exhaust(r)
		return stop, cfg.clock.Now(), err
	}
	return false, end, nil
}

// interruptedError is the attempt error of an attempt found in_progress
// when the checkpoint is loaded: the process died during its handler.
const interruptedError = "attempt interrupted by a crash: the consumer stopped during the handler (in_progress at restart)"

// exhaustedReason is the reason of a record whose attempts ran out: "crashed"
// when its last attempt was interrupted by a crash, saying how many were,
// and "exhausted" otherwise. The DLQ envelope and a halt carry it.
func exhaustedReason(st *checkpoint.RecordState) string {
	if st.LastError() != interruptedError {
		return "exhausted"
	}
	n := interruptedIn(st.Errors)
	return fmt.Sprintf("crashed: %d of the last %d attempt(s) were interrupted by a crash of the consumer", n, len(st.Errors))
}

// interruptedIn counts the attempts of errs that a crash interrupted.
func interruptedIn(errs []checkpoint.AttemptError) int {
	n := 0
	for i := range errs {
		if errs[i].Error == interruptedError {
			n++
		}
	}
	return n
}

// withReason gives st, an exhausted record's state, the reason its
// attempts give if it has none (a checkpoint saved by an earlier release, or
// edited), so that no DLQ envelope or halt goes without one; it returns st.
// The caller holds w.mu.
func withReason(st *checkpoint.RecordState) *checkpoint.RecordState {
	if st.Reason == "" {
		st.Reason = exhaustedReason(st)
	}
	return st
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
// saved) at now and returns it. The caller holds w.mu.
func (w *partitionWorker) markInProgress(st *checkpoint.RecordState, now time.Time) attemptStart {
	st.Status = checkpoint.InProgress
	st.Attempts++
	st.LastAttempt = now
	if st.FirstAttempt.IsZero() {
		st.FirstAttempt = now
	}
	st.NextRetry = time.Time{}
	if n := interruptedIn(st.Errors); n > st.Interrupted {
		// A checkpoint of an earlier release, which did not count them:
		// its errors still show the crashes (the last MaxErrors).
		st.Interrupted = n
	}
	return attemptStart{ok: true, attempt: st.Attempts, at: now, interrupted: st.Interrupted, first: st.FirstAttempt}
}

// fastContext returns the handler context of the fast mode's attempts,
// which are all first attempts: Attempt{Number: 1}. The batch's share it,
// so that they allocate nothing per record; it never changes, so a handler
// may keep its context after it returns.
func (w *partitionWorker) fastContext() *attemptCtx {
	return &attemptCtx{Context: w.workCtx, a: Attempt{Number: 1}}
}

// call runs the handler once with ctx, its context with the attempt
// (see AttemptOf), turning a panic into an error. The caller holds the
// isolation gate.
func (w *partitionWorker) call(r *Record, actx *attemptCtx) (err error) {
	var ctx context.Context = actx
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
		env := w.envelope(r, withReason(&w.cp.Batch.Records[w.state(r.Pointer)]))
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
			note, err := w.commitAndSave(w.c.cfg.clock.Now())
			w.mu.Unlock()
			if err != nil {
				return true, err
			}
			w.observe(&Event{Kind: EventDeadLettered, Record: r, Attempt: attempts})
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
	st := withReason(&w.cp.Batch.Records[w.state(r.Pointer)])
	switch {
	case reason != "":
	case strings.HasPrefix(st.Reason, "crashed: "):
		// The crash reason (exhaustedReason) counts the attempts and says
		// what ended them.
		reason = st.Reason
	default:
		reason = fmt.Sprintf("%s after %d attempt(s): %s", st.Reason, st.Attempts, st.LastError())
	}
	st.Status = checkpoint.Halted
	st.Reason = reason
	note, err := w.save(w.c.cfg.clock.Now())
	if err != nil {
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
	w.observe(&Event{Kind: EventHalted, Record: r, Attempt: attempts, Err: herr})
	w.report(note)
	return true, nil
}

func (w *partitionWorker) envelope(r *Record, st *checkpoint.RecordState) *dlq.Envelope {
	text := w.c.codec.Format(w.c.s.Name(), w.id, r.Pointer)
	scheme, _, _ := strings.Cut(text, ":")
	env := dlq.RecordEnvelope(r)
	env.Source = dlq.Source{Scheme: scheme, Stream: w.c.s.Name(), Partition: w.id, Pointer: r.Pointer, PointerText: text}
	env.Consumer = w.c.cfg.name
	env.Attempts = st.Attempts
	env.Errors = append([]checkpoint.AttemptError(nil), st.Errors...)
	env.Reason = st.Reason
	env.FirstAttempt, env.LastAttempt = st.FirstAttempt, st.LastAttempt
	env.DeadLetteredAt = w.c.cfg.clock.Now()
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
