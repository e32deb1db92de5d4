package stream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/unistream-go/unistream/stream/driver"
	"github.com/unistream-go/unistream/stream/streamtest"
	"github.com/unistream-go/unistream/stream/wal"
	"github.com/unistream-go/unistream/stream/wal/waltest"
)

var prodT0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// prodRec is record i with a key among keys.
func prodRec(i, keys int) Record {
	return Record{
		ID:    fmt.Sprintf("r%03d", i),
		Key:   []byte(fmt.Sprintf("k%d", i%keys)),
		Value: []byte(fmt.Sprintf("value-%03d", i)),
	}
}

// newTestProducer makes a producer with a WAL in a temp dir and a fake
// clock; opts come after the defaults and win.
func newTestProducer(t *testing.T, s *prodFakeStream, opts ...ProducerOption) (*Producer, *streamtest.FakeClock, string) {
	t.Helper()
	clock := streamtest.NewFakeClock(prodT0)
	path := filepath.Join(t.TempDir(), "producer.wal")
	all := append([]ProducerOption{
		WithWAL(path),
		WithClock(clock),
		WithMaxAge(time.Hour),
		WithSendRetry(RetryPolicy{Initial: 100 * time.Millisecond, Multiplier: 2, MaxInterval: time.Second}),
	}, opts...)
	p, err := NewProducer(NewStream(s), all...)
	if err != nil {
		t.Fatalf("NewProducer: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if t.Failed() {
			cancel() // do not wait for a stream that may never come back
		}
		defer cancel()
		p.Close(ctx)
	})
	return p, clock, path
}

func mustPut(t *testing.T, p *Producer, r Record) {
	t.Helper()
	if err := p.Put(context.Background(), r); err != nil {
		t.Fatalf("Put %s: %v", r.ID, err)
	}
}

func batchSizes(bs [][]string) []int {
	var out []int
	for _, b := range bs {
		out = append(out, len(b))
	}
	return out
}

// checkKeyOrder fails if the records of one key were stored out of Put
// order (by the ID numbering of prodRec).
func checkKeyOrder(t *testing.T, recs []driver.Record) {
	t.Helper()
	last := map[string]string{}
	for _, r := range recs {
		if prev, ok := last[string(r.Key)]; ok && r.ID < prev {
			t.Fatalf("key %s: %s stored after %s", r.Key, r.ID, prev)
		}
		last[string(r.Key)] = r.ID
	}
}

