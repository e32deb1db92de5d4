package stream

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/unistream-go/unistream/stream/driver"
)

// writeOutcome is a producer outcome event as TestProducerWriteIsTimedOnce
// compares it.
type writeOutcome struct {
	Kind    EventKind
	Count   int
	Elapsed time.Duration
	Timed   bool
}

// TestProducerWriteIsTimedOnce: every outcome event of a Write carries the
// Write's duration, and exactly one of them is Timed: the first failure's
// when a record failed, else the Sent one.
func TestProducerWriteIsTimedOnce(t *testing.T) {
	transient := errors.New("throttled")
	for _, tc := range []struct {
		name string
		// setup arranges the failures; the Write call n takes n ms.
		setup func(s *prodFakeStream)
		want  []writeOutcome
	}{
		{"all sent", func(*prodFakeStream) {}, []writeOutcome{
			{EventProducerSent, 4, time.Millisecond, true},
		}},
		{"one record fails, then is sent", func(s *prodFakeStream) {
			s.failRecord = func(call int, r *driver.Record) error {
				if call == 1 && r.ID == "r003" {
					return transient
				}
				return nil
			}
		}, []writeOutcome{
			{EventProducerSent, 3, time.Millisecond, false},
			{EventProducerFailed, 1, time.Millisecond, true},
			{EventProducerSent, 1, 2 * time.Millisecond, true},
		}},
		{"one record refused for good", func(s *prodFakeStream) {
			refuseID(s, "r003", driver.Permanent(errors.New("not authorized")))
		}, []writeOutcome{
			{EventProducerSent, 3, time.Millisecond, false},
			{EventProducerDropped, 1, time.Millisecond, true},
		}},
		{"the whole call fails, then succeeds", func(s *prodFakeStream) {
			prev := s.failWrite
			s.failWrite = func(call int, recs []driver.Record) error {
				prev(call, recs)
				if call == 1 {
					return transient
				}
				return nil
			}
		}, []writeOutcome{
			{EventProducerFailed, 4, time.Millisecond, true},
			{EventProducerSent, 4, 2 * time.Millisecond, true},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prodLeakCheck(t)
			s := newProdFakeStream(1)
			ev := &prodEvents{}
			p, clock, _ := newTestProducer(t, s, WithObserver(ev), WithSendLanes(1), WithMaxRecords(100))
			s.mu.Lock()
			s.failWrite = func(call int, _ []driver.Record) error {
				clock.Advance(time.Duration(call) * time.Millisecond)
				return nil
			}
			tc.setup(s)
			s.mu.Unlock()
			for i := range 4 {
				mustPut(t, p, prodRec(i, 1))
			}
			p.Flush(context.Background()) // refused records make it fail
			var got []writeOutcome
			ev.mu.Lock()
			for _, e := range ev.evs {
				switch e.Kind {
				case EventProducerSent, EventProducerFailed, EventProducerDeadLettered, EventProducerDropped:
					got = append(got, writeOutcome{e.Kind, e.Count, e.Elapsed, e.Timed})
				}
			}
			ev.mu.Unlock()
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("outcome events %+v,\nwant %+v", got, tc.want)
			}
		})
	}
}

// TestProducerReportsWALSyncs: with a WAL, each fsync is an
// EventProducerWALSynced, together they count every record once, and
// Stats counts them (WALSyncs), with or without an observer.
func TestProducerReportsWALSyncs(t *testing.T) {
	for _, policy := range []FsyncPolicy{FsyncPerBatch, FsyncAlways} {
		t.Run(fmt.Sprint(policy), func(t *testing.T) {
			prodLeakCheck(t)
			s := newProdFakeStream(2)
			ev := &prodEvents{}
			p, _, _ := newTestProducer(t, s, WithObserver(ev), WithFsync(policy), WithMaxRecords(5))
			const n = 23
			for i := range n {
				mustPut(t, p, prodRec(i, 4))
			}
			if err := p.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			st := p.Stats()
			if err := p.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			syncs := ev.of(EventProducerWALSynced)
			if st.WALSyncs == 0 || st.WALSyncs > uint64(len(syncs)) {
				t.Errorf("Stats().WALSyncs after Flush = %d, want between 1 and the %d sync events seen by Close", st.WALSyncs, len(syncs))
			}
			total := 0
			for _, e := range syncs {
				total += e.Count
				if e.Stream != "fake" || e.Lane != 0 || e.Elapsed <= 0 || e.Time.IsZero() {
					t.Errorf("sync event %+v, want stream fake, lane 0, a duration and a time", e)
				}
			}
			if len(syncs) == 0 || total != n {
				t.Fatalf("%d sync events counting %d records, want at least one, counting %d", len(syncs), total, n)
			}
		})
	}
	t.Run("no observer", func(t *testing.T) {
		prodLeakCheck(t)
		p, _, _ := newTestProducer(t, newProdFakeStream(2), WithFsync(FsyncAlways))
		for i := range 3 {
			mustPut(t, p, prodRec(i, 4)) // FsyncAlways: an fsync before each Put returns
		}
		if got := p.Stats().WALSyncs; got < 3 {
			t.Errorf("Stats().WALSyncs after 3 Puts under FsyncAlways = %d, want at least 3", got)
		}
		if err := p.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("no WAL", func(t *testing.T) {
		prodLeakCheck(t)
		p, err := NewProducer(NewStream(newProdFakeStream(2)), WithoutWAL())
		if err != nil {
			t.Fatal(err)
		}
		mustPut(t, p, prodRec(0, 4))
		if err := p.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := p.Stats().WALSyncs; got != 0 {
			t.Errorf("Stats().WALSyncs without a WAL = %d, want 0", got)
		}
		if err := p.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}
