package conformance

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
)

// The scenarios of the commit cadence: what a crash repeats, how a record
// that kills the process is isolated, and how a checkpoint store outage
// is ridden out.

// abandon is one consumer run whose handler the process "dies" in: the
// handler crashes the probe store (every later save fails permanently, as
// if the process were gone) and blocks until the test releases it, so the
// consumer does nothing more in the meantime; its outcome is never saved.
type abandon struct {
	reached chan struct{} // closed when the handler crashed
	release chan struct{} // closed by the test to let Run end
	once    sync.Once
}

func newAbandon() *abandon {
	return &abandon{reached: make(chan struct{}), release: make(chan struct{})}
}

// die crashes probe, waits for the release, and returns an error the
// engine can never save. It dies once: later calls of a run return nil.
func (a *abandon) die(probe *probeStore) error {
	died := false
	a.once.Do(func() {
		died = true
		probe.crash()
		close(a.reached)
		<-a.release
	})
	if !died {
		return nil
	}
	return errors.New("abandoned: the process died during this attempt")
}

// died reports whether the handler died in this run.
func (a *abandon) died() bool {
	select {
	case <-a.reached:
		return true
	default:
		return false
	}
}

// crashed releases the handler that died and requires Run to end with the
// simulated crash.
func (a *abandon) crashed(e *env, r *running, describe func() string) {
	e.t.Helper()
	close(a.release)
	r.until("the crashed run to end", func() bool { ended, _ := r.exited(); return ended }, describe)
	if err := r.stop(); !errors.Is(err, errCrash) {
		e.t.Fatalf("Run = %v after the process died in a handler, want the simulated crash", err)
	}
}

// --- 21 ---

// commitCadence crashes the consumer inside the handler of record 6 of 12
// under two commit policies and resumes it: the records committed before
// the crash are not handed over again, those after the last commit are
// handed over once more, and no more of them than the policy lets stay
// uncommitted.
func commitCadence(e *env) {
	const n, crashAt = 12, 6
	for _, tc := range []struct {
		name   string
		policy stream.CommitPolicy
		batch  int
		every  int // records per commit: the most a crash may repeat
	}{
		{"every_4_records", stream.CommitPolicy{Records: 4}, n, 4},
		{"end_of_batch", stream.CommitPolicy{}, 4, 4},
	} {
		st := e.newStream(1)
		keys := make([]string, n)
		for i := range keys {
			keys[i] = "k"
		}
		ids := st.writeKeys(keys...)
		p := st.partitions()[0]
		store, sink, cl := e.store(), &memSink{}, newCalls()
		name := "cadence-" + tc.name
		probe := newProbe(store, -1, nil)
		ab := newAbandon()
		// A batch is committed when it is done, and within it the policy
		// commits every tc.every records (Records: 4) or nothing more
		// (end of batch). Where batches start depends on what each fetch
		// returned, so the commit points are counted from the batch
		// boundaries the consumer reports.
		var fetched sync.Mutex
		var starts []int // index of each batch's first record
		next := 0
		obs := stream.ObserverFunc(func(ev stream.Event) {
			if ev.Kind == stream.EventBatchFetched && ev.Count > 0 {
				fetched.Lock()
				starts = append(starts, next)
				next += ev.Count
				fetched.Unlock()
			}
		})
		lastCommit := -1 // records committed before the crash; set at the crash
		h := func(ctx context.Context, r *stream.Record) error {
			cl.add(r, e.clock.Now())
			if r.ID == ids[crashAt] && lastCommit < 0 {
				fetched.Lock()
				b := starts[len(starts)-1] // the batch holding record crashAt
				fetched.Unlock()
				lastCommit = b
				if tc.policy.Records > 0 {
					lastCommit = b + (crashAt-b)/tc.every*tc.every
				}
				// Commits are written in the background: let the last one
				// land, so the crash finds exactly the policy's work
				// uncommitted (a crash while it is in flight repeats the
				// interval before it too).
				if lastCommit > 0 {
					e.waitFor("the commit before the crash to land", func() bool {
						cp := e.cp(store, name, st, p)
						return cp.Committed != nil && st.codec.Compare(cp.Committed, st.ptr(ids[lastCommit-1])) >= 0
					})
				}
				return ab.die(probe)
			}
			return nil
		}
		opts := []stream.ConsumerOption{stream.WithBatchSize(tc.batch), stream.WithCommit(tc.policy)}
		r := e.start(e.consumer(st, name, probe, sink, h, append(opts, stream.WithObserver(obs))...))
		r.until("the crash", func() bool { ended, _ := r.exited(); return ended || ab.died() }, e.dump(store, name, st))
		if !ab.died() {
			e.t.Fatalf("%s: Run ended without reaching record %d: %v", tc.name, crashAt, r.stop())
		}
		ab.crashed(e, r, e.dump(store, name, st))
		if cp := e.cp(store, name, st, p); lastCommit > 0 && (cp.Committed == nil || st.codec.Compare(cp.Committed, st.ptr(ids[lastCommit-1])) != 0) ||
			lastCommit == 0 && cp.Committed != nil {
			e.t.Fatalf("%s: after a crash in record %d the checkpoint is%s\nwant the first %d records committed", tc.name, crashAt, e.dump(store, name, st)(), lastCommit)
		}
		e.runUntil(e.consumer(st, name, store, sink, h, opts...), "the restarted consumer to commit everything",
			func() bool { return e.committedAll(store, name, st) }, e.dump(store, name, st))
		repeated := 0
		for i, id := range ids {
			want := 1
			if i >= lastCommit && i <= crashAt {
				want = 2 // handled before the crash, not committed: handed over again
				repeated++
			}
			if got := cl.count(id); got != want {
				e.t.Errorf("%s: record %d handled %d times, want %d (commit every %d, crash in record %d)", tc.name, i, got, want, tc.every, crashAt)
			}
		}
		if repeated > tc.every {
			e.t.Errorf("%s: %d records repeated after one crash, more than the %d one commit covers", tc.name, repeated, tc.every)
		}
		if got := sink.ids(); len(got) != 0 {
			e.t.Errorf("%s: DLQ got %v, want nothing", tc.name, got)
		}
	}
}

