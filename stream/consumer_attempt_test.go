package stream_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
)

// seenAttempt is what one handler call read with AttemptOf, and when it
// ran on the consumer's clock.
type seenAttempt struct {
	stream.Attempt
	at time.Time
}

// attemptLog records the attempts the handler sees, per record.
type attemptLog struct {
	mu   sync.Mutex
	seen map[string][]seenAttempt
	bad  []string
}

func newAttemptLog() *attemptLog { return &attemptLog{seen: map[string][]seenAttempt{}} }

// add records the attempt in ctx and returns how many calls r had before.
func (l *attemptLog) add(ctx context.Context, r *stream.Record, now time.Time) int {
	a, ok := stream.AttemptOf(ctx)
	l.mu.Lock()
	defer l.mu.Unlock()
	if !ok {
		l.bad = append(l.bad, fmt.Sprintf("%s: AttemptOf(handler ctx) = false, want the attempt", r.ID))
	}
	n := len(l.seen[r.ID])
	l.seen[r.ID] = append(l.seen[r.ID], seenAttempt{a, now})
	return n
}

// check compares the (Number, Interrupted) pairs that id's calls saw with
// want, and checks First: zero on a first attempt; on a retry the same in
// every call from call firstFrom on (the first attempt on record), and
// the time that call started: not after it, not before the call before it.
func (l *attemptLog) check(t *testing.T, id string, want [][2]int, firstFrom int) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, b := range l.bad {
		t.Error(b)
	}
	seen := l.seen[id]
	got := make([][2]int, len(seen))
	for i, s := range seen {
		got[i] = [2]int{s.Number, s.Interrupted}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%s: attempts seen (number, interrupted) = %v, want %v", id, got, want)
	}
	var first time.Time
	for i, s := range seen {
		switch {
		case s.Number == 1:
			if !s.First.IsZero() {
				t.Fatalf("%s: call %d, attempt 1, saw First = %v, want zero", id, i+1, s.First)
			}
		case i <= firstFrom:
			t.Fatalf("%s: call %d is attempt %d, before the first attempt on record (call %d)", id, i+1, s.Number, firstFrom+1)
		case first.IsZero():
			first = s.First
			lo := t0
			if firstFrom > 0 {
				lo = seen[firstFrom-1].at
			}
			if first.After(seen[firstFrom].at) || first.Before(lo) {
				t.Fatalf("%s: call %d saw First = %v, want the start of call %d: not after it (%v), not before %v",
					id, i+1, first, firstFrom+1, seen[firstFrom].at, lo)
			}
		case !s.First.Equal(first):
			t.Fatalf("%s: call %d saw First = %v, want the first attempt's %v as earlier calls did", id, i+1, s.First, first)
		}
	}
}

// modes are the ways the engine runs attempts: fast (the default commit
// cadence) and careful (CommitPerRecord), one record at a time or
// concurrently.
var attemptModes = []struct {
	name string
	opts []stream.ConsumerOption
}{
	{"default", nil},
	{"per record", []stream.ConsumerOption{stream.WithCommit(stream.CommitPerRecord)}},
	{"default concurrent", []stream.ConsumerOption{stream.WithConcurrency(2)}},
	{"per record concurrent", []stream.ConsumerOption{stream.WithCommit(stream.CommitPerRecord), stream.WithConcurrency(2)}},
}

// TestAttemptOfRetries checks that a handler that fails twice and then
// succeeds sees attempts 1, 2 and 3, none interrupted, with the first
// attempt's time throughout, in every mode; and that the records around
// it see attempt 1.
func TestAttemptOfRetries(t *testing.T) {
	if _, ok := stream.AttemptOf(context.Background()); ok {
		t.Fatal("AttemptOf(context.Background()) = true, want false outside a handler")
	}
	for _, m := range attemptModes {
		t.Run(m.name, func(t *testing.T) {
			e := newEnv(t, 1)
			ids := e.write("a", "b", "a")
			log := newAttemptLog()
			h := func(ctx context.Context, r *stream.Record) error {
				if n := log.add(ctx, r, e.clock.Now()); r.ID == ids[1] && n < 2 {
					return fmt.Errorf("boom %d", n+1)
				}
				return nil
			}
			if err := e.run(e.consumer(h, m.opts...), e.committedAll); err != nil {
				t.Fatal(err)
			}
			log.check(t, ids[0], [][2]int{{1, 0}}, 0)
			log.check(t, ids[1], [][2]int{{1, 0}, {2, 0}, {3, 0}}, 0)
			log.check(t, ids[2], [][2]int{{1, 0}}, 0)
		})
	}
}

