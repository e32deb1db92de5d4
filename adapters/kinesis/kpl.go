package kinesis

import (
	"bytes"
	"crypto/md5"
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// KPLMagic starts the data of a record aggregated by the Kinesis Producer
// Library (KPL): the magic, a protobuf AggregatedRecord, and the MD5 of the
// protobuf bytes.
var KPLMagic = []byte{0xF3, 0x89, 0x9A, 0xC2}

// ErrCorruptAggregate is wrapped by the errors of Deaggregate for data that
// starts with KPLMagic but is not a valid aggregate.
var ErrCorruptAggregate = errors.New("kinesis: corrupt KPL aggregated record")

// UserRecord is one record of a KPL aggregate.
type UserRecord struct {
	// PartitionKey and ExplicitHashKey come from the aggregate's tables;
	// ExplicitHashKey is empty when the record has none.
	PartitionKey    string
	ExplicitHashKey string
	// Data is the record's data; it aliases the aggregate's bytes.
	Data []byte
}

// IsAggregated reports whether data starts with KPLMagic.
func IsAggregated(data []byte) bool { return bytes.HasPrefix(data, KPLMagic) }

// Deaggregate splits the data of a KPL aggregated record into its user
// records, in order: the index of a user record is its sub-sequence number.
// Data without KPLMagic is not an aggregate: it returns nil and no error.
// Data with the magic that is too short, whose MD5 trailer does not match,
// or whose protobuf does not decode (a bad wire type or length, a missing
// required field, a table index out of range) returns an error wrapping
// ErrCorruptAggregate that says where.
//
// The protobuf messages (from the KPL's messages.proto) are:
//
//	message AggregatedRecord {
//	  repeated string partition_key_table = 1;
//	  repeated string explicit_hash_key_table = 2;
//	  repeated Record records = 3;
//	}
//	message Record {
//	  required uint64 partition_key_index = 1;
//	  optional uint64 explicit_hash_key_index = 2;
//	  required bytes data = 3;
//	  repeated Tag tags = 4;
//	}
func Deaggregate(data []byte) ([]UserRecord, error) {
	if !IsAggregated(data) {
		return nil, nil
	}
	const trailer = md5.Size
	if len(data) < len(KPLMagic)+trailer {
		return nil, fmt.Errorf("%w: %d bytes, expected at least %d (magic and MD5)", ErrCorruptAggregate, len(data), len(KPLMagic)+trailer)
	}
	body := data[len(KPLMagic) : len(data)-trailer]
	sum := md5.Sum(body)
	if !bytes.Equal(sum[:], data[len(data)-trailer:]) {
		return nil, fmt.Errorf("%w: MD5 trailer %x does not match the %d protobuf bytes (MD5 %x)", ErrCorruptAggregate, data[len(data)-trailer:], len(body), sum)
	}
	var keys, hashes []string
	var raws []rawRecord
	b := body
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, fmt.Errorf("%w: AggregatedRecord at byte %d: bad tag: %v", ErrCorruptAggregate, len(body)-len(b), protowire.ParseError(n))
		}
		at := len(body) - len(b)
		b = b[n:]
		if (num == 1 || num == 2 || num == 3) && typ != protowire.BytesType {
			return nil, fmt.Errorf("%w: AggregatedRecord field %d at byte %d: wire type %d, expected %d (length-delimited)", ErrCorruptAggregate, num, at, typ, protowire.BytesType)
		}
		switch num {
		case 1, 2, 3:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, fmt.Errorf("%w: AggregatedRecord field %d at byte %d: %v", ErrCorruptAggregate, num, at, protowire.ParseError(n))
			}
			b = b[n:]
			switch num {
			case 1:
				keys = append(keys, string(v))
			case 2:
				hashes = append(hashes, string(v))
			case 3:
				r, err := parseRecord(v)
				if err != nil {
					return nil, fmt.Errorf("%w: record %d (at byte %d): %v", ErrCorruptAggregate, len(raws), at, err)
				}
				raws = append(raws, r)
			}
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return nil, fmt.Errorf("%w: AggregatedRecord unknown field %d at byte %d: %v", ErrCorruptAggregate, num, at, protowire.ParseError(n))
			}
			b = b[n:]
		}
	}
	if len(raws) == 0 {
		return nil, fmt.Errorf("%w: the aggregate holds no records", ErrCorruptAggregate)
	}
	out := make([]UserRecord, len(raws))
	for i, r := range raws {
		if r.pk >= uint64(len(keys)) {
			return nil, fmt.Errorf("%w: record %d: partition_key_index %d, the table has %d keys", ErrCorruptAggregate, i, r.pk, len(keys))
		}
		out[i] = UserRecord{PartitionKey: keys[r.pk], Data: r.data}
		if r.hasEHK {
			if r.ehk >= uint64(len(hashes)) {
				return nil, fmt.Errorf("%w: record %d: explicit_hash_key_index %d, the table has %d hash keys", ErrCorruptAggregate, i, r.ehk, len(hashes))
			}
			out[i].ExplicitHashKey = hashes[r.ehk]
		}
	}
	return out, nil
}

// rawRecord is a Record message before its table indexes are resolved.
type rawRecord struct {
	pk, ehk       uint64
	hasPK, hasEHK bool
	data          []byte
	hasData       bool
}

// parseRecord reads one Record message.
func parseRecord(b []byte) (r rawRecord, err error) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return r, fmt.Errorf("bad tag: %v", protowire.ParseError(n))
		}
		b = b[n:]
		switch {
		case (num == 1 || num == 2) && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return r, fmt.Errorf("field %d: %v", num, protowire.ParseError(n))
			}
			b = b[n:]
			if num == 1 {
				r.pk, r.hasPK = v, true
			} else {
				r.ehk, r.hasEHK = v, true
			}
		case num == 3 && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return r, fmt.Errorf("field data: %v", protowire.ParseError(n))
			}
			b = b[n:]
			r.data, r.hasData = v, true
		case num >= 1 && num <= 3:
			return r, fmt.Errorf("field %d: wire type %d, expected %d", num, typ, map[protowire.Number]protowire.Type{1: protowire.VarintType, 2: protowire.VarintType, 3: protowire.BytesType}[num])
		default: // tags (4) and unknown fields
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return r, fmt.Errorf("field %d: %v", num, protowire.ParseError(n))
			}
			b = b[n:]
		}
	}
	if !r.hasPK {
		return r, errors.New("required partition_key_index is missing")
	}
	if !r.hasData {
		return r, errors.New("required data is missing")
	}
	return r, nil
}
