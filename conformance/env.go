package conformance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/dlq"
	"github.com/unistream-go/unistream/stream/driver"
	"github.com/unistream-go/unistream/stream/streamtest"
)

// t0 is the fake clock's start and the base of record times. Record times
// are whole milliseconds, the precision every backend keeps.
var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// env is one scenario run: the harness, the T, the store kind and a fake
// clock for the consumers.
type env struct {
	t       T
	h       *Harness
	sf      StoreFactory
	timeout time.Duration
	poll    time.Duration
	clock   *streamtest.FakeClock
	lastURL string
	// groupStore is the store group members use by default.
	groupStore checkpoint.Store
	// plainReady says the scenario holds on a stream that declares
	// Capabilities.PlainRecords (see plainReady).
	plainReady bool
}

func newEnv(t T, h *Harness, sf StoreFactory) *env {
	e := &env{t: t, h: h, sf: sf, timeout: h.Timeout, poll: h.PollInterval, clock: streamtest.NewFakeClock(t0)}
	if e.timeout == 0 {
		e.timeout = 60 * time.Second
	}
	if e.poll == 0 {
		e.poll = time.Millisecond
	}
	return e
}

// need skips the scenario (or part) unless ok, naming the capability.
func (e *env) need(c Capability, ok bool, why string) {
	e.t.Helper()
	if !ok {
		e.t.Skipf("needs capability %s, not declared by backend %s (%s)", c, e.h.Name, why)
	}
}

// store returns a new store of the scenario's kind (a memory store for
// scenarios without a store dimension).
func (e *env) store() checkpoint.Store {
	e.t.Helper()
	if e.sf.New == nil {
		return checkpoint.NewMemoryStore()
	}
	s, err := e.sf.New(e.t)
	if err != nil {
		e.t.Fatalf("store %s: %v", e.sf.Name, err)
	}
	return s
}

// strm is a fresh stream of the backend and what the scenario wrote to it.
type strm struct {
	e     *env
	url   string
	s     driver.Stream // opened with stream.Open, closed at cleanup
	codec driver.PointerCodec
	caps  driver.Capabilities

	mu    sync.Mutex
	seq   int
	recs  map[string]driver.Record // id -> record as written, Partition and Pointer set
	order map[string][]string      // partition -> ids in write order
}

// newStream makes a fresh stream with n partitions and opens it.
func (e *env) newStream(n int) *strm {
	e.t.Helper()
	if err := e.h.ledger.reserve(n); err != nil {
		e.t.Fatalf("harness %s: NewStream(%d partitions): %v", e.h.Name, n, err)
	}
	url, err := e.h.NewStream(e.t, StreamSpec{Partitions: n})
	if err != nil {
		e.h.ledger.release(n)
		e.t.Fatalf("harness %s: NewStream(%d partitions): %v", e.h.Name, n, err)
	}
	// Registered before the stream is opened, so that it runs after
	// everything the scenario opens on the stream is closed; and before a
	// failed Open, which may have created the stream.
	e.track(url, n)
	s, err := openDriver(e.t.Context(), url)
	if err != nil {
		e.t.Fatalf("stream.Open(%s): %v", url, err)
	}
	e.t.Cleanup(func() { s.Close() })
	e.h.ledger.rename(url, s.Name())
	ps, err := s.Partitions(e.t.Context())
	if err != nil {
		e.t.Fatalf("%s: Partitions: %v", url, err)
	}
	if len(ps) != n {
		e.t.Fatalf("%s: a fresh stream with %d partitions lists %d: %+v", url, n, len(ps), ps)
	}
	caps := s.Capabilities()
	e.need(CapRecordMeta, !caps.PlainRecords || e.plainReady,
		"the stream writes plain records (Capabilities.PlainRecords): they come back without the producer's IDs, headers and event times, which this scenario checks")
	return &strm{e: e, url: url, s: s, codec: s.Codec(), caps: caps,
		recs: map[string]driver.Record{}, order: map[string][]string{}}
}

// name is the stream's name, as in checkpoint keys.
func (st *strm) name() string { return st.s.Name() }

// partitions lists the stream's partition ids.
func (st *strm) partitions() []string {
	st.e.t.Helper()
	ps, err := st.s.Partitions(context.Background())
	if err != nil {
		st.e.t.Fatalf("Partitions: %v", err)
	}
	ids := make([]string, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
	}
	return ids
}

