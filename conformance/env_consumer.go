package conformance

// This file holds the env helpers the consumer scenarios share: handlers, order checks, reading a stream and a DLQ back, operating on checkpoints.

import (
	"context"
	"errors"
	"time"

	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/dlq"
	"github.com/unistream-go/unistream/stream/driver"
)

// ok is a handler that records the call and succeeds.
func (e *env) okHandler(cl *calls) stream.Handler {
	return func(ctx context.Context, r *stream.Record) error {
		cl.add(r, e.clock.Now())
		return nil
	}
}

// checkKeyOrder fails unless the handler first saw each key's records in
// write order.
func (e *env) checkKeyOrder(st *strm, cl *calls) {
	e.t.Helper()
	seen := map[string]bool{}
	last := map[string]string{}
	for _, id := range cl.order() {
		if seen[id] {
			continue
		}
		seen[id] = true
		k := string(st.recs[id].Key)
		if prev, ok := last[k]; ok && st.codec.Compare(st.ptr(id), st.ptr(prev)) < 0 {
			e.t.Errorf("key %s: the handler saw %s after %s, against write order", k, id, prev)
		}
		last[k] = id
	}
}

// readAll reads every partition of st from the start until at least want
// records arrived (failing after the timeout), then once more to catch
// extra ones.
func (e *env) readAll(st *strm, want int) []driver.Record {
	e.t.Helper()
	ctx := context.Background()
	var readers []driver.Reader
	for _, p := range st.partitions() {
		r, err := st.s.OpenReader(ctx, p, driver.Start{Kind: driver.StartEarliest})
		if err != nil {
			e.t.Fatalf("OpenReader(%s, earliest): %v", p, err)
		}
		defer r.Close()
		readers = append(readers, r)
	}
	var out []driver.Record
	fetchAll := func() {
		for _, r := range readers {
			for {
				got, err := r.Fetch(ctx, 100)
				if err != nil && !errors.Is(err, driver.ErrPartitionFinished) {
					e.t.Fatalf("Fetch: %v", err)
				}
				out = append(out, got...)
				if len(got) == 0 {
					break
				}
			}
		}
	}
	deadline := time.Now().Add(e.timeout)
	for fetchAll(); len(out) < want; fetchAll() {
		if time.Now().After(deadline) {
			e.t.Fatalf("reading %s: %d records within %v, want %d", st.name(), len(out), e.timeout, want)
		}
		time.Sleep(time.Millisecond)
	}
	fetchAll()
	return out
}

// readEnvelopes reads the DLQ stream and decodes every record.
func (e *env) readEnvelopes(st *strm, want int) []dlq.Envelope {
	e.t.Helper()
	var out []dlq.Envelope
	for _, r := range e.readAll(st, want) {
		env, err := dlq.DecodeRecord(&r)
		if err != nil {
			e.t.Fatalf("DLQ stream record %s: %v", r.ID, err)
		}
		out = append(out, *env)
	}
	return out
}

// operate applies an operator's change (Retry or Skip) to the halted
// checkpoint of partition p, retrying on a version conflict as the CLI does.
func (e *env) operate(store checkpoint.Store, name string, st *strm, p string, f func(*checkpoint.Checkpoint) error) {
	e.t.Helper()
	for range 100 {
		cp := e.cp(store, name, st, p)
		if err := f(cp); err != nil {
			e.t.Fatalf("operator on partition %s: %v", p, err)
		}
		err := store.Save(context.Background(), cp)
		if err == nil {
			return
		}
		if !errors.Is(err, checkpoint.ErrConflict) {
			e.t.Fatalf("operator save on partition %s: %v", p, err)
		}
	}
	e.t.Fatalf("operator save on partition %s: conflicts 100 times", p)
}

// otherPartitionsDone reports whether every partition but skip is
// committed to its last record.
func (e *env) otherPartitionsDone(store checkpoint.Store, name string, st *strm, skip string) bool {
	for _, p := range st.partitions() {
		ids := st.ids(p)
		if p == skip || len(ids) == 0 {
			continue
		}
		if !e.committedTo(store, name, st, p, ids[len(ids)-1]) {
			return false
		}
	}
	return true
}