func TestProducerBatchByCount(t *testing.T) {
	prodLeakCheck(t)
	s := newProdFakeStream(2)
	// One lane: the batches are cut from the records of every key, in Put
	// order (TestProducerLanesBatchPerLane covers several lanes).
	p, _, _ := newTestProducer(t, s, WithMaxRecords(5), WithSendLanes(1))
	for i := range 12 {
		mustPut(t, p, prodRec(i, 3))
	}
	prodWaitFor(t, "two batches", func() bool { return s.count() == 10 })
	if err := p.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := batchSizes(s.callBatches()); !reflect.DeepEqual(got, []int{5, 5, 2}) {
		t.Fatalf("batches %v, want [5 5 2]", got)
	}
	if got := s.writtenIDs(); len(got) != 12 || got[0] != "r000" || got[11] != "r011" {
		t.Fatalf("written %v", got)
	}
	st := p.Stats()
	if st.Put != 12 || st.Sent != 12 || st.Batches != 3 || st.Buffered != 0 || st.FailedAttempts != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestProducerBatchCappedByCapabilities(t *testing.T) {
	prodLeakCheck(t)
	s := newProdFakeStream(1)
	s.caps = driver.Capabilities{MaxBatchRecords: 4, MaxBatchBytes: 1000}
	// One lane: a batch is due at MaxRecords (with 4 lanes, a lane's
	// share of it, 1 record, would be).
	p, _, _ := newTestProducer(t, s, WithMaxRecords(500), WithMaxBytes(1<<20), WithSendLanes(1))
	for i := range 10 {
		mustPut(t, p, prodRec(i, 1))
	}
	if err := p.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := batchSizes(s.callBatches()); !reflect.DeepEqual(got, []int{4, 4, 2}) {
		t.Fatalf("batches %v, want [4 4 2]", got)
	}
}

func TestProducerBatchByBytes(t *testing.T) {
	prodLeakCheck(t)
	s := newProdFakeStream(2)
	// One lane: the keyless record and the keyed one after it are sent in
	// that order.
	p, _, _ := newTestProducer(t, s, WithMaxBytes(100), WithSendLanes(1))
	rec := func(i int) Record { // 4 + 2 + 19 = 25 bytes
		return Record{ID: fmt.Sprintf("r%03d", i), Key: []byte("k1"), Value: bytes.Repeat([]byte("v"), 19)}
	}
	for i := range 9 {
		mustPut(t, p, rec(i))
	}
	prodWaitFor(t, "two batches", func() bool { return s.count() == 8 })
	if err := p.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := batchSizes(s.callBatches()); !reflect.DeepEqual(got, []int{4, 4, 1}) {
		t.Fatalf("batches %v, want [4 4 1]", got)
	}
	// A record larger than MaxBytes goes alone.
	mustPut(t, p, Record{ID: "big", Value: make([]byte, 300)})
	mustPut(t, p, rec(100))
	if err := p.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	bs := s.callBatches()
	if got := bs[len(bs)-2:]; !reflect.DeepEqual(got, [][]string{{"big"}, {"r100"}}) {
		t.Fatalf("last batches %v", got)
	}
}

func TestProducerBatchByAgeFakeClock(t *testing.T) {
	prodLeakCheck(t)
	s := newProdFakeStream(2)
	// One lane: the three records (two keys) make one batch.
	p, clock, _ := newTestProducer(t, s, WithMaxAge(time.Second), WithSendLanes(1))
	for i := range 3 {
		mustPut(t, p, prodRec(i, 2))
	}
	clock.Advance(999 * time.Millisecond)
	p.wakeSender()
	p.mu.Lock()
	send, wait := p.readyLocked(p.lanes[0])
	p.mu.Unlock()
	if send || wait != time.Millisecond {
		t.Fatalf("ready at 999ms: %v, wait %v", send, wait)
	}
	clock.Advance(time.Millisecond)
	p.wakeSender()
	prodWaitFor(t, "the age batch", func() bool { return s.count() == 3 })
	if got := batchSizes(s.callBatches()); !reflect.DeepEqual(got, []int{3}) {
		t.Fatalf("batches %v, want [3]", got)
	}
}

func TestProducerBatchByAgeRealClock(t *testing.T) {
	prodLeakCheck(t)
	s := newProdFakeStream(2)
	p, _, _ := newTestProducer(t, s, WithClock(SystemClock{}), WithMaxAge(5*time.Millisecond))
	mustPut(t, p, prodRec(1, 1))
	// Nobody flushes: only the age timer can send it.
	prodWaitFor(t, "the age batch", func() bool { return s.count() == 1 })
}

func TestProducerFlushAndClose(t *testing.T) {
	prodLeakCheck(t)
	s := newProdFakeStream(3)
	p, _, path := newTestProducer(t, s)
	for i := range 20 {
		mustPut(t, p, prodRec(i, 4))
	}
	if err := p.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s.count() != 20 {
		t.Fatalf("Flush returned with %d of 20 written", s.count())
	}
	if err := p.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i := 20; i < 25; i++ {
		mustPut(t, p, prodRec(i, 4))
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s.count() != 25 {
		t.Fatalf("Close returned with %d of 25 written", s.count())
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := p.Put(context.Background(), prodRec(99, 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Put after Close: %v", err)
	}
	if err := p.Flush(context.Background()); err != nil {
		t.Fatalf("Flush after Close with nothing pending: %v", err)
	}
	// One writer per send lane that had records, each closed.
	lanes := map[int]bool{}
	for i := range 25 {
		lanes[p.laneOf(prodRec(i, 4).Key)] = true
	}
	if s.writers != len(lanes) || s.writersClosed != len(lanes) || s.closed {
		t.Fatalf("writers %d closed %d (want %d, one per lane used), stream closed %v", s.writers, s.writersClosed, len(lanes), s.closed)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != wal.HeaderSize {
		t.Fatalf("WAL after a clean Close: %v, %v", fi, err)
	}
	// Records keep their given fields and get the stream's order.
	w := s.written()
	checkKeyOrder(t, w)
	for _, r := range w {
		if r.ID == "r000" && (string(r.Value) != "value-000" || !r.Time.Equal(prodT0)) {
			t.Fatalf("first record %+v", r)
		}
	}
}

func TestProducerPartialFailureResendsOnlyFailedInOrder(t *testing.T) {
	prodLeakCheck(t)
	s := newProdFakeStream(3)
	// r003 fails on its first attempt; the records of its partition after it
	// in the same call fail with it.
	s.failRecord = func(call int, r *driver.Record) error {
		if call == 1 && r.ID == "r003" {
			return errors.New("throttled")
		}
		return nil
	}
	ev := &prodEvents{}
	// One lane: one batch of every key, one hold
	// (TestProducerLanesKeyOrderUnderFailures covers several lanes).
	p, clock, _ := newTestProducer(t, s, WithObserver(ev), WithSendLanes(1))
	for i := range 12 {
		mustPut(t, p, prodRec(i, 6))
	}
	if err := p.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	bs := s.callBatches()
	if len(bs) != 2 || len(bs[0]) != 12 {
		t.Fatalf("batches %v", bs)
	}
	part := s.partition([]byte("k3"))
	var want []string
	for i := 3; i < 12; i++ {
		if s.partition(prodRec(i, 6).Key) == part {
			want = append(want, fmt.Sprintf("r%03d", i))
		}
	}
	if !reflect.DeepEqual(bs[1], want) {
		t.Fatalf("re-sent %v, want only the failed records %v", bs[1], want)
	}
	w := s.written()
	if len(w) != 12 {
		t.Fatalf("%d records written", len(w))
	}
	checkKeyOrder(t, w)
	st := p.Stats()
	if st.FailedAttempts != uint64(len(want)) || st.Sent != 12 || st.Holds != 1 {
		t.Fatalf("stats %+v", st)
	}
	holds := ev.of(EventProducerHold)
	if len(holds) != 1 || holds[0].Delay != 100*time.Millisecond || holds[0].Attempt != 1 || holds[0].Err == nil || !strings.Contains(holds[0].Err.Error(), "throttled") {
		t.Fatalf("holds %+v", holds)
	}
	if got := clock.Sleeps(); !reflect.DeepEqual(got, []time.Duration{100 * time.Millisecond}) {
		t.Fatalf("sleeps %v", got)
	}
	failed := ev.of(EventProducerFailed)
	if len(failed) != 1 || failed[0].Count != len(want) || failed[0].Err == nil || !strings.Contains(failed[0].Err.Error(), "throttled") {
		t.Fatalf("failed events %+v", failed)
	}
	sent := ev.of(EventProducerSent)
	if len(sent) != 2 || sent[0].Count != 12-len(want) || sent[1].Count != len(want) {
		t.Fatalf("sent events %+v", sent)
	}
	if emits := ev.of(EventProducerEmit); len(emits) != 2 || emits[0].Count != 12 || emits[0].Stream != "fake" {
		t.Fatalf("emit events %+v", emits)
	}
}

func TestProducerWholeFailureBacksOffExponentially(t *testing.T) {
	prodLeakCheck(t)
	s := newProdFakeStream(2)
	s.failWrite = func(call int, _ []driver.Record) error {
		if call <= 6 {
			return fmt.Errorf("unavailable #%d", call)
		}
		return nil
	}
	ev := &prodEvents{}
	// One lane: the failing calls, counted by the stream, are one lane's
	// successive attempts.
	p, clock, _ := newTestProducer(t, s, WithObserver(ev), WithSendLanes(1))
	for i := range 5 {
		mustPut(t, p, prodRec(i, 2))
	}
	if err := p.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	var delays []time.Duration
	for _, e := range ev.of(EventProducerHold) {
		delays = append(delays, e.Delay)
	}
	ms := time.Millisecond
	want := []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, 1000 * ms, 1000 * ms}
	if !reflect.DeepEqual(delays, want) {
		t.Fatalf("hold delays %v, want %v", delays, want)
	}
	if !reflect.DeepEqual(clock.Sleeps(), want) {
		t.Fatalf("sleeps %v, want %v", clock.Sleeps(), want)
	}
	if got := s.writtenIDs(); !reflect.DeepEqual(got, []string{"r000", "r001", "r002", "r003", "r004"}) {
		t.Fatalf("written %v", got)
	}
	if bs := s.callBatches(); len(bs) != 7 {
		t.Fatalf("%d calls, want 7", len(bs))
	}
	// A success resets the backoff.
	s.mu.Lock()
	s.failWrite = func(call int, _ []driver.Record) error {
		if call == 8 {
			return errors.New("once more")
		}
		return nil
	}
	s.mu.Unlock()
	mustPut(t, p, prodRec(9, 2))
	if err := p.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if holds := ev.of(EventProducerHold); holds[len(holds)-1].Delay != 100*ms {
		t.Fatalf("backoff not reset after success: %v", holds[len(holds)-1].Delay)
	}
}

func TestProducerOpenWriterFailureHolds(t *testing.T) {
	prodLeakCheck(t)
	s := newProdFakeStream(1)
	s.openWriterErr = errors.New("broker down")
	holds := 0
	obs := ObserverFunc(func(e Event) {
		if e.Kind == EventProducerHold {
			if holds++; holds == 3 { // the stream comes back
				s.mu.Lock()
				s.openWriterErr = nil
				s.mu.Unlock()
			}
		}
	})
	p, _, _ := newTestProducer(t, s, WithObserver(obs))
	mustPut(t, p, prodRec(1, 1))
	if err := p.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s.count() != 1 || holds != 3 {
		t.Fatalf("written %d after %d holds", s.count(), holds)
	}
}

func TestProducerBufferFullBlocksUntilRoom(t *testing.T) {
	prodLeakCheck(t)
	s := newProdFakeStream(1)
	s.block = make(chan struct{})
	p, _, _ := newTestProducer(t, s, WithBufferLimit(3, 1<<20))
	for i := range 3 {
		mustPut(t, p, prodRec(i, 1))
	}
	// A Put at the bound waits, and gives up with its context.
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- p.Put(ctx, prodRec(3, 1)) }()
	prodWaitFor(t, "Put to block", func() bool { p.mu.Lock(); defer p.mu.Unlock(); return p.waiting == 1 })
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Put: %v", err)
	}
	// Another waits until the stream takes the buffered records.
	go func() { errc <- p.Put(context.Background(), prodRec(4, 1)) }()
	prodWaitFor(t, "Put to block", func() bool { p.mu.Lock(); defer p.mu.Unlock(); return p.waiting == 1 })
	select {
	case err := <-errc:
		t.Fatalf("Put returned %v while the buffer was full", err)
	default:
	}
	close(s.block)
	if err := <-errc; err != nil {
		t.Fatalf("Put after room: %v", err)
	}
	if err := p.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := s.writtenIDs(); !reflect.DeepEqual(got, []string{"r000", "r001", "r002", "r004"}) {
		t.Fatalf("written %v", got)
	}
}

func TestProducerBufferFullByBytes(t *testing.T) {
	prodLeakCheck(t)
	s := newProdFakeStream(1)
	s.block = make(chan struct{})
	p, _, _ := newTestProducer(t, s, WithBufferLimit(1000, 50), WithBlockWhenFull(false))
	mustPut(t, p, Record{ID: "a", Value: make([]byte, 30)})
	err := p.Put(context.Background(), Record{ID: "b", Value: make([]byte, 30)})
	if !errors.Is(err, ErrBufferFull) {
		t.Fatalf("Put over the byte bound: %v", err)
	}
	close(s.block)
	if err := p.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	// A record over the byte bound is accepted into an empty buffer.
	mustPut(t, p, Record{ID: "huge", Value: make([]byte, 80)})
	if err := p.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := s.writtenIDs(); !reflect.DeepEqual(got, []string{"a", "huge"}) {
		t.Fatalf("written %v", got)
	}
}

func TestProducerBufferFullReturnsError(t *testing.T) {
	prodLeakCheck(t)
	s := newProdFakeStream(1)
	s.block = make(chan struct{})
	p, _, _ := newTestProducer(t, s, WithBufferLimit(2, 1<<20), WithBlockWhenFull(false))
	mustPut(t, p, prodRec(0, 1))
	mustPut(t, p, prodRec(1, 1))
	err := p.Put(context.Background(), prodRec(2, 1))
	if !errors.Is(err, ErrBufferFull) || !strings.Contains(err.Error(), "2 records") {
		t.Fatalf("Put at the bound: %v", err)
	}
	if st := p.Stats(); st.Put != 2 || st.Buffered != 2 {
		t.Fatalf("stats %+v", st)
	}
	close(s.block)
	if err := p.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	mustPut(t, p, prodRec(2, 1))
}

func TestProducerRecordTooLarge(t *testing.T) {
	prodLeakCheck(t)
	s := newProdFakeStream(1)
	s.caps.MaxRecordBytes = 50
	// FsyncAlways: a Put that returned has its record in the file.
	p, _, path := newTestProducer(t, s, WithFsync(FsyncAlways))
	err := p.Put(context.Background(), Record{ID: "big", Key: []byte("k"), Value: make([]byte, 60)})
	if !errors.Is(err, driver.ErrRecordTooLarge) || !strings.Contains(err.Error(), "64 bytes") || !strings.Contains(err.Error(), "50 bytes") {
		t.Fatalf("Put: %v", err)
	}
	mustPut(t, p, Record{ID: "ok", Value: make([]byte, 48)})
	if st := p.Stats(); st.Put != 1 {
		t.Fatalf("stats %+v", st)
	}
	p.abandon()
	l, es, err := wal.Open(path, wal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if len(es) != 1 || es[0].Record.ID != "ok" {
		t.Fatalf("WAL holds %d records", len(es))
	}
}

func TestProducerReplayAfterAbandon(t *testing.T) {
	prodLeakCheck(t)
	s := newProdFakeStream(3)
	// The first call stores everything; then the stream is down.
	s.failWrite = func(call int, _ []driver.Record) error {
		if call > 1 {
			return errors.New("down")
		}
		return nil
	}
	// One lane: the stream's calls after the first all fail, and the
	// replay is checked in Put order across keys
	// (TestProducerLanesCrashReplay covers several lanes).
	p, _, path := newTestProducer(t, s, WithSendLanes(1))
	for i := range 4 {
		mustPut(t, p, prodRec(i, 3))
	}
	if err := p.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i := 4; i < 15; i++ {
		mustPut(t, p, prodRec(i, 3))
	}
	// A Flush whose context ends still starts the sending.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Flush(ctx); !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "11 records") {
		t.Fatalf("Flush with a cancelled context: %v", err)
	}
	prodWaitFor(t, "a failed write", func() bool { return p.Stats().FailedAttempts > 0 })
	p.abandon() // a crash: no flush, no close

	s.mu.Lock()
	s.failWrite = nil
	s.mu.Unlock()
	ev := &prodEvents{}
	p2, err := NewProducer(NewStream(s), WithWAL(path), WithObserver(ev), WithClock(streamtest.NewFakeClock(prodT0)), WithSendLanes(1))
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close(context.Background())
	if st := p2.Stats(); st.Replayed != 11 {
		t.Fatalf("stats after replay %+v", st)
	}
	if r := ev.of(EventProducerReplayed); len(r) != 1 || r[0].Count != 11 || r[0].Err != nil {
		t.Fatalf("replayed events %+v", r)
	}
	mustPut(t, p2, prodRec(15, 3))
	if err := p2.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range 16 {
		want = append(want, fmt.Sprintf("r%03d", i))
	}
	if got := s.writtenIDs(); !reflect.DeepEqual(got, want) {
		t.Fatalf("written %v, want %v", got, want)
	}
	// Replayed records keep their content.
	w := s.written()
	if string(w[7].Value) != "value-007" || string(w[7].Key) != "k1" {
		t.Fatalf("replayed record %+v", w[7])
	}
}

func TestProducerCloseTimeoutKeepsRecordsInWAL(t *testing.T) {
	prodLeakCheck(t)
	s := newProdFakeStream(1)
	s.block = make(chan struct{}) // the stream hangs
	p, _, path := newTestProducer(t, s)
	for i := range 3 {
		mustPut(t, p, prodRec(i, 1))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := p.Close(ctx)
	if err == nil || !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "3 records unsent") || !strings.Contains(err.Error(), path) {
		t.Fatalf("Close: %v", err)
	}
	if err2 := p.Close(context.Background()); err2 == nil || err2.Error() != err.Error() {
		t.Fatalf("second Close: %v", err2)
	}
	close(s.block)
	p2, _, _ := newTestProducer(t, s, WithWAL(path))
	if err := p2.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := s.writtenIDs(); !reflect.DeepEqual(got, []string{"r000", "r001", "r002"}) {
		t.Fatalf("written %v", got)
	}
}

func TestProducerWithoutWALCloseTimeoutSaysLost(t *testing.T) {
	prodLeakCheck(t)
	s := newProdFakeStream(1)
	s.block = make(chan struct{})
	defer close(s.block)
	p, err := NewProducer(NewStream(s), WithoutWAL())
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, p, prodRec(0, 1))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Close(ctx); err == nil || !strings.Contains(err.Error(), "lost") {
		t.Fatalf("Close: %v", err)
	}
}

func TestProducerCorruptWALIsAnErrorAndUntouched(t *testing.T) {
	prodLeakCheck(t)
	s := newProdFakeStream(1)
	s.failWrite = func(int, []driver.Record) error { return errors.New("down") }
	// FsyncAlways: a Put that returned has its record in the file.
	p, _, path := newTestProducer(t, s, WithFsync(FsyncAlways))
	for i := range 5 {
		mustPut(t, p, prodRec(i, 1))
	}
	p.abandon()
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	// A flipped byte in the second record frame.
	bad := append([]byte(nil), good...)
	frame := (len(good) - wal.HeaderSize) / 5
	off := wal.HeaderSize + frame
	bad[off+wal.FrameHeaderSize+3] ^= 0xff
	os.WriteFile(path, bad, 0o600)
	_, err = NewProducer(NewStream(s), WithWAL(path))
	if !errors.Is(err, wal.ErrCorrupt) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), fmt.Sprintf("offset %d", off)) {
		t.Fatalf("NewProducer on a corrupt WAL: %v", err)
	}
	if now, _ := os.ReadFile(path); !bytes.Equal(now, bad) {
		t.Fatal("the corrupt WAL was modified")
	}

	// A torn last frame is cut off and the rest replayed.
	os.WriteFile(path, good[:len(good)-7], 0o600)
	s.mu.Lock()
	s.failWrite = nil
	s.mu.Unlock()
	ev := &prodEvents{}
	p2, _, _ := newTestProducer(t, s, WithWAL(path), WithObserver(ev))
	st := p2.Stats()
	if st.Replayed != 4 || !st.Recovery.Repaired() || st.Recovery.TruncatedAt != int64(off+3*frame) {
		t.Fatalf("stats %+v", st)
	}
	if r := ev.of(EventProducerReplayed); len(r) != 1 || r[0].Count != 4 || r[0].Err == nil || !strings.Contains(r[0].Err.Error(), "torn") {
		t.Fatalf("replayed events %+v", r)
	}
	if err := p2.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := s.writtenIDs(); !reflect.DeepEqual(got, []string{"r000", "r001", "r002", "r003"}) {
		t.Fatalf("written %v", got)
	}
}

