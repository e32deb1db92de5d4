package stream_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/dlq"
	"github.com/unistream-go/unistream/stream/driver"
	"github.com/unistream-go/unistream/stream/memstream"
	"github.com/unistream-go/unistream/stream/streamtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// env is one consumer test setup on memstream.
type env struct {
	t     *testing.T
	s     *memstream.Stream
	store checkpoint.Store
	sink  *memSink
	clock *streamtest.FakeClock
	ptrs  map[string]driver.Pointer // record id -> pointer
	parts map[string]string         // record id -> partition
	order map[string][]string       // partition -> ids in pointer order
}

func newEnv(t *testing.T, partitions int) *env {
	t.Helper()
	s, err := memstream.NewBroker().Stream("orders", memstream.WithPartitions(partitions))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &env{t: t, s: s, store: checkpoint.NewMemoryStore(), sink: &memSink{}, clock: streamtest.NewFakeClock(t0),
		ptrs: map[string]driver.Pointer{}, parts: map[string]string{}, order: map[string][]string{}}
}

// write writes records with the given keys; ids are "r0", "r1", ...
func (e *env) write(keys ...string) []string {
	e.t.Helper()
	w, err := e.s.OpenWriter(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	defer w.Close()
	base := len(e.ptrs)
	recs := make([]driver.Record, len(keys))
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = fmt.Sprintf("r%d", base+i)
		recs[i] = driver.Record{ID: ids[i], Key: []byte(k), Value: []byte("v-" + ids[i]), Time: t0.Add(time.Duration(base+i) * time.Second)}
	}
	res := make([]driver.WriteResult, len(recs))
	if err := w.Write(context.Background(), recs, res); err != nil {
		e.t.Fatal(err)
	}
	for i, r := range res {
		if r.Err != nil {
			e.t.Fatal(r.Err)
		}
		e.ptrs[ids[i]] = r.Pointer
		e.parts[ids[i]] = r.Partition
		e.order[r.Partition] = append(e.order[r.Partition], ids[i])
	}
	return ids
}

func (e *env) consumer(h stream.Handler, opts ...stream.ConsumerOption) *stream.Consumer {
	e.t.Helper()
	base := []stream.ConsumerOption{
		stream.WithName("test"), stream.WithCheckpointStore(e.store), stream.WithDLQ(e.sink),
		stream.WithClock(e.clock), stream.WithPollInterval(time.Millisecond),
		stream.WithRetry(stream.RetryPolicy{MaxAttempts: 3, Initial: time.Second, Multiplier: 2, MaxInterval: 10 * time.Second}),
		stream.WithDLQRetry(stream.RetryPolicy{MaxAttempts: 2, Initial: time.Millisecond, Multiplier: 1, MaxInterval: time.Millisecond}),
		stream.WithPartitionRefresh(time.Millisecond),
	}
	c, err := stream.NewConsumer(stream.NewStream(e.s), h, append(base, opts...)...)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// run runs c until cond holds (checked on the store), then stops it
// gracefully and returns Run's error.
func (e *env) run(c *stream.Consumer, cond func() bool) error {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		select {
		case err := <-done:
			cancel()
			return err
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			<-done
			e.t.Fatalf("condition not reached in 20s; checkpoints: %s", e.dump())
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	return <-done
}

func (e *env) cp(partition string) *checkpoint.Checkpoint {
	cp, err := e.store.Load(context.Background(), checkpoint.Key{Consumer: "test", Stream: "orders", Partition: partition})
	if err != nil {
		e.t.Fatal(err)
	}
	return cp
}

// committedAll reports that every partition is committed to its last record.
func (e *env) committedAll() bool {
	for p, ids := range e.order {
		cp := e.cp(p)
		if cp.Batch != nil || string(cp.Committed) != string(e.ptrs[ids[len(ids)-1]]) {
			return false
		}
	}
	return true
}

func (e *env) haltedAt(id string) bool {
	h := e.cp(e.parts[id]).Halted()
	return h != nil && string(h.Pointer) == string(e.ptrs[id])
}

func (e *env) dump() string {
	out := ""
	for p := range e.order {
		cp := e.cp(p)
		out += fmt.Sprintf("\n  %s: v%d committed=%x batch=%+v", p, cp.Version, cp.Committed, cp.Batch)
	}
	return out
}

// memSink is a DLQ sink in memory that can be made to fail.
type memSink struct {
	mu   sync.Mutex
	envs []dlq.Envelope
	fail func(env *dlq.Envelope) error
}

func (s *memSink) Put(ctx context.Context, env *dlq.Envelope) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		if err := s.fail(env); err != nil {
			return err
		}
	}
	s.envs = append(s.envs, *env)
	return nil
}

func (s *memSink) Close() error { return nil }

func (s *memSink) ids() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, e := range s.envs {
		out = append(out, e.ID)
	}
	return out
}

