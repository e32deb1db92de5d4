package kafka

import (
	"fmt"
	"math"
	"strconv"

	"github.com/unistream-go/unistream/stream/driver"
	"github.com/unistream-go/unistream/stream/driver/offsetcodec"
)

// PointerLen is the length of a Kafka pointer: the record's offset as 8
// big-endian bytes, so that bytes.Compare orders pointers like offsets.
const PointerLen = offsetcodec.Len

// Codec is the pointer codec of the Kafka adapter. A pointer is a record's
// offset in its partition as 8 big-endian bytes (a non-negative int64); its
// human form is "kafka:TOPIC/PARTITION@OFFSET", such as "kafka:orders/3@1042".
type Codec struct{}

var _ driver.PointerCodec = Codec{}

// offsets is the shared offset codec, shaped for Kafka's int64 offsets and
// int32 partitions.
var offsets = offsetcodec.Codec{
	Scheme: "kafka", Pkg: "kafka", Stream: "TOPIC",
	Example: "kafka:orders/3@1042", ExampleOffset: "1042",
	MaxOffset: math.MaxInt64, OffsetName: "Kafka offset",
	MaxPartition: math.MaxInt32, ValidateStream: validateTopic,
}

// PointerAt returns the pointer of offset off. It panics if off is negative:
// Kafka offsets of records are never negative, so a negative one is a
// programming error.
func PointerAt(off int64) driver.Pointer {
	if off < 0 {
		panic(fmt.Sprintf("kafka: PointerAt(%d): offsets are non-negative", off))
	}
	return offsetcodec.Pointer(uint64(off))
}

// Offset returns the offset of pointer p, or an error if p is not a valid
// Kafka pointer (8 bytes holding a non-negative big-endian int64).
func Offset(p driver.Pointer) (int64, error) {
	u, err := offsets.Offset(p)
	return int64(u), err
}

// Decode checks that b is a valid pointer (8 bytes, a non-negative offset)
// and returns a copy of it.
func (Codec) Decode(b []byte) (driver.Pointer, error) { return offsets.Decode(b) }

// Compare orders two pointers: -1, 0 or +1. Valid pointers compare like
// their offsets.
func (Codec) Compare(a, b driver.Pointer) int { return offsets.Compare(a, b) }

// Format returns "kafka:TOPIC/PARTITION@OFFSET". An invalid pointer is shown
// as "@invalid(HEX)" so that it is never mistaken for a position.
func (Codec) Format(topic, partition string, p driver.Pointer) string {
	return offsets.Format(topic, partition, p)
}

// Parse reads "kafka:TOPIC/PARTITION@OFFSET" back. TOPIC must be a valid
// Kafka topic name, PARTITION a partition id (a decimal int32 without sign or
// leading zeros) and OFFSET a decimal offset without sign or leading zeros.
func (Codec) Parse(s string) (topic, partition string, p driver.Pointer, err error) {
	return offsets.Parse(s)
}

// parsePartition reads a partition id: a decimal int32 from 0, without sign
// or leading zeros.
func parsePartition(s string) (int32, error) {
	n, err := offsets.ParsePartition(s)
	return int32(n), err
}

// RecordID is the ID given to a record read without the HeaderID header (a
// record written by another producer): the human form of its position,
// "kafka:TOPIC/PARTITION@OFFSET", which is stable for the record's life.
func RecordID(topic string, partition int32, offset int64) string {
	return "kafka:" + topic + "/" + strconv.FormatInt(int64(partition), 10) + "@" + strconv.FormatInt(offset, 10)
}
