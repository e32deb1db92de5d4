package wal

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"slices"
	"time"

	"github.com/unistream-go/unistream/stream/driver"
)

// The file format.
//
//	file   = header frame*
//	header = "USWAL" version(1 byte)
//	frame  = length(uint32 LE) crc(uint32 LE) type(1 byte) payload(length bytes)
//
// length counts the payload only; crc is the CRC-32C (Castagnoli) of the type
// byte followed by the payload.
//
// A record payload (type 1) is
//
//	seq(uint64 LE) id(str) key(opt) value(opt) nheaders(uvarint) {hkey(str) hvalue(opt)}* time
//	str  = uvarint(len) bytes
//	opt  = uvarint(0) for nil, or uvarint(len+1) bytes
//	time = 0x00 for the zero time, or 0x01 varint(unix seconds) uvarint(nanoseconds)
//
// An ack payload (type 2) is nranges(uvarint) {first(uvarint) count(uvarint)}*,
// acknowledging the sequence numbers first .. first+count-1 of each range.
const (
	magic = "USWAL"
	// Version is the format version this package writes and reads.
	Version = 1
	// HeaderSize is the size of the file header: the magic "USWAL" and the
	// version byte.
	HeaderSize = 6
	// FrameHeaderSize is the size of a frame's length, checksum and type.
	FrameHeaderSize = 9
	// DefaultMaxFrameBytes is the default bound on one frame's payload.
	DefaultMaxFrameBytes = 64 << 20
)

