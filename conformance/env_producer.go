package conformance

// This file holds the env helpers the producer scenarios share: producers, puts and flushes, reading partitions back, streams that fail on demand.

import (
	"context"
	"errors"
	"path/filepath"
	"time"

	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/driver"
)

// producer opens a producer of st through its URL with a WAL in a fresh
// directory; Close runs at cleanup.
func (e *env) producer(st *strm, opts ...stream.ProducerOption) *stream.Producer {
	e.t.Helper()
	base := []stream.ProducerOption{stream.WithWAL(filepath.Join(e.t.TempDir(), "producer.wal")), stream.WithSendRetry(fastRetry)}
	p, err := stream.OpenProducer(context.Background(), st.url, append(base, opts...)...)
	if err != nil {
		e.t.Fatalf("OpenProducer(%s): %v", st.url, err)
	}
	e.closeProducerAtCleanup(p)
	return p
}

func (e *env) closeProducerAtCleanup(p *stream.Producer) {
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), e.timeout)
		defer cancel()
		p.Close(ctx)
	})
}

func (e *env) put(p *stream.Producer, recs ...stream.Record) {
	e.t.Helper()
	for _, r := range recs {
		if err := p.Put(context.Background(), r); err != nil {
			e.t.Fatalf("Put(%s): %v", r.ID, err)
		}
	}
}

func (e *env) flush(p *stream.Producer) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), e.timeout)
	defer cancel()
	if err := p.Flush(ctx); err != nil {
		e.t.Fatalf("Flush: %v", err)
	}
}

// checkExactlyOnceInKeyOrder fails unless got holds each of want exactly
// once and the records of each key in want's order.
func (e *env) checkExactlyOnceInKeyOrder(what string, got []driver.Record, want []stream.Record) {
	e.t.Helper()
	n := map[string]int{}
	for _, r := range got {
		n[r.ID]++
	}
	for _, r := range want {
		if n[r.ID] != 1 {
			e.t.Errorf("%s: record %s is in the stream %d times, want exactly once", what, r.ID, n[r.ID])
		}
		delete(n, r.ID)
	}
	for id, c := range n {
		e.t.Errorf("%s: unexpected record %s in the stream (%d times)", what, id, c)
	}
	// got is in partition order per partition; a key lives in one partition.
	pos := map[string]int{}
	for i, r := range got {
		pos[r.ID] = i
	}
	last := map[string]int{}
	for _, r := range want {
		k := string(r.Key)
		if k == "" {
			continue
		}
		if l, ok := last[k]; ok && pos[r.ID] < l {
			e.t.Errorf("%s: key %s: %s is stored before an earlier record of the key", what, k, r.ID)
		}
		last[k] = pos[r.ID]
	}
}

// readPartition reads partition p of st from start until want records or
// the timeout.
func (e *env) readPartition(st *strm, p string, start driver.Start, want int) []driver.Record {
	e.t.Helper()
	r, err := st.s.OpenReader(context.Background(), p, start)
	if err != nil {
		e.t.Fatalf("OpenReader(%s, %s): %v", p, start.Kind, err)
	}
	defer r.Close()
	var out []driver.Record
	deadline := time.Now().Add(e.timeout)
	for len(out) < want {
		got, err := r.Fetch(context.Background(), want-len(out))
		if err != nil {
			if errors.Is(err, driver.ErrPartitionFinished) {
				break
			}
			e.t.Fatalf("Fetch(%s): %v", p, err)
		}
		out = append(out, got...)
		if len(got) == 0 {
			if time.Now().After(deadline) {
				e.t.Fatalf("reading partition %s from %s: %d records within %v, want %d", p, start.Kind, len(out), e.timeout, want)
			}
			time.Sleep(time.Millisecond)
		}
	}
	return out
}

// openSwitch opens st again through its URL, wrapped.
func (e *env) openSwitch(st *strm) *switchStream {
	e.t.Helper()
	s, err := openDriver(context.Background(), st.url)
	if err != nil {
		e.t.Fatalf("stream.Open: %v", err)
	}
	e.t.Cleanup(func() { s.Close() })
	return &switchStream{Stream: s}
}

func (e *env) newProducer(s driver.Stream, opts ...stream.ProducerOption) *stream.Producer {
	e.t.Helper()
	p, err := stream.NewProducer(stream.NewStream(s), append([]stream.ProducerOption{stream.WithSendRetry(fastRetry)}, opts...)...)
	if err != nil {
		e.t.Fatalf("NewProducer: %v", err)
	}
	e.closeProducerAtCleanup(p)
	return p
}

// partialFaultStream makes a stream of n partitions whose harness can fail
// single records of a write; the scenario is skipped by capability if it
// cannot.
func (e *env) partialFaultStream(n int) (*strm, PartialWriteFaults) {
	st := e.newStream(n)
	pf, ok := e.faults(st).(PartialWriteFaults)
	e.need(CapPartialWriteFaults, ok, "the harness's Faults cannot fail single records of a write")
	return st, pf
}
