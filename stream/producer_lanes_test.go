package stream

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/unistream-go/unistream/stream/driver"
	"github.com/unistream-go/unistream/stream/streamtest"
	"github.com/unistream-go/unistream/stream/wal"
	"github.com/unistream-go/unistream/stream/wal/waltest"
)

// keysByLane returns, for each lane of p, keys "<prefix>N" that go to it
// (at least want per lane).
func keysByLane(p *Producer, prefix string, want int) [][]string {
	out := make([][]string, len(p.lanes))
	for i, full := 0, 0; full < len(out); i++ {
		k := fmt.Sprintf("%s%d", prefix, i)
		l := p.laneOf([]byte(k))
		if len(out[l]) < want {
			out[l] = append(out[l], k)
			if len(out[l]) == want {
				full++
			}
		}
	}
	return out
}

// trigger makes every lane send what it holds now (a Flush whose context
// is already done: it sets the flush target and returns).
func trigger(p *Producer) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p.Flush(ctx)
}

// checkPerKeyExactOrder fails unless the stream holds each record Put
// exactly once and each key's records in Put order.
func checkPerKeyExactOrder(t *testing.T, written []driver.Record, put map[string][]string) {
	t.Helper()
	got := map[string][]string{}
	seen := map[string]bool{}
	for _, r := range written {
		if seen[r.ID] {
			t.Fatalf("record %s written twice", r.ID)
		}
		seen[r.ID] = true
		got[string(r.Key)] = append(got[string(r.Key)], r.ID)
	}
	for k, want := range put {
		if !slices.Equal(got[k], want) {
			t.Fatalf("key %s: written %v, want %v (Put order)", k, got[k], want)
		}
	}
	if len(got) != len(put) {
		t.Fatalf("records of %d keys written, want %d", len(got), len(put))
	}
}

func TestProducerLaneOf(t *testing.T) {
	prodLeakCheck(t)
	for _, n := range []int{1, 2, 4, 7, 64} {
		p := &Producer{lanes: make([]*lane, n)}
		if l := p.laneOf(nil); l != 0 {
			t.Fatalf("%d lanes: a record without a key goes to lane %d, want 0", n, l)
		}
		if l := p.laneOf([]byte{}); l != 0 {
			t.Fatalf("%d lanes: an empty key goes to lane %d, want 0", n, l)
		}
		used := map[int]bool{}
		for i := range 2000 {
			k := []byte(fmt.Sprintf("customer-%d", i))
			l := p.laneOf(k)
			if l < 0 || l >= n {
				t.Fatalf("%d lanes: key %s in lane %d", n, k, l)
			}
			if again := p.laneOf(append([]byte(nil), k...)); again != l {
				t.Fatalf("%d lanes: key %s in lanes %d and %d", n, k, l, again)
			}
			used[l] = true
		}
		if len(used) != n {
			t.Fatalf("%d lanes: 2000 keys use %d lanes", n, len(used))
		}
	}
	// The hash is FNV-1a (stable across processes and releases).
	p := &Producer{lanes: make([]*lane, 4)}
	for k, want := range map[string]int{"k0": 2, "k1": 1, "k2": 0, "k3": 3} {
		if l := p.laneOf([]byte(k)); l != want {
			t.Errorf("key %s in lane %d, want %d", k, l, want)
		}
	}
}

// hashedStream is a stream that places keys by a hash of its own
// (driver.KeyHasher): here the key's last byte.
type hashedStream struct{ *prodFakeStream }

func (hashedStream) KeyHash(key []byte) uint32 { return uint32(key[len(key)-1]) }

// TestProducerLanesFollowKeyHash: on a stream that tells its key hash,
// a key's lane is that hash mod the lanes, so that with lanes dividing the
// partitions each lane's batches go to partitions of its own.
func TestProducerLanesFollowKeyHash(t *testing.T) {
	prodLeakCheck(t)
	p, err := NewProducer(NewStream(hashedStream{newProdFakeStream(8)}), WithoutWAL(), WithSendLanes(4))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	for b := range 256 {
		key := []byte{'k', byte(b)}
		if l := p.laneOf(key); l != b%4 {
			t.Fatalf("key %x in lane %d, want its hash %d mod 4 = %d", key, l, b, b%4)
		}
	}
	if l := p.laneOf(nil); l != 0 {
		t.Fatalf("a record without a key goes to lane %d, want 0", l)
	}
}