func TestProducerOptionErrors(t *testing.T) {
	prodLeakCheck(t)
	s := newProdFakeStream(1)
	path := filepath.Join(t.TempDir(), "p.wal")
	cases := []struct {
		option string
		opts   []ProducerOption
	}{
		{"WithWAL", nil},
		{"WithWAL", []ProducerOption{WithWAL("")}},
		{"WithoutWAL", []ProducerOption{WithWAL(path), WithoutWAL()}},
		{"WithFsync", []ProducerOption{WithWAL(path), WithFsync(FsyncInterval(0))}},
		{"WithFsync", []ProducerOption{WithoutWAL(), WithFsync(FsyncAlways)}},
		{"WithMaxRecords", []ProducerOption{WithoutWAL(), WithMaxRecords(0)}},
		{"WithMaxBytes", []ProducerOption{WithoutWAL(), WithMaxBytes(-1)}},
		{"WithMaxAge", []ProducerOption{WithoutWAL(), WithMaxAge(0)}},
		{"WithSendRetry: RetryPolicy.Initial", []ProducerOption{WithoutWAL(), WithSendRetry(RetryPolicy{Multiplier: 2, MaxInterval: time.Second})}},
		{"WithSendRetry: RetryPolicy.Multiplier", []ProducerOption{WithoutWAL(), WithSendRetry(RetryPolicy{Initial: 1, Multiplier: 0.5, MaxInterval: time.Second})}},
		{"WithBufferLimit", []ProducerOption{WithoutWAL(), WithBufferLimit(0, 10)}},
		{"WithBufferLimit", []ProducerOption{WithoutWAL(), WithBufferLimit(10, 0)}},
		{"WithClock", []ProducerOption{WithoutWAL(), WithClock(nil)}},
		{"WithIDFunc", []ProducerOption{WithoutWAL(), WithIDFunc(nil)}},
	}
	for _, c := range cases {
		_, err := NewProducer(NewStream(s), c.opts...)
		var oe *OptionError
		if !errors.As(err, &oe) || oe.Option != c.option || oe.Expected == "" {
			t.Errorf("%s: err %v", c.option, err)
		}
	}
	// MaxAttempts 0 is fine: the producer never gives up.
	p, err := NewProducer(NewStream(s), WithoutWAL(), WithSendRetry(RetryPolicy{Initial: time.Millisecond, Multiplier: 1, MaxInterval: time.Millisecond}),
		WithFsync(FsyncPerBatch))
	if err != nil {
		t.Fatal(err)
	}
	p.Close(context.Background())
	if _, err := NewProducer(nil, WithoutWAL()); err == nil {
		t.Fatal("nil stream accepted")
	}
	for p, want := range map[FsyncPolicy]string{FsyncAlways: "always", FsyncPerBatch: "per-batch", FsyncInterval(time.Second): "interval(1s)", FsyncInterval(-1): "invalid"} {
		if p.String() != want {
			t.Errorf("%d: %q, want %q", p, p.String(), want)
		}
	}
}

