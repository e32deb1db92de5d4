package stream_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/dlq"
)

var errCrash = errors.New("simulated crash: the store is gone")

// crashStore lets the first `limit` saves through and fails every later one,
// as if the process died at that persistence point. onSaved sees each
// checkpoint that was persisted.
type crashStore struct {
	inner   checkpoint.Store
	mu      sync.Mutex
	limit   int
	n       int
	onSaved func(cp *checkpoint.Checkpoint)
}

func (s *crashStore) Load(ctx context.Context, k checkpoint.Key) (*checkpoint.Checkpoint, error) {
	return s.inner.Load(ctx, k)
}

func (s *crashStore) List(ctx context.Context, c, st string) ([]*checkpoint.Checkpoint, error) {
	return s.inner.List(ctx, c, st)
}

// Save fails with a permanent error once the limit is reached: the engine
// ends the partition there and saves nothing more, as a process that died
// at that save would (a transient error would be retried).
func (s *crashStore) Save(ctx context.Context, cp *checkpoint.Checkpoint) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n >= s.limit {
		return checkpoint.Permanent(errCrash)
	}
	if err := s.inner.Save(ctx, cp); err != nil {
		return err
	}
	s.n++
	if s.onSaved != nil {
		s.onSaved(cp)
	}
	return nil
}

func (s *crashStore) saves() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// crashScenario is one run of the crash test: records with a retry, a
// permanent failure, an exhausted record dead-lettered, a skip, and a
// record whose DLQ write fails so its partition halts.
type crashScenario struct {
	t           *testing.T
	e           *env
	concurrency int
	perRecord   bool // stream.CommitPerRecord; else the default cadence
	retry, dlqd string
	perm, skip  string
	halt        string
	cl          *calls

	mu             sync.Mutex
	final          map[string]string // id -> outcome seen (succeeded, skipped, dlq)
	dlqAfterOK     map[string]bool   // ids dead-lettered after a success whose save was lost
	persistedFinal map[string]bool   // ids covered by a persisted commit or a persisted final state
	// persisted is, per partition, the record states of the last persisted
	// checkpoint: a handler call must find its record in_progress there,
	// or, in fast mode, without a state in a batch persisted Running.
	persisted  map[string]map[string]checkpoint.RecordState
	running    map[string]bool // per partition: the persisted batch is Running
	violations []string
}

func newCrashScenario(t *testing.T, concurrency int, perRecord bool) *crashScenario {
	e := newEnv(t, 2)
	var keys []string
	for i := 0; i < 16; i++ {
		keys = append(keys, fmt.Sprintf("key-%d", i%8))
	}
	e.write(keys...)
	p0, p1 := e.order["0"], e.order["1"]
	if len(p0) < 5 || len(p1) < 5 {
		t.Fatalf("keys did not spread over both partitions: %v / %v", p0, p1)
	}
	sc := &crashScenario{t: t, e: e, concurrency: concurrency, perRecord: perRecord, cl: newCalls(), running: map[string]bool{},
		retry: p0[1], dlqd: p0[3], perm: p0[4], skip: p1[1], halt: p1[3],
		final: map[string]string{}, dlqAfterOK: map[string]bool{}, persistedFinal: map[string]bool{},
		persisted: map[string]map[string]checkpoint.RecordState{}}
	e.sink.fail = func(env *dlq.Envelope) error {
		if env.ID == sc.halt {
			return errors.New("DLQ rejects this record")
		}
		sc.mu.Lock()
		if sc.final[env.ID] == "succeeded" {
			// The last attempt succeeded but the crash lost its save: the
			// in_progress attempt counts as failed and no attempt is left.
			sc.dlqAfterOK[env.ID] = true
		}
		sc.final[env.ID] = "dlq"
		sc.mu.Unlock()
		return nil
	}
	return sc
}

func (sc *crashScenario) violate(format string, args ...any) {
	sc.violations = append(sc.violations, fmt.Sprintf(format, args...))
}