// calls records handler calls.
type calls struct {
	mu    sync.Mutex
	seq   []string
	times map[string][]time.Time
	n     map[string]int
}

func newCalls() *calls { return &calls{times: map[string][]time.Time{}, n: map[string]int{}} }

func (c *calls) add(id string, t time.Time) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq = append(c.seq, id)
	c.times[id] = append(c.times[id], t)
	c.n[id]++
	return c.n[id]
}

func (c *calls) count(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[id]
}

func (c *calls) order() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.seq...)
}

func TestRetryScheduleSequential(t *testing.T) {
	e := newEnv(t, 1)
	ids := e.write("a", "a", "a")
	cl := newCalls()
	h := func(ctx context.Context, r *stream.Record) error {
		n := cl.add(r.ID, e.clock.Now())
		if r.ID == ids[1] && n < 3 {
			return fmt.Errorf("boom %d", n)
		}
		return nil
	}
	c := e.consumer(h)
	if err := e.run(c, e.committedAll); err != nil {
		t.Fatal(err)
	}
	want := []string{ids[0], ids[1], ids[1], ids[1], ids[2]}
	if got := cl.order(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("handler order = %v, want %v (later records must wait for the retried one)", got, want)
	}
	ts := cl.times[ids[1]]
	if g1, g2 := ts[1].Sub(ts[0]), ts[2].Sub(ts[1]); g1 < time.Second || g2 < 2*time.Second {
		t.Fatalf("backoff gaps = %v, %v; want at least 1s then 2s", g1, g2)
	}
	if cp := e.cp("0"); cp.Counts.Succeeded != 3 || cp.Counts.Retries != 2 {
		t.Fatalf("counts = %+v, want 3 succeeded, 2 retries", cp.Counts)
	}
	if len(e.sink.ids()) != 0 {
		t.Fatalf("DLQ got %v, want nothing", e.sink.ids())
	}
}

func TestRetryJitterAndCap(t *testing.T) {
	p := stream.RetryPolicy{MaxAttempts: 10, Initial: time.Second, Multiplier: 3, MaxInterval: 20 * time.Second, Jitter: true}
	tests := []struct {
		n    int
		rnd  float64
		want time.Duration
	}{
		{1, 0.5, 500 * time.Millisecond},
		{2, 0.5, 1500 * time.Millisecond},
		{3, 0.0, 0},
		{4, 0.5, 10 * time.Second}, // 27s capped at 20s
		{50, 0.25, 5 * time.Second},
	}
	for _, tt := range tests {
		if got := p.Backoff(tt.n, func() float64 { return tt.rnd }); got != tt.want {
			t.Errorf("Backoff(%d, %v) = %v, want %v", tt.n, tt.rnd, got, tt.want)
		}
	}
	bad := []stream.RetryPolicy{
		{MaxAttempts: 0, Initial: 1, Multiplier: 1, MaxInterval: 1},
		{MaxAttempts: 1, Initial: 0, Multiplier: 1, MaxInterval: 1},
		{MaxAttempts: 1, Initial: 2, Multiplier: 0.5, MaxInterval: 2},
		{MaxAttempts: 1, Initial: 2, Multiplier: 1, MaxInterval: 1},
	}
	for _, b := range bad {
		var oe *stream.OptionError
		if err := b.Validate(); !errors.As(err, &oe) {
			t.Errorf("Validate(%+v) = %v, want an OptionError", b, err)
		}
	}
}