// rec returns a test record with the given key; its id is "r000", "r001"...
func (st *strm) rec(key string) driver.Record {
	st.mu.Lock()
	id := fmt.Sprintf("r%03d", st.seq)
	n := st.seq
	st.seq++
	st.mu.Unlock()
	return driver.Record{ID: id, Key: []byte(key), Value: []byte("value of " + id), Time: t0.Add(time.Duration(n) * time.Second)}
}

// write writes records in one Write call through the driver and records
// where each landed; every record must succeed.
func (st *strm) write(recs ...driver.Record) []string {
	st.e.t.Helper()
	w, err := st.s.OpenWriter(context.Background())
	if err != nil {
		st.e.t.Fatalf("OpenWriter: %v", err)
	}
	defer w.Close()
	res := make([]driver.WriteResult, len(recs))
	if err := w.Write(context.Background(), recs, res); err != nil {
		st.e.t.Fatalf("Write of %d records: %v", len(recs), err)
	}
	ids := make([]string, len(recs))
	st.mu.Lock()
	defer st.mu.Unlock()
	for i, r := range res {
		if r.Err != nil {
			st.e.t.Fatalf("Write: record %d (%s): %v", i, recs[i].ID, r.Err)
		}
		if r.Partition == "" || r.Pointer == nil {
			st.e.t.Fatalf("Write: record %d (%s) succeeded without a partition or pointer: %+v", i, recs[i].ID, r)
		}
		rec := recs[i]
		rec.Partition, rec.Pointer = r.Partition, r.Pointer
		if st.caps.PlainRecords {
			// A plain record is read back with its position as its ID, no
			// headers and the time it was stored: track it by that ID.
			rec.ID, rec.Headers, rec.Time = st.codec.Format(st.name(), r.Partition, r.Pointer), nil, time.Time{}
		}
		st.recs[rec.ID] = rec
		st.order[r.Partition] = append(st.order[r.Partition], rec.ID)
		ids[i] = rec.ID
	}
	return ids
}

// writeKeys writes one record per key and returns their ids.
func (st *strm) writeKeys(keys ...string) []string {
	st.e.t.Helper()
	recs := make([]driver.Record, len(keys))
	for i, k := range keys {
		recs[i] = st.rec(k)
	}
	return st.write(recs...)
}