// --- 22 ---

// poisonPill runs a stream with a record whose handler kills the process
// every time, restarting the consumer after each crash: that record is
// charged one attempt per crash and dead-lettered with its attempts
// marked interrupted, after MaxAttempts charged crashes (one more by
// default: the first crash, in fast mode, is charged to no record); no
// other record is ever charged an attempt or dead-lettered, and none is
// lost. With two partitions, the other partition's records try to be in
// their handlers when the poison record kills the process: the
// consumer's careful attempts run alone, so they are not charged either.
func poisonPill(e *env) {
	for _, tc := range []struct {
		name    string
		policy  stream.CommitPolicy
		conc    int
		parts   int
		crashes int
	}{
		{"per_record", stream.CommitPerRecord, 1, 1, retry3.MaxAttempts},
		{"default_commit", stream.DefaultCommit, 1, 1, retry3.MaxAttempts + 1},
		{"default_commit_concurrency_4", stream.DefaultCommit, 4, 1, retry3.MaxAttempts + 1},
		{"default_commit_two_partitions", stream.DefaultCommit, 1, 2, retry3.MaxAttempts + 1},
	} {
		st := e.newStream(tc.parts)
		var ids []string
		var poison string
		if tc.parts == 1 {
			keys := make([]string, 9)
			for i := range keys {
				keys[i] = fmt.Sprintf("key-%d", i)
			}
			ids = st.writeKeys(keys...)
			poison = ids[4]
		} else {
			byPart := st.spread(5)
			poison = byPart[st.partitions()[0]][2]
			ids = st.allIDs()
		}
		store, sink, cl := e.store(), &memSink{}, newCalls()
		name := "poison-" + tc.name
		var mu sync.Mutex
		var violations []string
		onSaved := func(cp *checkpoint.Checkpoint) {
			if cp.Batch == nil {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, rs := range cp.Batch.Records {
				if rs.ID != poison && (rs.Attempts > 1 || len(rs.Errors) > 0 || rs.Status == checkpoint.DeadLettered) {
					violations = append(violations, fmt.Sprintf("checkpoint v%d charges %s, not the poison record: %s with %d attempt(s), errors %v",
						cp.Version, rs.ID, rs.Status, rs.Attempts, rs.Errors))
				}
			}
		}
		crashes := 0
		opts := []stream.ConsumerOption{stream.WithBatchSize(len(ids)), stream.WithCommit(tc.policy), stream.WithConcurrency(tc.conc)}
		for run := 0; !e.committedAll(store, name, st); run++ {
			if run > tc.crashes+2 {
				e.t.Fatalf("%s: %d runs and %d crashes, and not everything is committed%s", tc.name, run, crashes, e.dump(store, name, st)())
			}
			probe := newProbe(store, -1, onSaved)
			ab := newAbandon()
			h := func(ctx context.Context, r *stream.Record) error {
				cl.add(r, e.clock.Now())
				switch {
				case r.ID == poison:
					return ab.die(probe)
				case st.partOf(r.ID) != st.partOf(poison):
					// Linger, to be in flight when the poison record kills
					// the process if the engine lets it run beside it.
					select {
					case <-ab.reached:
					case <-time.After(20 * time.Millisecond):
					}
				}
				return nil
			}
			r := e.start(e.consumer(st, name, probe, sink, h, opts...))
			r.until("a crash or everything committed", func() bool {
				return ab.died() || e.committedAll(store, name, st)
			}, e.dump(store, name, st))
			if ab.died() {
				ab.crashed(e, r, e.dump(store, name, st))
				crashes++
				continue
			}
			if err := r.stop(); err != nil {
				e.t.Fatalf("%s: Run = %v after a graceful stop", tc.name, err)
			}
		}
		mu.Lock()
		if len(violations) > 0 {
			e.t.Errorf("%s:\n%s", tc.name, strings.Join(violations, "\n"))
		}
		mu.Unlock()
		if crashes != tc.crashes {
			e.t.Errorf("%s: the poison record killed the consumer %d times, want %d", tc.name, crashes, tc.crashes)
		}
		envs := sink.envelopes()
		if len(envs) != 1 || envs[0].ID != poison {
			e.t.Fatalf("%s: DLQ holds %v, want only the poison record %s", tc.name, sink.ids(), poison)
		}
		env := envs[0]
		if env.Attempts != retry3.MaxAttempts || !strings.Contains(env.Reason, "crash") {
			e.t.Errorf("%s: DLQ envelope of the poison record: %d attempts, reason %q; want %d attempts and a reason that names the crashes",
				tc.name, env.Attempts, env.Reason, retry3.MaxAttempts)
		}
		interrupted := 0
		for _, ae := range env.Errors {
			if strings.Contains(ae.Error, "interrupted") {
				interrupted++
			}
		}
		if interrupted != retry3.MaxAttempts {
			e.t.Errorf("%s: the envelope lists %d interrupted attempts, want %d: %+v", tc.name, interrupted, retry3.MaxAttempts, env.Errors)
		}
		for _, id := range ids {
			if id != poison && cl.count(id) == 0 {
				e.t.Errorf("%s: record %s was never handled", tc.name, id)
			}
		}
	}
}

// --- 23 ---

// storeOutage makes the checkpoint store fail loads and saves for a while,
// at the start and again in the middle of the run: Run keeps going, each
// failure is reported with the wait before the next try, the recovery is
// reported, every record is handled exactly once, and everything is
// committed.
func storeOutage(e *env) {
	st := e.newStream(2)
	parts := st.spread(6)
	store, sink, cl := e.store(), &memSink{}, newCalls()
	const name = "outage"
	probe := newProbe(store, -1, nil)
	const failures = 4
	probe.outage(failures) // the first loads fail
	mid := parts[st.partitions()[0]][3]
	h := func(ctx context.Context, r *stream.Record) error {
		cl.add(r, e.clock.Now())
		if r.ID == mid && cl.count(mid) == 1 {
			probe.outage(failures) // the next saves fail: the batch's commit among them
		}
		return nil
	}
	obs := &events{}
	c := e.consumer(st, name, probe, sink, h, stream.WithObserver(obs), stream.WithBatchSize(4))
	r := e.start(c)
	r.until("everything committed through the outages", func() bool { return e.committedAll(store, name, st) }, e.dump(store, name, st))
	if ended, err := r.exited(); ended {
		e.t.Fatalf("Run returned %v during a checkpoint store outage, want it to keep going", err)
	}
	if err := r.stop(); err != nil {
		e.t.Fatalf("Run = %v after a graceful stop", err)
	}
	for _, id := range st.allIDs() {
		if n := cl.count(id); n != 1 {
			e.t.Errorf("record %s handled %d times, want once: an outage repeats nothing", id, n)
		}
	}
	errs := obs.of(stream.EventCheckpointError)
	if len(errs) != 2*failures {
		e.t.Errorf("%d checkpoint errors reported, want %d (one per failed load or save)", len(errs), 2*failures)
	}
	for _, ev := range errs {
		if ev.Err == nil || !errors.Is(ev.Err, errOutage) || ev.Delay <= 0 || ev.Attempt < 1 {
			e.t.Errorf("checkpoint error event %+v: want the store's error, the attempt and the wait before the next try", ev)
			break
		}
	}
	if len(obs.of(stream.EventCheckpointRecovered)) == 0 {
		e.t.Errorf("no checkpoint_recovered event after the outages")
	}
	if got := sink.ids(); len(got) != 0 {
		e.t.Errorf("DLQ got %v, want nothing", got)
	}
}
