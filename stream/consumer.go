package stream

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/dlq"
	"github.com/unistream-go/unistream/stream/driver"
)

// Consumer reads every partition of a stream from its checkpoint and runs a
// handler per record, with the contract of DESIGN.md section 4: persisted
// batches, persisted attempts, retry with backoff, DLQ or durable halt, a
// commit that never passes a gap, and a graceful stop.
//
// Create one with NewConsumer or OpenConsumer, call Run, and Close it.
type Consumer struct {
	s       driver.Stream
	ownsS   bool
	h       Handler
	cfg     consumerConfig
	codec   driver.PointerCodec
	running sync.Mutex // held by Run
	mu      sync.Mutex
	closed  bool
}

// NewConsumer returns a consumer of s that runs h for each record. The
// consumer does not close s.
func NewConsumer(s driver.Stream, h Handler, opts ...ConsumerOption) (*Consumer, error) {
	if s == nil {
		return nil, &OptionError{Option: "NewConsumer stream", Value: nil, Expected: "a non-nil driver.Stream"}
	}
	if h == nil {
		return nil, &OptionError{Option: "NewConsumer handler", Value: nil, Expected: "a non-nil Handler"}
	}
	cfg := defaultConsumerConfig()
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if cfg.onExhausted == DeadLetter && cfg.dlq == nil {
		return nil, &OptionError{Option: "WithDLQ", Value: nil,
			Expected: "a DLQ sink when records that exhaust their attempts are dead-lettered (the default); or choose WithOnExhausted(stream.Halt)"}
	}
	if cfg.store == nil {
		cfg.store = checkpoint.NewMemoryStore()
	}
	if cfg.group != "" {
		if _, ok := s.(driver.Grouper); !ok {
			return nil, errNoGroups(s, cfg.group)
		}
		if !cfg.nameSet {
			cfg.name = cfg.group
		}
	}
	if cfg.join != nil && cfg.partitions != nil {
		return nil, &OptionError{Option: "WithPartitions", Value: "a partition list",
			Expected: "no partition list when a group assigns the partitions (WithGroup or leases)"}
	}
	return &Consumer{s: s, h: h, cfg: cfg, codec: s.Codec()}, nil
}

// OpenConsumer opens the stream at rawURL and returns a consumer of it that
// owns the stream: Close closes it.
func OpenConsumer(ctx context.Context, rawURL string, h Handler, opts ...ConsumerOption) (*Consumer, error) {
	s, err := Open(ctx, rawURL)
	if err != nil {
		return nil, err
	}
	c, err := NewConsumer(s, h, opts...)
	if err != nil {
		s.Close()
		return nil, err
	}
	c.ownsS = true
	return c, nil
}

// Stream returns the consumer's stream.
func (c *Consumer) Stream() driver.Stream { return c.s }

// Name returns the consumer name.
func (c *Consumer) Name() string { return c.cfg.name }

// Close releases the consumer (and the stream, if OpenConsumer opened it).
// Stop a running consumer by cancelling Run's context first.
func (c *Consumer) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	if c.ownsS {
		return c.s.Close()
	}
	return nil
}

// partResult is what a partition worker reports when it returns.
type partResult struct {
	id       string
	finished bool
	err      error
}