func TestPermanentSkipAndExhausted(t *testing.T) {
	e := newEnv(t, 1)
	ids := e.write("k", "k", "k", "k")
	cl := newCalls()
	h := func(ctx context.Context, r *stream.Record) error {
		cl.add(r.ID, e.clock.Now())
		switch r.ID {
		case ids[0]:
			return stream.Permanent(errors.New("bad payload"))
		case ids[1]:
			return stream.Skip("not for us")
		case ids[2]:
			return errors.New("always fails")
		}
		return nil
	}
	var fmu sync.Mutex
	var failed []string // "id/attempt/final" of each EventAttemptFailed
	obs := stream.WithObserver(stream.ObserverFunc(func(ev stream.Event) {
		if ev.Kind == stream.EventAttemptFailed {
			fmu.Lock()
			failed = append(failed, fmt.Sprintf("%s/%d/%t", ev.Record.ID, ev.Attempt, ev.Final))
			fmu.Unlock()
		}
	}))
	if err := e.run(e.consumer(h, obs), e.committedAll); err != nil {
		t.Fatal(err)
	}
	fmu.Lock()
	wantFailed := []string{ids[0] + "/1/true", ids[2] + "/1/false", ids[2] + "/2/false", ids[2] + "/3/true"}
	if fmt.Sprint(failed) != fmt.Sprint(wantFailed) {
		t.Errorf("failed attempts (id/attempt/final) = %v, want %v", failed, wantFailed)
	}
	fmu.Unlock()
	if n := cl.count(ids[0]); n != 1 {
		t.Errorf("permanent record handled %d times, want 1", n)
	}
	if n := cl.count(ids[1]); n != 1 {
		t.Errorf("skipped record handled %d times, want 1", n)
	}
	if n := cl.count(ids[2]); n != 3 {
		t.Errorf("failing record handled %d times, want MaxAttempts=3", n)
	}
	envs := e.sink.envs
	if len(envs) != 2 || envs[0].ID != ids[0] || envs[1].ID != ids[2] {
		t.Fatalf("DLQ = %v, want [%s %s]", e.sink.ids(), ids[0], ids[2])
	}
	p, x := envs[0], envs[1]
	if p.Reason != "permanent" || p.Attempts != 1 || len(p.Errors) != 1 || p.Errors[0].Error != "permanent: bad payload" {
		t.Errorf("permanent envelope = %+v", p)
	}
	if x.Reason != "exhausted" || x.Attempts != 3 || len(x.Errors) != 3 || x.Consumer != "test" {
		t.Errorf("exhausted envelope = %+v", x)
	}
	if string(x.Source.Pointer) != string(e.ptrs[ids[2]]) || x.Source.PointerText != "mem:orders/0@2" || x.Source.Scheme != "mem" || x.Source.Partition != "0" {
		t.Errorf("envelope source = %+v", x.Source)
	}
	if string(x.Value) != "v-"+ids[2] || string(x.Key) != "k" || !x.Time.Equal(t0.Add(2*time.Second)) {
		t.Errorf("envelope record = key %q value %q time %v", x.Key, x.Value, x.Time)
	}
	if !x.LastAttempt.After(x.FirstAttempt) {
		t.Errorf("attempt times first=%v last=%v", x.FirstAttempt, x.LastAttempt)
	}
	cp := e.cp("0")
	if cp.Counts != (checkpoint.Counts{Succeeded: 1, DeadLettered: 2, Skipped: 1, Retries: 2}) {
		t.Errorf("counts = %+v", cp.Counts)
	}

	// Not retried after restart: a new consumer sees nothing to do.
	before := len(cl.order())
	e.write("k")
	if err := e.run(e.consumer(h), e.committedAll); err != nil {
		t.Fatal(err)
	}
	if got := cl.order()[before:]; len(got) != 1 {
		t.Fatalf("after restart the handler saw %v, want only the new record", got)
	}
}

