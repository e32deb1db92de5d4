package pulsarfake

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"google.golang.org/protobuf/proto"

	"github.com/unistream-go/unistream/adapters/pulsar/pulsarfake/internal/pb"
)

// magicCRC32C marks the start of a checksummed message (SEND and MESSAGE).
const magicCRC32C = 0x0e01

// magicBrokerEntryMetadata marks broker entry metadata before the checksum.
const magicBrokerEntryMetadata = 0x0e02

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// errFrame is wrapped by every framing and payload error.
var errFrame = errors.New("pulsarfake: bad frame")

// readFrame reads one frame: [total_size u32][cmd_size u32][BaseCommand][rest].
// rest holds what follows the command (for SEND and MESSAGE the checksum,
// metadata and payload), or nil.
func readFrame(r io.Reader, maxFrame uint32) (*pb.BaseCommand, []byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, nil, err
	}
	total := binary.BigEndian.Uint32(hdr[:])
	if total < 4 || total > maxFrame {
		return nil, nil, fmt.Errorf("%w: total size %d, expected 4..%d", errFrame, total, maxFrame)
	}
	buf := make([]byte, total)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, nil, fmt.Errorf("%w: frame body: %w", errFrame, err)
	}
	return parseFrameBody(buf)
}

// parseFrameBody parses [cmd_size u32][BaseCommand][rest].
func parseFrameBody(buf []byte) (*pb.BaseCommand, []byte, error) {
	if len(buf) < 4 {
		return nil, nil, fmt.Errorf("%w: %d bytes, expected at least 4 for the command size", errFrame, len(buf))
	}
	cmdSize := binary.BigEndian.Uint32(buf)
	if uint64(cmdSize) > uint64(len(buf)-4) {
		return nil, nil, fmt.Errorf("%w: command size %d exceeds the frame (%d bytes left)", errFrame, cmdSize, len(buf)-4)
	}
	cmd := &pb.BaseCommand{}
	if err := proto.Unmarshal(buf[4:4+cmdSize], cmd); err != nil {
		return nil, nil, fmt.Errorf("%w: BaseCommand: %w", errFrame, err)
	}
	if cmd.Type == nil {
		return nil, nil, fmt.Errorf("%w: BaseCommand without a type", errFrame)
	}
	var rest []byte
	if n := len(buf) - 4 - int(cmdSize); n > 0 {
		rest = buf[4+cmdSize:]
	}
	return cmd, rest, nil
}

// encodeFrame builds a frame for cmd followed by rest (may be nil).
func encodeFrame(cmd *pb.BaseCommand, rest []byte) ([]byte, error) {
	c, err := proto.Marshal(cmd)
	if err != nil {
		return nil, fmt.Errorf("pulsarfake: marshal %s: %w", cmd.GetType(), err)
	}
	out := make([]byte, 8, 8+len(c)+len(rest))
	binary.BigEndian.PutUint32(out, uint32(4+len(c)+len(rest)))
	binary.BigEndian.PutUint32(out[4:], uint32(len(c)))
	out = append(out, c...)
	return append(out, rest...), nil
}

// parsedMessage is what the broker needs from a SEND's metadata.
type parsedMessage struct {
	meta    *pb.MessageMetadata
	numMsgs int32
	batched bool
	key     string
}

// parseMessage checks the checksum of headersAndPayload (if present) and
// decodes its MessageMetadata. The bytes are stored unchanged.
func parseMessage(b []byte) (*parsedMessage, error) {
	if len(b) >= 2 && binary.BigEndian.Uint16(b) == magicBrokerEntryMetadata {
		if len(b) < 6 {
			return nil, fmt.Errorf("%w: broker entry metadata truncated", errFrame)
		}
		n := binary.BigEndian.Uint32(b[2:])
		if uint64(n) > uint64(len(b)-6) {
			return nil, fmt.Errorf("%w: broker entry metadata size %d exceeds the message", errFrame, n)
		}
		b = b[6+n:]
	}
	if len(b) >= 2 && binary.BigEndian.Uint16(b) == magicCRC32C {
		if len(b) < 6 {
			return nil, fmt.Errorf("%w: checksum truncated", errFrame)
		}
		want := binary.BigEndian.Uint32(b[2:])
		if got := crc32.Checksum(b[6:], crcTable); got != want {
			return nil, fmt.Errorf("%w: crc32c %08x, the message says %08x", errFrame, got, want)
		}
		b = b[6:]
	}
	if len(b) < 4 {
		return nil, fmt.Errorf("%w: %d bytes, expected a metadata size", errFrame, len(b))
	}
	n := binary.BigEndian.Uint32(b)
	if uint64(n) > uint64(len(b)-4) {
		return nil, fmt.Errorf("%w: metadata size %d exceeds the message (%d bytes left)", errFrame, n, len(b)-4)
	}
	meta := &pb.MessageMetadata{}
	if err := proto.Unmarshal(b[4:4+n], meta); err != nil {
		return nil, fmt.Errorf("%w: MessageMetadata: %w", errFrame, err)
	}
	pm := &parsedMessage{meta: meta, numMsgs: 1}
	if meta.NumMessagesInBatch != nil {
		pm.batched = true
		pm.numMsgs = meta.GetNumMessagesInBatch()
		if pm.numMsgs < 1 {
			return nil, fmt.Errorf("%w: num_messages_in_batch %d, expected at least 1", errFrame, pm.numMsgs)
		}
	}
	switch {
	case len(meta.OrderingKey) > 0:
		pm.key = string(meta.OrderingKey)
	case meta.PartitionKey != nil:
		pm.key = meta.GetPartitionKey()
	case pm.batched && meta.GetCompression() == pb.CompressionType_NONE && meta.GetEncryptionKeys() == nil:
		pm.key = firstBatchKey(b[4+n:])
	}
	return pm, nil
}

// firstBatchKey returns the key of the first message of an uncompressed
// batch payload ([size u32][SingleMessageMetadata][payload]...), or "".
func firstBatchKey(p []byte) string {
	if len(p) < 4 {
		return ""
	}
	n := binary.BigEndian.Uint32(p)
	if uint64(n) > uint64(len(p)-4) {
		return ""
	}
	smm := &pb.SingleMessageMetadata{}
	if proto.Unmarshal(p[4:4+n], smm) != nil {
		return ""
	}
	if len(smm.OrderingKey) > 0 {
		return string(smm.OrderingKey)
	}
	return smm.GetPartitionKey()
}
