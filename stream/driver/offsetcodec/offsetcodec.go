// Package offsetcodec is the pointer codec of backends whose pointer is a
// record's offset in its partition (memstream, Kafka): 8 big-endian bytes,
// so that bytes.Compare orders pointers like offsets, and a human form
// "SCHEME:STREAM/PARTITION@OFFSET". An adapter configures one Codec and
// wraps it in its own codec type.
//
//	var c = offsetcodec.Codec{Scheme: "mem", Pkg: "memstream", Stream: "STREAM",
//		Example: "mem:orders/0@42", ExampleOffset: "42", MaxOffset: math.MaxUint64}
package offsetcodec

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/unistream-go/unistream/stream/driver"
)

// Len is the length of an offset pointer.
const Len = 8

// Codec encodes offsets for one backend. Its fields only shape the limits
// and the error messages; the binary form is the same for every backend.
type Codec struct {
	// Scheme is the human form's prefix before ':' ("mem", "kafka").
	Scheme string
	// Pkg starts every error message ("memstream", "kafka").
	Pkg string
	// Stream names the stream part in the form ("STREAM", "TOPIC").
	Stream string
	// Example is a whole human form and ExampleOffset an offset, for errors.
	Example, ExampleOffset string
	// MaxOffset is the largest valid offset; OffsetName names it in the
	// error for a larger one ("Kafka offset").
	MaxOffset  uint64
	OffsetName string
	// MaxPartition bounds partition ids in Parse; 0 means no bound.
	MaxPartition uint64
	// ValidateStream checks the stream name in Parse; nil accepts any.
	ValidateStream func(string) error
}

// Pointer returns the pointer of offset off.
func Pointer(off uint64) driver.Pointer {
	p := make(driver.Pointer, Len)
	binary.BigEndian.PutUint64(p, off)
	return p
}

// Offset returns the offset of p, or an error naming what was expected.
func (c Codec) Offset(p driver.Pointer) (uint64, error) {
	if len(p) != Len {
		return 0, fmt.Errorf("%s: pointer: got %d bytes, expected %d (big-endian offset)", c.Pkg, len(p), Len)
	}
	u := binary.BigEndian.Uint64(p)
	if u > c.MaxOffset {
		return 0, fmt.Errorf("%s: pointer %s: offset %d is over the largest %s %d", c.Pkg, hex.EncodeToString(p), u, c.OffsetName, c.MaxOffset)
	}
	return u, nil
}

// Decode checks that b is a valid pointer and returns a copy of it.
func (c Codec) Decode(b []byte) (driver.Pointer, error) {
	if _, err := c.Offset(b); err != nil {
		return nil, err
	}
	return driver.Pointer(bytes.Clone(b)), nil
}

// Compare orders two pointers: -1, 0 or +1. Valid pointers compare like
// their offsets.
func (Codec) Compare(a, b driver.Pointer) int { return bytes.Compare(a, b) }

// Format returns "SCHEME:STREAM/PARTITION@OFFSET". An invalid pointer is
// shown as "@invalid(HEX)" so that it is never mistaken for a position.
func (c Codec) Format(stream, partition string, p driver.Pointer) string {
	off, err := c.Offset(p)
	if err != nil {
		return c.Scheme + ":" + stream + "/" + partition + "@invalid(" + hex.EncodeToString(p) + ")"
	}
	return c.Scheme + ":" + stream + "/" + partition + "@" + strconv.FormatUint(off, 10)
}

// Parse reads the human form back: the stream must pass ValidateStream,
// PARTITION and OFFSET are decimal numbers without sign or leading zeros.
func (c Codec) Parse(s string) (stream, partition string, p driver.Pointer, err error) {
	form := c.Scheme + ":" + c.Stream + "/PARTITION@OFFSET, such as " + c.Example
	rest, ok := strings.CutPrefix(s, c.Scheme+":")
	if !ok {
		return "", "", nil, fmt.Errorf("%s: pointer %q: missing the %q prefix: expected %s", c.Pkg, s, c.Scheme+":", form)
	}
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return "", "", nil, fmt.Errorf("%s: pointer %q: missing '@OFFSET': expected %s", c.Pkg, s, form)
	}
	sp, offText := rest[:at], rest[at+1:]
	slash := strings.LastIndexByte(sp, '/')
	if slash < 0 {
		return "", "", nil, fmt.Errorf("%s: pointer %q: missing '/PARTITION': expected %s", c.Pkg, s, form)
	}
	stream, partition = sp[:slash], sp[slash+1:]
	if c.ValidateStream != nil {
		if err := c.ValidateStream(stream); err != nil {
			return "", "", nil, fmt.Errorf("%s: pointer %q: %w", c.Pkg, s, err)
		}
	}
	if _, err := c.ParsePartition(partition); err != nil {
		return "", "", nil, fmt.Errorf("%s: pointer %q: %w (%s)", c.Pkg, s, err, form)
	}
	if !CanonicalUint(offText) {
		return "", "", nil, fmt.Errorf("%s: pointer %q: offset %q: expected a decimal offset such as %s (%s)", c.Pkg, s, offText, c.ExampleOffset, form)
	}
	var off uint64
	var perr error
	if c.MaxOffset <= math.MaxInt64 {
		var v int64
		v, perr = strconv.ParseInt(offText, 10, 64)
		off = uint64(v)
	} else {
		off, perr = strconv.ParseUint(offText, 10, 64)
	}
	if perr == nil && off > c.MaxOffset {
		perr = &strconv.NumError{Func: "ParseUint", Num: offText, Err: strconv.ErrRange}
	}
	if perr != nil {
		return "", "", nil, fmt.Errorf("%s: pointer %q: offset %q: expected a decimal offset up to %d: %w", c.Pkg, s, offText, c.MaxOffset, perr)
	}
	return stream, partition, Pointer(off), nil
}

// ParsePartition reads a partition id: a decimal number from 0, without
// sign or leading zeros, up to MaxPartition when it is set.
func (c Codec) ParsePartition(s string) (uint64, error) {
	if !CanonicalUint(s) {
		return 0, fmt.Errorf("partition %q: expected a decimal partition id such as 0", s)
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if c.MaxPartition > 0 && (err != nil || n > c.MaxPartition) {
		return 0, fmt.Errorf("partition %q: expected a decimal partition id up to %d", s, c.MaxPartition)
	}
	return n, nil
}

// CanonicalUint reports whether s is a decimal number without sign or
// leading zeros ("0", "42"; not "", "-1", "007", "+3").
func CanonicalUint(s string) bool {
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