func TestDLQUnavailableHalts(t *testing.T) {
	e := newEnv(t, 2)
	ids := e.write("a", "b", "a", "b", "a", "b")
	bad := ids[2]
	e.sink.fail = func(env *dlq.Envelope) error { return errors.New("dlq down") }
	var halts []stream.Event
	var mu sync.Mutex
	obs := stream.ObserverFunc(func(ev stream.Event) {
		if ev.Kind == stream.EventHalted {
			mu.Lock()
			halts = append(halts, ev)
			mu.Unlock()
		}
	})
	cl := newCalls()
	h := func(ctx context.Context, r *stream.Record) error {
		cl.add(r.ID, e.clock.Now())
		if r.ID == bad {
			return errors.New("nope")
		}
		return nil
	}
	badPart := e.parts[bad]
	otherDone := func() bool {
		for p, pids := range e.order {
			if p != badPart && string(e.cp(p).Committed) != string(e.ptrs[pids[len(pids)-1]]) {
				return false
			}
		}
		return e.haltedAt(bad)
	}
	if err := e.run(e.consumer(h, stream.WithObserver(obs)), otherDone); err != nil {
		t.Fatal(err)
	}
	cp := e.cp(badPart)
	hs := cp.Halted()
	if hs == nil || hs.Attempts != 3 {
		t.Fatalf("halted state = %+v", hs)
	}
	// Committed stays before the bad record; the record after it is untouched.
	prev := e.order[badPart][0]
	if string(cp.Committed) != string(e.ptrs[prev]) {
		t.Fatalf("committed = %x, want %x (the record before the halt)", cp.Committed, e.ptrs[prev])
	}
	after := e.order[badPart][2]
	if cl.count(after) != 0 {
		t.Fatalf("record %s after the halted one was handled", after)
	}
	mu.Lock()
	if len(halts) == 0 || !errors.Is(halts[0].Err, stream.ErrHalted) || halts[0].Record.ID != bad {
		t.Fatalf("halt events = %+v", halts)
	}
	mu.Unlock()

	// Restart: still halted, the handler is not called again.
	n := len(cl.order())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	c := e.consumer(h, stream.WithObserver(stream.ObserverFunc(func(ev stream.Event) {
		if ev.Kind == stream.EventHalted {
			cancel() // the restart has reached the halted record
		}
	})))
	go func() { done <- c.Run(ctx) }()
	select {
	case <-ctx.Done():
	case <-time.After(20 * time.Second):
		t.Fatalf("the restarted consumer did not report the halt within 20s: %s", e.dump())
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := cl.order()[n:]; len(got) != 0 {
		t.Fatalf("halted partition handled %v after restart", got)
	}
	if !e.haltedAt(bad) {
		t.Fatal("partition not halted after restart")
	}

	// DLQ back: an operator retries; the record gets fresh attempts and the
	// partition goes on.
	e.sink.mu.Lock()
	e.sink.fail = nil
	e.sink.mu.Unlock()
	resumeCheckpoint(t, e, badPart, func(cp *checkpoint.Checkpoint) error { return cp.Retry(e.clock.Now()) })
	if err := e.run(e.consumer(h), e.committedAll); err != nil {
		t.Fatal(err)
	}
	if cl.count(bad) != 6 || cl.count(after) != 1 {
		t.Fatalf("after retry: bad handled %d times (want 6), next %d (want 1)", cl.count(bad), cl.count(after))
	}
	if got := e.sink.ids(); len(got) != 1 || got[0] != bad {
		t.Fatalf("DLQ = %v", got)
	}
}

func resumeCheckpoint(t *testing.T, e *env, partition string, f func(*checkpoint.Checkpoint) error) {
	t.Helper()
	cp := e.cp(partition)
	if err := f(cp); err != nil {
		t.Fatal(err)
	}
	if err := e.store.Save(context.Background(), cp); err != nil {
		t.Fatal(err)
	}
}

func TestOrderedHalt(t *testing.T) {
	e := newEnv(t, 2)
	ids := e.write("a", "b", "a", "b", "a", "b")
	bad := ids[2]
	failing := true
	var mu sync.Mutex
	cl := newCalls()
	h := func(ctx context.Context, r *stream.Record) error {
		cl.add(r.ID, e.clock.Now())
		mu.Lock()
		defer mu.Unlock()
		if r.ID == bad && failing {
			return errors.New("ordered failure")
		}
		return nil
	}
	badPart := e.parts[bad]
	others := func() bool {
		for p, pids := range e.order {
			if p != badPart && string(e.cp(p).Committed) != string(e.ptrs[pids[len(pids)-1]]) {
				return false
			}
		}
		return e.haltedAt(bad)
	}
	c := e.consumer(h, stream.WithOnExhausted(stream.Halt))
	if err := e.run(c, others); err != nil {
		t.Fatal(err)
	}
	if len(e.sink.ids()) != 0 {
		t.Fatal("halt mode wrote to the DLQ")
	}
	hs := e.cp(badPart).Halted()
	if hs.Reason != "exhausted after 3 attempt(s): ordered failure" {
		t.Fatalf("halt reason = %q", hs.Reason)
	}

	// Skip resumes it while the consumer runs: the halted worker notices.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	c = e.consumer(h, stream.WithOnExhausted(stream.Halt))
	go func() { done <- c.Run(ctx) }()
	time.Sleep(20 * time.Millisecond)
	if cl.count(bad) != 3 {
		t.Fatalf("restart re-ran the halted record: %d calls", cl.count(bad))
	}
	resumeCheckpoint(t, e, badPart, func(cp *checkpoint.Checkpoint) error { return cp.Skip(e.clock.Now(), "operator skip") })
	deadline := time.Now().Add(10 * time.Second)
	for !e.committedAll() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !e.committedAll() {
		t.Fatalf("skip did not resume the partition: %s", e.dump())
	}
	if cl.count(bad) != 3 || cl.count(e.order[badPart][2]) != 1 {
		t.Fatalf("after skip: bad %d calls (want 3), next %d (want 1)", cl.count(bad), cl.count(e.order[badPart][2]))
	}
	if cp := e.cp(badPart); cp.Counts.Skipped != 1 {
		t.Fatalf("skip not counted: %+v", cp.Counts)
	}
}

func TestConcurrencyPerKeyOrderAndGaps(t *testing.T) {
	e := newEnv(t, 1)
	var keys []string
	for i := 0; i < 60; i++ {
		keys = append(keys, fmt.Sprintf("k%d", i%6))
	}
	ids := e.write(keys...)
	keyOf := map[string]string{}
	for i, id := range ids {
		keyOf[id] = keys[i]
	}
	final := sync.Map{}
	var mu sync.Mutex
	var violations []string
	lastByKey := map[string]int{}
	idx := map[string]int{}
	for i, id := range ids {
		idx[id] = i
	}
	obs := stream.ObserverFunc(func(ev stream.Event) {
		if ev.Kind != stream.EventCommitted {
			return
		}
		// Every record up to the committed pointer must be final.
		for _, id := range ids {
			if string(e.ptrs[id]) > string(ev.Pointer) {
				break
			}
			if _, ok := final.Load(id); !ok {
				mu.Lock()
				violations = append(violations, fmt.Sprintf("commit to %x passed non-final %s", ev.Pointer, id))
				mu.Unlock()
			}
		}
	})
	var inflight, maxInflight int
	h := func(ctx context.Context, r *stream.Record) error {
		mu.Lock()
		k := keyOf[r.ID]
		if last, ok := lastByKey[k]; ok && last > idx[r.ID] {
			violations = append(violations, fmt.Sprintf("key %s: %s after a later record", k, r.ID))
		}
		lastByKey[k] = idx[r.ID]
		inflight++
		maxInflight = max(maxInflight, inflight)
		mu.Unlock()
		time.Sleep(200 * time.Microsecond)
		mu.Lock()
		inflight--
		mu.Unlock()
		if idx[r.ID]%7 == 3 && e.clock.Now().Sub(t0) < time.Hour {
			// fail once: retried later with a gap before it
			if _, seen := final.LoadOrStore("fail-"+r.ID, true); !seen {
				return errors.New("transient")
			}
		}
		final.Store(r.ID, true)
		return nil
	}
	c := e.consumer(h, stream.WithConcurrency(4), stream.WithBatchSize(25), stream.WithObserver(obs))
	if err := e.run(c, e.committedAll); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(violations) > 0 {
		t.Fatalf("violations: %v", violations)
	}
	if maxInflight < 2 || maxInflight > 4 {
		t.Fatalf("max in-flight handlers = %d, want between 2 and 4", maxInflight)
	}
	for _, id := range ids {
		if _, ok := final.Load(id); !ok {
			t.Fatalf("%s never succeeded", id)
		}
	}
}

func TestGracefulStopNoLossNoDuplicate(t *testing.T) {
	e := newEnv(t, 3)
	var keys []string
	for i := 0; i < 90; i++ {
		keys = append(keys, fmt.Sprintf("k%d", i))
	}
	ids := e.write(keys...)
	cl := newCalls()
	started := make(chan struct{}, 1)
	h := func(ctx context.Context, r *stream.Record) error {
		select {
		case started <- struct{}{}:
		default:
		}
		time.Sleep(100 * time.Microsecond)
		cl.add(r.ID, time.Now())
		return nil
	}
	for round := 0; round < 20 && !e.committedAll(); round++ {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		c := e.consumer(h, stream.WithBatchSize(7))
		go func() { done <- c.Run(ctx) }()
		<-started
		time.Sleep(time.Duration(round%4) * time.Millisecond)
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if err := e.run(e.consumer(h), e.committedAll); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if n := cl.count(id); n != 1 {
			t.Fatalf("record %s handled %d times after graceful stops, want exactly 1", id, n)
		}
	}
}

func TestDrainTimeoutCancelsHandler(t *testing.T) {
	e := newEnv(t, 1)
	e.write("a")
	started := make(chan struct{})
	var sawCancel bool
	h := func(ctx context.Context, r *stream.Record) error {
		close(started)
		<-ctx.Done()
		sawCancel = true
		return ctx.Err()
	}
	c := e.consumer(h, stream.WithDrainTimeout(20*time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx) }()
	<-started
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after the drain timeout")
	}
	if !sawCancel {
		t.Fatal("handler context not cancelled")
	}
	st := e.cp("0").Batch.Records[0]
	if st.Status != checkpoint.Failed || st.Attempts != 1 {
		t.Fatalf("interrupted attempt persisted as %+v, want failed with 1 attempt", st)
	}
}

