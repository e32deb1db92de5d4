package stream

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/unistream-go/unistream/stream/dlq"
	"github.com/unistream-go/unistream/stream/driver"
	"github.com/unistream-go/unistream/stream/wal"
)

// prodSink is a DLQ sink in memory; it fails its Puts while fail is set.
type prodSink struct {
	mu    sync.Mutex
	envs  []dlq.Envelope
	fail  bool
	fails int
}

func (s *prodSink) Put(_ context.Context, env *dlq.Envelope) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail {
		s.fails++
		return errors.New("dlq unreachable")
	}
	s.envs = append(s.envs, *env)
	return nil
}

func (s *prodSink) Close() error { return nil }

func (s *prodSink) setFail(b bool) {
	s.mu.Lock()
	s.fail = b
	s.mu.Unlock()
}

func (s *prodSink) all() []dlq.Envelope {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]dlq.Envelope(nil), s.envs...)
}

// refuseID makes s fail record id on every send with err.
func refuseID(s *prodFakeStream, id string, err error) {
	s.failRecord = func(_ int, r *driver.Record) error {
		if r.ID == id {
			return err
		}
		return nil
	}
}

// walLeft returns the IDs of the records the WAL at path would replay.
func walLeft(t *testing.T, path string) []string {
	t.Helper()
	log, entries, err := wal.Open(path, wal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	var ids []string
	for _, e := range entries {
		ids = append(ids, e.Record.ID)
	}
	return ids
}

// sentIDs counts the records the stream stored, by ID.
func sentIDs(s *prodFakeStream) map[string]int {
	m := map[string]int{}
	for _, id := range s.writtenIDs() {
		m[id]++
	}
	return m
}

// sendsOf counts the Write calls that carried id.
func sendsOf(s *prodFakeStream, id string) int {
	n := 0
	for _, b := range s.callBatches() {
		for _, x := range b {
			if x == id {
				n++
			}
		}
	}
	return n
}

func TestProducerRefusedRecordGoesToDLQ(t *testing.T) {
	prodLeakCheck(t)
	s := newProdFakeStream(3)
	refuseID(s, "r003", driver.Permanent(errors.New("not authorized to write")))
	sink := &prodSink{}
	ev := &prodEvents{}
	p, _, path := newTestProducer(t, s, WithObserver(ev), WithProducerDLQ(sink))
	for i := range 12 {
		mustPut(t, p, prodRec(i, 6))
	}
	if err := p.Flush(context.Background()); err != nil {
		t.Fatalf("Flush = %v; a dead-lettered record is not an error", err)
	}
	got := sentIDs(s)
	for i := range 12 {
		id := prodRec(i, 6).ID
		if want := map[bool]int{true: 0, false: 1}[id == "r003"]; got[id] != want {
			t.Errorf("%s stored %d times, want %d", id, got[id], want)
		}
	}
	checkKeyOrder(t, s.written()) // r009, of r003's key, went on after it
	if n := sendsOf(s, "r003"); n != 1 {
		t.Errorf("r003 sent %d times, want 1: a permanent error is not retried", n)
	}
	envs := sink.all()
	if len(envs) != 1 {
		t.Fatalf("%d envelopes, want 1", len(envs))
	}
	env := envs[0]
	if env.ID != "r003" || env.Reason != "permanent" || env.Attempts != 1 || len(env.Errors) != 1 ||
		env.Errors[0].Error != "not authorized to write" || string(env.Value) != "value-003" ||
		env.Source.Stream != "fake" || env.Source.Scheme != "fake" {
		t.Errorf("envelope = %+v", env)
	}
	if h := ev.of(EventProducerHold); len(h) != 0 {
		t.Errorf("%d holds: no key waits for a refused record", len(h))
	}
	lane := p.laneOf([]byte("k3"))
	dl := ev.of(EventProducerDeadLettered)
	if len(dl) != 1 || dl[0].Count != 1 || dl[0].Lane != lane || !driver.IsPermanent(dl[0].Err) {
		t.Errorf("dead-lettered events = %+v, want one of lane %d", dl, lane)
	}
	for _, e := range ev.of(EventProducerSent) {
		if e.Lane < 0 || e.Lane >= len(p.lanes) {
			t.Errorf("sent event of lane %d", e.Lane)
		}
	}
	st := p.Stats()
	if st.DeadLettered != 1 || st.Dropped != 0 || st.Sent != 11 || len(st.Lanes) != DefaultSendLanes || st.Lanes[lane].DeadLettered != 1 {
		t.Errorf("stats = %+v", st)
	}
	var sent uint64
	for _, ls := range st.Lanes {
		sent += ls.Sent
	}
	if sent != 11 {
		t.Errorf("lanes sent %d in all, want 11", sent)
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if left := walLeft(t, path); len(left) != 0 {
		t.Fatalf("the WAL replays %v: a dead-lettered record leaves it", left)
	}
}

func TestProducerRefusedRecordWithoutDLQIsReported(t *testing.T) {
	prodLeakCheck(t)
	s := newProdFakeStream(3)
	cause := driver.Permanent(errors.New("topic does not exist"))
	refuseID(s, "r003", cause)
	ev := &prodEvents{}
	p, _, path := newTestProducer(t, s, WithObserver(ev))
	for i := range 12 {
		mustPut(t, p, prodRec(i, 6))
	}
	err := p.Flush(context.Background())
	if !errors.Is(err, ErrRecordRefused) || !errors.Is(err, cause) || !strings.Contains(err.Error(), `"r003"`) {
		t.Fatalf("Flush = %v, want ErrRecordRefused naming r003 and its cause", err)
	}
	if err := p.Flush(context.Background()); err != nil {
		t.Fatalf("second Flush = %v: a refusal is reported once", err)
	}
	if got := sentIDs(s); len(got) != 11 || got["r003"] != 0 {
		t.Fatalf("stored %v", got)
	}
	dr := ev.of(EventProducerDropped)
	if len(dr) != 1 || dr[0].Lane != p.laneOf([]byte("k3")) || !errors.Is(dr[0].Err, cause) {
		t.Errorf("dropped events = %+v", dr)
	}
	if st := p.Stats(); st.Dropped != 1 || st.Lanes[p.laneOf([]byte("k3"))].Dropped != 1 {
		t.Errorf("stats = %+v", st)
	}
	// A refusal no Flush reported is reported by Close.
	mustPut(t, p, Record{ID: "r003", Key: []byte("k3")})
	if err := p.Close(context.Background()); !errors.Is(err, ErrRecordRefused) {
		t.Fatalf("Close = %v, want ErrRecordRefused", err)
	}
	if left := walLeft(t, path); len(left) != 0 {
		t.Fatalf("the WAL replays %v: a dropped record leaves it", left)
	}
}

func TestProducerMaxAttemptsBoundsTransientRetries(t *testing.T) {
	for _, tc := range []struct {
		name     string
		max      int
		failures int // failed sends of r003 before it goes through; -1: always
		sends    int
		dlq      bool
	}{
		{"one attempt", 1, -1, 1, true},
		{"three attempts", 3, -1, 3, true},
		{"succeeds on the last attempt", 3, 2, 3, false},
		{"for ever", 0, 6, 7, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prodLeakCheck(t)
			s := newProdFakeStream(3)
			var mu sync.Mutex
			failed := 0
			s.failRecord = func(_ int, r *driver.Record) error {
				mu.Lock()
				defer mu.Unlock()
				if r.ID == "r003" && (tc.failures < 0 || failed < tc.failures) {
					failed++
					return errors.New("throttled")
				}
				return nil
			}
			sink := &prodSink{}
			ev := &prodEvents{}
			p, _, _ := newTestProducer(t, s, WithObserver(ev), WithProducerDLQ(sink), WithSendLanes(1),
				WithSendRetry(RetryPolicy{MaxAttempts: tc.max, Initial: time.Millisecond, Multiplier: 2, MaxInterval: time.Millisecond}))
			for i := range 6 {
				mustPut(t, p, prodRec(i, 6))
			}
			if err := p.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			if n := sendsOf(s, "r003"); n != tc.sends {
				t.Errorf("r003 sent %d times, want %d", n, tc.sends)
			}
			envs := sink.all()
			if !tc.dlq {
				if len(envs) != 0 || sentIDs(s)["r003"] != 1 {
					t.Fatalf("envelopes %+v; r003 stored %d times", envs, sentIDs(s)["r003"])
				}
				return
			}
			if len(envs) != 1 || envs[0].ID != "r003" || envs[0].Reason != "exhausted" || envs[0].Attempts != tc.max {
				t.Fatalf("envelopes = %+v, want r003 exhausted after %d attempts", envs, tc.max)
			}
			if h := ev.of(EventProducerHold); len(h) != tc.max-1 {
				t.Errorf("%d holds, want %d", len(h), tc.max-1)
			}
		})
	}
}

func TestProducerFailingDLQHoldsTheLane(t *testing.T) {
	prodLeakCheck(t)
	s := newProdFakeStream(3)
	refuseID(s, "r003", driver.Permanent(errors.New("record too large after compression")))
	sink := &prodSink{fail: true}
	ev := &prodEvents{}
	path := filepath.Join(t.TempDir(), "producer.wal")
	p, err := NewProducer(NewStream(s), WithWAL(path), WithObserver(ev), WithProducerDLQ(sink), WithSendLanes(1),
		WithSendRetry(RetryPolicy{Initial: time.Millisecond, Multiplier: 2, MaxInterval: 2 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		mustPut(t, p, prodRec(i, 6))
	}
	prodWaitFor(t, "three failed DLQ writes", func() bool { return len(ev.of(EventProducerDLQError)) >= 3 })
	for _, e := range ev.of(EventProducerDLQError) {
		if e.Lane != 0 || !strings.Contains(e.Err.Error(), "dlq unreachable") || e.Delay <= 0 {
			t.Fatalf("dlq error event = %+v", e)
		}
	}
	// Stopped while the DLQ is down: nothing is dropped.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Close(ctx); err == nil {
		t.Fatal("Close = nil with a record neither written nor dead-lettered")
	}
	// The WAL keeps r003 and the records of its partition that followed
	// it in its batch (held behind it); the others were stored.
	left := walLeft(t, path)
	if len(left) == 0 || left[0] != "r003" {
		t.Fatalf("the WAL replays %v, want r003 first", left)
	}
	stored := sentIDs(s)
	for _, id := range left {
		stored[id]++
	}
	for i := range 6 {
		if id := prodRec(i, 6).ID; stored[id] != 1 {
			t.Fatalf("%s stored or kept %d times, want 1 (stored %v, WAL %v)", id, stored[id], s.writtenIDs(), left)
		}
	}
	// The next producer sends it again, and dead-letters it once the DLQ
	// is back.
	sink.setFail(false)
	p2, err := NewProducer(NewStream(s), WithWAL(path), WithProducerDLQ(sink))
	if err != nil {
		t.Fatal(err)
	}
	if err := p2.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if envs := sink.all(); len(envs) != 1 || envs[0].ID != "r003" {
		t.Fatalf("envelopes = %+v, want r003 once", envs)
	}
	if got := sentIDs(s); len(got) != 5 || got["r003"] != 0 {
		t.Fatalf("stored %v, want every record but r003 once", got)
	}
	if left := walLeft(t, path); len(left) != 0 {
		t.Fatalf("the WAL replays %v", left)
	}
}

func TestWithSendRetryMaxAttempts(t *testing.T) {
	s := newProdFakeStream(1)
	_, err := NewProducer(NewStream(s), WithoutWAL(), WithSendRetry(RetryPolicy{MaxAttempts: -1, Initial: 1, Multiplier: 1, MaxInterval: 1}))
	var oe *OptionError
	if !errors.As(err, &oe) || !strings.Contains(oe.Option, "MaxAttempts") {
		t.Fatalf("NewProducer = %v, want an OptionError naming MaxAttempts", err)
	}
	if _, err := NewProducer(NewStream(s), WithoutWAL(), WithProducerDLQ(nil)); !errors.As(err, &oe) || oe.Option != "WithProducerDLQ" {
		t.Fatalf("NewProducer = %v, want an OptionError naming WithProducerDLQ", err)
	}
}