func TestProducerIDsTimesAndCopies(t *testing.T) {
	prodLeakCheck(t)
	s := newProdFakeStream(2)
	// One lane: the records are written in Put order, keyed or not.
	p, _, _ := newTestProducer(t, s, WithSendLanes(1))
	val := []byte("original")
	hv := []byte("header")
	if err := p.Put(context.Background(), Record{Key: []byte("k"), Value: val, Headers: []Header{{Key: "h", Value: hv}},
		Stream: "other", Partition: "9", Pointer: Pointer("x")}); err != nil {
		t.Fatal(err)
	}
	copy(val, "CHANGED!")
	copy(hv, "CHANGE")
	given := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	mustPut(t, p, Record{ID: "mine", Time: given})
	for range 100 {
		mustPut(t, p, Record{})
	}
	if err := p.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	w := s.written()
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	if !uuid.MatchString(w[0].ID) || !w[0].Time.Equal(prodT0) {
		t.Fatalf("default id %q time %v", w[0].ID, w[0].Time)
	}
	if !strings.HasPrefix(w[0].ID, fmt.Sprintf("%08x", prodT0.UnixMilli()>>16)) {
		t.Fatalf("id %q does not start with the time", w[0].ID)
	}
	if string(w[0].Value) != "original" || string(w[0].Headers[0].Value) != "header" {
		t.Fatalf("record data not copied at Put: %q %q", w[0].Value, w[0].Headers[0].Value)
	}
	if w[0].Stream != "" || w[0].Pointer == nil || string(w[0].Pointer) == "x" {
		t.Fatalf("read fields not cleared: %+v", w[0])
	}
	if w[1].ID != "mine" || !w[1].Time.Equal(given) {
		t.Fatalf("given id/time changed: %+v", w[1])
	}
	seen := map[string]bool{}
	for _, r := range w {
		if seen[r.ID] {
			t.Fatalf("duplicate id %s", r.ID)
		}
		seen[r.ID] = true
	}
	// A custom ID function.
	n := 0
	p2, _, _ := newTestProducer(t, s, WithIDFunc(func() string { n++; return fmt.Sprintf("custom-%d", n) }))
	mustPut(t, p2, Record{})
	p2.Close(context.Background())
	if w := s.written(); w[len(w)-1].ID != "custom-1" {
		t.Fatalf("custom id %q", w[len(w)-1].ID)
	}
	p3, _, _ := newTestProducer(t, s, WithIDFunc(func() string { return "" }))
	if err := p3.Put(context.Background(), Record{}); err == nil {
		t.Fatal("empty id accepted")
	}
}

