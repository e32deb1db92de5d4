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
		buf = appendUUIDv7(buf, now)
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

// appendUUIDv7 appends the text form of a new UUIDv7 to dst.
func appendUUIDv7(dst []byte, now time.Time) []byte {
	var b [16]byte
	ms := uint64(now.UnixMilli())
	binary.BigEndian.PutUint64(b[0:8], ms<<16)
	r := rand.Uint64()
	binary.BigEndian.PutUint16(b[6:8], uint16(r)&0x0fff|0x7000)
	binary.BigEndian.PutUint64(b[8:16], rand.Uint64()&0x3fffffffffffffff|0x8000000000000000)
	var s [uuidLen]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:36], b[10:16])
	return append(dst, s[:]...)
}