// TestAttemptOfAcrossCrashes checks that the attempt number goes on
// across simulated crashes (the checkpoint store fails every save from
// the crash on, so the process's last state is what a dead process
// leaves) and that Interrupted counts the attempts the crashes
// interrupted, as recovered from the checkpoint on restart.
func TestAttemptOfAcrossCrashes(t *testing.T) {
	perRecord := []stream.ConsumerOption{stream.WithCommit(stream.CommitPerRecord)}
	for _, tt := range []struct {
		name string
		opts []stream.ConsumerOption
		plan []string // per handler call: "fail", "crash" or "ok"
		want [][2]int // (number, interrupted) per call
		// firstFrom is the first call on record: its First holds from
		// then on.
		firstFrom int
	}{
		{"per record: crash in attempt 1", perRecord,
			[]string{"crash", "ok"}, [][2]int{{1, 0}, {2, 1}}, 0},
		{"per record: two crashes", append(perRecord, stream.WithRetry(stream.RetryPolicy{MaxAttempts: 5, Initial: time.Second, Multiplier: 2, MaxInterval: 10 * time.Second})),
			[]string{"crash", "fail", "crash", "ok"}, [][2]int{{1, 0}, {2, 1}, {3, 1}, {4, 2}}, 0},
		{"default: fail, then crash in attempt 2", nil,
			[]string{"fail", "crash", "ok"}, [][2]int{{1, 0}, {2, 0}, {3, 1}}, 0},
		// The first attempt in the fast mode runs without a save: its
		// crash is on no record, and the careful re-run is attempt 1.
		{"default: crash in the fast first attempt is not on record", nil,
			[]string{"crash", "fail", "ok"}, [][2]int{{1, 0}, {1, 0}, {2, 0}}, 1},
		{"default concurrent: fail, then crash in attempt 2", []stream.ConsumerOption{stream.WithConcurrency(2)},
			[]string{"fail", "crash", "ok"}, [][2]int{{1, 0}, {2, 0}, {3, 1}}, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, 1)
			ids := e.write("a", "b")
			id := ids[0]
			log := newAttemptLog()
			var (
				mu  sync.Mutex
				cur *crashStore // the running process's store
			)
			h := func(ctx context.Context, r *stream.Record) error {
				n := log.add(ctx, r, e.clock.Now())
				if r.ID != id {
					return nil
				}
				if n >= len(tt.plan) {
					return fmt.Errorf("call %d, past the plan %v", n+1, tt.plan)
				}
				switch tt.plan[n] {
				case "crash":
					// The process dies in the handler: nothing it would
					// save from here on reaches the store.
					mu.Lock()
					cur.mu.Lock()
					cur.limit = cur.n
					cur.mu.Unlock()
					mu.Unlock()
					return errors.New("dying")
				case "fail":
					return fmt.Errorf("boom %d", n+1)
				}
				return nil
			}
			crashes := 0
			for run := 1; ; run++ {
				if run > len(tt.plan)+1 {
					t.Fatalf("not finished after %d runs; checkpoints: %s", run-1, e.dump())
				}
				mu.Lock()
				cur = &crashStore{inner: e.store, limit: 1 << 30}
				s := cur
				mu.Unlock()
				err := e.run(e.consumer(h, append(tt.opts, stream.WithCheckpointStore(s))...), e.committedAll)
				if err == nil {
					break
				}
				if !errors.Is(err, errCrash) {
					t.Fatalf("run %d: Run = %v, want nil or the simulated crash", run, err)
				}
				crashes++
			}
			want := 0
			for _, p := range tt.plan {
				if p == "crash" {
					want++
				}
			}
			if crashes != want {
				t.Fatalf("%d crash(es), want %d (the plan %v)", crashes, want, tt.plan)
			}
			log.check(t, id, tt.want, tt.firstFrom)
		})
	}
}

// TestAttemptOfOlderCheckpoint checks that a record state saved before
// the interrupted count was kept (Interrupted zero, the crashes only in
// its errors) gives the handler the count its errors show, and that the
// count then goes on from there.
func TestAttemptOfOlderCheckpoint(t *testing.T) {
	for _, tt := range []struct {
		name   string
		status checkpoint.Status
		errs   []string
		want   [2]int // (number, interrupted) the handler sees
	}{
		{"failed after a crash", checkpoint.Failed, []string{stream.InterruptedError, "boom"}, [2]int{3, 1}},
		{"in progress, a crash before", checkpoint.InProgress, []string{stream.InterruptedError}, [2]int{3, 2}},
		{"failed, no crash", checkpoint.Failed, []string{"boom", "boom"}, [2]int{3, 0}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, 1)
			id := e.write("a")[0]
			ptr := e.ptrs[id]
			st := checkpoint.RecordState{Pointer: ptr, ID: id, Status: tt.status, Attempts: 2, FirstAttempt: t0, LastAttempt: t0}
			for i, msg := range tt.errs {
				st.AddError(i+1, t0, msg)
			}
			cp := &checkpoint.Checkpoint{Key: checkpoint.Key{Consumer: "test", Stream: "orders", Partition: e.parts[id]},
				Batch: &checkpoint.Batch{Seq: 1, First: ptr, Last: ptr, Size: 1, Records: []checkpoint.RecordState{st}}}
			if err := e.store.Save(context.Background(), cp); err != nil {
				t.Fatal(err)
			}
			log := newAttemptLog()
			h := func(ctx context.Context, r *stream.Record) error {
				log.add(ctx, r, e.clock.Now())
				return nil
			}
			if err := e.run(e.consumer(h), e.committedAll); err != nil {
				t.Fatal(err)
			}
			log.mu.Lock()
			defer log.mu.Unlock()
			seen := log.seen[id]
			if len(seen) != 1 || [2]int{seen[0].Number, seen[0].Interrupted} != tt.want || !seen[0].First.Equal(t0) {
				t.Fatalf("handler saw %+v, want one attempt (number, interrupted) = %v with First %v", seen, tt.want, t0)
			}
		})
	}
}
