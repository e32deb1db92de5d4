package pulsar

import (
	"hash/fnv"
	"strconv"
	"testing"
)

// TestKeyHashIsFNV1a holds KeyHash, by which the producer engine assigns
// lanes, and keyPartition to the FNV-1a of the key (the partitioning that
// records already written by earlier releases followed).
func TestKeyHashIsFNV1a(t *testing.T) {
	s := &Stream{}
	for i := range 1000 {
		k := []byte("customer-" + strconv.Itoa(i))
		h := fnv.New32a()
		h.Write(k)
		want := h.Sum32()
		if got := s.KeyHash(k); got != want {
			t.Fatalf("KeyHash(%q) = %d, FNV-1a is %d", k, got, want)
		}
		if got := keyPartition(k, 16); got != int(want%16) {
			t.Fatalf("keyPartition(%q, 16) = %d, want %d", k, got, want%16)
		}
	}
}
