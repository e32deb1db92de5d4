package kafka

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

// PointerLen is the length of a Kafka pointer: the record's offset as 8
// big-endian bytes, so that bytes.Compare orders pointers like offsets.
const PointerLen = 8

// Codec is the pointer codec of the Kafka adapter. A pointer is a record's
// offset in its partition as 8 big-endian bytes (a non-negative int64); its
// human form is "kafka:TOPIC/PARTITION@OFFSET", such as "kafka:orders/3@1042".
type Codec struct{}

var _ driver.PointerCodec = Codec{}

// PointerAt returns the pointer of offset off. It panics if off is negative:
// Kafka offsets of records are never negative, so a negative one is a
// programming error.
func PointerAt(off int64) driver.Pointer {
	if off < 0 {
		panic(fmt.Sprintf("kafka: PointerAt(%d): offsets are non-negative", off))
	}
	p := make(driver.Pointer, PointerLen)
	binary.BigEndian.PutUint64(p, uint64(off))
	return p
}

// Offset returns the offset of pointer p, or an error if p is not a valid
// Kafka pointer (8 bytes holding a non-negative big-endian int64).
func Offset(p driver.Pointer) (int64, error) {
	if len(p) != PointerLen {
		return 0, fmt.Errorf("kafka: pointer: got %d bytes, expected %d (big-endian offset)", len(p), PointerLen)
	}
	u := binary.BigEndian.Uint64(p)
	if u > math.MaxInt64 {
		return 0, fmt.Errorf("kafka: pointer %s: offset %d is over the largest Kafka offset %d", hex.EncodeToString(p), u, int64(math.MaxInt64))
	}
	return int64(u), nil
}

// Decode checks that b is a valid pointer (8 bytes, a non-negative offset)
// and returns a copy of it.
func (Codec) Decode(b []byte) (driver.Pointer, error) {
	if _, err := Offset(b); err != nil {
		return nil, err
	}
	return driver.Pointer(bytes.Clone(b)), nil
}

// Compare orders two pointers: -1, 0 or +1. Valid pointers compare like
// their offsets.
func (Codec) Compare(a, b driver.Pointer) int { return bytes.Compare(a, b) }

// Format returns "kafka:TOPIC/PARTITION@OFFSET". An invalid pointer is shown
// as "@invalid(HEX)" so that it is never mistaken for a position.
func (Codec) Format(topic, partition string, p driver.Pointer) string {
	off, err := Offset(p)
	if err != nil {
		return "kafka:" + topic + "/" + partition + "@invalid(" + hex.EncodeToString(p) + ")"
	}
	return "kafka:" + topic + "/" + partition + "@" + strconv.FormatInt(off, 10)
}

// Parse reads "kafka:TOPIC/PARTITION@OFFSET" back. TOPIC must be a valid
// Kafka topic name, PARTITION a partition id (a decimal int32 without sign or
// leading zeros) and OFFSET a decimal offset without sign or leading zeros.
func (Codec) Parse(s string) (topic, partition string, p driver.Pointer, err error) {
	const form = "kafka:TOPIC/PARTITION@OFFSET, such as kafka:orders/3@1042"
	rest, ok := strings.CutPrefix(s, "kafka:")
	if !ok {
		return "", "", nil, fmt.Errorf("kafka: pointer %q: missing the \"kafka:\" prefix: expected %s", s, form)
	}
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return "", "", nil, fmt.Errorf("kafka: pointer %q: missing '@OFFSET': expected %s", s, form)
	}
	tp, offText := rest[:at], rest[at+1:]
	slash := strings.LastIndexByte(tp, '/')
	if slash < 0 {
		return "", "", nil, fmt.Errorf("kafka: pointer %q: missing '/PARTITION': expected %s", s, form)
	}
	topic, partition = tp[:slash], tp[slash+1:]
	if err := validateTopic(topic); err != nil {
		return "", "", nil, fmt.Errorf("kafka: pointer %q: %w", s, err)
	}
	if _, err := parsePartition(partition); err != nil {
		return "", "", nil, fmt.Errorf("kafka: pointer %q: %w (%s)", s, err, form)
	}
	if !isCanonicalUint(offText) {
		return "", "", nil, fmt.Errorf("kafka: pointer %q: offset %q: expected a decimal offset such as 1042 (%s)", s, offText, form)
	}
	off, perr := strconv.ParseInt(offText, 10, 64)
	if perr != nil {
		return "", "", nil, fmt.Errorf("kafka: pointer %q: offset %q: expected a decimal offset up to %d: %w", s, offText, int64(math.MaxInt64), perr)
	}
	return topic, partition, PointerAt(off), nil
}

// parsePartition reads a partition id: a decimal int32 from 0, without sign
// or leading zeros.
func parsePartition(s string) (int32, error) {
	if !isCanonicalUint(s) {
		return 0, fmt.Errorf("partition %q: expected a decimal partition id such as 0", s)
	}
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("partition %q: expected a decimal partition id up to %d", s, math.MaxInt32)
	}
	return int32(n), nil
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

// RecordID is the ID given to a record read without the HeaderID header (a
// record written by another producer): the human form of its position,
// "kafka:TOPIC/PARTITION@OFFSET", which is stable for the record's life.
func RecordID(topic string, partition int32, offset int64) string {
	return "kafka:" + topic + "/" + strconv.FormatInt(int64(partition), 10) + "@" + strconv.FormatInt(offset, 10)
}
