package wal_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/unistream-go/unistream/stream/driver"
	"github.com/unistream-go/unistream/stream/wal"
	"github.com/unistream-go/unistream/stream/wal/waltest"
)

func rec(i int) driver.Record {
	return driver.Record{
		ID:      fmt.Sprintf("id-%04d", i),
		Key:     []byte(fmt.Sprintf("key-%d", i%3)),
		Value:   bytes.Repeat([]byte{byte(i)}, i%50),
		Headers: []driver.Header{{Key: "n", Value: []byte(fmt.Sprint(i))}},
		Time:    time.Unix(1700000000+int64(i), int64(i)).UTC(),
	}
}

func mustOpen(t *testing.T, path string, opts wal.Options) (*wal.Log, []wal.Entry) {
	t.Helper()
	l, es, err := wal.Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return l, es
}

// appendRecs appends rec(0) to rec(n-1) to l and returns their sequence
// numbers.
func appendRecs(t *testing.T, l *wal.Log, n int) []uint64 {
	t.Helper()
	var seqs []uint64
	for i := range n {
		r := rec(i)
		s, err := l.Append(&r)
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, s)
	}
	return seqs
}

func ids(es []wal.Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Record.ID)
	}
	return out
}

func TestWALAppendAckReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "p.wal")
	l, es := mustOpen(t, path, wal.Options{})
	if len(es) != 0 {
		t.Fatalf("new log has %d entries", len(es))
	}
	seqs := appendRecs(t, l, 10)
	for i, s := range seqs {
		if s != uint64(i+1) {
			t.Fatalf("seqs %v", seqs)
		}
	}
	if err := l.Ack(seqs[0], seqs[3], seqs[4], seqs[9], 999); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := l.Append(&driver.Record{}); !errors.Is(err, wal.ErrClosed) {
		t.Fatalf("Append after Close: %v", err)
	}
	for _, p := range []string{path, filepath.Dir(path)} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		want := os.FileMode(0o600)
		if fi.IsDir() {
			want = 0o700 | os.ModeDir
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode(), want)
		}
	}

	l, es = mustOpen(t, path, wal.Options{})
	want := []int{1, 2, 5, 6, 7, 8}
	if len(es) != len(want) {
		t.Fatalf("entries %v", ids(es))
	}
	for i, e := range es {
		w := rec(want[i])
		if e.Seq != uint64(want[i]+1) || !reflect.DeepEqual(e.Record, w) {
			t.Fatalf("entry %d: %d %#v, want %#v", i, e.Seq, e.Record, w)
		}
	}
	// New records continue the numbering.
	r := rec(10)
	s, err := l.Append(&r)
	if err != nil || s != 11 {
		t.Fatalf("Append: %d %v", s, err)
	}
	if l.Recovery().Repaired() {
		t.Fatalf("unexpected recovery %v", l.Recovery())
	}
	l.Close()
}

func TestWALResetWhenAllAcked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.wal")
	l, _ := mustOpen(t, path, wal.Options{})
	defer l.Close()
	for round := range 3 {
		seqs := appendRecs(t, l, 5)
		if err := l.Ack(seqs[:4]...); err != nil {
			t.Fatal(err)
		}
		if l.Size() <= wal.HeaderSize {
			t.Fatalf("round %d: reset with a pending record", round)
		}
		if err := l.Ack(seqs[4]); err != nil {
			t.Fatal(err)
		}
		if l.Size() != wal.HeaderSize || l.Pending() != 0 {
			t.Fatalf("round %d: size %d pending %d after acking all", round, l.Size(), l.Pending())
		}
		fi, _ := os.Stat(path)
		if fi.Size() != wal.HeaderSize {
			t.Fatalf("file is %d bytes", fi.Size())
		}
	}
}

func TestWALCompaction(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p.wal")
	fs := &waltest.FaultFS{}
	opts := wal.Options{CompactBytes: 2048, OpenFile: fs.OpenFile}
	l, _ := mustOpen(t, path, opts)
	seqs := appendRecs(t, l, 200)
	big := l.Size()
	// Ack all but every tenth record.
	var keep []int
	for i, s := range seqs {
		if i%10 == 3 {
			keep = append(keep, i)
			continue
		}
		if err := l.Ack(s); err != nil {
			t.Fatal(err)
		}
	}
	if l.Size() >= big/3 {
		t.Fatalf("no compaction: %d bytes of %d", l.Size(), big)
	}
	if len(fs.Opened()) < 2 {
		t.Fatalf("compaction did not open a temporary file: %v", fs.Opened())
	}
	if _, err := os.Stat(path + ".compact"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temporary file left: %v", err)
	}
	// Appends and acks go on in the compacted file.
	r := rec(500)
	s, err := l.Append(&r)
	if err != nil || s != 201 {
		t.Fatalf("append after compaction: %d %v", s, err)
	}
	if err := l.Ack(seqs[keep[0]]); err != nil {
		t.Fatal(err)
	}
	keep = append(keep[1:], 500)
	l.Close()

	l, es := mustOpen(t, path, wal.Options{})
	defer l.Close()
	if len(es) != len(keep) {
		t.Fatalf("entries %v, want %v", ids(es), keep)
	}
	for i, e := range es {
		if want := rec(keep[i]); !reflect.DeepEqual(e.Record, want) {
			t.Fatalf("entry %d: %#v, want %#v", i, e.Record, want)
		}
	}
}

