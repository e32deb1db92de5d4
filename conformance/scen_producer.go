package conformance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/driver"
	"github.com/unistream-go/unistream/stream/streamtest"
)

// fastRetry is the producers' backoff in the scenarios: quick holds.
var fastRetry = stream.RetryPolicy{Initial: time.Millisecond, Multiplier: 2, MaxInterval: 20 * time.Millisecond}

// --- 01 ---

func sortedHeaders(hs []driver.Header) string {
	s := make([]string, len(hs))
	for i, h := range hs {
		s[i] = fmt.Sprintf("%s=%x", h.Key, h.Value)
	}
	sort.Strings(s)
	return strings.Join(s, ",")
}

// roundTrip produces records through the Producer and consumes them: each
// arrives exactly once, over every partition, with key, binary value,
// headers and time intact, in order per key, and with its ID.
func roundTrip(e *env) {
	st := e.newStream(4)
	ev := &events{}
	p := e.producer(st, stream.WithObserver(ev), stream.WithMaxRecords(37))
	var sent []stream.Record
	for i := range 200 {
		r := stream.Record{
			ID:    fmt.Sprintf("rt-%03d", i),
			Key:   []byte(fmt.Sprintf("user-%d", i%50)),
			Value: []byte{byte(i), 0, 0xff, 0xfe, byte(i * 7), '\n', 0x80},
			Headers: []driver.Header{
				{Key: "content-type", Value: []byte("application/x-test")},
				{Key: "seq", Value: []byte(fmt.Sprint(i))},
				{Key: "empty", Value: []byte{}},
			},
			Time: t0.Add(time.Duration(i) * 7 * time.Millisecond),
		}
		if i%25 == 0 {
			r.Key = nil // no key: spread freely
		}
		sent = append(sent, r)
	}
	e.put(p, sent...)
	noID := stream.Record{Key: []byte("user-1"), Value: []byte("no id given"), Time: t0}
	e.put(p, noID)
	e.flush(p)
	if f := ev.of(stream.EventProducerFailed); len(f) > 0 {
		e.t.Errorf("the producer saw %d failed writes on a healthy stream: %v", len(f), f[0].Err)
	}

	store, cl := e.store(), newCalls()
	const name = "round-trip"
	c := e.consumer(st, name, store, &memSink{}, e.okHandler(cl), stream.WithBatchSize(16))
	e.runUntil(c, "every record", func() bool { return cl.total() >= len(sent)+1 }, nil)

	got := map[string]driver.Record{}
	cl.mu.Lock()
	for id, rs := range cl.recs {
		got[id] = rs[0]
		if len(rs) != 1 {
			e.t.Errorf("record %s handled %d times, want once", id, len(rs))
		}
	}
	order := append([]string(nil), cl.seq...)
	cl.mu.Unlock()
	parts := map[string]bool{}
	for _, want := range sent {
		r, ok := got[want.ID]
		if !ok {
			e.t.Errorf("record %s never arrived", want.ID)
			continue
		}
		delete(got, want.ID)
		parts[r.Partition] = true
		switch {
		case !bytes.Equal(r.Key, want.Key):
			e.t.Errorf("record %s: key %q, want %q", want.ID, r.Key, want.Key)
		case !bytes.Equal(r.Value, want.Value):
			e.t.Errorf("record %s: value %x, want %x", want.ID, r.Value, want.Value)
		case sortedHeaders(r.Headers) != sortedHeaders(want.Headers):
			e.t.Errorf("record %s: headers %s, want %s", want.ID, sortedHeaders(r.Headers), sortedHeaders(want.Headers))
		case !r.Time.Equal(want.Time):
			e.t.Errorf("record %s: time %v, want %v", want.ID, r.Time, want.Time)
		case r.Stream != st.name() || r.Partition == "" || r.Pointer == nil:
			e.t.Errorf("record %s: stream %q partition %q pointer %x, want the stream's name, a partition and a pointer", want.ID, r.Stream, r.Partition, r.Pointer)
		}
	}
	if len(got) != 1 {
		e.t.Errorf("records other than the ones sent (want only the one without an ID): %d", len(got))
	}
	for id, r := range got {
		if id == "" || string(r.Value) != "no id given" {
			e.t.Errorf("the record Put without an ID arrived as %q with value %q, want a producer-assigned ID", id, r.Value)
		}
	}
	if len(parts) != 4 {
		e.t.Errorf("records arrived from %d partitions of 4: %v", len(parts), parts)
	}
	// Order: per partition by pointer, per key by Put order.
	idx := map[string]int{}
	for i, r := range sent {
		idx[r.ID] = i
	}
	lastPtr := map[string]driver.Pointer{}
	keyPart := map[string]string{}
	lastOfKey := map[string]int{}
	for _, id := range order {
		cl.mu.Lock()
		rs := cl.recs[id][0]
		cl.mu.Unlock()
		if lp := lastPtr[rs.Partition]; lp != nil && st.codec.Compare(rs.Pointer, lp) <= 0 {
			e.t.Errorf("partition %s: %s handed over after a record with a later pointer", rs.Partition, id)
		}
		lastPtr[rs.Partition] = rs.Pointer
		i, sentByUs := idx[id]
		k := string(rs.Key)
		if k == "" || !sentByUs || !st.caps.PerKeyOrder {
			continue
		}
		if kp, seen := keyPart[k]; seen && kp != rs.Partition {
			e.t.Errorf("key %s landed in partitions %s and %s, though the backend declares PerKeyOrder", k, kp, rs.Partition)
		}
		keyPart[k] = rs.Partition
		if l, seen := lastOfKey[k]; seen && i < l {
			e.t.Errorf("key %s: %s handed over after a record of the key Put later", k, id)
		}
		lastOfKey[k] = i
	}
	for pid, lp := range lastPtr {
		if cp := e.cp(store, name, st, pid); cp.Batch != nil || st.codec.Compare(cp.Committed, lp) != 0 {
			e.t.Errorf("partition %s: committed %s, want the last record %s", pid, st.format(cp.Committed, pid), st.format(lp, pid))
		}
	}
}