// Run consumes until ctx is cancelled, then stops fetching, lets in-flight
// handlers finish (bounded by the drain timeout), persists, and returns nil.
// It returns an error if a partition cannot go on (a checkpoint store or
// backend failure that outlived its retries, or a lost compare-and-swap);
// the other partitions are stopped gracefully first. A halted partition is
// not an error: it waits for an operator while the others go on.
//
// In a group (WithGroup, or leases), Run joins the group and runs the
// partitions the group assigns, handing them over when it rebalances; when
// it stops it leaves the group, revoking its partitions gracefully.
func (c *Consumer) Run(ctx context.Context) error {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if !c.running.TryLock() {
		return errors.New("stream: Consumer.Run is already running")
	}
	defer c.running.Unlock()

	// stopCtx is cancelled on a graceful stop or a fatal error: no new work.
	// workCtx (handlers, saves, DLQ writes) outlives it by the drain timeout.
	stopCtx, stop := context.WithCancel(ctx)
	defer stop()
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	drained := make(chan struct{})
	var wg sync.WaitGroup
	go func() { // owned by Run: cancels work after the drain timeout
		select {
		case <-stopCtx.Done():
			t := time.NewTimer(c.cfg.drainTimeout)
			defer t.Stop()
			select {
			case <-t.C:
				cancelWork()
			case <-drained:
			}
		case <-drained:
		}
	}()
	defer close(drained)

	if c.cfg.join != nil {
		return c.runGroup(ctx, stopCtx, stop, workCtx)
	}

	results := make(chan partResult)
	started := map[string]bool{}
	finished := map[string]bool{}
	running := 0
	var firstErr error
	refresh := time.NewTimer(0)
	defer refresh.Stop()

	scan := func() error {
		parts, err := c.s.Partitions(stopCtx)
		if err != nil {
			return err
		}
		known := make(map[string]bool, len(parts))
		for _, p := range parts {
			known[p.ID] = true
		}
		for _, p := range parts {
			if started[p.ID] || (c.cfg.partitions != nil && !c.cfg.partitions[p.ID]) {
				continue
			}
			ready := true
			for _, parent := range p.Parents {
				// A parent no longer listed has expired: nothing left to read.
				if known[parent] && !finished[parent] {
					ready = false
				}
			}
			if !ready {
				continue
			}
			started[p.ID] = true
			running++
			wg.Add(1)
			pw := &partitionWorker{c: c, id: p.ID, stopCtx: stopCtx, workCtx: workCtx, persistCtx: context.WithoutCancel(workCtx)}
			go func() {
				defer wg.Done()
				fin, err := pw.run()
				results <- partResult{id: pw.id, finished: fin, err: err}
			}()
		}
		return nil
	}

	listFailures := 0
	for stopCtx.Err() == nil {
		select {
		case <-stopCtx.Done():
		case <-refresh.C:
			next := c.cfg.partitionRefresh
			if err := scan(); err != nil && stopCtx.Err() == nil {
				// Like a failed fetch: wait and list again, never give up.
				listFailures++
				next = c.cfg.fetchRetry.Backoff(listFailures, c.cfg.rand)
				if c.cfg.observer != nil {
					c.cfg.observer.Observe(Event{Kind: EventFetchError, Time: c.cfg.clock.Now(), Stream: c.s.Name(),
						Err: fmt.Errorf("stream: list partitions of %s: %w", c.s.Name(), err), Attempt: listFailures, Delay: next})
				}
			} else {
				listFailures = 0
			}
			refresh.Reset(next)
		case r := <-results:
			running--
			if r.err != nil {
				if firstErr == nil {
					firstErr = r.err
				}
				stop()
				break
			}
			if r.finished {
				finished[r.id] = true
				if !refresh.Stop() {
					select {
					case <-refresh.C:
					default:
					}
				}
				refresh.Reset(0)
			}
		}
	}
	for running > 0 {
		r := <-results
		running--
		if r.err != nil && firstErr == nil {
			firstErr = r.err
		}
	}
	wg.Wait()
	return firstErr
}

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

func (w *partitionWorker) observe(e Event) {
	if w.c.cfg.observer == nil {
		return
	}
	e.Stream, e.Partition = w.c.s.Name(), w.id
	if e.Time.IsZero() {
		e.Time = w.c.cfg.clock.Now()
	}
	w.c.cfg.observer.Observe(e)
}

