package kinesisfake

import (
	"crypto/md5"
	"fmt"
	"math/big"
	"sort"
	"strconv"
	"time"
)

// seqBase is the smallest sequence number the fake hands out: 56 decimal
// digits, like the sequence numbers of AWS, so that clients must compare
// them as big numbers (they do not fit 64 or 128 bits).
var seqBase, _ = new(big.Int).SetString("49600000000000000000000000000000000000000000000000000000", 10)

// seqShardSlots is how many shard indexes a sequence number encodes: the
// number is seqBase + counter*seqShardSlots + shardIndex, so the fake can
// tell that a sequence number came from another shard, as AWS does.
const seqShardSlots = 10000

// maxHashKey is 2^128 - 1, the largest hash key.
var maxHashKey = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 128), big.NewInt(1))

// seqString returns the decimal sequence number of counter n in shard idx.
func seqString(n uint64, idx int) string {
	v := new(big.Int).SetUint64(n)
	v.Mul(v, big.NewInt(seqShardSlots))
	v.Add(v, big.NewInt(int64(idx)))
	v.Add(v, seqBase)
	return v.String()
}

// parseSeq reads a decimal sequence number of the fake: its counter and
// the shard index it encodes.
func parseSeq(s string) (n uint64, idx int, err error) {
	if s == "" || len(s) > 129 {
		return 0, 0, fmt.Errorf("sequence number %q: expected 1 to 129 decimal digits", s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, 0, fmt.Errorf("sequence number %q: expected decimal digits", s)
		}
	}
	v, ok := new(big.Int).SetString(s, 10)
	if !ok || v.Cmp(seqBase) < 0 {
		return 0, 0, fmt.Errorf("sequence number %q did not come from this stream", s)
	}
	v.Sub(v, seqBase)
	q, r := new(big.Int).QuoRem(v, big.NewInt(seqShardSlots), new(big.Int))
	if !q.IsUint64() {
		return 0, 0, fmt.Errorf("sequence number %q did not come from this stream", s)
	}
	return q.Uint64(), int(r.Int64()), nil
}

// hashKeyOf returns the 128-bit hash key of a partition key: the MD5 of its
// UTF-8 bytes as a big-endian number, as Kinesis routes records.
func hashKeyOf(partitionKey string) *big.Int {
	sum := md5.Sum([]byte(partitionKey))
	return new(big.Int).SetBytes(sum[:])
}

// record is one stored record.
type record struct {
	n            uint64 // sequence counter
	seq          string // decimal sequence number
	partitionKey string
	data         []byte
	arrival      time.Time
}

// shard is one shard of a stream.
type shard struct {
	index            int
	id               string
	parent, adjacent string
	hashStart        *big.Int
	hashEnd          *big.Int
	startN           uint64 // counter of the starting sequence number
	endN             uint64 // counter of the ending sequence number, if closed
	closed           bool
	created, closedT time.Time
	records          []record
}

func shardID(i int) string { return fmt.Sprintf("shardId-%012d", i) }

// startSeq and endSeq are the shard's sequence number range.
func (sh *shard) startSeq() string { return seqString(sh.startN, sh.index) }
func (sh *shard) endSeq() string   { return seqString(sh.endN, sh.index) }

// contains reports whether hash key h falls in the shard's range.
func (sh *shard) contains(h *big.Int) bool {
	return h.Cmp(sh.hashStart) >= 0 && h.Cmp(sh.hashEnd) <= 0
}

// search returns the index of the first record whose counter is >= n.
func (sh *shard) search(n uint64) int {
	return sort.Search(len(sh.records), func(i int) bool { return sh.records[i].n >= n })
}

// stream is one stream.
type stream struct {
	name      string
	arn       string
	gen       uint64 // creation number: iterators of a deleted stream die with it
	status    string
	created   time.Time
	readyAt   time.Time // when a CREATING or UPDATING stream becomes ACTIVE
	retention int32
	shards    []*shard
}

// openShards returns the open shards, in index order.
func (st *stream) openShards() []*shard {
	var out []*shard
	for _, sh := range st.shards {
		if !sh.closed {
			out = append(out, sh)
		}
	}
	return out
}

// shardByID finds a shard by id ("shardId-000000000001", or the bare number).
func (st *stream) shardByID(id string) *shard {
	for _, sh := range st.shards {
		if sh.id == id {
			return sh
		}
	}
	if n, err := strconv.Atoi(id); err == nil && n >= 0 && n < len(st.shards) {
		return st.shards[n]
	}
	return nil
}

// route returns the open shard whose hash key range holds h.
func (st *stream) route(h *big.Int) *shard {
	for _, sh := range st.shards {
		if !sh.closed && sh.contains(h) {
			return sh
		}
	}
	return nil
}
