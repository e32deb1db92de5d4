package wal

import (
	"math/rand/v2"
	"sort"
	"testing"
)

// TestSearchSeq checks searchSeq against a plain binary search, from every
// valid start, on tables with gaps (as a lane's records are, between the
// records of other lanes).
func TestSearchSeq(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		n := r.IntN(40)
		spans := make([]span, n)
		seq := uint64(0)
		for i := range spans {
			seq += 1 + uint64(r.IntN(5))
			spans[i].seq = seq
		}
		for s := uint64(0); s <= seq+2; s++ {
			want := sort.Search(n, func(i int) bool { return spans[i].seq >= s })
			for from := 0; from <= want; from++ {
				if got := searchSeq(spans, from, s); got != want {
					t.Fatalf("searchSeq(%v, from %d, %d) = %d, want %d", spans, from, s, got, want)
				}
			}
		}
	}
}
