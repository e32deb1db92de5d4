package kafka

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/unistream-go/unistream/adapters/kafka/kafkatest"
	"github.com/unistream-go/unistream/stream/driver"
)

// produceTo writes n records to partition p of topic with a client of c,
// valued "P/I" for I from 'from'.
func produceTo(t *testing.T, cl *kgo.Client, topic string, p int32, from, n int, pad int) {
	t.Helper()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		v := fmt.Sprintf("%d/%d", p, from+i)
		for len(v) < pad {
			v += "."
		}
		recs[i] = &kgo.Record{Topic: topic, Partition: p, Value: []byte(v)}
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatalf("produce %d records to %s/%d: %v", n, topic, p, err)
	}
}

// startTopic starts a cluster holding topic with parts partitions and
// returns it with a manualClient of it.
func startTopic(t *testing.T, topic string, parts int) (*kafkatest.Cluster, *kgo.Client) {
	t.Helper()
	c := kafkatest.Start(t)
	if err := c.CreateTopic(context.Background(), topic, parts); err != nil {
		t.Fatal(err)
	}
	return c, manualClient(t, c)
}

// openReaders opens readers of partitions 0 to n-1 of s from the start.
func openReaders(t *testing.T, s *Stream, n int) []driver.Reader {
	t.Helper()
	readers := make([]driver.Reader, n)
	for p := range readers {
		var err error
		if readers[p], err = s.OpenReader(context.Background(), strconv.Itoa(p), driver.Start{}); err != nil {
			t.Fatal(err)
		}
	}
	return readers
}

// manualClient returns a client of c that writes each record to the
// partition it names (produceTo), without client metrics.
func manualClient(t *testing.T, c *kafkatest.Cluster) *kgo.Client {
	t.Helper()
	cl, err := c.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.DisableClientMetrics())
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// readOffsets fetches from r until it has n records (or 10s passed) and
// checks that they are offsets from, from+1, ... of partition p, valued
// "P/OFFSET" as produceTo writes them.
func readOffsets(t *testing.T, r driver.Reader, p int32, from, n int) {
	t.Helper()
	got := 0
	deadline := time.Now().Add(10 * time.Second)
	for got < n {
		if time.Now().After(deadline) {
			t.Fatalf("partition %d: read %d records from offset %d in 10s, want %d", p, got, from, n)
		}
		b, err := r.Fetch(context.Background(), n-got)
		if err != nil {
			t.Fatalf("partition %d: Fetch: %v", p, err)
		}
		for _, rec := range b {
			off, err := Offset(rec.Pointer)
			if err != nil {
				t.Fatal(err)
			}
			want := int64(from + got)
			if off != want || len(rec.Value) < 3 || string(rec.Value[:len(fmt.Sprintf("%d/%d", p, want))]) != fmt.Sprintf("%d/%d", p, want) {
				t.Fatalf("partition %d: record %d is offset %d valued %q, want offset %d", p, got, off, rec.Value, want)
			}
			got++
		}
	}
}