func TestProducerFsyncPolicies(t *testing.T) {
	prodLeakCheck(t)
	count := func(policy FsyncPolicy) (syncs int) {
		s := newProdFakeStream(1)
		fs := &waltest.FaultFS{}
		// One lane: two batches of 5.
		p, _, _ := newTestProducer(t, s, WithFsync(policy), withWALOptions(wal.Options{OpenFile: fs.OpenFile}), WithMaxRecords(5), WithSendLanes(1))
		before := fs.Syncs()
		for i := range 10 {
			mustPut(t, p, prodRec(i, 1))
		}
		if err := p.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		n := fs.Syncs() - before
		p.Close(context.Background())
		return n
	}
	if n := count(FsyncAlways); n != 10 {
		t.Errorf("FsyncAlways: %d syncs for 10 records", n)
	}
	// At most one per batch: one fsync may cover both batches when the
	// second one's records were appended before the first one's sync.
	if n := count(FsyncPerBatch); n < 1 || n > 2 {
		t.Errorf("FsyncPerBatch: %d syncs for 2 batches", n)
	}
	// FsyncInterval syncs in the background.
	s := newProdFakeStream(1)
	fs := &waltest.FaultFS{}
	s.block = make(chan struct{})
	p, _, _ := newTestProducer(t, s, WithFsync(FsyncInterval(time.Millisecond)), withWALOptions(wal.Options{OpenFile: fs.OpenFile}))
	before := fs.Syncs()
	mustPut(t, p, prodRec(0, 1))
	prodWaitFor(t, "an interval fsync", func() bool { return fs.Syncs() > before })
	close(s.block)
}

