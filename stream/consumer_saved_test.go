package stream_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/streamtest"
)

// timedStore takes saveTook (fake time) per successful Save and failTook
// per failed one (the first fail Saves fail transiently), and counts the
// successful ones.
type timedStore struct {
	checkpoint.Store
	clock              *streamtest.FakeClock
	saveTook, failTook time.Duration

	mu    sync.Mutex
	fail  int
	saves int
}

func (s *timedStore) Save(ctx context.Context, cp *checkpoint.Checkpoint) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail > 0 {
		s.fail--
		s.clock.Advance(s.failTook)
		return errors.New("store unreachable")
	}
	s.clock.Advance(s.saveTook)
	err := s.Store.Save(ctx, cp)
	if err == nil {
		s.saves++
	}
	return err
}

func (s *timedStore) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.saves
}

// TestCheckpointSavedEvents: each successful checkpoint save is one
// EventCheckpointSaved of its partition, whose Elapsed is that Save call
// alone (not the failed ones before it, nor the backoff), in both commit
// modes.
func TestCheckpointSavedEvents(t *testing.T) {
	for _, tc := range []struct {
		name   string
		commit stream.CommitPolicy
		fail   int
	}{
		{"per_record", stream.CommitPerRecord, 0},
		{"default", stream.DefaultCommit, 0},
		{"after_failures", stream.CommitPerRecord, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, 1)
			e.write("a", "a", "a", "a", "a")
			ts := &timedStore{Store: e.store, clock: e.clock, saveTook: 3 * time.Millisecond, failTook: 50 * time.Millisecond, fail: tc.fail}
			var mu sync.Mutex
			var saved []stream.Event
			obs := stream.ObserverFunc(func(ev stream.Event) {
				if ev.Kind == stream.EventCheckpointSaved {
					mu.Lock()
					saved = append(saved, ev)
					mu.Unlock()
				}
			})
			c := e.consumer(func(context.Context, *stream.Record) error { return nil },
				stream.WithCheckpointStore(ts), stream.WithCommit(tc.commit), stream.WithObserver(obs))
			if err := e.run(c, e.committedAll); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(saved) == 0 || len(saved) != ts.count() {
				t.Fatalf("%d checkpoint_saved events for %d saves", len(saved), ts.count())
			}
			// Other goroutines' fake sleeps (the 1 ms partition refresh) may
			// land inside a Save's timing; a failed Save's 50 ms may not.
			for _, ev := range saved {
				if ev.Stream != "orders" || ev.Partition == "" || ev.Elapsed < ts.saveTook || ev.Elapsed >= ts.failTook || ev.Time.IsZero() {
					t.Fatalf("event %+v, want stream orders, its partition, Elapsed from %v to under %v (the successful Save alone) and a time",
						ev, ts.saveTook, ts.failTook)
				}
			}
		})
	}
}