// spread writes n records over distinct keys until every partition holds
// at least min of them, and returns the ids per partition.
func (st *strm) spread(perPartition int) map[string][]string {
	st.e.t.Helper()
	parts := st.partitions()
	for round := 0; ; round++ {
		ok := true
		st.mu.Lock()
		for _, p := range parts {
			if len(st.order[p]) < perPartition {
				ok = false
			}
		}
		st.mu.Unlock()
		if ok {
			break
		}
		if round > 200 {
			st.e.t.Fatalf("could not place %d records in every partition by key: %v", perPartition, st.order)
		}
		keys := make([]string, 8)
		for i := range keys {
			keys[i] = fmt.Sprintf("key-%d-%d", round, i)
		}
		st.writeKeys(keys...)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	out := map[string][]string{}
	for p, ids := range st.order {
		out[p] = append([]string(nil), ids...)
	}
	return out
}

func (st *strm) ptr(id string) driver.Pointer {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.recs[id].Pointer
}

func (st *strm) partOf(id string) string {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.recs[id].Partition
}

// ids returns the ids written to partition p, in order.
func (st *strm) ids(p string) []string {
	st.mu.Lock()
	defer st.mu.Unlock()
	return append([]string(nil), st.order[p]...)
}

// allIDs returns every id written.
func (st *strm) allIDs() []string {
	st.mu.Lock()
	defer st.mu.Unlock()
	var out []string
	for id := range st.recs {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

func (st *strm) format(p driver.Pointer, partition string) string {
	if p == nil {
		return "(none)"
	}
	return st.codec.Format(st.name(), partition, p)
}

// faults returns the stream's fault injector, or skips naming the
// capability.
func (e *env) faults(st *strm) Faults {
	e.t.Helper()
	e.need(CapInjectFaults, e.h.CanInjectFaults, "the harness cannot inject broker faults")
	f, err := e.h.Faults(e.t, st.url)
	if err != nil {
		e.t.Fatalf("harness %s: Faults(%s): %v", e.h.Name, st.url, err)
	}
	e.t.Cleanup(f.Clear)
	return f
}

// --- consumers ---

// retry3 is the default retry policy of the scenarios: 3 attempts, 1 s
// doubling, no jitter (so the gaps are exact on the fake clock).
var retry3 = stream.RetryPolicy{MaxAttempts: 3, Initial: time.Second, Multiplier: 2, MaxInterval: 10 * time.Second}

// consumerOpts are the options every scenario consumer starts with.
func (e *env) consumerOpts(name string, store checkpoint.Store, sink dlq.Sink) []stream.ConsumerOption {
	return []stream.ConsumerOption{
		stream.WithName(name), stream.WithCheckpointStore(store), stream.WithDLQ(sink),
		stream.WithClock(e.clock), stream.WithPollInterval(e.poll),
		stream.WithRetry(retry3),
		stream.WithDLQRetry(stream.RetryPolicy{MaxAttempts: 2, Initial: time.Millisecond, Multiplier: 1, MaxInterval: time.Millisecond}),
		stream.WithPartitionRefresh(5 * time.Millisecond),
	}
}

// consumer opens a consumer of st through its URL (stream.OpenConsumer),
// as a separate process would, with the scenario defaults and opts.
func (e *env) consumer(st *strm, name string, store checkpoint.Store, sink dlq.Sink, h stream.Handler, opts ...stream.ConsumerOption) *stream.Consumer {
	e.t.Helper()
	c, err := stream.OpenConsumer(context.Background(), st.url, h, append(e.consumerOpts(name, store, sink), opts...)...)
	if err != nil {
		e.t.Fatalf("OpenConsumer(%s): %v", st.url, err)
	}
	e.t.Cleanup(func() { c.Close() })
	return c
}

// running is a consumer whose Run is in progress.
type running struct {
	e      *env
	c      *stream.Consumer
	cancel context.CancelFunc
	done   chan error
	err    error
	ended  bool
}

// start runs c on a new goroutine.
func (e *env) start(c *stream.Consumer) *running {
	ctx, cancel := context.WithCancel(context.Background())
	return e.startCtx(c, ctx, cancel)
}

// startCtx runs c with ctx, which cancel cancels (a handler may call it).
func (e *env) startCtx(c *stream.Consumer, ctx context.Context, cancel context.CancelFunc) *running {
	r := &running{e: e, c: c, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- c.Run(ctx) }()
	e.t.Cleanup(func() { r.stop() })
	return r
}

// stop cancels Run, waits for it (failing after the timeout) and returns
// its error.
func (r *running) stop() error {
	if r.ended {
		return r.err
	}
	r.cancel()
	select {
	case r.err = <-r.done:
	case <-time.After(r.e.timeout):
		r.e.t.Errorf("Consumer.Run did not return within %v of its context being cancelled", r.e.timeout)
		r.err = errors.New("Run did not return")
	}
	r.ended = true
	r.c.Close()
	return r.err
}

// exited reports whether Run returned on its own, and its error.
func (r *running) exited() (bool, error) {
	if r.ended {
		return true, r.err
	}
	select {
	case err := <-r.done:
		r.err, r.ended = err, true
		r.cancel()
		r.c.Close()
		return true, err
	default:
		return false, nil
	}
}

// until waits until cond holds or Run returns; it fails the test after
// the timeout, with what describe says. It reports whether cond held.
func (r *running) until(what string, cond func() bool, describe func() string) bool {
	r.e.t.Helper()
	deadline := time.Now().Add(r.e.timeout)
	for {
		if cond() {
			return true
		}
		if ended, err := r.exited(); ended {
			if cond() {
				return true
			}
			r.e.t.Fatalf("waiting for %s: Consumer.Run returned early with %v%s", what, err, describeOr(describe))
		}
		if time.Now().After(deadline) {
			if os.Getenv(EnvStacks) == "1" {
				buf := make([]byte, 1<<20)
				r.e.t.Logf("STACKS:\n%s", buf[:runtime.Stack(buf, true)])
			}
			r.e.t.Fatalf("waiting for %s: not reached within %v (a failure timeout, not a pass criterion)%s", what, r.e.timeout, describeOr(describe))
		}
		time.Sleep(time.Millisecond)
	}
}

func describeOr(f func() string) string {
	if f == nil {
		return ""
	}
	return "\n" + f()
}

// runUntil runs c until cond holds, stops it gracefully and requires Run
// to return nil.
func (e *env) runUntil(c *stream.Consumer, what string, cond func() bool, describe func() string) {
	e.t.Helper()
	r := e.start(c)
	r.until(what, cond, describe)
	if err := r.stop(); err != nil {
		e.t.Fatalf("after %s: Consumer.Run returned %v after a graceful stop, want nil", what, err)
	}
}

// waitFor polls cond until it holds, failing after the timeout.
func (e *env) waitFor(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(e.timeout)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("waiting for %s: not reached within %v (a failure timeout, not a pass criterion)", what, e.timeout)
		}
		time.Sleep(time.Millisecond)
	}
}

// --- checkpoints ---

// cp loads the checkpoint of consumer name on partition p of st.
func (e *env) cp(store checkpoint.Store, name string, st *strm, p string) *checkpoint.Checkpoint {
	e.t.Helper()
	cp, err := store.Load(context.Background(), checkpoint.Key{Consumer: name, Stream: st.name(), Partition: p})
	if err != nil {
		e.t.Fatalf("load checkpoint %s/%s/%s: %v", name, st.name(), p, err)
	}
	return cp
}

// committedTo reports whether partition p is committed exactly to id with
// no batch left.
func (e *env) committedTo(store checkpoint.Store, name string, st *strm, p, id string) bool {
	cp := e.cp(store, name, st, p)
	return cp.Batch == nil && cp.Committed != nil && st.codec.Compare(cp.Committed, st.ptr(id)) == 0
}

// committedAll reports whether every partition st holds records of is
// committed to its last record.
func (e *env) committedAll(store checkpoint.Store, name string, st *strm) bool {
	st.mu.Lock()
	last := map[string]string{}
	for p, ids := range st.order {
		last[p] = ids[len(ids)-1]
	}
	st.mu.Unlock()
	for p, id := range last {
		if !e.committedTo(store, name, st, p, id) {
			return false
		}
	}
	return true
}

// haltedAt reports whether the partition of id is halted at id.
func (e *env) haltedAt(store checkpoint.Store, name string, st *strm, id string) bool {
	h := e.cp(store, name, st, st.partOf(id)).Halted()
	return h != nil && st.codec.Compare(h.Pointer, st.ptr(id)) == 0
}

// dump describes the checkpoints of st for failure messages.
func (e *env) dump(store checkpoint.Store, name string, st *strm) func() string {
	return func() string {
		var b strings.Builder
		for _, p := range st.partitions() {
			cp, err := store.Load(context.Background(), checkpoint.Key{Consumer: name, Stream: st.name(), Partition: p})
			if err != nil {
				fmt.Fprintf(&b, "  partition %s: load: %v\n", p, err)
				continue
			}
			ids := st.ids(p)
			last := "(no records)"
			if len(ids) > 0 {
				last = st.format(st.ptr(ids[len(ids)-1]), p)
			}
			fmt.Fprintf(&b, "  partition %s: v%d committed=%s (last written %s) finished=%v", p, cp.Version, st.format(cp.Committed, p), last, cp.Finished)
			if cp.Batch != nil {
				fmt.Fprintf(&b, " batch#%d %s..%s:", cp.Batch.Seq, st.format(cp.Batch.First, p), st.format(cp.Batch.Last, p))
				for _, r := range cp.Batch.Records {
					fmt.Fprintf(&b, " [%s %s attempts=%d %s]", r.ID, r.Status, r.Attempts, r.Reason)
				}
			}
			b.WriteString("\n")
		}
		return b.String()
	}
}

// --- test doubles ---

// errCrash is what a crashed probeStore returns: the process "died" there.
var errCrash = errors.New("conformance: simulated crash: the checkpoint store is gone")

// probeStore wraps a store: it shows every successful save to onSaved and
// can crash (fail every later save) after a number of saves or on demand.
type probeStore struct {
	inner checkpoint.Store

	mu      sync.Mutex
	limit   int // saves let through before the crash; < 0: no limit
	saves   int
	down    int // loads and saves still to fail in the current outage
	crashed bool
	onSaved func(cp *checkpoint.Checkpoint)
}

func newProbe(inner checkpoint.Store, limit int, onSaved func(*checkpoint.Checkpoint)) *probeStore {
	return &probeStore{inner: inner, limit: limit, onSaved: onSaved}
}

func (s *probeStore) Load(ctx context.Context, k checkpoint.Key) (*checkpoint.Checkpoint, error) {
	if s.failing() {
		return nil, errOutage
	}
	return s.inner.Load(ctx, k)
}

// errOutage is what a probeStore returns during an outage: a transient
// error, which the engine retries.
var errOutage = errors.New("conformance: simulated checkpoint store outage")

// outage makes the next n loads and saves fail with errOutage (added to
// any outage still under way).
func (s *probeStore) outage(n int) {
	s.mu.Lock()
	s.down += n
	s.mu.Unlock()
}

// failing reports whether this call falls in an outage, and counts it.
func (s *probeStore) failing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down > 0 {
		s.down--
		return true
	}
	return false
}