func TestProducerSendLanesOption(t *testing.T) {
	prodLeakCheck(t)
	s := newProdFakeStream(1)
	for _, n := range []int{0, -1, 65, 1000} {
		_, err := NewProducer(NewStream(s), WithoutWAL(), WithSendLanes(n))
		var oe *OptionError
		if !errors.As(err, &oe) || oe.Option != "WithSendLanes" || oe.Value != n || !strings.Contains(oe.Expected, "between 1 and 64") {
			t.Errorf("WithSendLanes(%d): %v", n, err)
		}
	}
	for _, n := range []int{1, 3, 64, 0} {
		opts := []ProducerOption{WithoutWAL()}
		want := DefaultSendLanes
		if n > 0 {
			opts, want = append(opts, WithSendLanes(n)), n
		}
		p, err := NewProducer(NewStream(s), opts...)
		if err != nil {
			t.Fatalf("%d lanes: %v", n, err)
		}
		if len(p.lanes) != want {
			t.Errorf("WithSendLanes(%d): %d lanes, want %d", n, len(p.lanes), want)
		}
		if err := p.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if DefaultSendLanes != 4 {
		t.Errorf("DefaultSendLanes = %d, want 4", DefaultSendLanes)
	}
}

// TestProducerLanesBatchPerLane checks the batches of each lane: a lane
// sends once it holds its share of a batch (MaxRecords divided by the
// number of lanes) while another lane's fewer records wait; a lane whose
// oldest record is MaxAge old sends while a younger lane waits; and a
// lane's batch holds at most MaxRecords records.
func TestProducerLanesBatchPerLane(t *testing.T) {
	prodLeakCheck(t)
	s := newProdFakeStream(3)
	ev := &prodEvents{}
	// 4 lanes: a lane's share of a batch of 8 is 2 records.
	p, clock, _ := newTestProducer(t, s, WithMaxRecords(8), WithMaxAge(1500*time.Millisecond), WithObserver(ev))
	keys := keysByLane(p, "key-", 1)
	a, b, c := keys[0][0], keys[1][0], keys[2][0]
	put := func(id, key string) { mustPut(t, p, Record{ID: id, Key: []byte(key), Value: []byte("v")}) }
	ready := func(l int) (bool, time.Duration) {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.readyLocked(p.lanes[l])
	}
	put("b0", b)
	put("a0", a)
	if send, wait := ready(0); send || wait != 1500*time.Millisecond {
		t.Fatalf("lane A with 1 record: ready %v, wait %v", send, wait)
	}
	put("a1", a)
	prodWaitFor(t, "lane A's batch", func() bool { return p.Stats().Sent >= 2 })
	if st := p.Stats(); st.Sent != 2 || st.Buffered != 1 || st.Batches != 1 {
		t.Fatalf("stats %+v, want 2 sent (lane A's share) and 1 buffered (lane B, not due)", st)
	}
	if got := s.callBatches(); !reflect.DeepEqual(got, [][]string{{"a0", "a1"}}) {
		t.Fatalf("batches %v", got)
	}
	// Age: lane B's record is now 2 s old, lane C's 1 s.
	clock.Advance(time.Second)
	put("c0", c)
	clock.Advance(time.Second)
	p.wakeSender()
	prodWaitFor(t, "lane B's batch, due by age", func() bool { return p.Stats().Sent == 3 })
	if send, wait := ready(2); send || wait != 500*time.Millisecond {
		t.Fatalf("lane C: ready %v, wait %v; want to wait 500ms more", send, wait)
	}
	if err := p.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The cap: records pile up in lane A while its Write is in flight,
	// and go in batches of at most 8.
	s.mu.Lock()
	s.block = make(chan struct{})
	s.mu.Unlock()
	for i := range 20 {
		put(fmt.Sprintf("a%02d", 2+i), a)
	}
	prodWaitFor(t, "lane A's write in flight", func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.inflight == 1 })
	s.mu.Lock()
	close(s.block)
	s.block = nil
	s.mu.Unlock()
	if err := p.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	var counts []int
	full, total := false, 0
	for i, e := range ev.of(EventProducerEmit) {
		counts = append(counts, e.Count)
		if i >= 3 {
			full = full || e.Count == 8
			total += e.Count
			if e.Count > 8 {
				t.Fatalf("a batch of %d records, over MaxRecords 8", e.Count)
			}
		}
	}
	if !reflect.DeepEqual(counts[:3], []int{2, 1, 1}) || !full || total != 20 {
		t.Fatalf("batches of %v records, want [2 1 1], then 20 records in batches of at most 8, one of 8", counts)
	}
}