func (sc *crashScenario) handler(ctx context.Context, r *stream.Record) error {
	n := sc.cl.add(r.ID, sc.e.clock.Now())
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.persistedFinal[r.ID] {
		sc.violate("%s handled again (call %d) after its final outcome was persisted", r.ID, n)
	}
	// In per-record mode (and careful mode) the attempt is persisted
	// in_progress, and counted, before the handler runs. In fast mode a
	// record's first attempt runs without a state, in a batch persisted
	// Running (so that a crash is seen on restart); every later attempt
	// is persisted in_progress first.
	st, ok := sc.persisted[r.Partition][r.ID]
	switch {
	case sc.perRecord && (!ok || st.Status != checkpoint.InProgress || st.Attempts != n):
		sc.violate("%s handled (call %d) while the persisted checkpoint has it %s with %d attempt(s) (present: %v), want in_progress with %d",
			r.ID, n, st.Status, st.Attempts, ok, n)
	case !sc.perRecord && ok && st.Status != checkpoint.InProgress:
		sc.violate("%s handled (call %d) while the persisted checkpoint has it %s with %d attempt(s), want in_progress", r.ID, n, st.Status, st.Attempts)
	case !sc.perRecord && !ok && !sc.running[r.Partition]:
		sc.violate("%s handled (call %d) without a persisted state, in a batch not persisted Running: a crash now would go unseen", r.ID, n)
	}
	var err error
	switch r.ID {
	case sc.retry:
		if n < 3 {
			err = fmt.Errorf("transient %d", n)
		}
	case sc.dlqd, sc.halt:
		err = errors.New("always fails")
	case sc.perm:
		err = stream.Permanent(errors.New("malformed"))
	case sc.skip:
		err = stream.Skip("irrelevant")
	}
	switch {
	case err == nil:
		sc.final[r.ID] = "succeeded"
	case strings.HasPrefix(err.Error(), "skip"):
		sc.final[r.ID] = "skipped"
	}
	return err
}

// onSaved checks every persisted checkpoint: the commit never passes a
// record without a final outcome.
func (sc *crashScenario) onSaved(cp *checkpoint.Checkpoint) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	for _, id := range sc.e.order[cp.Partition] {
		if cp.Committed == nil || string(sc.e.ptrs[id]) > string(cp.Committed) {
			break
		}
		if sc.final[id] == "" {
			sc.violate("checkpoint v%d of partition %s commits past %s, which has no final outcome", cp.Version, cp.Partition, id)
		}
		sc.persistedFinal[id] = true
	}
	states := map[string]checkpoint.RecordState{}
	if cp.Batch != nil {
		for _, st := range cp.Batch.Records {
			if st.Status.Final() {
				sc.persistedFinal[st.ID] = true
			}
			states[st.ID] = st
		}
	}
	sc.persisted[cp.Partition] = states
	sc.running[cp.Partition] = cp.Batch != nil && cp.Batch.Running
}

func (sc *crashScenario) consumer(store checkpoint.Store, extra ...stream.ConsumerOption) *stream.Consumer {
	commit := stream.DefaultCommit
	if sc.perRecord {
		commit = stream.CommitPerRecord
	}
	opts := []stream.ConsumerOption{stream.WithCheckpointStore(store), stream.WithConcurrency(sc.concurrency), stream.WithBatchSize(3),
		stream.WithCommit(commit)}
	return sc.e.consumer(sc.handler, append(opts, extra...)...)
}

func (sc *crashScenario) done() bool {
	ids := sc.e.order["0"]
	cp0 := sc.e.cp("0")
	return cp0.Batch == nil && string(cp0.Committed) == string(sc.e.ptrs[ids[len(ids)-1]]) && sc.e.haltedAt(sc.halt)
}

// run runs until done, crashing at save number limit (0 = never) first.
// It returns how many saves the first run made.
func (sc *crashScenario) run(limit int) int {
	t, e := sc.t, sc.e
	cs := &crashStore{inner: e.store, limit: limit, onSaved: sc.onSaved}
	if limit == 0 {
		cs.limit = 1 << 30
	}
	err := e.run(sc.consumer(cs), sc.done)
	if limit > 0 && err == nil && !sc.done() {
		t.Fatalf("crash at save %d: Run returned nil before finishing", limit)
	}
	if err != nil && !errors.Is(err, errCrash) {
		t.Fatalf("crash at save %d: Run = %v, want the simulated crash", limit, err)
	}
	first := cs.saves()
	if !sc.done() {
		// Restart on the same store, as a new process would.
		restart := &crashStore{inner: e.store, limit: 1 << 30, onSaved: sc.onSaved}
		if err := e.run(sc.consumer(restart), sc.done); err != nil {
			t.Fatalf("crash at save %d: restart: %v", limit, err)
		}
	}
	sc.check(limit)
	return first
}

