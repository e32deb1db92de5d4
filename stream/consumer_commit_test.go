package stream_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
)

// TestCommitModesLoadEachOther: a checkpoint saved in one commit mode
// loads in the other. A consumer in one mode stops (gracefully, or by a
// crash at a save) in the middle of a batch, and a consumer in the other
// mode finishes the stream from its checkpoint: nothing is lost, nothing
// committed is handed over again, and a graceful stop repeats nothing.
func TestCommitModesLoadEachOther(t *testing.T) {
	modes := map[string]stream.CommitPolicy{"per_record": stream.CommitPerRecord, "default": stream.DefaultCommit}
	for _, tc := range []struct {
		first, then string
		crashAt     int // the first consumer's save that fails (0: a graceful stop after 5 records)
	}{
		{"per_record", "default", 0},
		{"default", "per_record", 0},
		{"per_record", "default", 4},
		{"default", "per_record", 1}, // the batch save lands, its commit fails
	} {
		t.Run(fmt.Sprintf("%s_then_%s/crash_at_save_%d", tc.first, tc.then, tc.crashAt), func(t *testing.T) {
			e := newEnv(t, 1)
			keys := make([]string, 12)
			for i := range keys {
				keys[i] = "k"
			}
			ids := e.write(keys...)
			cl := newCalls()
			var stopAt atomic.Int32
			stopAt.Store(5)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			h := func(_ context.Context, r *stream.Record) error {
				if cl.add(r.ID, e.clock.Now()) == 1 && tc.crashAt == 0 && stopAt.Add(-1) == 0 {
					cancel() // a graceful stop while this record runs
				}
				return nil
			}
			limit := 1 << 30
			if tc.crashAt > 0 {
				limit = tc.crashAt
			}
			cs := &crashStore{inner: e.store, limit: limit}
			first := e.consumer(h, stream.WithCheckpointStore(cs), stream.WithBatchSize(len(ids)), stream.WithCommit(modes[tc.first]))
			err := first.Run(ctx)
			switch {
			case errors.Is(ctx.Err(), context.DeadlineExceeded):
				t.Fatalf("first consumer (%s) neither stopped nor crashed in 30s: %s", tc.first, e.dump())
			case tc.crashAt == 0 && err != nil:
				t.Fatalf("first consumer (%s): Run = %v after a graceful stop", tc.first, err)
			case tc.crashAt > 0 && !errors.Is(err, errCrash):
				t.Fatalf("first consumer (%s): Run = %v, want the simulated crash", tc.first, err)
			}
			before := e.cp("0")
			if before.Batch == nil {
				t.Fatalf("first consumer (%s) left no batch: %s", tc.first, e.dump())
			}
			handled := cl.order()
			then := e.consumer(h, stream.WithBatchSize(len(ids)), stream.WithCommit(modes[tc.then]))
			if err := e.run(then, e.committedAll); err != nil {
				t.Fatalf("second consumer (%s): %v", tc.then, err)
			}
			for i, id := range ids {
				n := cl.count(id)
				switch {
				case n == 0:
					t.Errorf("record %d lost", i)
				case before.Committed != nil && string(e.ptrs[id]) <= string(before.Committed) && n != 1:
					t.Errorf("record %d handled %d times, but it was committed before the switch", i, n)
				case tc.crashAt == 0 && n != 1:
					t.Errorf("record %d handled %d times after a graceful stop, want once", i, n)
				case n > 2:
					t.Errorf("record %d handled %d times, more than once again after one crash", i, n)
				}
			}
			if t.Failed() {
				t.Logf("first run handled %v; checkpoint then: %+v", handled, before.Batch)
			}
		})
	}
}

// failingStore fails Save (and Load, if loads) with err while failing
// is set, and counts the failures.
type failingStore struct {
	checkpoint.Store
	err     error
	loads   bool
	failing atomic.Bool
	fails   atomic.Int32
}

func (s *failingStore) Load(ctx context.Context, k checkpoint.Key) (*checkpoint.Checkpoint, error) {
	if s.loads && s.failing.Load() {
		s.fails.Add(1)
		return nil, s.err
	}
	return s.Store.Load(ctx, k)
}

func (s *failingStore) Save(ctx context.Context, cp *checkpoint.Checkpoint) error {
	if s.failing.Load() {
		s.fails.Add(1)
		return s.err
	}
	return s.Store.Save(ctx, cp)
}

func (s *failingStore) String() string { return "failing test store" }

// TestStorePermanentErrorNamesStoreAndKey: a permanent store error ends
// Run at once (no retries), with an error that names the store, the
// checkpoint key and the cause, for a load and for a save.
func TestStorePermanentErrorNamesStoreAndKey(t *testing.T) {
	for _, tc := range []struct {
		name  string
		err   error
		loads bool
	}{
		{"save_corrupt", fmt.Errorf("%w: the stored document is torn", checkpoint.ErrCorrupt), false},
		{"save_too_large", fmt.Errorf("%w: 500 KiB, the limit is 400 KiB", checkpoint.ErrTooLarge), false},
		{"save_marked_permanent", checkpoint.Permanent(errors.New("access denied")), false},
		{"load_corrupt", fmt.Errorf("%w: the stored document is torn", checkpoint.ErrCorrupt), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, 1)
			e.write("a", "b")
			fs := &failingStore{Store: e.store, err: tc.err, loads: tc.loads}
			fs.failing.Store(true)
			h := func(context.Context, *stream.Record) error { return nil }
			c := e.consumer(h, stream.WithCheckpointStore(fs))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err := c.Run(ctx)
			if err == nil || ctx.Err() != nil {
				t.Fatalf("Run = %v (context: %v), want the permanent store error at once", err, ctx.Err())
			}
			for _, want := range []string{"failing test store", "test/orders/0", tc.err.Error()} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Run error %q does not name %q", err, want)
				}
			}
			if !errors.Is(err, tc.err) {
				t.Errorf("Run error %v does not wrap the store's error", err)
			}
			if n := fs.fails.Load(); n != 1 {
				t.Errorf("the store failed %d times, want 1: a permanent error is not retried", n)
			}
		})
	}
}

// TestStoreOutageAtStop: when the consumer stops while the store is down,
// Run does not wait for the store for ever: once the drain timeout has
// passed it returns an error saying the outcomes since the last commit
// were not saved.
func TestStoreOutageAtStop(t *testing.T) {
	e := newEnv(t, 1)
	e.write("a", "b", "c")
	fs := &failingStore{Store: e.store, err: errors.New("connection refused")}
	var once sync.Once
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := func(_ context.Context, r *stream.Record) error {
		once.Do(func() {
			fs.failing.Store(true) // the store goes down, and the consumer is stopped
			cancel()
		})
		return nil
	}
	c := e.consumer(h, stream.WithCheckpointStore(fs), stream.WithClock(stream.SystemClock{}),
		stream.WithDrainTimeout(200*time.Millisecond),
		stream.WithFetchRetry(stream.RetryPolicy{MaxAttempts: 1, Initial: 10 * time.Millisecond, Multiplier: 2, MaxInterval: 50 * time.Millisecond}))
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "drain timeout") || !strings.Contains(err.Error(), "connection refused") {
			t.Fatalf("Run = %v, want an error saying the store was still failing at the drain timeout", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return while the store stayed down after the stop")
	}
	if fs.fails.Load() < 2 {
		t.Errorf("the store failed %d times, want the save retried before giving up", fs.fails.Load())
	}
}