func (s *probeStore) List(ctx context.Context, consumer, stream string) ([]*checkpoint.Checkpoint, error) {
	return s.inner.List(ctx, consumer, stream)
}

func (s *probeStore) Save(ctx context.Context, cp *checkpoint.Checkpoint) error {
	if s.failing() {
		return errOutage
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.crashed || (s.limit >= 0 && s.saves >= s.limit) {
		// Permanent: the engine ends the partition here and saves nothing
		// more, as a process that died at this save would (a transient
		// store error is retried until the store recovers).
		s.crashed = true
		return checkpoint.Permanent(errCrash)
	}
	if err := s.inner.Save(ctx, cp); err != nil {
		return err
	}
	s.saves++
	if s.onSaved != nil {
		s.onSaved(cp)
	}
	return nil
}

// crash makes every later save fail.
func (s *probeStore) crash() {
	s.mu.Lock()
	s.crashed = true
	s.mu.Unlock()
}

func (s *probeStore) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.saves
}

// memSink is a DLQ sink in memory that can be made to fail.
type memSink struct {
	mu   sync.Mutex
	envs []dlq.Envelope
	puts int
	fail func(env *dlq.Envelope) error
}

func (s *memSink) Put(ctx context.Context, env *dlq.Envelope) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.puts++
	if s.fail != nil {
		if err := s.fail(env); err != nil {
			return err
		}
	}
	s.envs = append(s.envs, *env)
	return nil
}

