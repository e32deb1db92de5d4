package stream

import (
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"time"
	"unsafe"
)

// uuidLen is the length of a UUID in its text form.
const uuidLen = 36

// slabBytes is the size of the slabs record data is copied into, and
// slabMax the largest copy made in a slab (larger ones get their own
// allocation). A slab is freed once every record in it is gone.
const (
	slabBytes   = 16 << 10
	slabMax     = 2 << 10
	slabHeaders = 256
)

// cloneRecordData copies the record's byte slices, so the caller may reuse
// its buffers after Put. With genID, it also makes the record a UUIDv7 ID
// from now. Small records are copied into a shared slab (no allocation per
// record). It needs p.mu.
func (p *Producer) cloneRecordData(r *Record, genID bool, now time.Time) {
	n := len(r.Key) + len(r.Value)
	for _, h := range r.Headers {
		n += len(h.Value)
	}
	if genID {
		n += uuidLen
	}
	var buf []byte
	switch {
	case n == 0:
	case n > slabMax:
		buf = make([]byte, 0, n)
	default:
		if cap(p.slab)-len(p.slab) < n {
			p.slab = make([]byte, 0, slabBytes)
		}
		start := len(p.slab)
		p.slab = p.slab[:start+n]
		buf = p.slab[start : start : start+n]
	}
	if genID {
		buf = p.ids.next(buf, now)
		// The bytes are never written again: the slices below are capped
		// and start after them.
		r.ID = unsafe.String(&buf[0], uuidLen)
	}
	clone := func(b []byte) []byte {
		if b == nil {
			return nil
		}
		start := len(buf)
		buf = append(buf, b...)
		return buf[start:len(buf):len(buf)]
	}
	r.Key = clone(r.Key)
	r.Value = clone(r.Value)
	if k := len(r.Headers); k > 0 {
		var hs []Header
		if k > slabHeaders/8 {
			hs = make([]Header, k)
		} else {
			if cap(p.hslab)-len(p.hslab) < k {
				p.hslab = make([]Header, 0, slabHeaders)
			}
			start := len(p.hslab)
			p.hslab = p.hslab[:start+k]
			hs = p.hslab[start : start+k : start+k]
		}
		for i, h := range r.Headers {
			hs[i] = Header{Key: h.Key, Value: clone(h.Value)}
		}
		r.Headers = hs
	}
}

// uuidGen makes a producer's record IDs: UUIDv7 strings (RFC 9562) of a
// 48-bit Unix millisecond timestamp, a 12-bit counter within the
// millisecond (the RFC's method 1, "fixed bit-length dedicated counter")
// and 62 bits chosen at random once per producer. One producer's IDs
// strictly increase (a counter that runs out, past 4096 IDs in one
// millisecond, or a clock that steps back, borrows the next millisecond),
// and two producers' IDs differ in their random bits. Beside being
// cheaper than 74 random bits per ID, the shared tail makes a batch's IDs
// compress (the Kafka header, the WAL) instead of adding random bytes to
// every record. It is guarded by Producer.mu.
type uuidGen struct {
	ms   uint64 // the timestamp of the last ID
	seq  uint16 // the counter of the last ID
	init bool
	tail [uuidLen - 19]byte // the text of the random bits, "-xxxx-xxxxxxxxxxxx" less its dash
}

// next appends the text form of a new ID made at now to dst.
func (g *uuidGen) next(dst []byte, now time.Time) []byte {
	if !g.init {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], rand.Uint64()&0x3fffffffffffffff|0x8000000000000000)
		hex.Encode(g.tail[0:4], b[0:2])
		g.tail[4] = '-'
		hex.Encode(g.tail[5:17], b[2:8])
		g.ms, g.init = uint64(now.UnixMilli()), true
	} else if ms := uint64(now.UnixMilli()); ms > g.ms {
		g.ms, g.seq = ms, 0
	} else if g.seq++; g.seq > 0xfff {
		g.ms, g.seq = g.ms+1, 0
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], g.ms<<16|0x7000|uint64(g.seq))
	var s [uuidLen]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	copy(s[19:], g.tail[:])
	return append(dst, s[:]...)
}