// --- 12 ---

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

// pointerCodec checks the codec on real records: the pointer a write
// returns is the one read back; Decode accepts it unchanged; Compare
// orders a partition's pointers like the records; the human form parses
// back to the same pointer; readers open At and After a pointer.
func pointerCodec(e *env) {
	st := e.newStream(2)
	st.spread(5)
	codec := st.codec
	scheme, _, _ := strings.Cut(st.url, ":")
	texts := map[string]string{}
	for _, p := range st.partitions() {
		ids := st.ids(p)
		recs := e.readPartition(st, p, driver.Start{Kind: driver.StartEarliest}, len(ids))
		if len(recs) != len(ids) {
			e.t.Fatalf("partition %s: read %d records, wrote %d", p, len(recs), len(ids))
		}
		for i, r := range recs {
			if r.ID != ids[i] {
				e.t.Fatalf("partition %s: record %d read is %s, written %s", p, i, r.ID, ids[i])
			}
			if codec.Compare(r.Pointer, st.ptr(r.ID)) != 0 {
				e.t.Errorf("%s: the pointer read %x differs from the pointer the write returned %x", r.ID, r.Pointer, st.ptr(r.ID))
			}
			d, err := codec.Decode(r.Pointer)
			if err != nil || !bytes.Equal(d, r.Pointer) {
				e.t.Errorf("%s: Decode(%x) = %x, %v; want the same bytes back", r.ID, r.Pointer, d, err)
			}
			text := codec.Format(st.name(), p, r.Pointer)
			if !strings.HasPrefix(text, scheme+":") || !strings.Contains(text, st.name()) {
				e.t.Errorf("%s: human form %q, want it to start with %q and name the stream", r.ID, text, scheme+":")
			}
			if other, dup := texts[text]; dup {
				e.t.Errorf("%s and %s share the human form %q", r.ID, other, text)
			}
			texts[text] = r.ID
			gs, gp, gptr, err := codec.Parse(text)
			if err != nil || gs != st.name() || gp != p || codec.Compare(gptr, r.Pointer) != 0 || !bytes.Equal(gptr, r.Pointer) {
				e.t.Errorf("%s: Parse(%q) = %q, %q, %x, %v; want %q, %q, %x", r.ID, text, gs, gp, gptr, err, st.name(), p, r.Pointer)
			}
			for j, q := range recs {
				if got, want := codec.Compare(r.Pointer, q.Pointer), sign(i-j); got != want {
					e.t.Errorf("Compare(%s, %s) = %d, want %d", r.ID, q.ID, got, want)
				}
			}
		}
		for i := range recs {
			at := e.readPartition(st, p, driver.Start{Kind: driver.StartAt, Pointer: recs[i].Pointer}, 1)
			if len(at) == 0 || at[0].ID != ids[i] {
				e.t.Errorf("partition %s: a reader At %s starts with %v, want %s", p, codec.Format(st.name(), p, recs[i].Pointer), at, ids[i])
			}
			if i+1 < len(recs) {
				after := e.readPartition(st, p, driver.Start{Kind: driver.StartAfter, Pointer: recs[i].Pointer}, 1)
				if len(after) == 0 || after[0].ID != ids[i+1] {
					e.t.Errorf("partition %s: a reader After %s starts with %v, want %s", p, codec.Format(st.name(), p, recs[i].Pointer), after, ids[i+1])
				}
			}
		}
	}
	for _, bad := range []string{"", "garbage", scheme + ":", scheme + ":" + st.name(), "nosuchscheme:" + st.name() + "/0@1"} {
		if _, _, _, err := codec.Parse(bad); err == nil {
			e.t.Errorf("Parse(%q) accepted a malformed pointer", bad)
		}
	}
	if _, err := codec.Decode(nil); err == nil {
		e.t.Errorf("Decode(nil) accepted an empty pointer (nil means \"no position\")")
	}
}

