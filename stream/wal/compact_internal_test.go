package wal

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/unistream-go/unistream/stream/driver"
)

// TestCompactionKeepsItsBuffers checks that a compaction keeps its copy
// buffers for the next one instead of allocating them again (they were
// the WAL's largest garbage), that it keeps no more than a chunk of each,
// and that the records it copied survive a reopen.
func TestCompactionKeepsItsBuffers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.wal")
	l, _, err := Open(path, Options{CompactBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	var live []string
	var kept []uint64 // the live records of the last round, acknowledged in the next
	var first *byte
	compactions := 0
	for round := range 4 {
		// The same number of live records every round, so that the same
		// buffer fits each compaction.
		seqs := kept
		kept, live = nil, nil
		for i := range 100 {
			r := driver.Record{ID: fmt.Sprintf("r%d-%03d", round, i), Value: bytes.Repeat([]byte{'v'}, 60)}
			s, err := l.Append(&r)
			if err != nil {
				t.Fatal(err)
			}
			if i%25 == 0 {
				live = append(live, r.ID) // kept: the compaction copies it
				kept = append(kept, s)
				continue
			}
			seqs = append(seqs, s)
		}
		if err := l.Sync(); err != nil {
			t.Fatal(err)
		}
		before := l.Size()
		if err := l.Ack(seqs...); err != nil {
			t.Fatal(err)
		}
		if l.Size() >= before/2 {
			t.Fatalf("round %d: no compaction (%d bytes, %d before the acknowledgements)", round, l.Size(), before)
		}
		compactions++
		if cap(l.cbuf) == 0 || cap(l.cwin) == 0 {
			t.Fatalf("round %d: the compaction kept no buffer (write %d, read %d bytes)", round, cap(l.cbuf), cap(l.cwin))
		}
		if cap(l.cbuf) > 1<<20 || cap(l.cwin) > 1<<20 {
			t.Fatalf("round %d: the compaction kept %d and %d bytes, over a chunk", round, cap(l.cbuf), cap(l.cwin))
		}
		if p := &l.cbuf[:1][0]; first == nil {
			first = p
		} else if p != first {
			t.Fatalf("round %d: the compaction allocated a new write buffer instead of reusing its own", round)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, es, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var got []string
	for _, e := range es {
		got = append(got, e.Record.ID)
	}
	if fmt.Sprint(got) != fmt.Sprint(live) {
		t.Fatalf("after %d compactions the log holds %v, want %v", compactions, got, live)
	}
}