func TestWALStaleCompactFileRemoved(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.wal")
	l, _ := mustOpen(t, path, wal.Options{})
	r := rec(1)
	l.Append(&r)
	l.Close()
	if err := os.WriteFile(path+".compact", []byte("USWAL\x01garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	l, es := mustOpen(t, path, wal.Options{})
	defer l.Close()
	if len(es) != 1 {
		t.Fatalf("entries %v", ids(es))
	}
	if _, err := os.Stat(path + ".compact"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stale temporary file kept: %v", err)
	}
}

func TestWALLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.wal")
	l, _ := mustOpen(t, path, wal.Options{})
	if _, _, err := wal.Open(path, wal.Options{}); !errors.Is(err, wal.ErrLocked) {
		t.Fatalf("second Open: %v", err)
	}
	l.Close()
	l, _ = mustOpen(t, path, wal.Options{})
	l.Close()
}

func TestWALRecordTooLarge(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.wal")
	l, _ := mustOpen(t, path, wal.Options{MaxFrameBytes: 100})
	defer l.Close()
	if _, err := l.Append(&driver.Record{ID: "x", Value: make([]byte, 200)}); !errors.Is(err, driver.ErrRecordTooLarge) {
		t.Fatalf("err %v", err)
	}
	if l.Size() != wal.HeaderSize {
		t.Fatalf("a refused record was written")
	}
	r := rec(1)
	if _, err := l.Append(&r); err != nil {
		t.Fatal(err)
	}
}

// writeFile builds a log of n records with the API, closes it and returns
// the bytes and the offset of each record frame.
func writeFile(t *testing.T, path string, n int) ([]byte, []int64) {
	t.Helper()
	l, _ := mustOpen(t, path, wal.Options{})
	var offs []int64
	for i := range n {
		offs = append(offs, l.Size())
		r := rec(i)
		if _, err := l.Append(&r); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data, offs
}

func TestWALTornTailIsCut(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p.wal")
	data, offs := writeFile(t, path, 4)
	last := offs[3]
	check := func(name string, file []byte, wantRecs int, wantAt int64, wantDropped int) {
		t.Helper()
		if err := os.WriteFile(path, file, 0o600); err != nil {
			t.Fatal(err)
		}
		// NoRepair: an error naming the tail, and the file untouched.
		_, _, err := wal.Open(path, wal.Options{NoRepair: true})
		var te *wal.TornError
		if !errors.Is(err, wal.ErrTorn) || !errors.As(err, &te) || te.Path != path || te.Recovery.TruncatedAt != wantAt ||
			te.Recovery.DroppedRecords != wantDropped || !strings.Contains(err.Error(), path) {
			t.Fatalf("%s: Open with NoRepair: %v, want a *TornError at %d with %d record(s)", name, err, wantAt, wantDropped)
		}
		if got, _ := os.ReadFile(path); !bytes.Equal(got, file) {
			t.Fatalf("%s: Open with NoRepair changed the file", name)
		}
		l, es, err := wal.Open(path, wal.Options{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		defer l.Close()
		if len(es) != wantRecs {
			t.Fatalf("%s: %d entries, want %d", name, len(es), wantRecs)
		}
		rv := l.Recovery()
		if !rv.Repaired() || rv.TruncatedAt != wantAt || rv.DroppedBytes != int64(len(file))-wantAt || rv.DroppedRecords != wantDropped {
			t.Fatalf("%s: recovery %+v, want cut at %d", name, rv, wantAt)
		}
		if l.Size() != wantAt {
			t.Fatalf("%s: size %d", name, l.Size())
		}
		got, _ := os.ReadFile(path)
		if !bytes.Equal(got, file[:wantAt]) {
			t.Fatalf("%s: file not cut to the last whole frame", name)
		}
	}
	for cut := last + 1; cut < int64(len(data)); cut++ {
		dropped := 0
		if cut > last+8 { // the frame's type byte is whole
			dropped = 1
		}
		check(fmt.Sprintf("cut at %d", cut), append([]byte(nil), data[:cut]...), 3, last, dropped)
	}
	// Checksum mismatch on the final frame.
	bad := append([]byte(nil), data...)
	bad[len(bad)-1] ^= 0x40
	check("bad last checksum", bad, 3, last, 1)
	// A zero-filled tail, as some file systems leave after power loss.
	check("zero tail", append(append([]byte(nil), data...), make([]byte, 100)...), 4, int64(len(data)), 0)
	// A torn creation: part of the header.
	if err := os.WriteFile(path, []byte("USW"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := wal.Open(path, wal.Options{NoRepair: true}); !errors.Is(err, wal.ErrTorn) {
		t.Fatalf("torn header with NoRepair: %v, want ErrTorn", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "USW" {
		t.Fatalf("torn header with NoRepair: the file became %q", got)
	}
	l, es, err := wal.Open(path, wal.Options{})
	if err != nil || len(es) != 0 || !l.Recovery().Repaired() {
		t.Fatalf("torn header: %v %d %+v", err, len(es), l.Recovery())
	}
	l.Close()
	if got, _ := os.ReadFile(path); string(got) != "USWAL\x01" {
		t.Fatalf("header not rewritten: %q", got)
	}
}

func frame(typ byte, payload []byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(len(payload)))
	c := crc32.Checksum(append([]byte{typ}, payload...), crc32.MakeTable(crc32.Castagnoli))
	b = binary.LittleEndian.AppendUint32(b, c)
	b = append(b, typ)
	return append(b, payload...)
}

func TestWALCorruptIsAnErrorAndFileUntouched(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p.wal")
	data, offs := writeFile(t, path, 5)
	mod := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), data...)) }
	cases := []struct {
		name   string
		file   []byte
		offset int64
		reason string
	}{
		{"payload bit flip in the middle", mod(func(b []byte) []byte { b[offs[1]+20] ^= 1; return b }), offs[1], "checksum mismatch"},
		{"checksum flip in the middle", mod(func(b []byte) []byte { b[offs[2]+5] ^= 1; return b }), offs[2], "checksum mismatch"},
		{"impossible length", mod(func(b []byte) []byte { b[offs[1]+3] = 0x7f; return b }), offs[1], "impossible frame length"},
		{"length past EOF with frames after", mod(func(b []byte) []byte { b[offs[1]+2] = 0x01; return b }), offs[1], "valid frame follows"},
		{"zeroed middle", mod(func(b []byte) []byte { copy(b[offs[1]:], make([]byte, offs[2]-offs[1])); return b }), offs[1], "checksum mismatch"},
		{"unknown frame type", mod(func(b []byte) []byte {
			return append(append(append([]byte(nil), b[:offs[2]]...), frame(9, []byte("hello"))...), b[offs[2]:]...)
		}), offs[2], "unknown frame type 9"},
		{"undecodable record", mod(func(b []byte) []byte {
			return append(append(append([]byte(nil), b[:offs[2]]...), frame(1, []byte{1, 0, 0, 0, 0, 0, 0, 0, 50})...), b[offs[2]:]...)
		}), offs[2], "undecodable record"},
		{"undecodable ack at the end", append(append([]byte(nil), data...), frame(2, []byte{0})...), int64(len(data)), "undecodable ack"},
		{"sequence goes back", append(append([]byte(nil), data...), data[offs[0]:offs[1]]...), int64(len(data)), "does not follow"},
		{"bad magic", mod(func(b []byte) []byte { b[0] = 'X'; return b }), 0, `expected the header "USWAL"`},
		{"short non-WAL file", []byte("{}"), 0, `expected the header "USWAL"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := os.WriteFile(path, c.file, 0o600); err != nil {
				t.Fatal(err)
			}
			_, _, err := wal.Open(path, wal.Options{})
			var ce *wal.CorruptError
			if !errors.As(err, &ce) || !errors.Is(err, wal.ErrCorrupt) {
				t.Fatalf("err %v, want a *CorruptError", err)
			}
			if ce.Path != path || ce.Offset != c.offset || !strings.Contains(ce.Reason, c.reason) {
				t.Fatalf("got %+v, want offset %d reason %q", ce, c.offset, c.reason)
			}
			if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, fmt.Sprint(c.offset)) {
				t.Fatalf("message %q does not name the file and offset", msg)
			}
			got, _ := os.ReadFile(path)
			if !bytes.Equal(got, c.file) {
				t.Fatal("corrupt file was modified")
			}
		})
	}
	// A newer format version.
	v2 := append([]byte(nil), data...)
	v2[5] = 2
	os.WriteFile(path, v2, 0o600)
	if _, _, err := wal.Open(path, wal.Options{}); !errors.Is(err, wal.ErrVersion) || !strings.Contains(err.Error(), path) {
		t.Fatalf("version 2: %v", err)
	}
}

func TestWALFailedWriteIsUndoneAndRetried(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.wal")
	fs := &waltest.FaultFS{Mode: waltest.FailWrite, At: 3} // header, rec 0, then rec 1 fails
	l, _ := mustOpen(t, path, wal.Options{OpenFile: fs.OpenFile})
	r0, r1, r2 := rec(0), rec(1), rec(2)
	if _, err := l.Append(&r0); err != nil {
		t.Fatal(err)
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(&r1); err != nil {
		t.Fatal(err)
	}
	if err := l.Flush(); !errors.Is(err, waltest.ErrInjected) {
		t.Fatalf("Flush: %v", err)
	}
	// The failed write was cut back: the file holds record 0 only.
	fi, _ := os.Stat(path)
	if want := l.Size() - int64(l.Buffered()); fi.Size() != want || l.Buffered() == 0 {
		t.Fatalf("after a failed write: file %d bytes, want %d; %d bytes buffered", fi.Size(), want, l.Buffered())
	}
	if _, err := l.Append(&r2); err != nil {
		t.Fatalf("Append after a transient failure: %v", err)
	}
	// The next flush writes the failed group again, then record 2.
	if err := l.Sync(); err != nil {
		t.Fatalf("Sync after a transient failure: %v", err)
	}
	if l.Buffered() != 0 {
		t.Fatalf("%d bytes still buffered", l.Buffered())
	}
	l.Close()
	l, es := mustOpen(t, path, wal.Options{})
	defer l.Close()
	if got := ids(es); !reflect.DeepEqual(got, []string{"id-0000", "id-0001", "id-0002"}) || l.Recovery().Repaired() {
		t.Fatalf("entries %v, recovery %v", got, l.Recovery())
	}
}

func TestWALTornWriteThenReopen(t *testing.T) {
	// The scenario makes 6 writes: the header, five groups (one an ack).
	for k := 1; k <= 6; k++ {
		path := filepath.Join(t.TempDir(), "p.wal")
		fs := &waltest.FaultFS{Mode: waltest.TearWrite, At: k}
		l, _, err := wal.Open(path, wal.Options{OpenFile: fs.OpenFile})
		var ok, torn []string
		if err == nil {
			var seqs []uint64
			var group []string
			for i := range 6 {
				r := rec(i)
				s, err := l.Append(&r)
				if err == nil {
					group = append(group, r.ID)
					seqs = append(seqs, s)
				}
				// Groups of one and of two records.
				if i%3 != 1 {
					if err := l.Flush(); err == nil {
						ok = append(ok, group...)
						group = nil
					} else if torn == nil {
						torn = append([]string{}, group...)
					}
				}
				if i == 3 && len(ok) > 0 && ok[0] == "id-0000" {
					if l.Ack(seqs[0]) == nil && l.Flush() == nil {
						ok = ok[1:]
					}
				}
			}
			l.Close()
		}
		if !fs.Faulted() {
			t.Fatalf("k=%d: no fault", k)
		}
		l2, es, err := wal.Open(path, wal.Options{})
		if err != nil {
			t.Fatalf("k=%d: reopen: %v", k, err)
		}
		// Every record whose Flush succeeded is there, unless its ack was
		// written; of the group whose write was torn, the frames written
		// whole may be there, in order; nothing else is.
		got := ids(es)
		match := false
		for j := 0; j <= len(torn); j++ {
			if slices.Equal(got, append(append([]string{}, ok...), torn[:j]...)) {
				match = true
			}
		}
		if !match {
			t.Fatalf("k=%d: entries %v, want %v and a prefix of %v", k, got, ok, torn)
		}
		l2.Close()
	}
}

func TestWALFailedSyncBreaksTheLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.wal")
	fs := &waltest.FaultFS{Mode: waltest.FailSync, At: 2} // the first sync is at creation
	l, _ := mustOpen(t, path, wal.Options{OpenFile: fs.OpenFile})
	r := rec(0)
	l.Append(&r)
	if err := l.Sync(); !errors.Is(err, waltest.ErrInjected) {
		t.Fatalf("Sync: %v", err)
	}
	if _, err := l.Append(&r); err == nil {
		t.Fatal("Append on a log whose fsync failed")
	}
	l.Close()
	l, es := mustOpen(t, path, wal.Options{})
	l.Close()
	if len(es) != 1 {
		t.Fatalf("entries %v", ids(es))
	}
}

func TestWALSyncCoalesces(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.wal")
	fs := &waltest.FaultFS{}
	l, _ := mustOpen(t, path, wal.Options{OpenFile: fs.OpenFile})
	defer l.Close()
	before, wbefore := fs.Syncs(), fs.Writes()
	if err := l.Sync(); err != nil || fs.Syncs() != before {
		t.Fatalf("sync with nothing written: %v, %d syncs", err, fs.Syncs()-before)
	}
	r := rec(1)
	l.Append(&r)
	l.Sync()
	l.Sync()
	if fs.Syncs() != before+1 {
		t.Fatalf("%d syncs, want 1", fs.Syncs()-before)
	}
	// A group of records is one write and one fsync; SyncTo of a record
	// already covered does nothing.
	var seqs []uint64
	for i := range 50 {
		r := rec(i)
		s, _ := l.Append(&r)
		seqs = append(seqs, s)
	}
	if fs.Writes() != wbefore+1 {
		t.Fatalf("Append wrote: %d writes", fs.Writes()-wbefore)
	}
	if err := l.SyncTo(seqs[10]); err != nil {
		t.Fatal(err)
	}
	for _, s := range seqs {
		if err := l.SyncTo(s); err != nil {
			t.Fatal(err)
		}
	}
	if fs.Writes() != wbefore+2 || fs.Syncs() != before+2 {
		t.Fatalf("50 records: %d writes and %d syncs, want 1 and 1", fs.Writes()-wbefore-1, fs.Syncs()-before-1)
	}
	// An ack alone is buffered; Sync writes and syncs it.
	l.Ack(seqs[0])
	if fs.Writes() != wbefore+2 {
		t.Fatal("Ack wrote")
	}
	if err := l.SyncTo(seqs[49]); err != nil || fs.Syncs() != before+2 {
		t.Fatalf("SyncTo after an ack: %v", err)
	}
	if err := l.Sync(); err != nil || fs.Writes() != wbefore+3 || fs.Syncs() != before+3 {
		t.Fatalf("Sync of an ack: %v", err)
	}
}

// TestWALGroupCommit runs many concurrent appenders, each waiting for its
// own record to be durable (SyncTo), and checks that they shared fsyncs and
// writes and that every record is there after a reopen.
func TestWALGroupCommit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.wal")
	fs := &waltest.FaultFS{}
	l, _ := mustOpen(t, path, wal.Options{OpenFile: fs.OpenFile})
	before, wbefore := fs.Syncs(), fs.Writes()
	const goroutines, each = 16, 40
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				r := rec(g*1000 + i)
				s, err := l.Append(&r)
				if err != nil {
					t.Error(err)
					return
				}
				if err := l.SyncTo(s); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	syncs, writes := fs.Syncs()-before, fs.Writes()-wbefore
	t.Logf("%d records: %d writes, %d fsyncs", goroutines*each, writes, syncs)
	if syncs > goroutines*each || writes > syncs {
		t.Fatalf("%d records took %d writes and %d fsyncs", goroutines*each, writes, syncs)
	}
	l.Close()
	l, es := mustOpen(t, path, wal.Options{})
	defer l.Close()
	if len(es) != goroutines*each {
		t.Fatalf("%d entries after reopen, want %d", len(es), goroutines*each)
	}
}

// TestConcurrentUse runs appends, syncs and acks at once (run with -race)
// and checks the survivors after a reopen.
func TestWALConcurrentUse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.wal")
	l, _ := mustOpen(t, path, wal.Options{CompactBytes: 4096})
	var mu sync.Mutex
	acked := map[string]bool{}
	all := map[string]bool{}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				r := rec(g*1000 + i)
				s, err := l.Append(&r)
				if err != nil {
					t.Error(err)
					return
				}
				if err := l.Sync(); err != nil {
					t.Error(err)
				}
				mu.Lock()
				all[r.ID] = true
				mu.Unlock()
				if i%4 != 0 {
					if err := l.Ack(s); err != nil {
						t.Error(err)
					}
					mu.Lock()
					acked[r.ID] = true
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	l.Close()
	l, es := mustOpen(t, path, wal.Options{})
	defer l.Close()
	got := map[string]bool{}
	for _, e := range es {
		got[e.Record.ID] = true
	}
	for id := range all {
		if got[id] == acked[id] {
			t.Fatalf("record %s: recovered %v, acked %v", id, got[id], acked[id])
		}
	}
}

// TestRoundTripProperty runs random appends, acks, reopenings and
// compactions against a model: after every reopen, the entries are exactly
// the unacknowledged records, in order, with their contents.
func TestWALRoundTripProperty(t *testing.T) {
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, 99))
		path := filepath.Join(t.TempDir(), "p.wal")
		opts := wal.Options{CompactBytes: int64(256 + r.IntN(4096))}
		l, _ := mustOpen(t, path, opts)
		type live struct {
			seq uint64
			rec driver.Record
		}
		var model []live
		n := 0
		for step := range 400 {
			switch op := r.IntN(10); {
			case op < 6:
				rc := rec(n)
				n++
				s, err := l.Append(&rc)
				if err != nil {
					t.Fatal(err)
				}
				model = append(model, live{s, rc})
			case op < 9 && len(model) > 0:
				k := 1 + r.IntN(min(len(model), 5))
				var seqs []uint64
				for range k {
					i := r.IntN(len(model))
					seqs = append(seqs, model[i].seq)
					model = append(model[:i], model[i+1:]...)
				}
				if err := l.Ack(seqs...); err != nil {
					t.Fatal(err)
				}
			default:
				l.Close()
				var es []wal.Entry
				l, es = mustOpen(t, path, opts)
				if len(es) != len(model) {
					t.Fatalf("seed %d step %d: %d entries, model %d", seed, step, len(es), len(model))
				}
				for i, e := range es {
					if e.Seq != model[i].seq || !reflect.DeepEqual(e.Record, model[i].rec) {
						t.Fatalf("seed %d step %d entry %d: %d %v, want %d %v", seed, step, i, e.Seq, e.Record.ID, model[i].seq, model[i].rec.ID)
					}
				}
			}
		}
		l.Close()
	}
}

// pausingFile blocks the first write to a compaction's temporary file until
// resume is closed, after closing paused.
type pausingFile struct {
	wal.File
	once   *sync.Once
	paused chan struct{}
	resume chan struct{}
}

func (f pausingFile) Write(b []byte) (int, error) {
	f.once.Do(func() {
		close(f.paused)
		<-f.resume
	})
	return f.File.Write(b)
}

// TestWALAppendDuringCompaction appends records while a compaction copies
// the file (Append does not wait for it), then compacts again, which reads
// those records at their new offsets, and checks the survivors after a
// reopen.
func TestWALAppendDuringCompaction(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.wal")
	var once sync.Once
	paused, resume := make(chan struct{}), make(chan struct{})
	open := func(name string, flag int, perm os.FileMode) (wal.File, error) {
		f, err := os.OpenFile(name, flag, perm)
		if err != nil || !strings.HasSuffix(name, ".compact") {
			return f, err
		}
		return pausingFile{File: f, once: &once, paused: paused, resume: resume}, nil
	}
	l, _ := mustOpen(t, path, wal.Options{CompactBytes: 2048, OpenFile: open})
	live := map[uint64]driver.Record{}
	var seqs []uint64
	add := func(i int) {
		r := rec(i)
		s, err := l.Append(&r)
		if err != nil {
			t.Fatal(err)
		}
		live[s] = r
		seqs = append(seqs, s)
	}
	for i := range 100 {
		add(i)
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	var acks []uint64
	for i, s := range seqs {
		if i%10 != 0 {
			acks = append(acks, s)
			delete(live, s)
		}
	}
	big := l.Size()
	done := make(chan error)
	go func() { done <- l.Ack(acks...) }()
	select {
	case <-paused:
	case err := <-done:
		t.Fatalf("Ack returned (%v) without compacting", err)
	}
	for i := 100; i < 150; i++ {
		add(i)
	}
	close(resume)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mid := l.Size()
	if mid >= big {
		t.Fatalf("no compaction: %d bytes, %d before", mid, big)
	}
	// Acknowledge the old survivors and most new records: the next
	// compaction copies the records appended during the first one.
	acks = acks[:0]
	for _, s := range seqs {
		if _, ok := live[s]; ok && (s <= 100 || s%5 != 0) {
			acks = append(acks, s)
			delete(live, s)
		}
	}
	if err := l.Ack(acks...); err != nil {
		t.Fatal(err)
	}
	if l.Size() >= mid {
		t.Fatalf("no second compaction: %d bytes, %d before", l.Size(), mid)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, es := mustOpen(t, path, wal.Options{})
	defer l.Close()
	if len(es) != len(live) {
		t.Fatalf("%d entries after reopen, want %d", len(es), len(live))
	}
	for _, e := range es {
		if want, ok := live[e.Seq]; !ok || !reflect.DeepEqual(e.Record, want) {
			t.Fatalf("entry %d: %v, want %v", e.Seq, e.Record.ID, want.ID)
		}
	}
}

// TestWALMarkAckedDuringCompaction acknowledges records while a compaction
// (Maintain, from another goroutine) copies the file, among them the
// oldest live record, so that the front of the log moves past copied
// records: the records copied and still live must stay known to the log
// (their later acknowledgements count, and a reopen returns only the
// records never acknowledged).
func TestWALMarkAckedDuringCompaction(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.wal")
	var once sync.Once
	paused, resume := make(chan struct{}), make(chan struct{})
	open := func(name string, flag int, perm os.FileMode) (wal.File, error) {
		f, err := os.OpenFile(name, flag, perm)
		if err != nil || !strings.HasSuffix(name, ".compact") {
			return f, err
		}
		return pausingFile{File: f, once: &once, paused: paused, resume: resume}, nil
	}
	l, _ := mustOpen(t, path, wal.Options{CompactBytes: 1024, OpenFile: open})
	var seqs []uint64
	for i := range 100 {
		r := rec(i)
		s, err := l.Append(&r)
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, s)
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	// Live: the first record and the last ten. MarkAcked does no I/O and
	// asks for a compaction.
	maint, err := l.MarkAcked(seqs[1:90]...)
	if err != nil || !maint {
		t.Fatalf("MarkAcked = %v, %v; want a request for maintenance", maint, err)
	}
	if got := l.Pending(); got != 11 {
		t.Fatalf("Pending = %d, want 11", got)
	}
	done := make(chan error)
	go func() { done <- l.Maintain() }()
	select {
	case <-paused:
	case err := <-done:
		t.Fatalf("Maintain returned (%v) without compacting", err)
	}
	// The compaction copies seqs[0] and seqs[90:]; acknowledge seqs[0]
	// and two more meanwhile.
	if _, err := l.MarkAcked(seqs[0], seqs[90], seqs[91]); err != nil {
		t.Fatal(err)
	}
	close(resume)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := l.Pending(); got != 8 {
		t.Fatalf("Pending after the compaction = %d, want 8", got)
	}
	if err := l.Ack(seqs[92:96]...); err != nil {
		t.Fatal(err)
	}
	if got := l.Pending(); got != 4 {
		t.Fatalf("Pending after acknowledging 4 more = %d, want 4 (acknowledgements of copied records were lost)", got)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, es := mustOpen(t, path, wal.Options{})
	defer l.Close()
	want := []string{rec(96).ID, rec(97).ID, rec(98).ID, rec(99).ID}
	if got := ids(es); !slices.Equal(got, want) {
		t.Fatalf("after reopen: %v, want %v", got, want)
	}
}

// TestWALFlushWaitsForAWriteInProgress flushes while another caller's
// write of the same records is in progress (it took them out of the group
// buffer, which is then empty): the second Flush must not return before
// the records are in the file. The producer counts on it with
// FsyncInterval, where a send lane flushes the WAL before its Write while
// the WAL writer or another lane may be writing that batch's records.
// Then the same with the write in progress failing: the second Flush
// writes the records itself.
func TestWALFlushWaitsForAWriteInProgress(t *testing.T) {
	for _, fail := range []bool{false, true} {
		t.Run(fmt.Sprintf("fail=%v", fail), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "p.wal")
			l, _ := mustOpen(t, path, wal.Options{})
			l.Close()
			var once sync.Once
			paused, resume := make(chan struct{}), make(chan struct{})
			open := func(name string, flag int, perm os.FileMode) (wal.File, error) {
				f, err := os.OpenFile(name, flag, perm)
				if err != nil {
					return nil, err
				}
				return &gateFile{File: f, once: &once, paused: paused, resume: resume, fail: fail}, nil
			}
			// The file exists: Open writes nothing.
			l, _ = mustOpen(t, path, wal.Options{OpenFile: open})
			defer l.Close()
			release := sync.OnceFunc(func() { close(resume) })
			defer release() // before Close, which waits for the paused write
			r := rec(1)
			if _, err := l.Append(&r); err != nil {
				t.Fatal(err)
			}
			first := make(chan error, 1)
			go func() { first <- l.Flush() }()
			<-paused
			// The first Flush holds the record's frame, outside the group
			// buffer, and has not written it yet.
			inFile := func() bool {
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				return bytes.Contains(b, []byte(r.ID))
			}
			second := make(chan error, 1)
			go func() { second <- l.Flush() }()
			select {
			case err := <-second:
				t.Fatalf("Flush returned (%v) while another caller's write of its record was in progress (record in the file: %v)", err, inFile())
			case <-time.After(50 * time.Millisecond):
			}
			release()
			err1, err2 := <-first, <-second
			if fail {
				if !errors.Is(err1, waltest.ErrInjected) {
					t.Fatalf("first Flush: %v, want the injected fault", err1)
				}
			} else if err1 != nil {
				t.Fatalf("first Flush: %v", err1)
			}
			if err2 != nil {
				t.Fatalf("second Flush: %v", err2)
			}
			if !inFile() {
				t.Fatal("the record is not in the file after both Flushes returned")
			}
		})
	}
}

// gateFile pauses the first write until resume is closed, after closing
// paused; with fail, that write then fails without writing anything.
type gateFile struct {
	wal.File
	once   *sync.Once
	paused chan struct{}
	resume chan struct{}
	fail   bool
}

func (f *gateFile) Write(b []byte) (int, error) {
	first := false
	f.once.Do(func() {
		first = true
		close(f.paused)
		<-f.resume
	})
	if first && f.fail {
		return 0, waltest.ErrInjected
	}
	return f.File.Write(b)
}

// TestWALOnSync: OnSync reports each fsync of Sync, SyncTo and Close once,
// with the bytes written since the previous fsync and the records it made
// durable; a sync with nothing to do, a failed fsync and the fsync of
// Open's header do not call it; the hook may call the log (no lock is
// held); and Syncs counts the same fsyncs, each before its OnSync, with or
// without the hook.
func TestWALOnSync(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.wal")
	fs := &waltest.FaultFS{Mode: waltest.FailSync, At: 4} // 1: Open's header; 2, 3: below
	var (
		mu    sync.Mutex
		infos []wal.SyncInfo
		l     *wal.Log
	)
	l, _ = mustOpen(t, path, wal.Options{OpenFile: fs.OpenFile, OnSync: func(i wal.SyncInfo) {
		n := l.Syncs() // would deadlock if a lock were held
		mu.Lock()
		infos = append(infos, i)
		if n != uint64(len(infos)) {
			t.Errorf("Syncs() = %d in the hook of fsync %d, want it counted before the hook", n, len(infos))
		}
		mu.Unlock()
	}})
	got := func() []wal.SyncInfo {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(infos)
	}
	if err := l.Sync(); err != nil || len(got()) != 0 {
		t.Fatalf("Sync with nothing appended: %v, OnSync %v", err, got())
	}
	seqs := appendRecs(t, l, 5)
	want := l.Size() - int64(wal.HeaderSize)
	if err := l.SyncTo(seqs[2]); err != nil {
		t.Fatal(err)
	}
	if err := l.SyncTo(seqs[4]); err != nil { // covered by the first
		t.Fatal(err)
	}
	if g := got(); len(g) != 1 || g[0].Records != 5 || g[0].Bytes != want || g[0].Elapsed <= 0 {
		t.Fatalf("after SyncTo: OnSync %+v, want one call with 5 records, %d bytes and a duration", g, want)
	}
	size := l.Size()
	if err := l.Ack(seqs[0]); err != nil {
		t.Fatal(err)
	}
	r := rec(5)
	if _, err := l.Append(&r); err != nil {
		t.Fatal(err)
	}
	want = l.Size() - size
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	if g := got(); len(g) != 2 || g[1].Records != 1 || g[1].Bytes != want {
		t.Fatalf("after Sync: OnSync %+v, want a second call with 1 record and %d bytes (an ack and a record)", g, want)
	}
	r = rec(6)
	if _, err := l.Append(&r); err != nil {
		t.Fatal(err)
	}
	if err := l.Sync(); !errors.Is(err, waltest.ErrInjected) {
		t.Fatalf("Sync: %v, want the injected fsync failure", err)
	}
	if g := got(); len(g) != 2 {
		t.Fatalf("a failed fsync called OnSync: %+v", g)
	}
	if n := l.Syncs(); n != 2 {
		t.Fatalf("Syncs() = %d after two fsyncs and a failed one, want 2", n)
	}
	l.Close()

	// Close's own fsync is reported.
	path2 := filepath.Join(t.TempDir(), "q.wal")
	var closed []wal.SyncInfo
	l2, _ := mustOpen(t, path2, wal.Options{OnSync: func(i wal.SyncInfo) { closed = append(closed, i) }})
	r = rec(7)
	if _, err := l2.Append(&r); err != nil {
		t.Fatal(err)
	}
	if err := l2.Close(); err != nil {
		t.Fatal(err)
	}
	if len(closed) != 1 || closed[0].Records != 1 || closed[0].Bytes <= 0 {
		t.Fatalf("Close: OnSync %+v, want one call with 1 record", closed)
	}
	if n := l2.Syncs(); n != 1 {
		t.Fatalf("Syncs() = %d after Close's fsync, want 1", n)
	}

	// Without the hook the fsyncs are counted all the same.
	l3, _ := mustOpen(t, filepath.Join(t.TempDir(), "r.wal"), wal.Options{})
	appendRecs(t, l3, 2)
	if err := l3.Sync(); err != nil {
		t.Fatal(err)
	}
	if n := l3.Syncs(); n != 1 {
		t.Fatalf("Syncs() = %d after one Sync without OnSync, want 1", n)
	}
	l3.Close()
}

// readCounter wraps the log's files and counts their ReadAt calls.
type readCounter struct {
	wal.File
	n *atomic.Int64
}

func (r readCounter) ReadAt(b []byte, off int64) (int, error) {
	r.n.Add(1)
	return r.File.ReadAt(b, off)
}

// TestWALCompactionReadsWindows compacts a log whose live frames alternate
// with acknowledged ones, as several send lanes leave it, with frames
// larger than the gap a read spans and one larger than a read window. The
// compaction reads windows of frames, not one run of adjacent frames at a
// time, and copies exactly the live records.
func TestWALCompactionReadsWindows(t *testing.T) {
	var reads atomic.Int64
	opts := wal.Options{CompactBytes: 64 << 10, OpenFile: func(name string, flag int, perm os.FileMode) (wal.File, error) {
		f, err := os.OpenFile(name, flag, perm)
		if err != nil {
			return nil, err
		}
		return readCounter{File: f, n: &reads}, nil
	}}
	path := filepath.Join(t.TempDir(), "p.wal")
	l, _ := mustOpen(t, path, opts)
	const n = 2000
	recs := make([]driver.Record, n)
	seqs := make([]uint64, n)
	live := func(i int) bool { return i == 55 || i%5 == 0 && (i < 50 || i >= 70) }
	for i := range recs {
		recs[i] = rec(i)
		switch {
		case i >= 50 && i <= 53:
			recs[i].Value = bytes.Repeat([]byte{1}, 300<<10) // acknowledged gaps wider than a read spans
		case i == 55:
			recs[i].Value = bytes.Repeat([]byte{2}, 3<<19) // live, larger than a read window
		case i >= 60 && i < 70:
			recs[i].Value = bytes.Repeat([]byte{3}, 1<<20)
		}
		s, err := l.Append(&recs[i])
		if err != nil {
			t.Fatal(err)
		}
		seqs[i] = s
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	before := l.Size()
	var acks []uint64
	for i, s := range seqs {
		if !live(i) {
			acks = append(acks, s)
		}
	}
	reads.Store(0)
	if err := l.Ack(acks...); err != nil {
		t.Fatal(err)
	}
	if l.Size() > before/4 {
		t.Fatalf("not compacted: %d bytes of %d", l.Size(), before)
	}
	// Windows: up to the wide gaps, the big live frame, up to the 1 MiB
	// frames, and the rest (about 400 live frames of a few hundred bytes,
	// each between acknowledged ones: one read each before).
	t.Logf("the compaction made %d reads", reads.Load())
	if r := reads.Load(); r > 8 {
		t.Fatalf("the compaction made %d reads, want at most 8", r)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, es := mustOpen(t, path, wal.Options{})
	defer l.Close()
	var want []driver.Record
	for i := range recs {
		if live(i) {
			want = append(want, recs[i])
		}
	}
	if len(es) != len(want) {
		t.Fatalf("%d records after compaction, want %d", len(es), len(want))
	}
	for i, e := range es {
		if !reflect.DeepEqual(e.Record, want[i]) {
			t.Fatalf("record %d after compaction: id %q (%d value bytes), want %q (%d)", i, e.Record.ID, len(e.Record.Value), want[i].ID, len(want[i].Value))
		}
	}
}