// --- 13 ---

// switchStream wraps a stream so the scenario can take its writes down
// (every Write fails whole) without the harness's help.
type switchStream struct {
	driver.Stream
	down   atomic.Bool
	writes atomic.Int64
}

var errDown = errors.New("conformance: broker unavailable (simulated)")

func (s *switchStream) OpenWriter(ctx context.Context) (driver.Writer, error) {
	w, err := s.Stream.OpenWriter(ctx)
	if err != nil {
		return nil, err
	}
	return &switchWriter{Writer: w, s: s}, nil
}

type switchWriter struct {
	driver.Writer
	s *switchStream
}

func (w *switchWriter) Write(ctx context.Context, recs []driver.Record, res []driver.WriteResult) error {
	w.s.writes.Add(1)
	if w.s.down.Load() {
		return errDown
	}
	return w.Writer.Write(ctx, recs, res)
}

func prodRecs(prefix string, n, keys int) []stream.Record {
	out := make([]stream.Record, n)
	for i := range out {
		out[i] = stream.Record{ID: fmt.Sprintf("%s-%03d", prefix, i), Key: []byte(fmt.Sprintf("%s-key-%d", prefix, i%keys)),
			Value: []byte(fmt.Sprintf("value %d", i)), Time: t0.Add(time.Duration(i) * time.Millisecond)}
	}
	return out
}

func emitCounts(evs []stream.Event) []int {
	var out []int
	for _, ev := range evs {
		out = append(out, ev.Count)
	}
	return out
}

