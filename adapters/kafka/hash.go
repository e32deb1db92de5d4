package kafka

import "github.com/unistream-go/unistream/stream/driver"

// murmur2 is the 32-bit MurmurHash2 (seed 0x9747b28c) by which Kafka's
// clients place a keyed record: the partition is murmur2(key) & 0x7fffffff
// modulo the partition count (Java's DefaultPartitioner, franz-go's
// StickyKeyPartitioner). TestKeyHashMatchesFranzGo holds it to franz-go's.
func murmur2(b []byte) uint32 {
	const (
		seed = 0x9747b28c
		m    = 0x5bd1e995
	)
	h := uint32(seed) ^ uint32(len(b))
	for ; len(b) >= 4; b = b[4:] {
		k := uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
		k *= m
		k ^= k >> 24
		k *= m
		h = h*m ^ k
	}
	switch len(b) {
	case 3:
		h ^= uint32(b[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(b[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(b[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}

// KeyHash returns the hash by which the stream's writers place a record
// with this key: the partition is KeyHash(key) modulo the partition count,
// as Kafka's own clients compute it (driver.KeyHasher). The producer
// engine assigns send lanes by it.
func (s *Stream) KeyHash(key []byte) uint32 { return murmur2(key) & 0x7fffffff }

// keyPartition returns the partition of a non-empty key among n.
func keyPartition(key []byte, n int) int32 {
	return int32((murmur2(key) & 0x7fffffff) % uint32(n))
}

var _ driver.KeyHasher = (*Stream)(nil)