func TestStartPositions(t *testing.T) {
	e := newEnv(t, 1)
	ids := e.write("a", "a", "a", "a")
	collect := func(opts ...stream.ConsumerOption) []string {
		var mu sync.Mutex
		var got []string
		h := func(ctx context.Context, r *stream.Record) error {
			mu.Lock()
			got = append(got, r.ID)
			mu.Unlock()
			return nil
		}
		e.store = checkpoint.NewMemoryStore()
		c := e.consumer(h, opts...)
		if err := e.run(c, e.committedAll); err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := collect(); fmt.Sprint(got) != fmt.Sprint(ids) {
		t.Errorf("earliest: %v", got)
	}
	if got := collect(stream.WithStart(stream.AtTime(t0.Add(2 * time.Second)))); fmt.Sprint(got) != fmt.Sprint(ids[2:]) {
		t.Errorf("at time: %v", got)
	}
	if got := collect(stream.WithStart(stream.After(e.ptrs[ids[0]]))); fmt.Sprint(got) != fmt.Sprint(ids[1:]) {
		t.Errorf("after: %v", got)
	}
}

func TestConsumerOptionErrors(t *testing.T) {
	e := newEnv(t, 1)
	h := func(context.Context, *stream.Record) error { return nil }
	tests := []struct {
		name string
		opts []stream.ConsumerOption
		want string
	}{
		{"no dlq", []stream.ConsumerOption{}, "WithDLQ"},
		{"batch", []stream.ConsumerOption{stream.WithDLQ(e.sink), stream.WithBatchSize(0)}, "WithBatchSize"},
		{"concurrency", []stream.ConsumerOption{stream.WithDLQ(e.sink), stream.WithConcurrency(-1)}, "WithConcurrency"},
		{"poll", []stream.ConsumerOption{stream.WithDLQ(e.sink), stream.WithPollInterval(0)}, "WithPollInterval"},
		{"name", []stream.ConsumerOption{stream.WithDLQ(e.sink), stream.WithName("")}, "WithName"},
		{"retry", []stream.ConsumerOption{stream.WithDLQ(e.sink), stream.WithRetry(stream.RetryPolicy{})}, "MaxAttempts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := stream.NewConsumer(stream.NewStream(e.s), h, tt.opts...)
			var oe *stream.OptionError
			if !errors.As(err, &oe) || oe.Option == "" || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want an OptionError naming %s", err, tt.want)
			}
		})
	}
	if _, err := stream.NewConsumer(stream.NewStream(e.s), nil, stream.WithDLQ(e.sink)); err == nil {
		t.Fatal("nil handler accepted")
	}
}

