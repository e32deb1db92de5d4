package stream

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/unistream-go/unistream/stream/driver"
)

// prodFakeStream is a tiny in-memory driver.Stream for the producer tests:
// it routes records to partitions by key hash, records every written
// record, and can fail whole Write calls or chosen records. A failed record
// fails the records of its partition after it in the same call, as the
// driver.Writer contract requires.
type prodFakeStream struct {
	name  string
	parts int
	caps  driver.Capabilities

	mu      sync.Mutex
	logs    [][]driver.Record // per partition
	all     []driver.Record   // every stored record, in storage order
	calls   int               // Write calls
	batches [][]string        // the IDs of each Write call
	// failWrite, if set, fails a whole call (by its number, from 1).
	failWrite func(call int, recs []driver.Record) error
	// failRecord, if set, fails one record of a call.
	failRecord func(call int, r *driver.Record) error
	// refuse fails the records of these IDs on every call, with their error.
	refuse map[string]error
	// block, if set, makes Write wait for it to be closed (or ctx).
	block         chan struct{}
	openWriterErr error
	writers       int
	writersClosed int
	closed        bool
	// inflight counts the Write calls in progress (waiting on block
	// included), maxInflight the most at once, and concurrentUse the
	// calls made on a writer whose previous call had not returned.
	inflight      int
	maxInflight   int
	concurrentUse int
}

func newProdFakeStream(parts int) *prodFakeStream {
	return &prodFakeStream{name: "fake", parts: parts, logs: make([][]driver.Record, parts)}
}

func (s *prodFakeStream) partition(key []byte) int {
	h := fnv.New32a()
	h.Write(key)
	return int(h.Sum32() % uint32(s.parts))
}

func (s *prodFakeStream) Name() string { return s.name }

func (s *prodFakeStream) Partitions(context.Context) ([]driver.Partition, error) {
	var out []driver.Partition
	for i := range s.parts {
		out = append(out, driver.Partition{ID: strconv.Itoa(i)})
	}
	return out, nil
}

func (s *prodFakeStream) OpenReader(context.Context, string, driver.Start) (driver.Reader, error) {
	return nil, errors.New("prodFakeStream: no readers")
}

func (s *prodFakeStream) OpenWriter(context.Context) (driver.Writer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.openWriterErr != nil {
		return nil, s.openWriterErr
	}
	s.writers++
	return &prodFakeWriter{s: s}, nil
}

func (s *prodFakeStream) Codec() driver.PointerCodec { return prodFakeCodec{} }

func (s *prodFakeStream) Capabilities() driver.Capabilities { return s.caps }

func (s *prodFakeStream) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

// written returns a copy of every stored record, in storage order.
func (s *prodFakeStream) written() []driver.Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]driver.Record(nil), s.all...)
}

func (s *prodFakeStream) writtenIDs() []string {
	var out []string
	for _, r := range s.written() {
		out = append(out, r.ID)
	}
	return out
}

func (s *prodFakeStream) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.all)
}

func (s *prodFakeStream) callBatches() [][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]string(nil), s.batches...)
}

type prodFakeWriter struct {
	s      *prodFakeStream
	closed bool
	busy   bool // a Write is in progress (under s.mu)
}

func (w *prodFakeWriter) Write(ctx context.Context, recs []driver.Record, results []driver.WriteResult) error {
	s := w.s
	s.mu.Lock()
	block := s.block
	if w.busy {
		s.concurrentUse++
	}
	w.busy = true
	s.inflight++
	s.maxInflight = max(s.maxInflight, s.inflight)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		w.busy = false
		s.inflight--
		s.mu.Unlock()
	}()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(results) != len(recs) {
		return fmt.Errorf("prodFakeWriter: %d results for %d records", len(results), len(recs))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if w.closed {
		return errors.New("prodFakeWriter: closed")
	}
	s.calls++
	call := s.calls
	ids := make([]string, len(recs))
	for i := range recs {
		ids[i] = recs[i].ID
	}
	s.batches = append(s.batches, ids)
	if s.failWrite != nil {
		if err := s.failWrite(call, recs); err != nil {
			return err
		}
	}
	broken := map[int]error{}
	for i := range recs {
		p := s.partition(recs[i].Key)
		if err, ok := broken[p]; ok {
			results[i] = driver.WriteResult{Err: fmt.Errorf("prodFakeWriter: follows a failed record of partition %d: %w: %w", p, driver.ErrPrecedingRecordFailed, err)}
			continue
		}
		if err, ok := s.refuse[recs[i].ID]; ok {
			broken[p] = err
			results[i] = driver.WriteResult{Err: err}
			continue
		}
		if s.failRecord != nil {
			if err := s.failRecord(call, &recs[i]); err != nil {
				broken[p] = err
				results[i] = driver.WriteResult{Err: err}
				continue
			}
		}
		r := recs[i]
		r.Partition = strconv.Itoa(p)
		r.Pointer = driver.Pointer(strconv.Itoa(len(s.logs[p])))
		s.logs[p] = append(s.logs[p], r)
		s.all = append(s.all, r)
		results[i] = driver.WriteResult{Partition: r.Partition, Pointer: r.Pointer}
	}
	return nil
}

func (w *prodFakeWriter) Close() error {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	if !w.closed {
		w.closed = true
		w.s.writersClosed++
	}
	return nil
}

type prodFakeCodec struct{}

func (prodFakeCodec) Decode(b []byte) (driver.Pointer, error) { return driver.Pointer(b), nil }
func (prodFakeCodec) Compare(a, b driver.Pointer) int {
	x, _ := strconv.Atoi(string(a))
	y, _ := strconv.Atoi(string(b))
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}
func (prodFakeCodec) Format(stream, partition string, p driver.Pointer) string {
	return "fake:" + stream + "/" + partition + "@" + string(p)
}
func (prodFakeCodec) Parse(string) (string, string, driver.Pointer, error) {
	return "", "", nil, errors.New("prodFakeCodec: no parsing")
}

// prodFakeStreams are the streams the "prodfake" scheme opens, by host.
var (
	prodFakeStreamsMu sync.Mutex
	prodFakeStreams   = map[string]*prodFakeStream{}
)

func init() {
	driver.Register("prodfake", driver.OpenerFunc(func(_ context.Context, u *url.URL) (driver.Stream, error) {
		prodFakeStreamsMu.Lock()
		defer prodFakeStreamsMu.Unlock()
		s, ok := prodFakeStreams[u.Host]
		if !ok {
			return nil, fmt.Errorf("no prodfake stream %q", u.Host)
		}
		return s, nil
	}))
}

// prodEvents records producer events (without their records).
type prodEvents struct {
	mu  sync.Mutex
	evs []Event
}

func (r *prodEvents) Observe(e Event) {
	e.Records, e.Record = nil, nil
	r.mu.Lock()
	r.evs = append(r.evs, e)
	r.mu.Unlock()
}

func (r *prodEvents) of(k EventKind) []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Event
	for _, e := range r.evs {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

// prodLeakCheck fails the test if it leaves goroutines behind.
func prodLeakCheck(t *testing.T) {
	t.Helper()
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

// prodWaitFor waits for cond, failing the test after a generous deadline.
// It never asserts on timing: it only bounds a hang.
func prodWaitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// walIdle reports whether the producer's WAL writer has no work pending
// (no maintenance asked for, no kick waiting, not working on one), so that
// tests counting WAL writes see the same ones on every run.
func (p *Producer) walIdle() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.walMaint == nil && !p.walBusy && len(p.walKick) == 0
}
