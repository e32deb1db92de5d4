package wal_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/unistream-go/unistream/stream/driver"
	"github.com/unistream-go/unistream/stream/wal"
)

// FuzzOpen feeds arbitrary bytes to Open. Open must never panic; it either
// fails with a *CorruptError or ErrVersion and leaves the file untouched,
// or returns entries, after which the log works: an appended record and an
// acknowledgement survive a reopen.
func FuzzOpen(f *testing.F) {
	dir := f.TempDir()
	seedPath := filepath.Join(dir, "seed.wal")
	l, _, err := wal.Open(seedPath, wal.Options{})
	if err != nil {
		f.Fatal(err)
	}
	var seqs []uint64
	for i := range 4 {
		r := rec(i)
		s, _ := l.Append(&r)
		seqs = append(seqs, s)
	}
	l.Ack(seqs[1])
	l.Close()
	seed, _ := os.ReadFile(seedPath)
	f.Add(seed)
	f.Add(seed[:len(seed)-3])
	f.Add(append(append([]byte(nil), seed...), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
	f.Add([]byte("USWAL\x01"))
	f.Add([]byte("USW"))
	f.Add([]byte{})
	f.Add(append([]byte("USWAL\x01"), frame(2, []byte{1, 1, 1})...))
	f.Add(append([]byte("USWAL\x01"), frame(1, []byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0})...))

	f.Fuzz(body)
}

// noSyncFile skips fsync: fuzzing is about parsing, and fsyncs would make
// it hundreds of times slower.
type noSyncFile struct{ *os.File }

func (noSyncFile) Sync() error { return nil }

var fuzzOpts = wal.Options{
	MaxFrameBytes: 1 << 16,
	OpenFile: func(name string, flag int, perm os.FileMode) (wal.File, error) {
		f, err := os.OpenFile(name, flag, perm)
		if err != nil {
			return nil, err
		}
		return noSyncFile{f}, nil
	},
}

func body(t *testing.T, data []byte) {
	{
		path := filepath.Join(t.TempDir(), "f.wal")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		l, es, err := wal.Open(path, fuzzOpts)
		if err != nil {
			var ce *wal.CorruptError
			if !errors.As(err, &ce) && !errors.Is(err, wal.ErrVersion) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			if got, _ := os.ReadFile(path); !bytes.Equal(got, data) {
				t.Fatalf("Open failed (%v) but changed the file", err)
			}
			return
		}
		for i := 1; i < len(es); i++ {
			if es[i].Seq <= es[i-1].Seq {
				t.Fatalf("entries out of order: %d after %d", es[i].Seq, es[i-1].Seq)
			}
		}
		rv := l.Recovery()
		if rv.Repaired() && (rv.TruncatedAt < 0 || rv.TruncatedAt+rv.DroppedBytes != int64(len(data))) {
			t.Fatalf("bad recovery %+v for %d bytes", rv, len(data))
		}
		r := driver.Record{ID: "new", Value: []byte("v")}
		seq, err := l.Append(&r)
		if err != nil {
			t.Fatalf("Append after a successful Open: %v", err)
		}
		if len(es) > 0 && seq <= es[len(es)-1].Seq {
			t.Fatalf("new seq %d not after %d", seq, es[len(es)-1].Seq)
		}
		var acked uint64
		if len(es) > 0 {
			acked = es[0].Seq
			if err := l.Ack(acked); err != nil {
				t.Fatalf("Ack: %v", err)
			}
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l2, es2, err := wal.Open(path, fuzzOpts)
		if err != nil {
			t.Fatalf("reopen after a successful Open: %v", err)
		}
		defer l2.Close()
		want := len(es) + 1
		if acked != 0 {
			want--
		}
		if len(es2) != want || es2[len(es2)-1].Record.ID != "new" {
			t.Fatalf("reopen: %d entries, want %d ending with the new record", len(es2), want)
		}
		if l2.Recovery().Repaired() {
			t.Fatalf("a log written by this package needed repair: %v", l2.Recovery())
		}
	}
}