func (s *memSink) Close() error { return nil }

func (s *memSink) setFail(f func(*dlq.Envelope) error) {
	s.mu.Lock()
	s.fail = f
	s.mu.Unlock()
}

func (s *memSink) ids() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []string{}
	for _, e := range s.envs {
		out = append(out, e.ID)
	}
	return out
}

func (s *memSink) envelopes() []dlq.Envelope {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]dlq.Envelope(nil), s.envs...)
}

// calls records handler calls: the order, the fake time of each call, and
// the records as handed over.
type calls struct {
	mu    sync.Mutex
	seq   []string
	times map[string][]time.Time
	recs  map[string][]driver.Record
}

func newCalls() *calls {
	return &calls{times: map[string][]time.Time{}, recs: map[string][]driver.Record{}}
}

// add records a call for r at t and returns its number for r, from 1.
func (c *calls) add(r *stream.Record, t time.Time) int {
	cp := *r
	cp.Key, cp.Value = bytes.Clone(r.Key), bytes.Clone(r.Value)
	cp.Pointer = bytes.Clone(r.Pointer)
	cp.Headers = append([]driver.Header(nil), r.Headers...)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq = append(c.seq, r.ID)
	c.times[r.ID] = append(c.times[r.ID], t)
	c.recs[r.ID] = append(c.recs[r.ID], cp)
	return len(c.times[r.ID])
}

func (c *calls) count(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.times[id])
}

func (c *calls) order() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.seq...)
}

func (c *calls) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seq)
}

func (c *calls) at(id string) []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Time(nil), c.times[id]...)
}

// events collects engine events.
type events struct {
	mu  sync.Mutex
	evs []stream.Event
}

func (o *events) Observe(ev stream.Event) {
	if ev.Record != nil {
		r := *ev.Record
		ev.Record = &r
	}
	if ev.Records != nil {
		ev.Records = append([]stream.Record(nil), ev.Records...)
	}
	o.mu.Lock()
	o.evs = append(o.evs, ev)
	o.mu.Unlock()
}

func (o *events) of(k stream.EventKind) []stream.Event {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []stream.Event
	for _, ev := range o.evs {
		if ev.Kind == k {
			out = append(out, ev)
		}
	}
	return out
}

func (o *events) all() []stream.Event {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]stream.Event(nil), o.evs...)
}

// checkpointMemory is a memory store, for parts that do not test stores.
func checkpointMemory() checkpoint.Store { return checkpoint.NewMemoryStore() }

// openDriver opens url with stream.Open and returns its driver stream:
// the suite tests the driver seam, and wraps what it hands to the engines
// with stream.NewStream.
func openDriver(ctx context.Context, url string) (driver.Stream, error) {
	s, err := stream.Open(ctx, url)
	if err != nil {
		return nil, err
	}
	return s.Driver(), nil
}
