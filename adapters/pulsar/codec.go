package pulsar

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/unistream-go/unistream/stream/driver"
)

// pointerVersion is the first byte of every binary pointer.
const pointerVersion = 1

// MessageID is a Pulsar message id as a pointer holds it: the ledger, the
// entry in the ledger, the message's index in a batched entry (-1 for a
// message sent alone) and the partition index (0 for a non-partitioned
// topic).
type MessageID struct {
	Ledger    int64
	Entry     int64
	Batch     int32
	Partition int32
}

// Pointer returns the binary pointer of id: a version byte (1), then the
// ledger, the entry, the batch index plus one and the partition as unsigned
// varints. It panics if a field is out of range (a negative ledger or entry,
// a batch index below -1 or a negative partition), which no message has.
func (id MessageID) Pointer() driver.Pointer {
	if err := id.check(); err != nil {
		panic(err)
	}
	b := make([]byte, 1, 1+4*binary.MaxVarintLen64)
	b[0] = pointerVersion
	b = binary.AppendUvarint(b, uint64(id.Ledger))
	b = binary.AppendUvarint(b, uint64(id.Entry))
	b = binary.AppendUvarint(b, uint64(int64(id.Batch)+1))
	b = binary.AppendUvarint(b, uint64(id.Partition))
	return b
}

// check reports a field out of range.
func (id MessageID) check() error {
	if id.Ledger < 0 || id.Entry < 0 || id.Batch < -1 || id.Partition < 0 {
		return fmt.Errorf("pulsar: message id %d:%d:%d of partition %d: expected a ledger and entry from 0, a batch index from -1 and a partition from 0",
			id.Ledger, id.Entry, id.Batch, id.Partition)
	}
	return nil
}

// Compare orders two message ids of one partition by ledger, entry and
// batch index.
func (id MessageID) Compare(o MessageID) int {
	if c := cmp.Compare(id.Ledger, o.Ledger); c != 0 {
		return c
	}
	if c := cmp.Compare(id.Entry, o.Entry); c != 0 {
		return c
	}
	return cmp.Compare(id.Batch, o.Batch)
}

// String returns "LEDGER:ENTRY:BATCH".
func (id MessageID) String() string {
	return strconv.FormatInt(id.Ledger, 10) + ":" + strconv.FormatInt(id.Entry, 10) + ":" + strconv.FormatInt(int64(id.Batch), 10)
}

// ParsePointer decodes a binary pointer into a message id; the error says
// what was expected.
func ParsePointer(p driver.Pointer) (MessageID, error) {
	const expected = "a version byte 1 then four canonical unsigned varints (ledger, entry, batch+1, partition)"
	var id MessageID
	if len(p) == 0 {
		return id, fmt.Errorf("pulsar: pointer is empty: expected %s", expected)
	}
	if p[0] != pointerVersion {
		return id, fmt.Errorf("pulsar: pointer %x: version %d: expected %s", []byte(p), p[0], expected)
	}
	rest := p[1:]
	var v [4]uint64
	for i := range v {
		x, n := binary.Uvarint(rest)
		if n <= 0 {
			return id, fmt.Errorf("pulsar: pointer %x: field %d is truncated or overflows: expected %s", []byte(p), i+1, expected)
		}
		if n != len(binary.AppendUvarint(nil, x)) {
			return id, fmt.Errorf("pulsar: pointer %x: field %d is not a canonical varint: expected %s", []byte(p), i+1, expected)
		}
		v[i] = x
		rest = rest[n:]
	}
	if len(rest) != 0 {
		return id, fmt.Errorf("pulsar: pointer %x: %d trailing bytes: expected %s", []byte(p), len(rest), expected)
	}
	if v[0] > math.MaxInt64 || v[1] > math.MaxInt64 || v[2] > math.MaxInt32+1 || v[3] > math.MaxInt32 {
		return id, fmt.Errorf("pulsar: pointer %x: a field is out of range: expected a ledger and entry up to %d, a batch index up to %d and a partition up to %d",
			[]byte(p), int64(math.MaxInt64), math.MaxInt32, math.MaxInt32)
	}
	return MessageID{Ledger: int64(v[0]), Entry: int64(v[1]), Batch: int32(int64(v[2]) - 1), Partition: int32(v[3])}, nil
}

// Codec is the pointer codec of the Pulsar adapter. A pointer is a message
// id (see MessageID.Pointer); its human form is
// "pulsar:TOPIC/PARTITION@LEDGER:ENTRY:BATCH", such as
// "pulsar:orders/2@123:45:-1", where TOPIC is the topic as the URL gives it
// (a short name or TENANT/NAMESPACE/TOPIC).
type Codec struct{}

var _ driver.PointerCodec = Codec{}

// Decode checks that b is a valid pointer and returns a copy of it.
func (Codec) Decode(b []byte) (driver.Pointer, error) {
	if _, err := ParsePointer(b); err != nil {
		return nil, err
	}
	return bytes.Clone(b), nil
}

