package memstream

import (
	"math"

	"github.com/unistream-go/unistream/stream/driver"
	"github.com/unistream-go/unistream/stream/driver/offsetcodec"
)

// PointerLen is the length of a memstream pointer: an 8-byte big-endian
// offset, so that bytes.Compare orders pointers like their offsets.
const PointerLen = offsetcodec.Len

// Codec is the pointer codec of memstream. A pointer is the record's offset
// in its partition log as 8 big-endian bytes; its human form is
// "mem:STREAM/PARTITION@OFFSET", such as "mem:orders/0@42".
type Codec struct{}

var _ driver.PointerCodec = Codec{}

// offsets is the shared offset codec, shaped for memstream.
var offsets = offsetcodec.Codec{
	Scheme: "mem", Pkg: "memstream", Stream: "STREAM",
	Example: "mem:orders/0@42", ExampleOffset: "42",
	MaxOffset: math.MaxUint64, OffsetName: "offset", ValidateStream: validateName,
}

// PointerAt returns the pointer of offset off.
func PointerAt(off uint64) driver.Pointer { return offsetcodec.Pointer(off) }

// Offset returns the offset of pointer p, or an error if p is not a valid
// memstream pointer.
func Offset(p driver.Pointer) (uint64, error) { return offsets.Offset(p) }

// Decode checks that b is 8 bytes long and returns a copy of it.
func (Codec) Decode(b []byte) (driver.Pointer, error) { return offsets.Decode(b) }

// Compare orders two pointers: -1, 0 or +1. Valid pointers compare like
// their offsets.
func (Codec) Compare(a, b driver.Pointer) int { return offsets.Compare(a, b) }

// Format returns "mem:STREAM/PARTITION@OFFSET". An invalid pointer is shown
// as "@invalid(HEX)" so that it is never mistaken for a position.
func (Codec) Format(stream, partition string, p driver.Pointer) string {
	return offsets.Format(stream, partition, p)
}

// Parse reads "mem:STREAM/PARTITION@OFFSET" back. STREAM must be a valid
// stream name, PARTITION a partition id (a decimal number without leading
// zeros) and OFFSET a decimal offset without leading zeros.
func (Codec) Parse(s string) (stream, partition string, p driver.Pointer, err error) {
	return offsets.Parse(s)
}