// TestSharedReaders opens readers of 200 partitions through one Stream:
// the broker sees a handful of connections, a partition whose reader does
// not read is paused without holding the others up and is read in full
// afterwards, and a reader closed and reopened at an earlier or later
// position (the engine's seek after a halt) reads exactly the records from
// there, never one buffered for the old position.
func TestSharedReaders(t *testing.T) {
	ctx := context.Background()
	const parts = 200
	const topic = "shared"
	c, pc := startTopic(t, topic, parts)
	defer pc.Close()
	// Partition 0 holds 40 KB, far above its reader's share of
	// fetch_max_bytes (64 KiB / 200 readers); the others 5 records each.
	produceTo(t, pc, topic, 0, 0, 400, 100)
	for p := int32(1); p < parts; p++ {
		produceTo(t, pc, topic, p, 0, 5, 0)
	}
	pc.Close()
	// Count from no connection: wait for the producer's to close.
	if n := c.WaitConnections(0, 10*time.Second); n > 0 {
		t.Fatalf("the producer's %d connections are still open after 10s", n)
	}
	s, err := Open(ctx, Options{Target: Target{Brokers: c.Addrs(), Topic: topic},
		FetchWait: 10 * time.Millisecond, MetadataMinAge: 50 * time.Millisecond, FetchMaxBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	readers := openReaders(t, s, parts)
	// Partition 0 is not read: it fills its buffer and is paused.
	deadline := time.Now().Add(10 * time.Second)
	for !s.sharedPaused(0) {
		if time.Now().After(deadline) {
			t.Fatal("partition 0, unread, was not paused in 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	for p := 1; p < parts; p++ {
		readOffsets(t, readers[p], int32(p), 0, 5)
	}
	// The stream's own client and the pool's: each connects to the seed
	// broker first, then to the broker for metadata and offsets, and the
	// pool's for fetches: at most three connections a client.
	if n, most := c.Connections(), 3*(s.o.ReaderClients+1); n > most {
		t.Errorf("a stream with 200 readers holds %d connections, want at most %d (%d clients)", n, most, s.o.ReaderClients+1)
	} else {
		t.Logf("a stream with 200 readers holds %d connections", n)
	}
	// The others go on while partition 0 stays paused.
	pc2 := manualClient(t, c)
	for p := int32(1); p < 20; p++ {
		produceTo(t, pc2, topic, p, 5, 3, 0)
	}
	pc2.Close()
	for p := 1; p < 20; p++ {
		readOffsets(t, readers[p], int32(p), 5, 3)
	}
	if !s.sharedPaused(0) {
		t.Error("partition 0 was resumed while its reader read nothing")
	}
	if b := s.sharedBytes(0); b > s.o.FetchMaxBytes {
		t.Errorf("partition 0 buffers %d bytes, want at most fetch_max_bytes (%d)", b, s.o.FetchMaxBytes)
	}
	// Read partition 0 in full: it is resumed as its reader drains it.
	readOffsets(t, readers[0], 0, 0, 400)

	checkReopen(t, s, readers)
	for _, r := range readers {
		r.Close()
	}
	s.mu.Lock()
	cons := len(s.cons)
	s.mu.Unlock()
	if cons != 0 {
		t.Errorf("%d shared clients still open after the last reader closed", cons)
	}
}

// checkReopen closes readers of partitions 100 to 104 and 150 of s and
// reopens them at other positions while the other readers stay open:
// each reads exactly the records from its new position.
func checkReopen(t *testing.T, s *Stream, readers []driver.Reader) {
	ctx := context.Background()
	// Reopen partitions at other positions while the others stay open.
	tests := []struct {
		name       string
		first      driver.Start // the first reader's start
		read       int          // records it reads before it closes
		second     driver.Start // the reopened reader's start
		wantFrom   int          // the first offset the reopened reader reads
		sameReader bool         // open the second before closing the first
	}{
		{"later, after a partial read", driver.Start{}, 1, driver.Start{Kind: driver.StartAt, Pointer: PointerAt(3)}, 3, false},
		{"earlier", driver.Start{Kind: driver.StartAt, Pointer: PointerAt(3)}, 2, driver.Start{}, 0, false},
		{"after a pointer", driver.Start{}, 5, driver.Start{Kind: driver.StartAfter, Pointer: PointerAt(1)}, 2, false},
		{"unread, at a later position", driver.Start{}, 0, driver.Start{Kind: driver.StartAt, Pointer: PointerAt(4)}, 4, false},
		{"two readers of one partition", driver.Start{}, 1, driver.Start{Kind: driver.StartAt, Pointer: PointerAt(2)}, 2, true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := int32(100 + i)
			readers[p].Close() // the partition is free on the shared client
			r1, err := s.OpenReader(ctx, strconv.Itoa(int(p)), tt.first)
			if err != nil {
				t.Fatal(err)
			}
			first := 0
			if tt.first.Kind == driver.StartAt {
				off, _ := Offset(tt.first.Pointer)
				first = int(off)
			}
			readOffsets(t, r1, p, first, tt.read)
			if tt.read == 0 {
				// Let the old position's records reach the buffer.
				wait := time.Now().Add(10 * time.Second)
				for s.sharedBytes(p) == 0 && time.Now().Before(wait) {
					time.Sleep(time.Millisecond)
				}
			}
			if !tt.sameReader {
				r1.Close()
			}
			r2, err := s.OpenReader(ctx, strconv.Itoa(int(p)), tt.second)
			if err != nil {
				t.Fatal(err)
			}
			defer r2.Close()
			readOffsets(t, r2, p, tt.wantFrom, 5-tt.wantFrom)
			if tt.sameReader {
				readOffsets(t, r1, p, first+tt.read, 5-first-tt.read)
				r1.Close()
			}
		})
	}
	// Reopen one partition again and again at every position.
	readers[150].Close()
	for i := range 25 {
		at := i % 5
		r, err := s.OpenReader(ctx, "150", driver.Start{Kind: driver.StartAt, Pointer: PointerAt(int64(at))})
		if err != nil {
			t.Fatal(err)
		}
		readOffsets(t, r, 150, at, 1)
		r.Close()
	}
}

// sharedPaused reports whether the shared client pauses partition p.
func (s *Stream) sharedPaused(p int32) bool {
	s.mu.Lock()
	c := s.cons[int(p)%max(s.o.ReaderClients, 1)]
	s.mu.Unlock()
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.paused[p]
	return ok
}

// sharedBytes returns the bytes partition p's reader buffers on the shared
// client.
func (s *Stream) sharedBytes(p int32) int {
	s.mu.Lock()
	c := s.cons[int(p)%max(s.o.ReaderClients, 1)]
	s.mu.Unlock()
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if sh := c.shares[p]; sh != nil {
		return sh.bytes
	}
	return 0
}

// TestSharedReaderErrors fails the fetches of one partition of three read
// through the shared client: its reader reports the error once, after the
// records before it, and goes on; the other readers see no error. Every
// reader reads its records once, in order.
func TestSharedReaderErrors(t *testing.T) {
	ctx := context.Background()
	c := kafkatest.Start(t)
	const topic = "errs"
	if err := c.CreateTopic(ctx, topic, 3); err != nil {
		t.Fatal(err)
	}
	pc := manualClient(t, c)
	defer pc.Close()
	for p := range int32(3) {
		produceTo(t, pc, topic, p, 0, 5, 0)
	}
	s, err := Open(ctx, Options{Target: Target{Brokers: c.Addrs(), Topic: topic},
		FetchWait: 10 * time.Millisecond, MetadataMinAge: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f := c.FailFetch(topic, 1, nil, 1)
	readers := make([]driver.Reader, 3)
	for p := range readers {
		if readers[p], err = s.OpenReader(ctx, strconv.Itoa(p), driver.Start{}); err != nil {
			t.Fatal(err)
		}
		defer readers[p].Close()
	}
	for p, r := range readers {
		var errs []error
		got := 0
		deadline := time.Now().Add(10 * time.Second)
		for got < 5 && time.Now().Before(deadline) {
			b, err := r.Fetch(ctx, 10)
			if err != nil {
				errs = append(errs, err)
			}
			for _, rec := range b {
				if off, _ := Offset(rec.Pointer); off != int64(got) {
					t.Fatalf("partition %d: record %d at offset %d", p, got, off)
				}
				got++
			}
		}
		if got != 5 {
			t.Fatalf("partition %d: read %d records, want 5 (errors %v)", p, got, errs)
		}
		wantErrs := 0
		if p == 1 {
			wantErrs = 1
		}
		if len(errs) != wantErrs {
			t.Errorf("partition %d: errors %v, want %d", p, errs, wantErrs)
		}
		for _, err := range errs {
			if !strings.Contains(err.Error(), "UNKNOWN_SERVER_ERROR") || !strings.Contains(err.Error(), "errs/1") {
				t.Errorf("partition %d: error %v, want UNKNOWN_SERVER_ERROR naming errs/1", p, err)
			}
		}
	}
	if f.Hits() != 1 {
		t.Errorf("the fault answered %d fetches, want 1", f.Hits())
	}
}

// TestShareGenerations routes fetches by hand through a consumer without a
// client: records of a partition reach only its current, active
// generation, and what arrives for a closed or superseded one (fetched at
// the old position) is dropped.
func TestShareGenerations(t *testing.T) {
	ctx := context.Background()
	s := &Stream{o: Options{Target: Target{Topic: "t"}, FetchMaxBytes: 1 << 20}}
	c := &consumer{s: s, topic: "t", stopped: make(chan struct{}),
		shares: map[int32]*share{}, gens: map[int32]uint64{},
		add: map[int32]*share{}, remove: map[int32]struct{}{}, paused: map[int32]struct{}{}}
	s.cons = map[int]*consumer{0: c}
	open := func(at int64) *reader {
		t.Helper()
		r, err := s.openShared("0", 0, kgo.NewOffset().At(at))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	// The consumer's last reader never closes here (that would close the
	// client it does not have).
	if _, err := s.openShared("1", 1, kgo.NewOffset().At(0)); err != nil {
		t.Fatal(err)
	}
	// apply without the client: take what is pending and activate it.
	apply := func() {
		c.mu.Lock()
		add := c.add
		c.add, c.remove = map[int32]*share{}, map[int32]struct{}{}
		c.mu.Unlock()
		c.activate(add)
	}
	route := func(offs ...int64) {
		var recs []*kgo.Record
		for _, o := range offs {
			recs = append(recs, &kgo.Record{Topic: "t", Partition: 0, Offset: o, Value: []byte("v")})
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		c.route(kgo.Fetches{{Topics: []kgo.FetchTopic{{Topic: "t", Partitions: []kgo.FetchPartition{{Partition: 0, HighWatermark: 10, Records: recs}}}}}})
	}
	fetch := func(r *reader) []int64 {
		t.Helper()
		b, err := r.Fetch(ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		var out []int64
		for _, rec := range b {
			off, _ := Offset(rec.Pointer)
			out = append(out, off)
		}
		return out
	}

	r1 := open(0)
	route(0, 1) // before the client consumes r1's position: not r1's
	if got := fetch(r1); len(got) != 0 {
		t.Fatalf("before activation r1 read %v, want nothing", got)
	}
	apply()
	route(0, 1)
	if got := fetch(r1); !slices.Equal(got, []int64{0, 1}) {
		t.Fatalf("r1 read %v, want [0 1]", got)
	}
	route(2) // buffered, never read
	r1.Close()
	if _, ok := c.remove[0]; !ok {
		t.Error("closing r1 did not ask for the removal of its partition")
	}
	r2 := open(5)
	gen2 := c.gens[0]
	route(3, 4) // fetched for r1's position before the removal
	if got := fetch(r2); len(got) != 0 {
		t.Fatalf("r2 (at 5) read %v, fetched for r1's position", got)
	}
	// r2 closes and r4 opens before the client applies r2's addition.
	pending := c.add[0]
	r2.Close()
	r4 := open(7)
	if pending.gen != gen2 || c.gens[0] != gen2+1 {
		t.Fatalf("generations %d then %d, want %d then %d", pending.gen, c.gens[0], gen2, gen2+1)
	}
	c.activate(map[int32]*share{0: pending}) // a stale apply of r2
	route(5, 6)
	if got := fetch(r4); len(got) != 0 {
		t.Fatalf("r4 (at 7) read %v, fetched for r2's position", got)
	}
	apply()
	route(7, 8)
	if got := fetch(r4); !slices.Equal(got, []int64{7, 8}) {
		t.Fatalf("r4 read %v, want [7 8]", got)
	}
	if l := r4.Lag(); l.Records != 1 {
		t.Errorf("r4's lag = %+v, want 1 record (high watermark 10, next 9)", l)
	}
	r4.Close()
}