func TestProducerConcurrentPuts(t *testing.T) {
	for _, policy := range []FsyncPolicy{FsyncAlways, FsyncPerBatch, FsyncInterval(time.Millisecond)} {
		t.Run(policy.String(), func(t *testing.T) {
			prodLeakCheck(t)
			s := newProdFakeStream(4)
			s.failRecord = func(call int, r *driver.Record) error {
				if call%3 == 0 && r.Value[len(r.Value)-1] == '7' {
					return errors.New("flaky")
				}
				return nil
			}
			p, _, path := newTestProducer(t, s, WithMaxRecords(7), WithFsync(policy), WithBufferLimit(20, 1<<20),
				withWALOptions(wal.Options{CompactBytes: 1024}))
			var wg sync.WaitGroup
			for g := range 6 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range 60 {
						r := Record{ID: fmt.Sprintf("g%d-%03d", g, i), Key: []byte(fmt.Sprintf("g%d", g)), Value: []byte(fmt.Sprint(i))}
						if err := p.Put(context.Background(), r); err != nil {
							t.Error(err)
						}
					}
				}()
			}
			wg.Wait()
			if err := p.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			w := s.written()
			if len(w) != 360 {
				t.Fatalf("%d records written, want 360", len(w))
			}
			checkKeyOrder(t, w)
			if fi, err := os.Stat(path); err != nil || fi.Size() != wal.HeaderSize {
				t.Fatalf("WAL after a clean Close: %v %v", fi, err)
			}
		})
	}
}

