package memstream

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/unistream-go/unistream/stream/driver"
)

// PointerLen is the length of a memstream pointer: an 8-byte big-endian
// offset, so that bytes.Compare orders pointers like their offsets.
const PointerLen = 8

// Codec is the pointer codec of memstream. A pointer is the record's offset
// in its partition log as 8 big-endian bytes; its human form is
// "mem:STREAM/PARTITION@OFFSET", such as "mem:orders/0@42".
type Codec struct{}

var _ driver.PointerCodec = Codec{}

// PointerAt returns the pointer of offset off.
func PointerAt(off uint64) driver.Pointer {
	p := make(driver.Pointer, PointerLen)
	binary.BigEndian.PutUint64(p, off)
	return p
}

// Offset returns the offset of pointer p, or an error if p is not a valid
// memstream pointer.
func Offset(p driver.Pointer) (uint64, error) {
	if len(p) != PointerLen {
		return 0, fmt.Errorf("memstream: pointer: got %d bytes, expected %d (big-endian offset)", len(p), PointerLen)
	}
	return binary.BigEndian.Uint64(p), nil
}

// Decode checks that b is 8 bytes long and returns a copy of it.
func (Codec) Decode(b []byte) (driver.Pointer, error) {
	if _, err := Offset(b); err != nil {
		return nil, err
	}
	return driver.Pointer(bytes.Clone(b)), nil
}

// Compare orders two pointers: -1, 0 or +1. Valid pointers compare like
// their offsets.
func (Codec) Compare(a, b driver.Pointer) int { return bytes.Compare(a, b) }

// Format returns "mem:STREAM/PARTITION@OFFSET". An invalid pointer is shown
// as "@invalid(HEX)" so that it is never mistaken for a position.
func (Codec) Format(stream, partition string, p driver.Pointer) string {
	off, err := Offset(p)
	if err != nil {
		return "mem:" + stream + "/" + partition + "@invalid(" + hex.EncodeToString(p) + ")"
	}
	return "mem:" + stream + "/" + partition + "@" + strconv.FormatUint(off, 10)
}

// Parse reads "mem:STREAM/PARTITION@OFFSET" back. STREAM must be a valid
// stream name, PARTITION a partition id (a decimal number without leading
// zeros) and OFFSET a decimal offset without leading zeros.
func (Codec) Parse(s string) (stream, partition string, p driver.Pointer, err error) {
	const form = "mem:STREAM/PARTITION@OFFSET, such as mem:orders/0@42"
	rest, ok := strings.CutPrefix(s, "mem:")
	if !ok {
		return "", "", nil, fmt.Errorf("memstream: pointer %q: missing the \"mem:\" prefix: expected %s", s, form)
	}
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return "", "", nil, fmt.Errorf("memstream: pointer %q: missing '@OFFSET': expected %s", s, form)
	}
	sp, offText := rest[:at], rest[at+1:]
	slash := strings.LastIndexByte(sp, '/')
	if slash < 0 {
		return "", "", nil, fmt.Errorf("memstream: pointer %q: missing '/PARTITION': expected %s", s, form)
	}
	stream, partition = sp[:slash], sp[slash+1:]
	if err := validateName(stream); err != nil {
		return "", "", nil, fmt.Errorf("memstream: pointer %q: %w", s, err)
	}
	if !isCanonicalUint(partition) {
		return "", "", nil, fmt.Errorf("memstream: pointer %q: partition %q: expected a decimal partition id such as 0 (%s)", s, partition, form)
	}
	if !isCanonicalUint(offText) {
		return "", "", nil, fmt.Errorf("memstream: pointer %q: offset %q: expected a decimal offset such as 42 (%s)", s, offText, form)
	}
	off, perr := strconv.ParseUint(offText, 10, 64)
	if perr != nil {
		return "", "", nil, fmt.Errorf("memstream: pointer %q: offset %q: expected a decimal offset up to %d: %w", s, offText, uint64(1<<64-1), perr)
	}
	return stream, partition, PointerAt(off), nil
}

// isCanonicalUint reports whether s is a decimal number without sign or
// leading zeros ("0", "42"; not "", "-1", "007", "+3").
func isCanonicalUint(s string) bool {
	if s == "" || len(s) > 1 && s[0] == '0' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
