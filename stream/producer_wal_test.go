package stream

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/unistream-go/unistream/stream/driver"
	"github.com/unistream-go/unistream/stream/wal"
)

// diskModel wraps the WAL file and keeps a model of it: the bytes written
// (what a crash of the process leaves) and the prefix covered by the last
// fsync (what a power loss leaves). The tests using it disable compaction,
// so the log is one file.
type diskModel struct {
	mu      sync.Mutex
	data    []byte
	durable int
	writes  int
	// gate, if set, holds every fsync until it is closed; each fsync
	// first sends on syncing.
	gate    chan struct{}
	syncing chan struct{}
}

// holdSyncs makes the fsyncs from now on wait until the returned function
// is called; syncing receives a value as each begins.
func (m *diskModel) holdSyncs() (syncing <-chan struct{}, release func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gate, m.syncing = make(chan struct{}), make(chan struct{}, 64)
	return m.syncing, sync.OnceFunc(func() { close(m.gate) })
}

type diskModelFile struct {
	*os.File
	m *diskModel
}

func (m *diskModel) OpenFile(name string, flag int, perm os.FileMode) (wal.File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &diskModelFile{File: f, m: m}, nil
}

func (f *diskModelFile) Write(b []byte) (int, error) {
	n, err := f.File.Write(b)
	f.m.mu.Lock()
	f.m.data = append(f.m.data, b[:n]...)
	f.m.writes++
	f.m.mu.Unlock()
	return n, err
}

func (f *diskModelFile) Sync() error {
	f.m.mu.Lock()
	n, gate, syncing := len(f.m.data), f.m.gate, f.m.syncing
	f.m.mu.Unlock()
	if gate != nil {
		select {
		case syncing <- struct{}{}:
		default:
		}
		<-gate
	}
	err := f.File.Sync()
	if err == nil {
		f.m.mu.Lock()
		f.m.durable = max(f.m.durable, n)
		f.m.mu.Unlock()
	}
	return err
}

func (f *diskModelFile) Truncate(size int64) error {
	err := f.File.Truncate(size)
	if err == nil {
		f.m.mu.Lock()
		f.m.data = f.m.data[:size]
		f.m.durable = min(f.m.durable, int(size))
		f.m.mu.Unlock()
	}
	return err
}

// has reports whether id is in the written bytes and in the durable ones.
func (m *diskModel) has(id string) (written, durable bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return bytes.Contains(m.data, []byte(id)), bytes.Contains(m.data[:m.durable], []byte(id))
}

// TestProducerWALBeforeSend checks, at every Write the stream receives,
// that each record of the batch is already in the WAL file (fsynced with
// FsyncAlways) or, with FsyncPerBatch, whose fsync runs beside the Write,
// that each record of the lane's earlier Writes is fsynced; and, with
// FsyncAlways, that a record is fsynced when its Put returns. Puts come
// from several goroutines with a small batch size, so that batches are
// cut while Puts go on and the WAL writer syncs ahead of the sender.
func TestProducerWALBeforeSend(t *testing.T) {
	for _, policy := range []FsyncPolicy{FsyncPerBatch, FsyncAlways, FsyncInterval(time.Hour)} {
		t.Run(policy.String(), func(t *testing.T) {
			prodLeakCheck(t)
			m := &diskModel{}
			s := newProdFakeStream(3)
			var bad []string
			var sent int
			var p *Producer
			laneSent := map[int][]string{} // by send lane: the IDs of its earlier Writes
			s.failWrite = func(call int, recs []driver.Record) error {
				lane := p.laneOf(recs[0].Key) // a call holds one lane's records
				if policy == FsyncPerBatch {
					for _, id := range laneSent[lane] {
						if _, d := m.has(id); !d {
							bad = append(bad, fmt.Sprintf("call %d: lane %d writes again while %s of its earlier Write is not fsynced", call, lane, id))
						}
					}
				}
				for _, r := range recs {
					sent++
					laneSent[lane] = append(laneSent[lane], r.ID)
					w, d := m.has(r.ID)
					if policy != FsyncPerBatch && (!w || (!d && policy.interval() == 0)) {
						bad = append(bad, fmt.Sprintf("call %d: %s sent with written=%v durable=%v", call, r.ID, w, d))
					}
				}
				return nil
			}
			// The stream holds the first batch until the Puts are done, so
			// that no acknowledgement cuts the WAL back before the checks.
			s.block = make(chan struct{})
			p, _, _ = newTestProducer(t, s, WithFsync(policy), WithMaxRecords(7),
				withWALOptions(wal.Options{OpenFile: m.OpenFile, CompactBytes: 1 << 40}))
			var wg sync.WaitGroup
			for g := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range 100 {
						r := Record{ID: fmt.Sprintf("g%d-%03d", g, i), Key: []byte{byte('a' + g)}, Value: []byte("v")}
						if err := p.Put(context.Background(), r); err != nil {
							t.Error(err)
							return
						}
						if policy == FsyncAlways {
							if _, d := m.has(r.ID); !d {
								t.Errorf("FsyncAlways: Put of %s returned before its record was fsynced", r.ID)
							}
						}
					}
				}()
			}
			wg.Wait()
			s.mu.Lock()
			close(s.block)
			s.block = nil
			s.mu.Unlock()
			if err := p.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			if sent < 400 {
				t.Fatalf("%d records sent, want 400", sent)
			}
			if len(bad) > 0 {
				t.Fatalf("%d records sent before they were in the WAL as the policy requires, first: %s", len(bad), bad[0])
			}
		})
	}
}