func recIDs(rs []stream.Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

// producer checks the producer on the backend: batches by count, bytes and
// age; a partial write failure re-sends only the failed records in order
// (these four with one send lane, so that the batch shapes are exact);
// a crash loses nothing (the WAL is replayed, acknowledged records are
// not re-sent); a full buffer errors or blocks as configured.
func producer(e *env) {
	e.t.Run("batch_by_count", func(t T) {
		e := newEnv(t, e.h, e.sf)
		st := e.newStream(2)
		ev := &events{}
		p := e.producer(st, stream.WithMaxRecords(5), stream.WithMaxAge(time.Hour), stream.WithClock(streamtest.NewFakeClock(t0)), stream.WithObserver(ev),
			stream.WithSendLanes(1))
		recs := prodRecs("count", 12, 3)
		e.put(p, recs...)
		e.waitFor("two full batches sent", func() bool { return p.Stats().Sent >= 10 })
		if st := p.Stats(); st.Sent != 10 || st.Buffered != 2 {
			e.t.Errorf("before Flush: sent %d, buffered %d; want 10 and 2 (a partial batch waits for its age)", st.Sent, st.Buffered)
		}
		e.flush(p)
		if got := emitCounts(ev.of(stream.EventProducerEmit)); !slices.Equal(got, []int{5, 5, 2}) {
			e.t.Errorf("batches of %v records, want [5 5 2] (MaxRecords 5, then Flush)", got)
		}
		e.checkExactlyOnceInKeyOrder("batch by count", e.readAll(st, len(recs)), recs)
	})
	e.t.Run("batch_by_bytes", func(t T) {
		e := newEnv(t, e.h, e.sf)
		st := e.newStream(2)
		ev := &events{}
		p := e.producer(st, stream.WithMaxBytes(1000), stream.WithMaxRecords(1000), stream.WithMaxAge(time.Hour),
			stream.WithClock(streamtest.NewFakeClock(t0)), stream.WithObserver(ev), stream.WithSendLanes(1))
		recs := prodRecs("bytes", 10, 2)
		for i := range recs {
			recs[i].Value = bytes.Repeat([]byte{byte('a' + i)}, 300-recs[i].Size()+len(recs[i].Value)) // Size 300
		}
		e.put(p, recs...)
		e.waitFor("three full batches", func() bool { return p.Stats().Sent >= 9 })
		emits := ev.of(stream.EventProducerEmit)
		for _, em := range emits {
			size := 0
			for _, r := range em.Records {
				size += r.Size()
			}
			if em.Count != 3 || size > 1000 {
				e.t.Errorf("a batch of %d records and %d bytes before Flush, want 3 records of 300 bytes (MaxBytes 1000)", em.Count, size)
			}
		}
		e.flush(p)
		e.checkExactlyOnceInKeyOrder("batch by bytes", e.readAll(st, len(recs)), recs)
	})
	e.t.Run("batch_by_age", func(t T) {
		e := newEnv(t, e.h, e.sf)
		st := e.newStream(2)
		ev := &events{}
		clock := streamtest.NewFakeClock(t0)
		p := e.producer(st, stream.WithMaxAge(20*time.Millisecond), stream.WithMaxRecords(1000), stream.WithClock(clock), stream.WithObserver(ev),
			stream.WithSendLanes(1))
		recs := prodRecs("age", 3, 2)
		e.put(p, recs...)
		time.Sleep(100 * time.Millisecond) // real time passes, fake time does not
		if s := p.Stats().Sent; s != 0 {
			e.t.Errorf("%d records sent before they were MaxAge old on the producer's clock", s)
		}
		clock.Advance(time.Second)
		e.waitFor("the batch due by age", func() bool { return p.Stats().Sent == 3 })
		if got := emitCounts(ev.of(stream.EventProducerEmit)); !slices.Equal(got, []int{3}) {
			e.t.Errorf("batches %v, want one of 3 records sent by age without Flush", got)
		}
		e.checkExactlyOnceInKeyOrder("batch by age", e.readAll(st, len(recs)), recs)
	})
	e.t.Run("partial_failure", func(t T) {
		e := newEnv(t, e.h, e.sf)
		st, pf := e.partialFaultStream(3)
		ev := &events{}
		p := e.producer(st, stream.WithMaxRecords(100), stream.WithMaxAge(time.Hour), stream.WithObserver(ev), stream.WithSendLanes(1))
		recs := prodRecs("partial", 12, 4)
		e.put(p, recs...)
		pf.FailRecords(2, 7)
		e.flush(p)
		emits, failed := ev.of(stream.EventProducerEmit), ev.of(stream.EventProducerFailed)
		if len(failed) != 1 || len(emits) != 2 {
			e.t.Fatalf("%d writes, %d failed; want 2 writes, the first failing partially", len(emits), len(failed))
		}
		bad := recIDs(failed[0].Records)
		if !slices.Contains(bad, recs[2].ID) || !slices.Contains(bad, recs[7].ID) || len(bad) == len(recs) {
			e.t.Errorf("failed records %v, want records 2 and 7 (and the later ones of their partitions) only", bad)
		}
		if got := recIDs(emits[1].Records); !slices.Equal(got, bad) {
			e.t.Errorf("re-sent %v, want exactly the failed records in their original order %v", got, bad)
		}
		e.checkExactlyOnceInKeyOrder("after a partial failure", e.readAll(st, len(recs)), recs)
	})
	e.t.Run("partial_failure_send_lanes", func(t T) {
		// The default send lanes: several writes in flight at once, each
		// lane holding on its own failure. The first record of every key
		// is written and two of them fail; the keys' later records, put
		// during the failing lane's hold, must wait behind the failed ones
		// (one key, one lane) while the other lanes go on.
		e := newEnv(t, e.h, e.sf)
		st, pf := e.partialFaultStream(3)
		ev := &events{}
		hold := stream.RetryPolicy{Initial: 200 * time.Millisecond, Multiplier: 1, MaxInterval: 200 * time.Millisecond}
		p := e.producer(st, stream.WithMaxRecords(8), stream.WithMaxAge(time.Millisecond), stream.WithObserver(ev),
			stream.WithSendLanes(4), stream.WithSendRetry(hold))
		const keys = 16
		recs := prodRecs("lanes", 4*keys, keys)
		pf.FailRecords(0, 1)
		e.put(p, recs[:keys]...)
		e.waitFor("a partly failed write", func() bool { return len(ev.of(stream.EventProducerFailed)) > 0 })
		e.put(p, recs[keys:]...)
		e.flush(p)
		e.checkExactlyOnceInKeyOrder("after a partial failure with 4 send lanes", e.readAll(st, len(recs)), recs)
	})
	e.t.Run("crash_and_wal_replay", func(t T) {
		e := newEnv(t, e.h, e.sf)
		st := e.newStream(2)
		sw := e.openSwitch(st)
		dir := e.t.TempDir()
		wal := filepath.Join(dir, "a.wal")
		pa := e.newProducer(sw, stream.WithWAL(wal), stream.WithMaxAge(time.Hour))
		g1, g2, g3 := prodRecs("acked", 5, 2), prodRecs("unacked", 6, 2), prodRecs("after", 2, 2)
		e.put(pa, g1...)
		e.flush(pa)
		sw.down.Store(true)
		e.put(pa, g2...)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		pa.Flush(ctx) // starts the sending, which fails
		e.waitFor("a failed write", func() bool { return pa.Stats().FailedAttempts > 0 })
		// The crash image: the WAL as the disk holds it now.
		image := filepath.Join(dir, "crash.wal")
		copyFile(e, wal, image)
		if err := pa.Close(ctx); err == nil {
			e.t.Errorf("Close with an expired context and unsent records returned nil, want an error saying they remain in the WAL")
		}
		sw.down.Store(false)
		ev := &events{}
		pb := e.newProducer(sw, stream.WithWAL(image), stream.WithObserver(ev))
		if s := pb.Stats(); s.Replayed != uint64(len(g2)) {
			e.t.Errorf("the new producer replayed %d records from the WAL, want the %d unacknowledged ones", s.Replayed, len(g2))
		}
		e.put(pb, g3...)
		e.flush(pb)
		all := append(append(append([]stream.Record(nil), g1...), g2...), g3...)
		e.checkExactlyOnceInKeyOrder("after a crash and a WAL replay", e.readAll(st, len(all)), all)
	})
	e.t.Run("buffer_full", func(t T) {
		e := newEnv(t, e.h, e.sf)
		st := e.newStream(1)
		sw := e.openSwitch(st)
		sw.down.Store(true)
		recs := prodRecs("full", 5, 1)
		{
			other := e.openSwitch(e.newStream(1))
			other.down.Store(true)
			perr := e.newProducer(other, stream.WithoutWAL(), stream.WithBufferLimit(3, 1<<20), stream.WithBlockWhenFull(false))
			e.put(perr, recs[:3]...)
			if err := perr.Put(context.Background(), recs[3]); !errors.Is(err, stream.ErrBufferFull) {
				e.t.Errorf("Put into a full buffer without blocking = %v, want ErrBufferFull", err)
			}
			done, cancel := context.WithCancel(context.Background())
			cancel()
			perr.Close(done) // its records are lost (no WAL): the stream is down for good
		}

		pblock := e.newProducer(sw, stream.WithWAL(filepath.Join(e.t.TempDir(), "b.wal")), stream.WithBufferLimit(3, 1<<20))
		e.put(pblock, recs[:3]...)
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- pblock.Put(ctx, recs[3]) }()
		e.waitFor("a failed write", func() bool { return pblock.Stats().FailedAttempts > 0 })
		select {
		case err := <-errc:
			e.t.Fatalf("Put into a full buffer returned %v while the stream was down, want it to block", err)
		default:
		}
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			e.t.Errorf("a blocked Put whose context ends = %v, want context.Canceled", err)
		}
		errc2 := make(chan error, 1)
		go func() { errc2 <- pblock.Put(context.Background(), recs[4]) }()
		sw.down.Store(false)
		select {
		case err := <-errc2:
			if err != nil {
				e.t.Fatalf("blocked Put = %v once the stream was back", err)
			}
		case <-time.After(e.timeout):
			e.t.Fatalf("Put still blocked %v after the stream came back", e.timeout)
		}
		e.flush(pblock)
		want := []stream.Record{recs[0], recs[1], recs[2], recs[4]}
		e.checkExactlyOnceInKeyOrder("after the buffer drained", e.readAll(st, len(want)), want)
	})
}