// run processes the partition until stopped, finished or failed.
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
	if cp.Finished {
		return true, nil
	}
	if err := w.validateCheckpoint(); err != nil {
		return false, err
	}
	if cp.Batch != nil {
		w.seq = cp.Batch.Seq
		if err := w.recoverBatch(); err != nil {
			return false, err
		}
	}
	for w.stopCtx.Err() == nil {
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

// load reads the partition's checkpoint, retrying store errors with the
// fetch backoff: a store outage pauses the partition, it does not end the
// run. Corrupt data is not retried. It returns (nil, nil) when the consumer
// stops first.
func (w *partitionWorker) load() (*checkpoint.Checkpoint, error) {
	for failures := 0; ; {
		cp, err := w.c.cfg.store.Load(w.workCtx, w.key())
		if err == nil {
			return cp, nil
		}
		if errors.Is(err, checkpoint.ErrCorrupt) {
			return nil, fmt.Errorf("stream: load checkpoint %s: %w", w.key(), err)
		}
		failures++
		d := w.c.cfg.fetchRetry.Backoff(failures, w.c.cfg.rand)
		w.observe(Event{Kind: EventCheckpointError, Err: err, Attempt: failures, Delay: d})
		if w.c.cfg.clock.Sleep(w.stopCtx, d) != nil {
			return nil, nil
		}
	}
}

// validateCheckpoint checks the loaded pointers with the stream's codec, so a
// corrupt or foreign checkpoint is an error, not a silent restart.
func (w *partitionWorker) validateCheckpoint() error {
	check := func(what string, p []byte) error {
		if p == nil {
			return nil
		}
		if _, err := w.c.codec.Decode(p); err != nil {
			return fmt.Errorf("stream: checkpoint %s: %s pointer: %w", w.key(), what, err)
		}
		return nil
	}
	if err := check("committed", w.cp.Committed); err != nil {
		return err
	}
	if b := w.cp.Batch; b != nil {
		if b.First == nil || b.Last == nil {
			return fmt.Errorf("stream: checkpoint %s: batch without first or last pointer: %w", w.key(), checkpoint.ErrCorrupt)
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

func (w *partitionWorker) openReader() error {
	start := w.start
	if w.read != nil {
		start = After(w.read)
	}
	r, err := w.c.s.OpenReader(w.workCtx, w.id, start)
	if err != nil {
		return fmt.Errorf("stream: open reader of %s partition %s at %s: %w", w.c.s.Name(), w.id, start.Kind, err)
	}
	w.reader = r
	return nil
}

// Reader errors other than these are transient: fetch retries them.
func fatalReadError(err error) bool {
	return errors.Is(err, driver.ErrPartitionFinished) || errors.Is(err, driver.ErrPointerNotFound)
}

// reopenAfter is how many failed fetches in a row make the worker close
// and reopen its reader, from the last record it returned.
const reopenAfter = 3

// fetch returns up to max records, from the lookahead buffer first. It
// opens the reader if needed, and retries transient backend errors with
// the fetch backoff until the consumer stops (then it returns the stop's
// error): a broker outage pauses the partition, it does not end the run.
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
		w.observe(Event{Kind: EventFetchError, Err: err, Attempt: failures, Delay: d})
		if failures%reopenAfter == 0 && w.reader != nil {
			w.reader.Close() // its error adds nothing: the reader is being replaced
			w.reader = nil
		}
		if w.c.cfg.clock.Sleep(w.stopCtx, d) != nil {
			return nil, w.stopCtx.Err()
		}
	}
}

// recoverBatch re-fetches the unfinished batch of a loaded checkpoint.
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
	return nil
}

func (w *partitionWorker) setBatch(recs []Record) {
	w.recs, w.next = recs, 0
	w.batchT = w.c.cfg.clock.Now()
	if w.c.cfg.observer != nil {
		w.observe(Event{Kind: EventBatchFetched, Count: len(recs), Time: w.batchT, Lag: w.lag()})
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
		if err := w.save(); err != nil {
			return false, false, err
		}
		w.observe(Event{Kind: EventPartitionFinished})
		return false, true, nil
	}
	if err != nil {
		if w.stopCtx.Err() != nil {
			return false, false, nil
		}
		return false, false, fmt.Errorf("stream: fetch %s partition %s: %w", w.c.s.Name(), w.id, err)
	}
	if len(recs) == 0 {
		return false, false, nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seq++
	w.cp.Batch = &checkpoint.Batch{Seq: w.seq, First: recs[0].Pointer, Last: recs[len(recs)-1].Pointer, Size: len(recs)}
	if err := w.save(); err != nil {
		return false, false, err
	}
	w.setBatch(recs)
	return true, false, nil
}

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
		note, err := w.commitAndSave()
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

// errPartitionLost ends the worker of a partition the group took away
// without a handover: its progress is no longer this member's to save.
var errPartitionLost = errors.New("the partition was lost to the group (no handover): not saved")

// groupRun serves Run in group mode: it is the driver.Rebalance the
// membership calls, and it owns the partition workers it starts. Each
// owned partition has its own stop and work contexts, children of Run's,
// so that one partition can be drained (Revoked) or dropped (Lost) while
// the others go on.
type groupRun struct {
	c       *Consumer
	stopCtx context.Context // Run's: done when Run stops or fails
	workCtx context.Context // Run's: done after Run's drain timeout
	stop    context.CancelFunc

	mu       sync.Mutex
	owned    map[string]*ownedPartition
	firstErr error
	wg       sync.WaitGroup
}

// ownedPartition is one partition a group member runs.
type ownedPartition struct {
	id         string
	stop       context.CancelFunc // stops fetching and new attempts
	cancelWork context.CancelFunc // cancels in-flight handlers
	lost       atomic.Bool        // set by Lost: saves are refused
	done       chan struct{}      // closed when the worker has returned
}

var _ driver.Rebalance = (*groupRun)(nil)

// runGroup is Run in group mode: join, serve rebalances until stopped,
// leave (which revokes every partition gracefully), and wait.
func (c *Consumer) runGroup(ctx, stopCtx context.Context, stop context.CancelFunc, workCtx context.Context) error {
	g := &groupRun{c: c, stopCtx: stopCtx, workCtx: workCtx, stop: stop, owned: map[string]*ownedPartition{}}
	m, err := c.cfg.join(stopCtx, c, g)
	if err != nil {
		return fmt.Errorf("stream: consumer %s: join the group of %s: %w", c.cfg.name, c.s.Name(), err)
	}
	if m == nil {
		return fmt.Errorf("stream: consumer %s: join the group of %s: no membership returned", c.cfg.name, c.s.Name())
	}
	<-stopCtx.Done()
	bg := context.WithoutCancel(ctx)
	lerr := m.Leave(bg)
	// Leave revokes what it hands back; stop anything it did not.
	g.Revoked(bg, g.ownedIDs())
	g.wg.Wait()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.firstErr != nil {
		return g.firstErr
	}
	if lerr != nil {
		return fmt.Errorf("stream: consumer %s: leave the group of %s: %w", c.cfg.name, c.s.Name(), lerr)
	}
	return nil
}

// fail records a partition's fatal error and stops Run.
func (g *groupRun) fail(err error) {
	g.mu.Lock()
	if g.firstErr == nil {
		g.firstErr = err
	}
	g.mu.Unlock()
	g.stop()
}

func (g *groupRun) ownedIDs() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	ids := make([]string, 0, len(g.owned))
	for id := range g.owned {
		ids = append(ids, id)
	}
	return ids
}

// take removes the named partitions from the owned set and returns them.
func (g *groupRun) take(ids []string) []*ownedPartition {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []*ownedPartition
	for _, id := range ids {
		if op := g.owned[id]; op != nil {
			delete(g.owned, id)
			out = append(out, op)
		}
	}
	return out
}

// Assigned starts a worker for each partition not already running. After
// Run has begun to stop it starts nothing: the leave hands them back.
func (g *groupRun) Assigned(_ context.Context, partitions []string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopCtx.Err() != nil {
		return
	}
	for _, id := range partitions {
		if g.owned[id] != nil {
			continue
		}
		pstop, stop := context.WithCancel(g.stopCtx)
		pwork, cancelWork := context.WithCancel(g.workCtx)
		op := &ownedPartition{id: id, stop: stop, cancelWork: cancelWork, done: make(chan struct{})}
		g.owned[id] = op
		g.wg.Add(1)
		go g.serve(op, pstop, pwork)
	}
}

// Revoked stops the partitions' fetching, lets their in-flight handlers
// finish (bounded by the drain timeout, or at once if ctx is done) and
// waits for their workers, which persist before they return.
func (g *groupRun) Revoked(ctx context.Context, partitions []string) {
	ops := g.take(partitions)
	if len(ops) == 0 {
		return
	}
	for _, op := range ops {
		op.stop()
	}
	cancelAll := func() {
		for _, op := range ops {
			op.cancelWork()
		}
	}
	t := time.AfterFunc(g.c.cfg.drainTimeout, cancelAll)
	defer t.Stop()
	defer context.AfterFunc(ctx, cancelAll)()
	for _, op := range ops {
		<-op.done
	}
}

// Lost stops the partitions at once: fetching, handlers and saves.
func (g *groupRun) Lost(_ context.Context, partitions []string) {
	ops := g.take(partitions)
	for _, op := range ops {
		op.lost.Store(true)
		op.stop()
		op.cancelWork()
	}
	for _, op := range ops {
		<-op.done
	}
}

// serve runs one owned partition until it is revoked, lost, finished, or
// Run stops. A compare-and-swap conflict (another member wrote the
// checkpoint, as happens around a rebalance) reloads the checkpoint after
// a backoff instead of ending Run: the group decides who owns the
// partition, and will revoke it if it is no longer ours.
func (g *groupRun) serve(op *ownedPartition, pstop, pwork context.Context) {
	defer g.wg.Done()
	defer close(op.done)
	defer op.stop()
	defer op.cancelWork()
	c := g.c
	if !g.waitParents(op.id, pstop) {
		return
	}
	for conflicts := 0; pstop.Err() == nil; {
		w := &partitionWorker{c: c, id: op.id, stopCtx: pstop, workCtx: pwork, persistCtx: context.WithoutCancel(pwork), lost: &op.lost}
		_, err := w.run()
		switch {
		case err == nil || op.lost.Load():
			return // stopped, finished, or lost
		case errors.Is(err, checkpoint.ErrConflict):
			conflicts++
			d := c.cfg.fetchRetry.Backoff(conflicts, c.cfg.rand)
			w.observe(Event{Kind: EventCheckpointError, Err: fmt.Errorf("%w (reloading the checkpoint while the group assigns the partition here)", err), Attempt: conflicts, Delay: d})
			if c.cfg.clock.Sleep(pstop, d) != nil {
				return
			}
		default:
			g.fail(err)
			return
		}
	}
}

// waitParents waits until the parents of a split or merged partition are
// finished (their checkpoints say so), as standalone Run does before it
// starts a child: a group may assign a child before its parents are done.
// It returns false if the partition stopped first.
func (g *groupRun) waitParents(id string, pstop context.Context) bool {
	c := g.c
	var parents, known []string
	for failures := 0; ; {
		parts, err := c.s.Partitions(pstop)
		if err == nil {
			for _, p := range parts {
				known = append(known, p.ID)
				if p.ID == id {
					parents = p.Parents
				}
			}
			break
		}
		if pstop.Err() != nil {
			return false
		}
		failures++
		d := c.cfg.fetchRetry.Backoff(failures, c.cfg.rand)
		if c.cfg.observer != nil {
			c.cfg.observer.Observe(Event{Kind: EventFetchError, Time: c.cfg.clock.Now(), Stream: c.s.Name(), Partition: id,
				Err: fmt.Errorf("stream: list partitions of %s: %w", c.s.Name(), err), Attempt: failures, Delay: d})
		}
		if c.cfg.clock.Sleep(pstop, d) != nil {
			return false
		}
	}
	for _, parent := range parents {
		if !slices.Contains(known, parent) {
			continue // expired: nothing left to read
		}
		for {
			cp, err := c.cfg.store.Load(pstop, checkpoint.Key{Consumer: c.cfg.name, Stream: c.s.Name(), Partition: parent})
			if err == nil && cp.Finished {
				break
			}
			if c.cfg.clock.Sleep(pstop, c.cfg.partitionRefresh) != nil {
				return false
			}
		}
	}
	return true
}
