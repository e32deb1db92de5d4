package stream

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/unistream-go/unistream/stream/driver"
)

// Consumer reads every partition of a stream from its checkpoint and runs a
// handler per record, with the contract of docs/design.md section 4:
// persisted batches, commits at the cadence of WithCommit (by default per
// batch), persisted attempts, retry with backoff, DLQ or durable halt, a
// commit that never passes a gap, careful mode that isolates a record
// that crashes the process, checkpoint store outages ridden out, and a
// graceful stop.
//
// Create one with NewConsumer or OpenConsumer, call Run, and Close it.
type Consumer struct {
	s       *Stream
	ownsS   bool
	h       Handler
	cfg     consumerConfig
	codec   driver.PointerCodec
	running sync.Mutex // held by Run
	iso     *isolation // careful attempts run alone
	mu      sync.Mutex
	closed  bool
}

// NewConsumer returns a consumer of s that runs h for each record. The
// consumer does not close s.
func NewConsumer(s *Stream, h Handler, opts ...ConsumerOption) (*Consumer, error) {
	if s == nil || s.d == nil {
		return nil, &OptionError{Option: "NewConsumer stream", Value: nil, Expected: "a non-nil *stream.Stream (from stream.Open or stream.NewStream)"}
	}
	if h == nil {
		return nil, &OptionError{Option: "NewConsumer handler", Value: nil, Expected: "a non-nil Handler"}
	}
	cfg := defaultConsumerConfig()
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o.applyToConsumer(&cfg); err != nil {
			return nil, err
		}
	}
	cfg.logs = newLogObserver(cfg.logger)
	cfg.events = newEventMask(cfg.observer, cfg.logs)
	if cfg.onExhausted == DeadLetter && cfg.dlq == nil {
		return nil, &OptionError{Option: "WithDLQ", Value: nil,
			Expected: "a DLQ sink when records that exhaust their attempts are dead-lettered (the default); or choose WithOnExhausted(stream.Halt)"}
	}
	if cfg.store == nil {
		// As a producer needs WithWAL or WithoutWAL: where progress is kept
		// decides what a restart repeats, so it is never chosen silently.
		return nil, &OptionError{Option: "WithCheckpointStore", Value: nil,
			Expected: "a checkpoint store: checkpoint.NewFileStore(dir) or another durable store; checkpoint.NewMemoryStore() keeps progress only while the process runs"}
	}
	if cfg.group != "" {
		if _, ok := s.d.(driver.Grouper); !ok {
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
	for i := len(cfg.middleware) - 1; i >= 0; i-- {
		if h = cfg.middleware[i](h); h == nil {
			return nil, &OptionError{Option: "WithHandlerMiddleware", Value: nil, Expected: "a middleware that returns a non-nil Handler"}
		}
	}
	return &Consumer{s: s, h: h, cfg: cfg, codec: s.d.Codec(), iso: newIsolation()}, nil
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
func (c *Consumer) Stream() *Stream { return c.s }

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
	defer c.drainTimer(stopCtx, cancelWork)()

	if c.cfg.join != nil {
		return c.runGroup(ctx, stopCtx, stop, workCtx)
	}
	pr := &partitionRunner{c: c, stopCtx: stopCtx, workCtx: workCtx, stop: stop,
		results: make(chan partResult), started: map[string]bool{}, finished: map[string]bool{}}
	return pr.run()
}

// drainTimer starts the goroutine, owned by Run, that cancels the work
// (cancelWork) a drain timeout after the stop; the function it returns,
// called when Run returns, ends it.
func (c *Consumer) drainTimer(stopCtx context.Context, cancelWork context.CancelFunc) (done func()) {
	drained := make(chan struct{})
	go func() {
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
	return func() { close(drained) }
}

// partitionRunner is Run without a group: it owns every partition of the
// stream (or of WithPartitions), starting a worker for each one whose
// parents are done, and lists the partitions again every refresh interval
// and whenever one finishes.
type partitionRunner struct {
	c                *Consumer
	stopCtx, workCtx context.Context
	stop             context.CancelFunc
	results          chan partResult
	started          map[string]bool
	finished         map[string]bool
	running          int
	wg               sync.WaitGroup
	firstErr         error
}

// run serves the partitions until the stop, then waits for their workers
// and returns the first worker's error.
func (pr *partitionRunner) run() error {
	c := pr.c
	refresh := time.NewTimer(0)
	defer refresh.Stop()
	listFailures := 0
	for pr.stopCtx.Err() == nil {
		select {
		case <-pr.stopCtx.Done():
		case <-refresh.C:
			next := c.cfg.partitionRefresh
			if err := pr.scan(); err != nil && pr.stopCtx.Err() == nil {
				if driver.IsPermanent(err) {
					// Refused for good (a deleted stream, denied access):
					// listing again cannot help.
					pr.fail(fmt.Errorf("stream: list partitions of %s: %w", c.s.Name(), err))
					break
				}
				// Like a failed fetch: wait and list again.
				listFailures++
				next = c.cfg.fetchRetry.Backoff(listFailures, c.cfg.rand)
				c.observe(&Event{Kind: EventFetchError, Stream: c.s.Name(),
					Err: fmt.Errorf("stream: list partitions of %s: %w", c.s.Name(), err), Attempt: listFailures, Delay: next})
			} else {
				listFailures = 0
			}
			refresh.Reset(next)
		case r := <-pr.results:
			if pr.collect(r) {
				// A partition finished: its children may start now.
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
	for pr.running > 0 {
		pr.collect(<-pr.results)
	}
	pr.wg.Wait()
	return pr.firstErr
}

// fail records err as Run's error, unless one came first, and stops Run.
func (pr *partitionRunner) fail(err error) {
	if pr.firstErr == nil {
		pr.firstErr = err
	}
	pr.stop()
}

// collect takes a worker's result: an error stops Run (the first one is
// Run's); it reports whether the partition finished.
func (pr *partitionRunner) collect(r partResult) (finished bool) {
	pr.running--
	if r.err != nil {
		pr.fail(r.err)
		return false
	}
	if r.finished {
		pr.finished[r.id] = true
	}
	return r.finished
}

// scan lists the partitions and starts a worker for each one not started
// yet, selected, and whose parents are done (a parent no longer listed has
// expired: nothing is left to read in it).
func (pr *partitionRunner) scan() error {
	c := pr.c
	parts, err := c.s.Partitions(pr.stopCtx)
	if err != nil {
		return err
	}
	known := make(map[string]bool, len(parts))
	for _, p := range parts {
		known[p.ID] = true
	}
	for _, p := range parts {
		if pr.started[p.ID] || (c.cfg.partitions != nil && !c.cfg.partitions[p.ID]) {
			continue
		}
		ready := true
		for _, parent := range p.Parents {
			if known[parent] && !pr.finished[parent] {
				ready = false
			}
		}
		if !ready {
			continue
		}
		pr.started[p.ID] = true
		pr.running++
		pr.wg.Add(1)
		pw := &partitionWorker{c: c, id: p.ID, stopCtx: pr.stopCtx, workCtx: pr.workCtx, persistCtx: context.WithoutCancel(pr.workCtx)}
		go func() {
			defer pr.wg.Done()
			fin, err := pw.run()
			pr.results <- partResult{id: pw.id, finished: fin, err: err}
		}()
	}
	return nil
}

// observe stamps e (Time, when zero) and gives it to the WithObserver
// observer and, for the kinds it logs, to the WithLogger one. It takes a
// pointer so that an event is copied once, into the observer's call, not
// at every step on the way (e does not escape).
func (c *Consumer) observe(e *Event) {
	if !c.cfg.events.has(e.Kind) {
		return
	}
	log := c.cfg.logs != nil && logged(e.Kind)
	if e.Time.IsZero() {
		e.Time = c.cfg.clock.Now()
	}
	if c.cfg.observer != nil {
		c.cfg.observer.Observe(*e)
	}
	if log {
		c.cfg.logs.Observe(*e)
	}
}