func copyFile(e *env, from, to string) {
	e.t.Helper()
	src, err := os.Open(from)
	if err != nil {
		e.t.Fatalf("copy WAL: %v", err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		e.t.Fatalf("copy WAL: %v", err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		e.t.Fatalf("copy WAL: %v", err)
	}
	if err := dst.Close(); err != nil {
		e.t.Fatalf("copy WAL: %v", err)
	}
}

// --- 17 ---

// limits: a record of exactly the backend's MaxRecordBytes passes and
// arrives intact, one byte more is refused with ErrRecordTooLarge (by Put
// and by the driver's Write); empty values and keys pass; many small
// records arrive exactly once, in batches within the backend's limits.
func limits(e *env) {
	e.t.Run("max_record_size", func(t T) {
		e := newEnv(t, e.h, e.sf)
		st := e.newStream(1)
		max := st.caps.MaxRecordBytes
		e.need(CapMaxRecordBytes, max > 0, "the backend declares no record size limit")
		p := e.producer(st)
		at := stream.Record{ID: "max", Key: []byte("k"), Time: t0}
		at.Value = bytes.Repeat([]byte{0xab}, max-at.Size())
		over := stream.Record{ID: "over", Key: []byte("k"), Time: t0}
		over.Value = bytes.Repeat([]byte{0xcd}, max-over.Size()+1)
		e.put(p, at)
		if err := p.Put(context.Background(), over); !errors.Is(err, driver.ErrRecordTooLarge) || !strings.Contains(err.Error(), fmt.Sprint(max)) {
			e.t.Errorf("Put of a record of %d bytes (limit %d) = %v, want an error wrapping ErrRecordTooLarge that names the limit", over.Size(), max, err)
		}
		e.flush(p)
		w, err := st.s.OpenWriter(context.Background())
		if err != nil {
			e.t.Fatalf("OpenWriter: %v", err)
		}
		defer w.Close()
		res := make([]driver.WriteResult, 1)
		if err := w.Write(context.Background(), []driver.Record{over}, res); err != nil || !errors.Is(res[0].Err, driver.ErrRecordTooLarge) {
			e.t.Errorf("driver Write of a record over the limit: call error %v, record error %v; want the record to fail alone with ErrRecordTooLarge", err, res[0].Err)
		}
		got := e.readAll(st, 1)
		if len(got) != 1 || got[0].ID != "max" || !bytes.Equal(got[0].Value, at.Value) {
			e.t.Errorf("the stream holds %d records, want only the record of exactly %d bytes, intact", len(got), max)
		}
	})
	e.t.Run("empty_values_and_keys", func(t T) {
		e := newEnv(t, e.h, e.sf)
		st := e.newStream(2)
		p := e.producer(st)
		recs := []stream.Record{
			{ID: "nil-value", Key: []byte("k"), Time: t0},
			{ID: "empty-value", Key: []byte("k"), Value: []byte{}, Time: t0},
			{ID: "no-key", Value: []byte("v"), Time: t0},
			{ID: "nothing", Time: t0},
		}
		e.put(p, recs...)
		e.flush(p)
		store, cl := e.store(), newCalls()
		e.runUntil(e.consumer(st, "empty", store, &memSink{}, e.okHandler(cl)), "every record",
			func() bool { return cl.total() >= len(recs) }, nil)
		for _, r := range recs {
			cl.mu.Lock()
			got := cl.recs[r.ID]
			cl.mu.Unlock()
			if len(got) != 1 || len(got[0].Value) != len(r.Value) || len(got[0].Key) != len(r.Key) {
				e.t.Errorf("record %s arrived %d times as %+v, want once with %d value bytes and %d key bytes", r.ID, len(got), got, len(r.Value), len(r.Key))
			}
		}
	})
	e.t.Run("many_small_records", func(t T) {
		e := newEnv(t, e.h, e.sf)
		st := e.newStream(4)
		n := 2000
		maxBatch := st.caps.MaxBatchRecords
		if maxBatch > 0 {
			n = max(n, 2*maxBatch+1)
		}
		ev := &events{}
		opts := []stream.ProducerOption{stream.WithObserver(ev)}
		if maxBatch > 0 {
			opts = append(opts, stream.WithMaxRecords(2*maxBatch)) // over the backend's limit: the producer must cap it
		}
		p := e.producer(st, opts...)
		recs := make([]stream.Record, n)
		for i := range recs {
			recs[i] = stream.Record{ID: fmt.Sprintf("s%05d", i), Key: []byte(fmt.Sprint(i % 97)), Value: []byte{byte(i)}, Time: t0}
		}
		e.put(p, recs...)
		e.flush(p)
		for _, em := range ev.of(stream.EventProducerEmit) {
			if maxBatch > 0 && em.Count > maxBatch {
				e.t.Errorf("a batch of %d records, over the backend's MaxBatchRecords %d", em.Count, maxBatch)
			}
		}
		if f := ev.of(stream.EventProducerFailed); len(f) > 0 {
			e.t.Errorf("%d failed writes, first: %v", len(f), f[0].Err)
		}
		var mu sync.Mutex
		seen := map[string]int{}
		h := func(ctx context.Context, r *stream.Record) error {
			mu.Lock()
			seen[r.ID]++
			mu.Unlock()
			return nil
		}
		count := func() int { mu.Lock(); defer mu.Unlock(); return len(seen) }
		e.runUntil(e.consumer(st, "many", checkpointMemory(), &memSink{}, h, stream.WithBatchSize(250)), "every record",
			func() bool { return count() == n }, func() string { return fmt.Sprintf("%d of %d records", count(), n) })
		mu.Lock()
		defer mu.Unlock()
		for _, r := range recs {
			if seen[r.ID] != 1 {
				e.t.Errorf("record %s handled %d times, want once", r.ID, seen[r.ID])
				break
			}
		}
		e.checkExactlyOnceInKeyOrder("many small records", e.readAll(st, n), recs)
	})
}

// --- 24 ---

// plainRoundTrip runs on a stream that declares PlainRecords (Kinesis with
// envelope=false): a record with headers is refused at Put; records
// produced without headers arrive exactly once each, over every
// partition, with key and value intact and in order per key, each with its
// position as its ID (Codec().Format), no headers and the time it was
// stored.
func plainRoundTrip(e *env) {
	st := e.newStream(2)
	e.need(CapPlainRecords, st.caps.PlainRecords, "the stream carries the producer's IDs, headers and event times, which 01_round_trip checks")
	p := e.producer(st, stream.WithMaxRecords(16))
	withHeaders := stream.Record{Key: []byte("user-0"), Value: []byte("has headers"), Headers: []driver.Header{{Key: "h", Value: []byte("1")}}}
	if err := p.Put(context.Background(), withHeaders); err == nil {
		e.t.Errorf("Put of a record with headers on a plain stream succeeded: want it refused, as its headers would be lost")
	}
	var sent []stream.Record
	for i := range 60 {
		sent = append(sent, stream.Record{Key: []byte(fmt.Sprintf("user-%d", i%12)), Value: []byte(fmt.Sprintf("plain %03d", i))})
	}
	e.put(p, sent...)
	e.flush(p)

	store, cl := e.store(), newCalls()
	c := e.consumer(st, "plain-round-trip", store, &memSink{}, e.okHandler(cl), stream.WithBatchSize(16))
	e.runUntil(c, "every record", func() bool { return cl.total() >= len(sent) }, nil)

	byValue := map[string]driver.Record{}
	cl.mu.Lock()
	order := append([]string(nil), cl.seq...)
	recs := map[string]driver.Record{}
	for id, rs := range cl.recs {
		r := rs[0]
		recs[id] = r
		if len(rs) != 1 {
			e.t.Errorf("record %s handled %d times, want once", id, len(rs))
		}
		if want := st.codec.Format(st.name(), r.Partition, r.Pointer); id != want {
			e.t.Errorf("record %q: ID %q, want its position %q", r.Value, id, want)
		}
		if len(r.Headers) != 0 || r.Time.IsZero() || r.Stream != st.name() {
			e.t.Errorf("record %q: headers %v, time %v, stream %q; want no headers, the time it was stored and the stream's name", r.Value, r.Headers, r.Time, r.Stream)
		}
		if _, dup := byValue[string(r.Value)]; dup {
			e.t.Errorf("value %q arrived twice", r.Value)
		}
		byValue[string(r.Value)] = r
	}
	cl.mu.Unlock()
	parts := map[string]bool{}
	for _, want := range sent {
		r, ok := byValue[string(want.Value)]
		if !ok {
			e.t.Errorf("record %q never arrived", want.Value)
			continue
		}
		parts[r.Partition] = true
		if !bytes.Equal(r.Key, want.Key) {
			e.t.Errorf("record %q: key %q, want %q", want.Value, r.Key, want.Key)
		}
	}
	if len(byValue) != len(sent) {
		e.t.Errorf("%d distinct records arrived, %d sent (the one with headers must not be among them)", len(byValue), len(sent))
	}
	if len(parts) != 2 {
		e.t.Errorf("records arrived from %d partitions of 2", len(parts))
	}
	lastOfKey := map[string]string{}
	lastPtr := map[string]driver.Pointer{}
	for _, id := range order {
		r := recs[id]
		if lp := lastPtr[r.Partition]; lp != nil && st.codec.Compare(r.Pointer, lp) <= 0 {
			e.t.Errorf("partition %s: %s handed over after a record with a later pointer", r.Partition, id)
		}
		lastPtr[r.Partition] = r.Pointer
		if l, ok := lastOfKey[string(r.Key)]; ok && st.caps.PerKeyOrder && l > string(r.Value) {
			e.t.Errorf("key %s: %q handed over after %q, which was Put later", r.Key, r.Value, l)
		}
		lastOfKey[string(r.Key)] = string(r.Value)
	}
}