func (sc *crashScenario) check(limit int) {
	t, e := sc.t, sc.e
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if len(sc.violations) > 0 {
		t.Fatalf("crash at save %d: %s", limit, strings.Join(sc.violations, "\n"))
	}
	// In fast mode a record's first attempt is charged only once its
	// outcome is saved: a crash before that save costs one uncharged call.
	maxCalls, why := 3, "MaxAttempts=3"
	if !sc.perRecord && limit > 0 {
		maxCalls, why = 4, "MaxAttempts=3 plus the first attempt, uncharged when the crash lost its save"
	}
	for id := range e.ptrs {
		if n := sc.cl.count(id); n > maxCalls {
			t.Errorf("crash at save %d: %s handled %d times, more than %s", limit, id, n, why)
		}
	}
	for _, id := range e.order["0"] {
		want := "succeeded"
		switch {
		case id == sc.dlqd || id == sc.perm:
			want = "dlq"
		case sc.dlqAfterOK[id]:
			if id != sc.retry || sc.cl.count(id) != 3 {
				t.Errorf("crash at save %d: %s dead-lettered after a lost success with %d attempts", limit, id, sc.cl.count(id))
			}
			want = "dlq"
		}
		if got := sc.final[id]; got != want {
			t.Errorf("crash at save %d: %s ended %q, want %q", limit, id, got, want)
		}
	}
	for _, id := range e.order["1"] {
		if id == sc.halt {
			break
		}
		want := "succeeded"
		if id == sc.skip {
			want = "skipped"
		}
		if got := sc.final[id]; got != want {
			t.Errorf("crash at save %d: %s ended %q, want %q", limit, id, got, want)
		}
	}
	// One crash may lose the permanent outcome's save: then the interrupted
	// attempt is retried once more.
	if n := sc.cl.count(sc.perm); n != 1 && (n != 2 || limit == 0) {
		t.Errorf("crash at save %d: permanent record handled %d times, want 1 (2 if the crash lost its outcome)", limit, n)
	}
	if n := sc.cl.count(sc.halt); n != 3 && (n != maxCalls || limit == 0) {
		t.Errorf("crash at save %d: halted record handled %d times, want 3 (or %s)", limit, n, why)
	}
	cp1 := e.cp("1")
	var before string
	for _, id := range e.order["1"] {
		if id == sc.halt {
			break
		}
		before = id
	}
	if string(cp1.Committed) != string(e.ptrs[before]) {
		t.Errorf("crash at save %d: partition 1 committed %x, want %x (just before the halted record)", limit, cp1.Committed, e.ptrs[before])
	}
	if t.Failed() {
		t.FailNow()
	}
}

// stillHalted restarts once more and checks the halted partition stays put.
func (sc *crashScenario) stillHalted() {
	n := sc.cl.count(sc.halt)
	ctx, cancel := context.WithCancel(context.Background())
	c := sc.consumer(sc.e.store, stream.WithObserver(stream.ObserverFunc(func(ev stream.Event) {
		if ev.Kind == stream.EventHalted {
			cancel() // the restart has reached the halted record
		}
	})))
	done := make(chan error)
	go func() { done <- c.Run(ctx) }()
	select {
	case <-ctx.Done():
	case <-time.After(20 * time.Second):
		sc.t.Fatalf("the restarted consumer did not report the halt within 20s: %s", sc.e.dump())
	}
	if err := <-done; err != nil {
		sc.t.Fatal(err)
	}
	if sc.cl.count(sc.halt) != n || !sc.e.haltedAt(sc.halt) {
		sc.t.Fatalf("halted partition moved after a restart: %s", sc.e.dump())
	}
}

// TestCrashAtEveryPersistencePoint cuts the consumer at every checkpoint
// save of a run with retries, a permanent failure, a DLQ'd record, a skip and
// a halt, then resumes with a new consumer, and checks the contract, in
// per-record mode and with the default commit cadence (where a crash also
// switches the interrupted batch to careful mode).
func TestCrashAtEveryPersistencePoint(t *testing.T) {
	for _, perRecord := range []bool{true, false} {
		for _, conc := range []int{1, 3} {
			t.Run(fmt.Sprintf("per_record=%v/concurrency=%d", perRecord, conc), func(t *testing.T) {
				total := newCrashScenario(t, conc, perRecord).run(0)
				if total < 10 {
					t.Fatalf("clean run made only %d saves", total)
				}
				for k := 1; k <= total; k++ {
					sc := newCrashScenario(t, conc, perRecord)
					sc.run(k)
					if k%10 == 0 {
						sc.stillHalted()
					}
				}
				t.Logf("crashed at each of %d persistence points", total)
			})
		}
	}
}

// TestCrashTwice crashes, resumes, and crashes again at a later point.
func TestCrashTwice(t *testing.T) {
	for _, perRecord := range []bool{true, false} {
		t.Run(fmt.Sprintf("per_record=%v", perRecord), func(t *testing.T) {
			total := newCrashScenario(t, 1, perRecord).run(0)
			for k := 1; k < total; k += 3 {
				sc := newCrashScenario(t, 1, perRecord)
				cs := &crashStore{inner: sc.e.store, limit: k, onSaved: sc.onSaved}
				if err := sc.e.run(sc.consumer(cs), sc.done); err != nil && !errors.Is(err, errCrash) {
					t.Fatal(err)
				}
				sc.run(k/2 + 1)
			}
		})
	}
}