// Compare orders two pointers of one partition: -1, 0 or +1. Valid pointers
// compare by ledger, entry and batch index; an invalid pointer sorts before
// every valid one, and two invalid ones compare as bytes.
func (Codec) Compare(a, b driver.Pointer) int {
	ia, ea := ParsePointer(a)
	ib, eb := ParsePointer(b)
	switch {
	case ea != nil && eb != nil:
		return bytes.Compare(a, b)
	case ea != nil:
		return -1
	case eb != nil:
		return 1
	}
	return ia.Compare(ib)
}

// Format returns "pulsar:TOPIC/PARTITION@LEDGER:ENTRY:BATCH". An invalid
// pointer is shown as "@invalid(HEX)" so that it is never mistaken for a
// position.
func (Codec) Format(topic, partition string, p driver.Pointer) string {
	id, err := ParsePointer(p)
	if err != nil {
		return "pulsar:" + topic + "/" + partition + "@invalid(" + hex.EncodeToString(p) + ")"
	}
	return "pulsar:" + topic + "/" + partition + "@" + id.String()
}

// Parse reads "pulsar:TOPIC/PARTITION@LEDGER:ENTRY:BATCH" back. TOPIC is a
// topic name or TENANT/NAMESPACE/TOPIC, PARTITION a partition id (a decimal
// int32 without sign or leading zeros), LEDGER and ENTRY decimal int64s from
// 0 and BATCH a decimal int32 from -1. The pointer's partition index is
// PARTITION.
func (Codec) Parse(s string) (topic, partition string, p driver.Pointer, err error) {
	const form = "pulsar:TOPIC/PARTITION@LEDGER:ENTRY:BATCH, such as pulsar:orders/2@123:45:-1"
	rest, ok := strings.CutPrefix(s, "pulsar:")
	if !ok {
		return "", "", nil, fmt.Errorf("pulsar: pointer %q: expected %s", s, form)
	}
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return "", "", nil, fmt.Errorf("pulsar: pointer %q: no '@': expected %s", s, form)
	}
	where, pos := rest[:at], rest[at+1:]
	slash := strings.LastIndexByte(where, '/')
	if slash < 0 {
		return "", "", nil, fmt.Errorf("pulsar: pointer %q: no '/' before the partition: expected %s", s, form)
	}
	topic, partition = where[:slash], where[slash+1:]
	if _, _, _, err := splitTopic(topic); err != nil {
		return "", "", nil, fmt.Errorf("pulsar: pointer %q: %w", s, err)
	}
	part, err := parsePartition(partition)
	if err != nil {
		return "", "", nil, fmt.Errorf("pulsar: pointer %q: %w", s, err)
	}
	f := strings.Split(pos, ":")
	if len(f) != 3 {
		return "", "", nil, fmt.Errorf("pulsar: pointer %q: position %q: expected LEDGER:ENTRY:BATCH (%s)", s, pos, form)
	}
	ledger, err1 := parseDecimal(f[0], 0, math.MaxInt64)
	entry, err2 := parseDecimal(f[1], 0, math.MaxInt64)
	batch, err3 := parseDecimal(f[2], -1, math.MaxInt32)
	if err1 != nil || err2 != nil || err3 != nil {
		return "", "", nil, fmt.Errorf("pulsar: pointer %q: position %q: expected LEDGER and ENTRY as decimals from 0 and BATCH from -1, without '+' or leading zeros (%s)", s, pos, form)
	}
	id := MessageID{Ledger: ledger, Entry: entry, Batch: int32(batch), Partition: part}
	return topic, partition, id.Pointer(), nil
}

// parseDecimal reads a canonical decimal (no '+', no leading zeros, "-0"
// refused) in [lo, hi].
func parseDecimal(s string, lo, hi int64) (int64, error) {
	digits := strings.TrimPrefix(s, "-")
	if digits == "" || (len(digits) > 1 && digits[0] == '0') || (digits == "0" && s != "0") {
		return 0, fmt.Errorf("pulsar: %q: expected a canonical decimal", s)
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, fmt.Errorf("pulsar: %q: expected a canonical decimal", s)
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("pulsar: %q: expected a decimal from %d to %d", s, lo, hi)
	}
	return n, nil
}

// parsePartition reads a partition id: a decimal int32 from 0, without sign
// or leading zeros.
func parsePartition(s string) (int32, error) {
	n, err := parseDecimal(s, 0, math.MaxInt32)
	if err != nil {
		return 0, fmt.Errorf("partition %q: expected a decimal from 0 to %d without sign or leading zeros", s, math.MaxInt32)
	}
	return int32(n), nil
}

// RecordID is the ID given to a record read without the PropertyID property
// (a message written by another producer): the human form of its position,
// "pulsar:TOPIC/PARTITION@LEDGER:ENTRY:BATCH", stable for the message's life.
func RecordID(topic, partition string, id MessageID) string {
	return "pulsar:" + topic + "/" + partition + "@" + id.String()
}
