package stream

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/unistream-go/unistream/stream/driver"
	"github.com/unistream-go/unistream/stream/streamtest"
	"github.com/unistream-go/unistream/stream/wal"
	"github.com/unistream-go/unistream/stream/wal/waltest"
)

// The crash scenario: 30 records with mixed keys, Put in groups with a Flush
// after each group, on a stream that fails some records on their first
// attempt (partial failures) and some whole calls. The WAL is small enough
// to be compacted. With Flush after groups smaller than the batch size, the
// sender touches the WAL only while the test goroutine waits in Flush, so
// the sequence of WAL writes and fsyncs is deterministic and "the k-th
// write" is the same persistence point in every run. (With a count-
// triggered batch during the Puts, an FsyncAlways Put may or may not find
// its record already synced by a concurrent compaction.)
var crashGroups = []int{5, 7, 3, 8, 7}

const crashRecords = 30

// crashFailRecords fail on their first attempt.
var crashFailRecords = map[string]bool{"r003": true, "r010": true, "r017": true, "r026": true, "r027": true}

// crashFailCalls are Write calls (numbered per scenario phase) that fail whole.
var crashFailCalls = map[int]bool{3: true, 7: true}

func crashRecord(i int) Record {
	return Record{
		ID:      fmt.Sprintf("r%03d", i),
		Key:     []byte(fmt.Sprintf("k%d", (i*7)%4)),
		Value:   []byte(fmt.Sprintf("payload-%03d-%s", i, strings.Repeat("x", i%9))),
		Headers: []Header{{Key: "i", Value: []byte(fmt.Sprint(i))}},
	}
}

// crashOutcome is what phase 1 did.
type crashOutcome struct {
	policy   FsyncPolicy
	called   []string        // IDs whose Put was called, in order
	accepted map[string]bool // IDs whose Put returned nil
	handed   map[string]bool // IDs handed to the stream's Write
	// settled holds the IDs handed to a Write before a later Write of
	// their send lane began while the process lived: a lane's sender
	// waits for a batch's fsync before its next Write.
	settled map[string]bool
	stored  map[string]bool // IDs the stream held when phase 1 ended
	dead    bool            // the fault "killed the process"
	newErr  error           // NewProducer failed
}

// mustSurvive reports whether the producer promises that record id
// survives the crash: with FsyncAlways, every record whose Put returned
// nil; with FsyncPerBatch, those among them that the stream stored, or
// whose batch's Write and fsync both finished before the crash (the fsync
// runs beside the Write: a record still waiting for its batch, or whose
// Write failed while the crash cut its fsync short, may be lost).
func (o crashOutcome) mustSurvive(id string) bool {
	if o.policy == FsyncPerBatch {
		return o.accepted[id] && (o.stored[id] || o.settled[id])
	}
	return o.accepted[id]
}

func crashOptions(path string, fs *waltest.FaultFS, policy FsyncPolicy) []ProducerOption {
	return []ProducerOption{
		WithWAL(path),
		WithFsync(policy),
		withWALOptions(wal.Options{OpenFile: fs.OpenFile, CompactBytes: 400}),
		WithMaxRecords(9),
		// One lane: the sequence of WAL operations is then the same in
		// every run (TestProducerLanesCrashReplay crashes with several).
		WithSendLanes(1),
		WithMaxAge(24 * time.Hour),
		WithClock(streamtest.NewFakeClock(prodT0)),
		WithSendRetry(RetryPolicy{Initial: time.Millisecond, Multiplier: 2, MaxInterval: 4 * time.Millisecond}),
	}
}

