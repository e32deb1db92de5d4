package stream

import (
	"runtime/debug"
	"sync"
	"testing"
)

// TestPendingQueueSpareBlocks: a queue that grows far past its kept
// blocks and drains gives the extra blocks to its spare pool, cleared (no
// record data kept alive), and takes them back as it grows again; the
// records come out in order throughout.
func TestPendingQueueSpareBlocks(t *testing.T) {
	// No GC during the test: a GC may empty a sync.Pool.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	var made int
	spare := &sync.Pool{New: func() any { made++; return new(pendingBlock) }}
	q := pendingQueue{keep: 2, spare: spare}
	const n = 20 * pendingBlockLen
	for round := range 3 {
		for i := range n {
			q.push(pending{rec: Record{ID: "r", Value: []byte{byte(i)}}, ord: uint64(i)})
		}
		for i := 0; i < n; {
			k := min(300, n-i) // not a multiple of the block length
			for j := range k {
				if got := q.at(j).ord; got != uint64(i+j) {
					t.Fatalf("round %d: record %d is %d", round, i+j, got)
				}
			}
			q.popFront(k)
			i += k
		}
		if q.len() != 0 || len(q.blocks) != 0 {
			t.Fatalf("round %d: %d records in %d blocks left after popping all", round, q.len(), len(q.blocks))
		}
		if len(q.free) > max(q.keep, 4) {
			t.Fatalf("round %d: %d blocks kept, want at most %d", round, len(q.free), max(q.keep, 4))
		}
		if round == 0 && made != 20 {
			t.Fatalf("the first round took %d new blocks from the spare pool, want 20", made)
		}
	}
	// Each later round takes 4 kept blocks and 16 from the pool. Without
	// reuse the pool would make 16 more per round (52 in all); the race
	// detector's pool drops some of what it is given, at random.
	if made > 44 {
		t.Errorf("the spare pool made %d blocks over 3 rounds of 20, want the drained ones reused", made)
	}
	b := spare.Get().(*pendingBlock)
	for i := range b {
		if b[i].rec.Value != nil || b[i].rec.ID != "" {
			t.Fatalf("a spare block holds record data at %d: %+v", i, b[i].rec)
		}
	}
}
