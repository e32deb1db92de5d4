package kinesis

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/unistream-go/unistream/stream/driver"
)

// MaxSequenceDigits bounds the decimal digits of a sequence number: the
// Kinesis API allows "0|([1-9]\d{0,128})".
const MaxSequenceDigits = 129

// Codec is the pointer codec of the Kinesis adapter. A pointer is a
// record's sequence number in its shard, as its decimal digits, followed
// for a record of a KPL aggregate by ':' and the record's sub-sequence
// number (its index in the aggregate): "49590338271490256608559692538361571095921575989136588898"
// or "49590338271490256608559692538361571095921575989136588898:3".
// Sequence numbers are compared as numbers of any size (they are about 56
// digits on AWS, more than 128 bits), then sub-sequence numbers; a
// pointer without a sub-sequence number comes before one with any.
//
// The human form is "kinesis:STREAM/SHARD@SEQ[:SUB]", such as
// "kinesis:orders/shardId-000000000001@4959...8898".
type Codec struct{}

var _ driver.PointerCodec = Codec{}

// Position is a decoded pointer.
type Position struct {
	// Seq is the sequence number, decimal digits without leading zeros.
	Seq string
	// Sub is the sub-sequence number of a record of a KPL aggregate;
	// HasSub reports whether there is one.
	Sub    uint64
	HasSub bool
}

// Pointer returns the binary pointer of the position.
func (p Position) Pointer() driver.Pointer {
	if !p.HasSub {
		return driver.Pointer(p.Seq)
	}
	return driver.Pointer(p.Seq + ":" + strconv.FormatUint(p.Sub, 10))
}

// String returns the pointer's text, SEQ or SEQ:SUB.
func (p Position) String() string { return string(p.Pointer()) }

// PointerAt returns the pointer of sequence number seq (decimal digits) and,
// if hasSub, sub-sequence number sub. It does not check seq: use ParsePosition
// for input.
func PointerAt(seq string, sub uint64, hasSub bool) driver.Pointer {
	return Position{Seq: seq, Sub: sub, HasSub: hasSub}.Pointer()
}

// ParsePosition reads a pointer's text: SEQ or SEQ:SUB, SEQ being 1 to 129
// decimal digits without leading zeros and SUB a decimal uint64 without
// leading zeros.
func ParsePosition(p []byte) (Position, error) {
	const expected = "SEQ or SEQ:SUB, SEQ a sequence number of 1 to 129 decimal digits without leading zeros, SUB a sub-sequence number"
	if len(p) == 0 {
		return Position{}, fmt.Errorf("kinesis: empty pointer: expected %s", expected)
	}
	s := string(p)
	seq, sub, hasSub := strings.Cut(s, ":")
	if err := checkSeq(seq); err != nil {
		return Position{}, fmt.Errorf("kinesis: pointer %q: %w: expected %s", truncate(s), err, expected)
	}
	pos := Position{Seq: seq}
	if hasSub {
		n, err := strconv.ParseUint(sub, 10, 64)
		if err != nil || sub != strconv.FormatUint(n, 10) {
			return Position{}, fmt.Errorf("kinesis: pointer %q: sub-sequence number %q: expected %s", truncate(s), truncate(sub), expected)
		}
		pos.Sub, pos.HasSub = n, true
	}
	return pos, nil
}

// checkSeq checks a decimal sequence number.
func checkSeq(seq string) error {
	if seq == "" || len(seq) > MaxSequenceDigits {
		return fmt.Errorf("sequence number of %d digits", len(seq))
	}
	for i := 0; i < len(seq); i++ {
		if seq[i] < '0' || seq[i] > '9' {
			return fmt.Errorf("sequence number %q has a non-digit at byte %d", truncate(seq), i)
		}
	}
	if len(seq) > 1 && seq[0] == '0' {
		return fmt.Errorf("sequence number %q has a leading zero", truncate(seq))
	}
	return nil
}