// crashPhase1 runs the scenario with fs injecting its fault, then abandons
// the producer as a crash would. opts come after crashOptions and win.
func crashPhase1(t *testing.T, s *prodFakeStream, path string, fs *waltest.FaultFS, policy FsyncPolicy, opts ...ProducerOption) crashOutcome {
	t.Helper()
	out := crashOutcome{policy: policy, accepted: map[string]bool{}, handed: map[string]bool{}, settled: map[string]bool{}, stored: map[string]bool{}}
	defer func() {
		for _, r := range s.written() {
			out.stored[r.ID] = true
		}
	}()
	attempted := map[string]bool{}
	var p *Producer
	laneHanded := map[int][]string{} // by send lane: the IDs handed to its Writes
	s.mu.Lock()
	s.failWrite = func(call int, recs []driver.Record) error {
		lane := p.laneOf(recs[0].Key) // a call holds one lane's records
		if !fs.Dead() {
			for _, id := range laneHanded[lane] {
				out.settled[id] = true
			}
		}
		for _, r := range recs {
			out.handed[r.ID] = true
			laneHanded[lane] = append(laneHanded[lane], r.ID)
		}
		if crashFailCalls[call] {
			return fmt.Errorf("call %d unavailable", call)
		}
		return nil
	}
	s.failRecord = func(_ int, r *driver.Record) error {
		first := !attempted[r.ID]
		attempted[r.ID] = true
		if first && crashFailRecords[r.ID] {
			return fmt.Errorf("%s throttled", r.ID)
		}
		return nil
	}
	s.mu.Unlock()
	p, err := NewProducer(NewStream(s), append(crashOptions(path, fs, policy), opts...)...)
	if err != nil {
		out.newErr = err
		out.dead = fs.Dead()
		return out
	}
	defer p.abandon()
	i := 0
	for _, g := range crashGroups {
		for range g {
			r := crashRecord(i)
			i++
			out.called = append(out.called, r.ID)
			if err := p.Put(context.Background(), r); err == nil {
				out.accepted[r.ID] = true
			}
			if fs.Dead() {
				out.dead = true
				return out
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err := p.Flush(ctx)
		cancel()
		if err != nil {
			t.Fatalf("Flush: %v", err)
		}
		// The WAL writer cuts the log back or compacts it after the
		// sender's acknowledgements: let it finish, so that every run
		// makes the same WAL writes.
		prodWaitFor(t, "the WAL writer to be idle", p.walIdle)
		if fs.Dead() {
			out.dead = true
			return out
		}
	}
	return out
}

// crashPhase2 opens a new producer on the WAL (no faults), sends everything
// and closes it.
func crashPhase2(t *testing.T, s *prodFakeStream, path string, opts ...ProducerOption) ProducerStats {
	t.Helper()
	s.mu.Lock()
	s.failWrite, s.failRecord = nil, nil
	s.mu.Unlock()
	p, err := NewProducer(NewStream(s), append([]ProducerOption{WithWAL(path), WithClock(streamtest.NewFakeClock(prodT0)), WithMaxAge(24 * time.Hour)}, opts...)...)
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	st := p.Stats()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		t.Fatalf("restart Close: %v", err)
	}
	return st
}

// crashCheck asserts the producer's guarantees over everything written.
// crashRestart checks phase 1's outcome after the fault of fs (a torn
// write kills the process), restarts on the WAL at path, checks the WAL's
// recovery (only a torn write needs repair, and it drops exactly the torn
// tail), that nothing was lost or repeated, and that the restart's clean
// Close left an empty WAL.
func crashRestart(t *testing.T, s *prodFakeStream, path string, fs *waltest.FaultFS, out crashOutcome, opts ...ProducerOption) {
	t.Helper()
	if out.newErr != nil && !errors.Is(out.newErr, waltest.ErrInjected) {
		t.Fatalf("NewProducer: %v", out.newErr)
	}
	if fs.Mode == waltest.TearWrite && fs.Faulted() && !out.dead {
		t.Fatal("a torn write did not kill the process")
	}
	before, _ := os.ReadFile(path)
	st := crashPhase2(t, s, path, opts...)
	if st.Recovery.Repaired() && fs.Mode != waltest.TearWrite {
		t.Fatalf("the WAL needed repair after a %v fault: %v", fs.Mode, st.Recovery)
	}
	if st.Recovery.Repaired() && st.Recovery.TruncatedAt+st.Recovery.DroppedBytes != int64(len(before)) {
		t.Fatalf("recovery %+v of a %d-byte file", st.Recovery, len(before))
	}
	crashCheck(t, s, out)
	if fi, err := os.Stat(path); err != nil || fi.Size() != wal.HeaderSize {
		t.Fatalf("WAL after the restart's clean Close: %v %v", fi, err)
	}
}

func crashCheck(t *testing.T, s *prodFakeStream, out crashOutcome) {
	t.Helper()
	written := s.written()
	first := map[string]int{}
	for i, r := range written {
		if _, ok := first[r.ID]; !ok {
			first[r.ID] = i
		}
	}
	// Every record the policy promises was written at least once, intact.
	for id := range out.accepted {
		if _, ok := first[id]; !ok && out.mustSurvive(id) {
			t.Fatalf("record %s: Put returned nil (handed to the stream: %v, its Write and fsync done before the crash: %v) but it was never written", id, out.handed[id], out.settled[id])
		}
	}
	for _, r := range written {
		var n int
		fmt.Sscanf(r.ID, "r%03d", &n)
		want := crashRecord(n)
		if string(r.Value) != string(want.Value) || string(r.Key) != string(want.Key) || len(r.Headers) != 1 || string(r.Headers[0].Value) != fmt.Sprint(n) {
			t.Fatalf("record %s written with wrong content: %+v", r.ID, r)
		}
	}
	// Nothing was written that was never Put.
	for id := range first {
		if !slices.Contains(out.called, id) {
			t.Fatalf("record %s written but never Put", id)
		}
	}
	// Per key, first deliveries follow Put order.
	last := map[string]int{}
	lastID := map[string]string{}
	for _, id := range out.called {
		pos, ok := first[id]
		if !ok {
			continue
		}
		var n int
		fmt.Sscanf(id, "r%03d", &n)
		key := string(crashRecord(n).Key)
		if prev, ok := last[key]; ok && pos < prev {
			t.Fatalf("key %s: %s first written at %d, before %s at %d", key, id, pos, lastID[key], prev)
		}
		last[key], lastID[key] = pos, id
	}
}

// crashClean runs the scenario without faults and returns the number of WAL
// writes and fsyncs, checking that it is deterministic and covers
// compaction.
func crashClean(t *testing.T, policy FsyncPolicy) (writes, syncs int) {
	t.Helper()
	for run := range 2 {
		s := newProdFakeStream(3)
		path := filepath.Join(t.TempDir(), "p.wal")
		fs := &waltest.FaultFS{}
		out := crashPhase1(t, s, path, fs, policy)
		if out.newErr != nil || len(out.accepted) != crashRecords {
			t.Fatalf("clean run: %v, %d accepted", out.newErr, len(out.accepted))
		}
		if !slices.Contains(fs.Opened(), path+".compact") {
			t.Fatalf("the clean run never compacted the WAL (opened %v): the scenario does not cover compaction", fs.Opened())
		}
		crashCheck(t, s, out)
		if run == 1 && (fs.Writes() != writes || fs.Syncs() != syncs) {
			t.Fatalf("clean runs differ: %d/%d writes, %d/%d syncs: the crash points are not deterministic", writes, fs.Writes(), syncs, fs.Syncs())
		}
		writes, syncs = fs.Writes(), fs.Syncs()
	}
	return writes, syncs
}

// TestProducerCrashAtEveryWALWrite injects a fault at every WAL write (a
// failing write, and a torn write that kills the process) and every fsync
// of the scenario, then restarts a producer on the WAL and checks that
// every accepted record was delivered, in per-key order, with nothing
// invented, and that the WAL never needed more than a torn-tail repair.
func TestProducerCrashAtEveryWALWrite(t *testing.T) {
	prodLeakCheck(t)
	if testing.Short() {
		t.Skip("crash matrix skipped in -short mode")
	}
	for _, policy := range []FsyncPolicy{FsyncPerBatch, FsyncAlways} {
		writes, syncs := crashClean(t, policy)
		t.Logf("%v: the clean run makes %d WAL writes and %d fsyncs", policy, writes, syncs)
		runs := 0
		for _, mode := range []waltest.Mode{waltest.FailWrite, waltest.TearWrite, waltest.FailSync} {
			n := writes
			if mode == waltest.FailSync {
				n = syncs
			}
			for k := 1; k <= n; k++ {
				name := fmt.Sprintf("%v/%v/k=%d", policy, mode, k)
				ok := t.Run(name, func(t *testing.T) {
					s := newProdFakeStream(3)
					path := filepath.Join(t.TempDir(), "p.wal")
					fs := &waltest.FaultFS{Mode: mode, At: k}
					out := crashPhase1(t, s, path, fs, policy)
					if !fs.Faulted() {
						t.Fatalf("the fault at k=%d was never injected", k)
					}
					crashRestart(t, s, path, fs, out)
				})
				if !ok {
					t.FailNow()
				}
				runs++
			}
		}
		t.Logf("%v: %d crash runs", policy, runs)
	}
}

// TestProducerRefusedCrashAtEveryWALWrite runs the crash scenario with one
// record the stream refuses for good and a DLQ sink, and injects a fault
// at every WAL write and fsync, so that the process also dies between the
// DLQ write and the record's acknowledgement in the WAL. After the
// restart (same refusal, same sink), the refused record was never written
// to the stream and, if the policy promises it, is in the DLQ: once, or
// twice when the crash came after its DLQ write and before its
// acknowledgement (the restart sends it again and dead-letters it again:
// at-least-once). Every other record is delivered as without a refusal.
func TestProducerRefusedCrashAtEveryWALWrite(t *testing.T) {
	prodLeakCheck(t)
	if testing.Short() {
		t.Skip("crash matrix skipped in -short mode")
	}
	const refused = "r012"
	twice := 0 // runs that crashed between the DLQ write and the acknowledgement
	run := func(t *testing.T, policy FsyncPolicy, fs *waltest.FaultFS) (crashOutcome, *prodSink) {
		s := newProdFakeStream(3)
		s.refuse = map[string]error{refused: driver.Permanent(errors.New("not authorized"))}
		path := filepath.Join(t.TempDir(), "p.wal")
		sink := &prodSink{}
		out := crashPhase1(t, s, path, fs, policy, WithProducerDLQ(sink))
		if fs.Mode != waltest.NoFault && !fs.Faulted() {
			t.Fatalf("the fault at k=%d was never injected", fs.At)
		}
		before := len(sink.all())
		crashRestart(t, s, path, fs, out.without(refused), WithProducerDLQ(sink))
		if n := sentIDs(s)[refused]; n != 0 {
			t.Fatalf("the refused record was written %d times", n)
		}
		n := 0
		for _, e := range sink.all() {
			if e.ID == refused {
				n++
			}
		}
		if n == 0 && out.mustSurvive(refused) {
			t.Fatal("the refused record is neither in the stream nor in the DLQ")
		}
		if n > 2 || (n == 2 && before != 1) {
			t.Fatalf("the refused record is %d times in the DLQ (%d before the restart)", n, before)
		}
		if n == 2 {
			twice++
		}
		return out, sink
	}
	for _, policy := range []FsyncPolicy{FsyncPerBatch, FsyncAlways} {
		clean := &waltest.FaultFS{}
		run(t, policy, clean)
		writes, syncs := clean.Writes(), clean.Syncs()
		for _, mode := range []waltest.Mode{waltest.FailWrite, waltest.TearWrite, waltest.FailSync} {
			n := writes
			if mode == waltest.FailSync {
				n = syncs
			}
			for k := 1; k <= n; k++ {
				if !t.Run(fmt.Sprintf("%v/%v/k=%d", policy, mode, k), func(t *testing.T) {
					run(t, policy, &waltest.FaultFS{Mode: mode, At: k})
				}) {
					t.FailNow()
				}
			}
		}
	}
	if twice == 0 {
		t.Error("no run crashed between the DLQ write and the acknowledgement: the matrix misses that step")
	}
	t.Logf("%d runs dead-lettered the refused record again after the restart", twice)
}

// without returns the outcome with record id left out of the records Put
// and accepted, for crashCheck of the records that are not refused.
func (o crashOutcome) without(id string) crashOutcome {
	o.called = slices.DeleteFunc(slices.Clone(o.called), func(x string) bool { return x == id })
	o.accepted = maps.Clone(o.accepted)
	delete(o.accepted, id)
	return o
}