func TestCorruptCheckpointIsAnError(t *testing.T) {
	e := newEnv(t, 1)
	e.write("a")
	cp := e.cp("0")
	cp.Committed = []byte{1, 2, 3} // not an 8-byte memstream pointer
	if err := e.store.Save(context.Background(), cp); err != nil {
		t.Fatal(err)
	}
	h := func(context.Context, *stream.Record) error { return nil }
	err := e.run(e.consumer(h), func() bool { return false })
	if err == nil || !strings.Contains(err.Error(), "committed pointer") {
		t.Fatalf("Run = %v, want an error naming the committed pointer", err)
	}
	if got := e.cp("0"); string(got.Committed) != string([]byte{1, 2, 3}) {
		t.Fatal("corrupt checkpoint was overwritten")
	}
}

func TestHandlerPanicIsAFailedAttempt(t *testing.T) {
	e := newEnv(t, 1)
	ids := e.write("a")
	h := func(context.Context, *stream.Record) error { panic("kaboom") }
	if err := e.run(e.consumer(h), e.committedAll); err != nil {
		t.Fatal(err)
	}
	if got := e.sink.envs; len(got) != 1 || got[0].ID != ids[0] || got[0].Errors[0].Error != "handler panic: kaboom" {
		t.Fatalf("DLQ = %+v", got)
	}
}