func TestOpenProducerOwnsTheStream(t *testing.T) {
	prodLeakCheck(t)
	s := newProdFakeStream(1)
	prodFakeStreamsMu.Lock()
	prodFakeStreams["owned"] = s
	prodFakeStreamsMu.Unlock()
	p, err := OpenProducer(context.Background(), "prodfake://owned", WithoutWAL())
	if err != nil {
		t.Fatal(err)
	}
	if p.Stream().Driver() != driver.Stream(s) || p.Stream().Scheme() != "prodfake" {
		t.Fatal("wrong stream")
	}
	mustPut(t, p, prodRec(0, 1))
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !s.closed || s.count() != 1 {
		t.Fatalf("closed %v, written %d", s.closed, s.count())
	}
	if _, err := OpenProducer(context.Background(), "prodfake://missing", WithoutWAL()); err == nil {
		t.Fatal("missing stream opened")
	}
	s2 := newProdFakeStream(1)
	prodFakeStreamsMu.Lock()
	prodFakeStreams["bad"] = s2
	prodFakeStreamsMu.Unlock()
	if _, err := OpenProducer(context.Background(), "prodfake://bad"); err == nil || !s2.closed {
		t.Fatalf("bad options: %v, stream closed %v", err, s2.closed)
	}
}

func TestProducerWALInUse(t *testing.T) {
	prodLeakCheck(t)
	s := newProdFakeStream(1)
	_, _, path := newTestProducer(t, s)
	if _, err := NewProducer(NewStream(s), WithWAL(path)); !errors.Is(err, wal.ErrLocked) {
		t.Fatalf("second producer on one WAL: %v", err)
	}
}

// TestProducerIDGen: the default IDs are UUIDv7 strings that strictly
// increase within a producer, also past 4096 in one millisecond and when
// the clock steps back, and differ between producers in their random bits.
func TestProducerIDGen(t *testing.T) {
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	t0 := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	var g, other uuidGen
	prev := ""
	for i := range 10000 {
		now := t0
		switch {
		case i >= 9000:
			now = t0.Add(-time.Second) // the clock steps back
		case i >= 5000:
			now = t0.Add(time.Millisecond)
		}
		id := string(g.next(nil, now))
		if !uuid.MatchString(id) {
			t.Fatalf("ID %d %q is not a UUIDv7 string", i, id)
		}
		if id <= prev {
			t.Fatalf("ID %d %q does not follow %q", i, id, prev)
		}
		prev = id
	}
	first := string(g.next(nil, t0.Add(time.Hour)))
	if !strings.HasPrefix(first, fmt.Sprintf("%08x", t0.Add(time.Hour).UnixMilli()>>16)) {
		t.Fatalf("ID %q does not start with its time", first)
	}
	o := string(other.next(nil, t0.Add(time.Hour)))
	if o[19:] == first[19:] {
		t.Fatalf("two producers share their random bits: %q and %q", o, first)
	}
}
