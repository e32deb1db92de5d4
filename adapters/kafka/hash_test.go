package kafka

import (
	"math/rand/v2"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestKeyHashMatchesFranzGo holds keyPartition (and so KeyHash, by which
// the producer engine assigns lanes) to franz-go's Kafka-compatible key
// partitioner, which places records as Kafka's Java client does, over
// keys of every length class (the hash treats the last 0–3 bytes apart).
func TestKeyHashMatchesFranzGo(t *testing.T) {
	ref := kgo.StickyKeyPartitioner(nil).ForTopic("")
	rng := rand.New(rand.NewPCG(1, 2))
	keys := [][]byte{{0}, []byte("a"), []byte("ab"), []byte("abc"), []byte("abcd"), []byte("customer-42")}
	for range 2000 {
		k := make([]byte, rng.IntN(40)+1)
		for i := range k {
			k[i] = byte(rng.Uint32())
		}
		keys = append(keys, k)
	}
	for _, n := range []int{1, 3, 4, 16, 1000} {
		for _, k := range keys {
			if got, want := keyPartition(k, n), int32(ref.Partition(&kgo.Record{Key: k}, n)); got != want {
				t.Fatalf("keyPartition(%x, %d) = %d, franz-go places it in %d", k, n, got, want)
			}
		}
	}
	s := &Stream{}
	for _, k := range keys {
		if h := s.KeyHash(k); int(h%16) != int(keyPartition(k, 16)) {
			t.Fatalf("KeyHash(%x) %% 16 = %d, keyPartition = %d: lanes would not follow partitions", k, h%16, keyPartition(k, 16))
		}
	}
}