func TestTransientFetchErrorsAreRetried(t *testing.T) {
	e := newEnv(t, 2)
	ids := e.write("a", "b", "c", "d", "e", "f")
	e.s.FailFetches(7, errors.New("broker unreachable"))
	var mu sync.Mutex
	var fetchErrs []stream.Event
	obs := stream.ObserverFunc(func(ev stream.Event) {
		if ev.Kind == stream.EventFetchError {
			mu.Lock()
			fetchErrs = append(fetchErrs, ev)
			mu.Unlock()
		}
	})
	cl := newCalls()
	h := func(ctx context.Context, r *stream.Record) error { cl.add(r.ID, e.clock.Now()); return nil }
	if err := e.run(e.consumer(h, stream.WithObserver(obs)), e.committedAll); err != nil {
		t.Fatalf("Run = %v; a transient fetch error must not end the run", err)
	}
	for _, id := range ids {
		if cl.count(id) != 1 {
			t.Fatalf("%s handled %d times, want 1", id, cl.count(id))
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(fetchErrs) != 7 {
		t.Fatalf("%d fetch_error events, want 7 (one per injected failure)", len(fetchErrs))
	}
	if ev := fetchErrs[0]; ev.Attempt != 1 || ev.Partition == "" || !strings.Contains(ev.Err.Error(), "broker unreachable") {
		t.Fatalf("first fetch_error event = %+v", ev)
	}
}

func TestPermanentFetchErrorEndsRun(t *testing.T) {
	e := newEnv(t, 1)
	e.write("a")
	cause := errors.New("not authorized to read topic orders")
	e.s.FailFetches(1, driver.Permanent(cause))
	var mu sync.Mutex
	fetchErrs := 0
	obs := stream.ObserverFunc(func(ev stream.Event) {
		if ev.Kind == stream.EventFetchError {
			mu.Lock()
			fetchErrs++
			mu.Unlock()
		}
	})
	h := func(context.Context, *stream.Record) error { return nil }
	err := e.run(e.consumer(h, stream.WithObserver(obs)), func() bool { return false })
	if !errors.Is(err, cause) || !driver.IsPermanent(err) || !strings.Contains(err.Error(), "partition 0") {
		t.Fatalf("Run = %v, want a permanent error naming partition 0 and the cause", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if fetchErrs != 0 {
		t.Fatalf("%d fetch_error events: a permanent fetch error was retried", fetchErrs)
	}
}

// listRefused is a stream whose partition list the backend refuses.
type listRefused struct {
	driver.Stream
	err error
}

func (l listRefused) Partitions(context.Context) ([]driver.Partition, error) { return nil, l.err }

// TestPermanentListErrorEndsRun checks that a partition list refused for
// good (a deleted stream, denied access) ends Run, naming the stream and
// the cause, where a transient one is listed again.
func TestPermanentListErrorEndsRun(t *testing.T) {
	e := newEnv(t, 1)
	cause := errors.New("stream orders was deleted")
	h := func(context.Context, *stream.Record) error { return nil }
	c, err := stream.NewConsumer(stream.NewStream(listRefused{Stream: e.s, err: driver.Permanent(cause)}), h,
		stream.WithCheckpointStore(e.store), stream.WithDLQ(e.sink), stream.WithPartitionRefresh(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(context.Background()) }()
	select {
	case err := <-done:
		if !errors.Is(err, cause) || !driver.IsPermanent(err) || !strings.Contains(err.Error(), "list partitions of orders") {
			t.Fatalf("Run = %v, want the permanent list error naming the stream", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not end within 20s of a permanent list error: it is retried")
	}
}

func TestCheckpointPastTheLogIsAnError(t *testing.T) {
	e := newEnv(t, 1)
	e.write("a")
	cp := e.cp("0")
	cp.Committed = memstream.PointerAt(99) // well past the end of the log
	if err := e.store.Save(context.Background(), cp); err != nil {
		t.Fatal(err)
	}
	h := func(context.Context, *stream.Record) error { return nil }
	err := e.run(e.consumer(h), func() bool { return false })
	if !errors.Is(err, driver.ErrPointerNotFound) {
		t.Fatalf("Run = %v, want an error matching driver.ErrPointerNotFound", err)
	}
}

// flakyLoadStore fails the first n Loads, then works.
type flakyLoadStore struct {
	checkpoint.Store
	mu sync.Mutex
	n  int
}

func (s *flakyLoadStore) Load(ctx context.Context, k checkpoint.Key) (*checkpoint.Checkpoint, error) {
	s.mu.Lock()
	if s.n > 0 {
		s.n--
		s.mu.Unlock()
		return nil, errors.New("store unreachable")
	}
	s.mu.Unlock()
	return s.Store.Load(ctx, k)
}

func TestCheckpointLoadErrorsAreRetried(t *testing.T) {
	e := newEnv(t, 2)
	ids := e.write("a", "b", "c")
	store := &flakyLoadStore{Store: e.store, n: 5}
	var mu sync.Mutex
	loadErrs := 0
	obs := stream.ObserverFunc(func(ev stream.Event) {
		if ev.Kind == stream.EventCheckpointError {
			mu.Lock()
			loadErrs++
			mu.Unlock()
		}
	})
	cl := newCalls()
	h := func(ctx context.Context, r *stream.Record) error { cl.add(r.ID, e.clock.Now()); return nil }
	if err := e.run(e.consumer(h, stream.WithCheckpointStore(store), stream.WithObserver(obs)), e.committedAll); err != nil {
		t.Fatalf("Run = %v; a store that fails to load for a while must not end the run", err)
	}
	for _, id := range ids {
		if cl.count(id) != 1 {
			t.Fatalf("%s handled %d times", id, cl.count(id))
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if loadErrs != 5 {
		t.Fatalf("%d checkpoint_error events, want 5", loadErrs)
	}
}

// TestCommitCadence counts the checkpoint saves of one sequential batch of
// 8 successes under each commit policy, and what each save holds. In
// per-record mode: the batch save, the first record's in_progress save,
// then one save per record, each carrying the outcome and the next
// record's in_progress mark (the crash test checks that every handler call
// still finds its attempt persisted). By default: the batch save and one
// commit at its end. By count and by interval: a commit every 3 records,
// or every 2 s of the fake clock (the handler advances it 1 s per record;
// in the default case it does not, so only the end of the batch commits).
func TestCommitCadence(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy stream.CommitPolicy
		tick   time.Duration // the handler advances the fake clock by it
		// committed is, per save, how many records it commits in all;
		// inProgress how many in_progress marks it carries.
		committed, inProgress []int
	}{
		{"per_record", stream.CommitPerRecord, 0,
			[]int{0, 0, 1, 2, 3, 4, 5, 6, 7, 8}, []int{0, 1, 1, 1, 1, 1, 1, 1, 1, 0}},
		{"default", stream.DefaultCommit, 0, []int{0, 8}, []int{0, 0}},
		{"records_3", stream.CommitPolicy{Records: 3}, time.Second, []int{0, 3, 6, 8}, []int{0, 0, 0, 0}},
		{"interval_2s", stream.CommitPolicy{Interval: 2 * time.Second}, time.Second, []int{0, 2, 4, 6, 8}, []int{0, 0, 0, 0, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, 1)
			ids := e.write("a", "b", "c", "d", "e", "f", "g", "h")
			index := map[string]int{}
			for i, id := range ids {
				index[string(e.ptrs[id])] = i + 1
			}
			cs := &crashStore{inner: e.store, limit: 1 << 30}
			var committed, inProgress []int
			cs.onSaved = func(cp *checkpoint.Checkpoint) {
				n := 0
				if cp.Batch != nil {
					for _, st := range cp.Batch.Records {
						if st.Status == checkpoint.InProgress {
							n++
						}
					}
				}
				inProgress = append(inProgress, n)
				committed = append(committed, index[string(cp.Committed)])
			}
			var seen []string
			h := func(ctx context.Context, r *stream.Record) error {
				seen = append(seen, r.ID)
				e.clock.Advance(tc.tick)
				return nil
			}
			c := e.consumer(h, stream.WithCheckpointStore(cs), stream.WithBatchSize(len(ids)), stream.WithCommit(tc.policy))
			if err := e.run(c, e.committedAll); err != nil {
				t.Fatal(err)
			}
			if len(seen) != len(ids) {
				t.Fatalf("handled %v, want each of %v once", seen, ids)
			}
			if fmt.Sprint(committed) != fmt.Sprint(tc.committed) || fmt.Sprint(inProgress) != fmt.Sprint(tc.inProgress) {
				t.Errorf("%d saves committing %v records with %v in_progress marks; want %d saves committing %v with %v",
					len(committed), committed, inProgress, len(tc.committed), tc.committed, tc.inProgress)
			}
		})
	}
}

// EventBatchFetched carries the reader's lag after the batch
// (driver.LagReporter; memstream tells records).
func TestBatchFetchedLag(t *testing.T) {
	e := newEnv(t, 1)
	e.write("a", "a", "a", "a", "a", "a", "a", "a", "a", "a")
	var mu sync.Mutex
	var lags []string
	obs := stream.WithObserver(stream.ObserverFunc(func(ev stream.Event) {
		if ev.Kind == stream.EventBatchFetched {
			mu.Lock()
			defer mu.Unlock()
			if ev.Lag == nil {
				lags = append(lags, "nil")
				return
			}
			lags = append(lags, fmt.Sprintf("%d/%d:%d", ev.Count, ev.Lag.Records, ev.Lag.Time))
		}
	}))
	h := func(context.Context, *stream.Record) error { return nil }
	if err := e.run(e.consumer(h, obs, stream.WithBatchSize(4)), e.committedAll); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"4/6:-1", "4/2:-1", "2/0:-1"}; fmt.Sprint(lags) != fmt.Sprint(want) {
		t.Fatalf("batches (count/lag records:lag time) = %v, want %v", lags, want)
	}
}

// filteringObserver counts events by kind and observes all kinds but
// EventAttemptStarted (stream.EventFilter).
type filteringObserver struct {
	mu     sync.Mutex
	counts map[stream.EventKind]int
}

func (o *filteringObserver) Observes(k stream.EventKind) bool { return k != stream.EventAttemptStarted }

func (o *filteringObserver) Observe(e stream.Event) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.counts[e.Kind]++
}

func (o *filteringObserver) count(k stream.EventKind) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.counts[k]
}

// TestObserverEventFilter: the engine does not build the events of kinds
// an EventFilter observer has no use for, and builds the others; one that
// is not an EventFilter sees every kind.
func TestObserverEventFilter(t *testing.T) {
	for _, filter := range []bool{true, false} {
		t.Run(fmt.Sprintf("filter=%v", filter), func(t *testing.T) {
			e := newEnv(t, 2)
			e.write("a", "b", "c", "d", "e")
			fo := &filteringObserver{counts: map[stream.EventKind]int{}}
			var obs stream.Observer = fo
			if !filter {
				obs = stream.ObserverFunc(fo.Observe)
			}
			c := e.consumer(func(context.Context, *stream.Record) error { return nil }, stream.WithObserver(obs))
			if err := e.run(c, func() bool { return fo.count(stream.EventAttemptSucceeded) == 5 && e.committedAll() }); err != nil {
				t.Fatal(err)
			}
			c.Close()
			started := fo.count(stream.EventAttemptStarted)
			if filter && started != 0 {
				t.Fatalf("%d EventAttemptStarted built for an observer that does not observe them", started)
			}
			if !filter && started != 5 {
				t.Fatalf("%d EventAttemptStarted for 5 records, want 5 for an observer without a filter", started)
			}
		})
	}
}