// TestProducerLanesWritesInFlightAtOnce checks that the lanes really send
// at once, each through its own writer, and that one lane never has two
// writes in flight.
func TestProducerLanesWritesInFlightAtOnce(t *testing.T) {
	for _, lanes := range []int{1, 4} {
		t.Run(fmt.Sprintf("lanes=%d", lanes), func(t *testing.T) {
			prodLeakCheck(t)
			s := newProdFakeStream(2)
			s.block = make(chan struct{})
			p, _, _ := newTestProducer(t, s, WithSendLanes(lanes), WithMaxRecords(1))
			// Two records of each of k0..k3 (one key per lane with 4 lanes).
			put := map[string][]string{}
			for i := range 8 {
				r := prodRec(i, 4)
				mustPut(t, p, r)
				put[string(r.Key)] = append(put[string(r.Key)], r.ID)
			}
			prodWaitFor(t, fmt.Sprintf("%d writes in flight", lanes), func() bool {
				s.mu.Lock()
				defer s.mu.Unlock()
				return s.inflight == lanes
			})
			s.mu.Lock()
			close(s.block)
			s.block = nil
			s.mu.Unlock()
			if err := p.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			s.mu.Lock()
			maxIn, conc, writers := s.maxInflight, s.concurrentUse, s.writers
			s.mu.Unlock()
			if maxIn != lanes || conc != 0 || writers != lanes {
				t.Fatalf("%d writes in flight at most, %d concurrent calls on one writer, %d writers; want %d, 0, %d",
					maxIn, conc, writers, lanes, lanes)
			}
			checkPerKeyExactOrder(t, s.written(), put)
			if st := p.Stats(); st.Batches != 8 || st.Sent != 8 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// TestProducerLanesKeyOrderUnderFailures puts many keys from several
// goroutines through several lanes, on a stream that fails random
// records (and the later records of their partitions in the same call)
// and random whole calls, with a small buffer so that Puts block at the
// bound: every record arrives exactly once, each key's in Put order.
func TestProducerLanesKeyOrderUnderFailures(t *testing.T) {
	for _, c := range []struct{ lanes, parts int }{{4, 3}, {7, 5}, {2, 2}} {
		for seed := range uint64(3) {
			t.Run(fmt.Sprintf("lanes=%d/parts=%d/seed=%d", c.lanes, c.parts, seed), func(t *testing.T) {
				prodLeakCheck(t)
				s := newProdFakeStream(c.parts)
				rnd := rand.New(rand.NewPCG(seed, 7)) // used under s.mu
				failedRecords, failedCalls := 0, 0
				s.failWrite = func(int, []driver.Record) error {
					if rnd.IntN(20) == 0 {
						failedCalls++
						return errors.New("unavailable")
					}
					return nil
				}
				s.failRecord = func(_ int, r *driver.Record) error {
					if rnd.IntN(10) == 0 {
						failedRecords++
						return fmt.Errorf("%s throttled", r.ID)
					}
					return nil
				}
				p, _, path := newTestProducer(t, s, WithSendLanes(c.lanes), WithMaxRecords(7), WithBufferLimit(40, 1<<20),
					withWALOptions(wal.Options{CompactBytes: 2048}))
				const goroutines, each, keysPer = 3, 200, 9
				put := make([]map[string][]string, goroutines)
				var wg sync.WaitGroup
				for g := range goroutines {
					put[g] = map[string][]string{}
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := range each {
							key := fmt.Sprintf("g%d-key%d", g, (i*5+i/7)%keysPer)
							r := Record{ID: fmt.Sprintf("g%d-%03d", g, i), Key: []byte(key), Value: []byte{byte(i)}}
							if i%13 == 0 {
								r.Key, key = nil, "" // keyless: lane 0, in Put order
							}
							if err := p.Put(context.Background(), r); err != nil {
								t.Error(err)
								return
							}
							put[g][key] = append(put[g][key], r.ID)
						}
					}()
				}
				wg.Wait()
				if err := p.Close(context.Background()); err != nil {
					t.Fatal(err)
				}
				all := map[string][]string{}
				for g := range put {
					for k, ids := range put[g] {
						if k == "" {
							continue // keyless records of the goroutines interleave
						}
						all[k] = ids
					}
				}
				// Keyless records: each goroutine's in its Put order.
				var keyed []driver.Record
				lastKeyless := map[byte]string{}
				for _, r := range s.written() {
					if len(r.Key) > 0 {
						keyed = append(keyed, r)
						continue
					}
					g := r.ID[1]
					if prev, ok := lastKeyless[g]; ok && r.ID < prev {
						t.Fatalf("keyless %s written after %s", r.ID, prev)
					}
					lastKeyless[g] = r.ID
				}
				checkPerKeyExactOrder(t, keyed, all)
				st := p.Stats()
				s.mu.Lock()
				defer s.mu.Unlock()
				if n := len(s.all); n != goroutines*each || st.Sent != goroutines*each {
					t.Fatalf("%d records written, %d sent, want %d", n, st.Sent, goroutines*each)
				}
				if failedRecords == 0 || failedCalls == 0 || st.Holds == 0 {
					t.Fatalf("%d failed records, %d failed calls, %d holds: the failures were not exercised", failedRecords, failedCalls, st.Holds)
				}
				if s.writers < 2 || s.writers > c.lanes || s.writersClosed != s.writers || s.concurrentUse != 0 {
					t.Fatalf("%d writers (%d closed, %d concurrent calls on one writer) for %d lanes", s.writers, s.writersClosed, s.concurrentUse, c.lanes)
				}
				if fi, err := os.Stat(path); err != nil || fi.Size() != wal.HeaderSize {
					t.Fatalf("WAL after a clean Close: %v %v", fi, err)
				}
			})
		}
	}
}

// holdClock is a fake clock whose Sleep (a producer's hold) waits until
// release is closed.
type holdClock struct {
	*streamtest.FakeClock
	release chan struct{}

	mu       sync.Mutex
	sleeping int
}

func (c *holdClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.sleeping++
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.sleeping--
		c.mu.Unlock()
	}()
	select {
	case <-c.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return c.FakeClock.Sleep(ctx, d)
}

func (c *holdClock) held() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sleeping
}

// TestProducerLanesHoldDoesNotStopOthers checks that a lane on hold after
// a failed write holds back only its own records: the other lanes' records
// are sent and acknowledged during the hold; the failed record is then
// re-sent ahead of the later records of its lane.
func TestProducerLanesHoldDoesNotStopOthers(t *testing.T) {
	prodLeakCheck(t)
	s := newProdFakeStream(3)
	poisoned := true // under s.mu
	s.failRecord = func(_ int, r *driver.Record) error {
		if poisoned && string(r.Key) == "poison" {
			return errors.New("poison refused")
		}
		return nil
	}
	clock := &holdClock{FakeClock: streamtest.NewFakeClock(prodT0), release: make(chan struct{})}
	ev := &prodEvents{}
	p, _, _ := newTestProducer(t, s, WithClock(clock), WithObserver(ev))
	pl := p.laneOf([]byte("poison"))
	keys := keysByLane(p, "key-", 2)

	mustPut(t, p, Record{ID: "p0", Key: []byte("poison")})
	trigger(p)
	prodWaitFor(t, "the poison lane's hold", func() bool { return clock.held() == 1 })

	// The same lane: another key, behind the failed record.
	mustPut(t, p, Record{ID: "s0", Key: []byte(keys[pl][0])})
	put := map[string][]string{}
	n := 0
	for l, ks := range keys {
		if l == pl {
			continue
		}
		for _, k := range ks {
			for range 3 {
				id := fmt.Sprintf("o%02d", n)
				n++
				mustPut(t, p, Record{ID: id, Key: []byte(k)})
				put[k] = append(put[k], id)
			}
		}
	}
	trigger(p)
	prodWaitFor(t, "the other lanes' records during the hold", func() bool { return p.Stats().Sent == uint64(n) })
	if h := clock.held(); h != 1 {
		t.Fatalf("%d lanes holding, want the poison lane", h)
	}
	for _, r := range s.written() {
		if r.ID == "p0" || r.ID == "s0" {
			t.Fatalf("%s written while its lane was on hold", r.ID)
		}
	}
	checkPerKeyExactOrder(t, s.written(), put)
	if st := p.Stats(); st.Holds != 1 || st.Buffered != 2 || st.FailedAttempts != 1 {
		t.Fatalf("stats during the hold %+v", st)
	}

	s.mu.Lock()
	poisoned = false
	s.mu.Unlock()
	close(clock.release)
	if err := p.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	w := s.written()
	if len(w) != n+2 || w[n].ID != "p0" || w[n+1].ID != "s0" {
		t.Fatalf("written %v, want the other lanes' records, then p0 (re-sent first) and s0", recIDsOf(w))
	}
	holds := ev.of(EventProducerHold)
	if len(holds) != 1 || holds[0].Attempt != 1 || !strings.Contains(holds[0].Err.Error(), "poison refused") {
		t.Fatalf("holds %+v", holds)
	}
}

func recIDsOf(rs []driver.Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

// TestProducerLanesCrashReplay crashes a producer whose lanes acknowledged
// their records in an interleaved order, one lane stuck behind a failing
// key, with a WAL small enough to be compacted meanwhile; the acks reached
// the disk. The next producer (with another lane count) replays exactly
// the stuck lane's records, in order, and re-sends nothing else.
func TestProducerLanesCrashReplay(t *testing.T) {
	prodLeakCheck(t)
	s := newProdFakeStream(3)
	s.failRecord = func(_ int, r *driver.Record) error {
		if string(r.Key) == "k1" {
			return errors.New("k1 refused")
		}
		return nil
	}
	fs := &waltest.FaultFS{}
	p, _, path := newTestProducer(t, s, WithMaxRecords(3), withWALOptions(wal.Options{OpenFile: fs.OpenFile, CompactBytes: 512}))
	if p.laneOf([]byte("k1")) == p.laneOf([]byte("k0")) {
		t.Fatal("k0 and k1 share a lane")
	}
	put := map[string][]string{}
	for i := range 60 {
		r := prodRec(i, 4)
		if string(r.Key) != "k1" {
			// So that the live records (k1's) are a small part of the log.
			r.Value = []byte(strings.Repeat("x", 100))
		}
		mustPut(t, p, r)
		put[string(r.Key)] = append(put[string(r.Key)], r.ID)
	}
	trigger(p)
	prodWaitFor(t, "every record but k1's", func() bool { return p.Stats().Sent == 45 })
	prodWaitFor(t, "the WAL writer to be idle", p.walIdle)
	if !slices.Contains(fs.Opened(), path+".compact") {
		t.Fatalf("the WAL was never compacted (opened %v)", fs.Opened())
	}
	if err := p.log.Sync(); err != nil { // the acks reach the disk
		t.Fatal(err)
	}
	p.abandon()

	s.mu.Lock()
	s.failRecord = nil
	s.mu.Unlock()
	ev := &prodEvents{}
	p2, err := NewProducer(NewStream(s), WithWAL(path), WithSendLanes(3), WithObserver(ev), WithClock(streamtest.NewFakeClock(prodT0)))
	if err != nil {
		t.Fatal(err)
	}
	if st := p2.Stats(); st.Replayed != 15 {
		t.Fatalf("replayed %d records, want the 15 of k1", st.Replayed)
	}
	mustPut(t, p2, Record{ID: "r999", Key: []byte("k1")})
	put["k1"] = append(put["k1"], "r999")
	if err := p2.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkPerKeyExactOrder(t, s.written(), put)
	if fi, err := os.Stat(path); err != nil || fi.Size() != wal.HeaderSize {
		t.Fatalf("WAL after a clean Close: %v %v", fi, err)
	}
}

// TestProducerLanesCrashAtWALWrites runs the crash scenario of
// TestProducerCrashAtEveryWALWrite with four lanes, whose batches sync
// the WAL and acknowledge their records at once and in any order. The
// order of the WAL operations then depends on the timing, so "the k-th
// write" is not the same point in every run and a run may make fewer
// writes than k: each run checks the guarantees wherever its fault
// struck, and each kind of fault must strike at least once.
func TestProducerLanesCrashAtWALWrites(t *testing.T) {
	prodLeakCheck(t)
	if testing.Short() {
		t.Skip("crash matrix skipped in -short mode")
	}
	// Four lanes, and batches of 36 so that a lane's share (9 records) is
	// more than a group: as in the one-lane scenario, the lanes send only
	// during the Flushes. (A lane sending during the Puts could hand the
	// stream a record whose WAL sync failed after a torn write, which the
	// simulated process, unlike a dead one, goes on to do.)
	lanes := WithSendLanes(4)
	for _, policy := range []FsyncPolicy{FsyncPerBatch, FsyncAlways} {
		writes, syncs, compacted := 0, 0, false
		for range 3 {
			s := newProdFakeStream(3)
			path := filepath.Join(t.TempDir(), "p.wal")
			fs := &waltest.FaultFS{}
			out := crashPhase1(t, s, path, fs, policy, lanes, WithMaxRecords(36))
			if out.newErr != nil || len(out.accepted) != crashRecords {
				t.Fatalf("clean run: %v, %d accepted", out.newErr, len(out.accepted))
			}
			crashCheck(t, s, out)
			writes, syncs = max(writes, fs.Writes()), max(syncs, fs.Syncs())
			compacted = compacted || slices.Contains(fs.Opened(), path+".compact")
		}
		if !compacted {
			t.Fatal("no clean run compacted the WAL: the scenario does not cover compaction")
		}
		t.Logf("%v: the clean runs make up to %d WAL writes and %d fsyncs", policy, writes, syncs)
		for _, mode := range []waltest.Mode{waltest.FailWrite, waltest.TearWrite, waltest.FailSync} {
			n := writes
			if mode == waltest.FailSync {
				n = syncs
			}
			struck := 0
			for k := 1; k <= n; k++ {
				name := fmt.Sprintf("%v/%v/k=%d", policy, mode, k)
				ok := t.Run(name, func(t *testing.T) {
					s := newProdFakeStream(3)
					path := filepath.Join(t.TempDir(), "p.wal")
					fs := &waltest.FaultFS{Mode: mode, At: k}
					out := crashPhase1(t, s, path, fs, policy, lanes, WithMaxRecords(36))
					if fs.Faulted() {
						struck++
					}
					crashRestart(t, s, path, fs, out)
				})
				if !ok {
					t.FailNow()
				}
			}
			if struck == 0 {
				t.Fatalf("%v/%v: the fault never struck in %d runs", policy, mode, n)
			}
		}
	}
}

// TestProducerPutAllocs checks that Put allocates nothing per record with
// several lanes and a WAL (slabs and queue blocks are amortized).
func TestProducerPutAllocs(t *testing.T) {
	prodLeakCheck(t)
	s := newProdFakeStream(2)
	p, _, _ := newTestProducer(t, s, WithMaxRecords(1<<20), WithMaxBytes(1<<30))
	var recs []Record
	for i := range 8 {
		recs = append(recs, Record{Key: []byte(fmt.Sprintf("customer-%d", i)), Value: make([]byte, 100)})
	}
	ctx := context.Background()
	i := 0
	allocs := testing.AllocsPerRun(2000, func() {
		if err := p.Put(ctx, recs[i%len(recs)]); err != nil {
			t.Fatal(err)
		}
		i++
	})
	if allocs != 0 {
		t.Fatalf("Put: %v allocations per record, want 0", allocs)
	}
	used := map[int]bool{}
	for _, r := range recs {
		used[p.laneOf(r.Key)] = true
	}
	if len(used) < 2 {
		t.Fatalf("the records use %d lanes", len(used))
	}
}
