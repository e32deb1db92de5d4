package wal_test

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"

	"github.com/unistream-go/unistream/stream/driver"
	"github.com/unistream-go/unistream/stream/wal"
	"github.com/unistream-go/unistream/stream/wal/waltest"
)

// TestWALInterleavedLaneAcks acknowledges records as a producer with
// several send lanes does: records are appended to lanes, each lane
// acknowledges the records of its batches (a prefix of the lane, some
// failing and staying at its front) in ascending order, the lanes in any
// order, one lane rarely (a key the stream keeps refusing), with
// maintenance sometimes deferred, against a model: the pending count is
// right after every step and, after every reopen, the entries are exactly
// the unacknowledged records, in order, with their contents. Compaction
// runs with the stuck lane's records at the head of the log.
func TestWALInterleavedLaneAcks(t *testing.T) {
	compactions := 0
	for seed := range uint64(12) {
		r := rand.New(rand.NewPCG(seed, 3))
		lanes := 2 + r.IntN(6)
		stuck := r.IntN(lanes)
		path := filepath.Join(t.TempDir(), "p.wal")
		fs := &waltest.FaultFS{}
		opts := wal.Options{OpenFile: fs.OpenFile, CompactBytes: int64(512 + r.IntN(4096))}
		l, _ := mustOpen(t, path, opts)
		queues := make([][]uint64, lanes) // each lane's unacknowledged seqs, ascending
		laneOf := map[uint64]int{}
		model := map[uint64]driver.Record{}
		n := 0
		for step := range 800 {
			switch op := r.IntN(20); {
			case op < 10:
				rc := rec(n)
				n++
				s, err := l.Append(&rc)
				if err != nil {
					t.Fatal(err)
				}
				ln := r.IntN(lanes)
				queues[ln] = append(queues[ln], s)
				laneOf[s] = ln
				model[s] = rc
			case op < 18:
				ln := r.IntN(lanes)
				if ln == stuck && r.IntN(10) != 0 {
					continue
				}
				q := queues[ln]
				if len(q) == 0 {
					continue
				}
				batch := q[:1+r.IntN(len(q))]
				var acks, failed []uint64
				for _, s := range batch {
					if r.IntN(5) == 0 {
						failed = append(failed, s)
					} else {
						acks = append(acks, s)
						delete(model, s)
					}
				}
				if r.IntN(10) == 0 && n > 0 {
					// Unknown and already acknowledged seqs are ignored.
					acks = append(acks, uint64(n)+100)
				}
				queues[ln] = append(failed, q[len(batch):]...)
				need, err := l.MarkAcked(acks...)
				if err != nil {
					t.Fatal(err)
				}
				if need && r.IntN(3) != 0 {
					if err := l.Maintain(); err != nil {
						t.Fatal(err)
					}
				}
			case op == 18:
				if err := l.Sync(); err != nil {
					t.Fatal(err)
				}
			default:
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
				var es []wal.Entry
				l, es = mustOpen(t, path, opts)
				var want []uint64
				for s := range model {
					want = append(want, s)
				}
				slices.Sort(want)
				if len(es) != len(want) {
					t.Fatalf("seed %d step %d: %d entries, want %d", seed, step, len(es), len(want))
				}
				for i, e := range es {
					if e.Seq != want[i] || !reflect.DeepEqual(e.Record, model[e.Seq]) {
						t.Fatalf("seed %d step %d entry %d: seq %d %s, want seq %d %s", seed, step, i, e.Seq, e.Record.ID, want[i], model[want[i]].ID)
					}
				}
				// The replay goes back to the lanes in seq order.
				queues = make([][]uint64, lanes)
				for _, e := range es {
					queues[laneOf[e.Seq]] = append(queues[laneOf[e.Seq]], e.Seq)
				}
			}
			if got := l.Pending(); got != len(model) {
				t.Fatalf("seed %d step %d: Pending() = %d, want %d", seed, step, got, len(model))
			}
		}
		l.Close()
		for _, name := range fs.Opened() {
			if name == path+".compact" {
				compactions++
			}
		}
	}
	if compactions == 0 {
		t.Fatal("no run compacted the log: the test does not cover compaction")
	}
}

// gatedFile blocks the first Sync after its gate is armed until the gate
// is released, and counts Syncs.
type gatedFile struct {
	wal.File
	g *syncGate
}

type syncGate struct {
	mu      sync.Mutex
	armed   bool
	syncs   int
	entered chan struct{}
	release chan struct{}
}

func (f gatedFile) Sync() error {
	f.g.mu.Lock()
	f.g.syncs++
	armed := f.g.armed
	f.g.armed = false
	f.g.mu.Unlock()
	if armed {
		close(f.g.entered)
		<-f.g.release
	}
	return f.File.Sync()
}

// TestWALConcurrentSyncToShareFsyncs checks that SyncTo calls waiting
// while an fsync is in progress share one write and one fsync (as the
// send lanes of a producer do), whatever the order they come in: one
// fsync is in progress, records are appended meanwhile and synced by many
// goroutines, and exactly one more write and fsync follow.
func TestWALConcurrentSyncToShareFsyncs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.wal")
	g := &syncGate{entered: make(chan struct{}), release: make(chan struct{})}
	fs := &waltest.FaultFS{}
	l, _ := mustOpen(t, path, wal.Options{OpenFile: func(name string, flag int, perm os.FileMode) (wal.File, error) {
		f, err := fs.OpenFile(name, flag, perm) // counts writes
		if err != nil {
			return nil, err
		}
		return gatedFile{File: f, g: g}, nil
	}})
	defer l.Close()
	r0 := rec(0)
	s0, _ := l.Append(&r0)
	g.mu.Lock()
	g.armed, g.syncs = true, 0
	g.mu.Unlock()
	w0 := fs.Writes()
	errc := make(chan error, 1)
	go func() { errc <- l.SyncTo(s0) }()
	<-g.entered // the first fsync is in progress

	const goroutines = 8
	var seqs []uint64
	for i := range goroutines {
		rc := rec(1 + i)
		s, err := l.Append(&rc)
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, s)
	}
	var wg sync.WaitGroup
	for _, s := range seqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.SyncTo(s); err != nil {
				t.Error(err)
			}
		}()
	}
	close(g.release)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	g.mu.Lock()
	syncs := g.syncs
	g.mu.Unlock()
	if writes := fs.Writes() - w0; syncs != 2 || writes != 2 {
		t.Fatalf("%d SyncTo calls behind one fsync made %d writes and %d fsyncs in all, want 2 and 2", goroutines, writes, syncs)
	}
	for _, s := range seqs {
		if !l.Synced(s) {
			t.Fatalf("record %d not synced", s)
		}
	}
}