// Frame types.
const (
	typeRecord byte = 1
	typeAck    byte = 2
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func crcOf(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// header returns the file header.
func header() []byte { return append([]byte(magic), Version) }

// finishFrame fills in the length and checksum of the frame that starts at
// buf[start:], whose type byte and payload are already appended.
func finishFrame(buf []byte, start int) {
	n := len(buf) - start - FrameHeaderSize
	binary.LittleEndian.PutUint32(buf[start:], uint32(n))
	binary.LittleEndian.PutUint32(buf[start+4:], crc32.Checksum(buf[start+8:], castagnoli))
}

// beginFrame appends a frame header with the type byte and a zero length
// and checksum, to be filled by finishFrame.
func beginFrame(buf []byte, typ byte) []byte {
	return append(buf, 0, 0, 0, 0, 0, 0, 0, 0, typ)
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendOpt(b []byte, v []byte) []byte {
	if v == nil {
		return append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(v))+1)
	return append(b, v...)
}

// appendRecordFrame appends a whole record frame to buf. It fails, leaving
// buf as it was, when the payload would exceed maxPayload.
func appendRecordFrame(buf []byte, seq uint64, r *driver.Record, maxPayload int) ([]byte, error) {
	start := len(buf)
	buf = beginFrame(buf, typeRecord)
	buf = binary.LittleEndian.AppendUint64(buf, seq)
	buf = appendStr(buf, r.ID)
	buf = appendOpt(buf, r.Key)
	buf = appendOpt(buf, r.Value)
	buf = binary.AppendUvarint(buf, uint64(len(r.Headers)))
	for _, h := range r.Headers {
		buf = appendStr(buf, h.Key)
		buf = appendOpt(buf, h.Value)
	}
	if r.Time.IsZero() {
		buf = append(buf, 0)
	} else {
		buf = append(buf, 1)
		buf = binary.AppendVarint(buf, r.Time.Unix())
		buf = binary.AppendUvarint(buf, uint64(r.Time.Nanosecond()))
	}
	if n := len(buf) - start - FrameHeaderSize; n > maxPayload {
		return buf[:start], fmt.Errorf("wal: record %q encodes to %d bytes, over the WAL's frame limit of %d bytes: %w",
			r.ID, n, maxPayload, driver.ErrRecordTooLarge)
	}
	finishFrame(buf, start)
	return buf, nil
}

// appendAckFrame appends an ack frame for seqs, which must be sorted and
// free of duplicates, as ranges of consecutive numbers.
func appendAckFrame(buf []byte, seqs []uint64) []byte {
	start := len(buf)
	buf = beginFrame(buf, typeAck)
	nr := 0
	for i := 0; i < len(seqs); i++ {
		if i == 0 || seqs[i] != seqs[i-1]+1 {
			nr++
		}
	}
	buf = binary.AppendUvarint(buf, uint64(nr))
	for i := 0; i < len(seqs); {
		j := i + 1
		for j < len(seqs) && seqs[j] == seqs[j-1]+1 {
			j++
		}
		buf = binary.AppendUvarint(buf, seqs[i])
		buf = binary.AppendUvarint(buf, uint64(j-i))
		i = j
	}
	finishFrame(buf, start)
	return buf
}

// decoder reads a payload; the first failure sticks.
type decoder struct {
	b   []byte
	off int
	err string
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == "" {
		d.err = fmt.Sprintf(format, args...) + fmt.Sprintf(" (payload byte %d)", d.off)
	}
}

func (d *decoder) uvarint(what string) uint64 {
	if d.err != "" {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.off:])
	if n <= 0 {
		d.fail("bad varint for %s", what)
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) varint(what string) int64 {
	if d.err != "" {
		return 0
	}
	v, n := binary.Varint(d.b[d.off:])
	if n <= 0 {
		d.fail("bad varint for %s", what)
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) bytes(n uint64, what string) []byte {
	if d.err != "" {
		return nil
	}
	if n > uint64(len(d.b)-d.off) {
		d.fail("%s of %d bytes runs past the payload end (%d bytes left)", what, n, len(d.b)-d.off)
		return nil
	}
	v := d.b[d.off : d.off+int(n) : d.off+int(n)]
	d.off += int(n)
	return v
}

func (d *decoder) byte1(what string) byte {
	if d.err != "" {
		return 0
	}
	if d.off >= len(d.b) {
		d.fail("missing %s", what)
		return 0
	}
	c := d.b[d.off]
	d.off++
	return c
}

func (d *decoder) str(what string) string {
	return string(d.bytes(d.uvarint(what+" length"), what))
}

func (d *decoder) opt(what string) []byte {
	n := d.uvarint(what + " length")
	if d.err != "" || n == 0 {
		return nil
	}
	return d.bytes(n-1, what)
}

// decodeRecord decodes a record payload. The record's byte slices are copied
// into one allocation owned by the record.
func decodeRecord(p []byte) (uint64, driver.Record, string) {
	if len(p) < 8 {
		return 0, driver.Record{}, fmt.Sprintf("record payload of %d bytes is shorter than its 8-byte sequence number", len(p))
	}
	own := slices.Clone(p)
	d := &decoder{b: own, off: 8}
	seq := binary.LittleEndian.Uint64(own)
	var r driver.Record
	r.ID = d.str("id")
	r.Key = d.opt("key")
	r.Value = d.opt("value")
	nh := d.uvarint("header count")
	if d.err == "" && nh > uint64(len(own)-d.off)/2 {
		d.fail("header count %d is impossible for the %d bytes left", nh, len(own)-d.off)
	}
	if d.err == "" && nh > 0 {
		r.Headers = make([]driver.Header, nh)
		for i := range r.Headers {
			r.Headers[i].Key = d.str("header key")
			r.Headers[i].Value = d.opt("header value")
		}
	}
	switch k := d.byte1("time kind"); {
	case d.err != "":
	case k == 0:
	case k == 1:
		sec := d.varint("time seconds")
		nsec := d.uvarint("time nanoseconds")
		if d.err == "" && nsec >= 1e9 {
			d.fail("time nanoseconds %d out of range", nsec)
		}
		r.Time = time.Unix(sec, int64(nsec)).UTC()
	default:
		d.fail("unknown time kind %d", k)
	}
	if d.err == "" && d.off != len(own) {
		d.fail("%d trailing bytes", len(own)-d.off)
	}
	if d.err != "" {
		return 0, driver.Record{}, "undecodable record: " + d.err
	}
	if seq == 0 {
		return 0, driver.Record{}, "record has sequence number 0 (numbers start at 1)"
	}
	return seq, r, ""
}

// ackRange is a run of consecutive acknowledged sequence numbers.
type ackRange struct{ first, count uint64 }

// decodeAck decodes an ack payload.
func decodeAck(p []byte) ([]ackRange, string) {
	d := &decoder{b: p}
	n := d.uvarint("range count")
	if d.err == "" && (n == 0 || n > uint64(len(p))/2) {
		d.fail("impossible range count %d", n)
	}
	var out []ackRange
	if d.err == "" {
		out = make([]ackRange, 0, n)
	}
	for i := uint64(0); d.err == "" && i < n; i++ {
		first := d.uvarint("range start")
		count := d.uvarint("range length")
		if d.err != "" {
			break
		}
		if first == 0 || count == 0 || first+count-1 < first {
			d.fail("bad range %d+%d", first, count)
			break
		}
		out = append(out, ackRange{first, count})
	}
	if d.err == "" && d.off != len(p) {
		d.fail("%d trailing bytes", len(p)-d.off)
	}
	if d.err != "" {
		return nil, "undecodable ack: " + d.err
	}
	return out, ""
}