// TestProducerFsyncBesideWrite checks that with FsyncPerBatch a batch's
// Write does not wait for its fsync, and that the batch counts as sent,
// and Flush returns, only once both are done.
func TestProducerFsyncBesideWrite(t *testing.T) {
	prodLeakCheck(t)
	m := &diskModel{}
	s := newProdFakeStream(1)
	written := make(chan int, 64)
	s.failWrite = func(_ int, recs []driver.Record) error {
		written <- len(recs)
		return nil
	}
	p, _, _ := newTestProducer(t, s, WithFsync(FsyncPerBatch), WithSendLanes(1),
		withWALOptions(wal.Options{OpenFile: m.OpenFile, CompactBytes: 1 << 40}))
	syncing, release := m.holdSyncs()
	defer release()
	for i := range 3 {
		mustPut(t, p, prodRec(i, 1))
	}
	flushed := make(chan error, 1)
	go func() { flushed <- p.Flush(context.Background()) }()
	wait := func(what string, ch <-chan struct{}) {
		t.Helper()
		select {
		case <-ch:
		case err := <-flushed:
			t.Fatalf("Flush returned %v before %s", err, what)
		case <-time.After(30 * time.Second):
			t.Fatalf("no %s in 30s", what)
		}
	}
	wait("fsync of the batch", syncing)
	wrote := make(chan struct{})
	go func() { <-written; close(wrote) }()
	wait("Write while the fsync is held", wrote)
	if st := p.Stats(); st.Sent != 0 {
		t.Fatalf("%d records counted sent while their fsync is held", st.Sent)
	}
	select {
	case err := <-flushed:
		t.Fatalf("Flush returned %v while the batch's fsync is held", err)
	default:
	}
	release()
	select {
	case err := <-flushed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Flush did not return in 30s after the fsync was released")
	}
	if st := p.Stats(); st.Sent != 3 {
		t.Fatalf("%d records sent after Flush, want 3", st.Sent)
	}
}

// TestProducerPutDoesNoIO checks that with FsyncPerBatch a Put does not
// write the WAL: records wait in the group buffer until their batch (or a
// batch's worth of them) is due, and one write carries many records.
func TestProducerPutDoesNoIO(t *testing.T) {
	prodLeakCheck(t)
	m := &diskModel{}
	s := newProdFakeStream(1)
	// One lane: the 20 records are one batch.
	p, _, _ := newTestProducer(t, s, WithMaxRecords(1000), WithSendLanes(1), withWALOptions(wal.Options{OpenFile: m.OpenFile, CompactBytes: 1 << 40}))
	m.mu.Lock()
	before := m.writes
	m.mu.Unlock()
	for i := range 20 {
		mustPut(t, p, prodRec(i, 2))
	}
	m.mu.Lock()
	after := m.writes
	m.mu.Unlock()
	if after != before {
		t.Fatalf("20 Puts made %d WAL writes", after-before)
	}
	if err := p.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	m.mu.Lock()
	after = m.writes
	m.mu.Unlock()
	if after != before+1 {
		t.Fatalf("one batch of 20 records made %d WAL writes, want 1", after-before)
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestProducerPerBatchSyncsWaitingRecords checks that with FsyncPerBatch
// records that wait (here, fewer than a batch, on a clock that never lets
// their batch age) still reach stable storage within about MaxAge of real
// time.
func TestProducerPerBatchSyncsWaitingRecords(t *testing.T) {
	prodLeakCheck(t)
	m := &diskModel{}
	s := newProdFakeStream(1)
	p, _, _ := newTestProducer(t, s, WithMaxRecords(100), WithMaxAge(20*time.Millisecond),
		withWALOptions(wal.Options{OpenFile: m.OpenFile, CompactBytes: 1 << 40}))
	defer p.Close(context.Background())
	for i := range 3 {
		mustPut(t, p, prodRec(i, 1))
	}
	prodWaitFor(t, "the waiting records to be fsynced", func() bool {
		_, d := m.has("r002")
		return d
	})
	if s.count() != 0 {
		t.Fatalf("%d records sent: the batch was not due", s.count())
	}
}