// CompareSeq orders two decimal sequence numbers without leading zeros
// numerically: -1, 0 or +1. Numbers of any length compare exactly.
func CompareSeq(a, b string) int {
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

func truncate(s string) string {
	if len(s) > 160 {
		return s[:160] + "..."
	}
	return s
}

// Decode checks that b is a valid pointer and returns a copy of it.
func (Codec) Decode(b []byte) (driver.Pointer, error) {
	if _, err := ParsePosition(b); err != nil {
		return nil, err
	}
	return bytes.Clone(b), nil
}

// Compare orders two pointers of one shard: -1, 0 or +1. Valid pointers
// compare by sequence number, then sub-sequence number; an invalid pointer
// orders after every valid one, and two invalid ones by their bytes, so
// that Compare is a total order and never panics.
func (Codec) Compare(a, b driver.Pointer) int {
	pa, ea := ParsePosition(a)
	pb, eb := ParsePosition(b)
	switch {
	case ea != nil && eb != nil:
		return bytes.Compare(a, b)
	case ea != nil:
		return 1
	case eb != nil:
		return -1
	}
	if c := CompareSeq(pa.Seq, pb.Seq); c != 0 {
		return c
	}
	switch {
	case pa.HasSub != pb.HasSub:
		if pa.HasSub {
			return 1
		}
		return -1
	case pa.Sub < pb.Sub:
		return -1
	case pa.Sub > pb.Sub:
		return 1
	}
	return 0
}

// Format returns "kinesis:STREAM/SHARD@SEQ[:SUB]". An invalid pointer is
// shown as "@invalid(HEX)" so that it is never mistaken for a position.
func (Codec) Format(stream, shard string, p driver.Pointer) string {
	if _, err := ParsePosition(p); err != nil {
		return fmt.Sprintf("kinesis:%s/%s@invalid(%x)", stream, shard, []byte(p))
	}
	return "kinesis:" + stream + "/" + shard + "@" + string(p)
}

// Parse reads "kinesis:STREAM/SHARD@SEQ[:SUB]" back.
func (Codec) Parse(s string) (stream, shard string, p driver.Pointer, err error) {
	const form = "kinesis:STREAM/SHARD@SEQ[:SUB], such as kinesis:orders/shardId-000000000001@49590338271490256608559692538361571095921575989136588898"
	rest, ok := strings.CutPrefix(s, "kinesis:")
	if !ok {
		return "", "", nil, fmt.Errorf("kinesis: pointer %q: expected %s", truncate(s), form)
	}
	stream, rest, ok = strings.Cut(rest, "/")
	if !ok {
		return "", "", nil, fmt.Errorf("kinesis: pointer %q: no '/' after the stream: expected %s", truncate(s), form)
	}
	if err := validateStreamName(stream); err != nil {
		return "", "", nil, fmt.Errorf("kinesis: pointer %q: %w", truncate(s), err)
	}
	i := strings.LastIndexByte(rest, '@')
	if i < 0 {
		return "", "", nil, fmt.Errorf("kinesis: pointer %q: no '@' after the shard: expected %s", truncate(s), form)
	}
	shard, seq := rest[:i], rest[i+1:]
	if err := validateShardID(shard); err != nil {
		return "", "", nil, fmt.Errorf("kinesis: pointer %q: %w", truncate(s), err)
	}
	if _, err := ParsePosition([]byte(seq)); err != nil {
		return "", "", nil, err
	}
	return stream, shard, driver.Pointer(seq), nil
}

// validateShardID checks a shard id: 1 to 128 of [a-zA-Z0-9_.-].
func validateShardID(id string) error {
	if !nameChars(id, 128) {
		return fmt.Errorf("shard id %q: expected 1 to 128 letters, digits, '_', '.' or '-' (such as shardId-000000000001)", truncate(id))
	}
	return nil
}

// validateStreamName checks a stream name: 1 to 128 of [a-zA-Z0-9_.-].
func validateStreamName(name string) error {
	if !nameChars(name, 128) {
		return fmt.Errorf("stream name %q: expected 1 to 128 letters, digits, '_', '.' or '-'", truncate(name))
	}
	return nil
}

func nameChars(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// RecordID is the ID given to a record read without the adapter's
// envelope (written by another producer): the human form of its position,
// which is stable for the record's life.
func RecordID(stream, shard string, p Position) string {
	return "kinesis:" + stream + "/" + shard + "@" + p.String()
}
