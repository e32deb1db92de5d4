package dynamodb

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/unistream-go/unistream/stream/checkpoint"
)

// Attribute names of an item. One item per partition holds the checkpoint
// and the lease of that partition; either may be missing.
const (
	attrPK         = "pk"            // S: escaped consumer "/" escaped stream
	attrSK         = "sk"            // S: partition
	attrVersion    = "version"       // N: checkpoint version
	attrCheckpoint = "checkpoint"    // S: checkpoint.EncodeDocument JSON
	attrOwner      = "lease_owner"   // S: lease owner (absent when released)
	attrExpires    = "lease_expires" // S: RFC 3339 UTC, nanoseconds (absent when released)
	attrCounter    = "lease_counter" // N: lease counter
)

// groupKey returns the partition key of consumer on stream: both escaped
// ('%' as %25 and '/' as %2F) and joined by '/', so that distinct pairs
// never share a partition key.
func groupKey(consumer, stream string) string {
	return escape(consumer) + "/" + escape(stream)
}

func escape(s string) string {
	if !strings.ContainsAny(s, "%/") {
		return s
	}
	return strings.NewReplacer("%", "%25", "/", "%2F").Replace(s)
}

// itemKey returns the primary key of the item of k.
func itemKey(k checkpoint.Key) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		attrPK: &types.AttributeValueMemberS{Value: groupKey(k.Consumer, k.Stream)},
		attrSK: &types.AttributeValueMemberS{Value: k.Partition},
	}
}

// where names an item in errors.
func where(table string, k checkpoint.Key) string {
	return fmt.Sprintf("table %s, item %q", table, k.String())
}

// stored is the decoded checkpoint of an item plus the raw attributes a
// conditional write compares against.
type stored struct {
	cp  *checkpoint.Checkpoint // nil: the item holds no checkpoint
	doc string                 // the raw checkpoint attribute
}

// decodeCheckpoint decodes the checkpoint attributes of item, which must
// belong to key. A nil item or one without checkpoint attributes gives a
// zero stored. Every error matches checkpoint.ErrCorrupt.
func decodeCheckpoint(table string, key checkpoint.Key, item map[string]types.AttributeValue) (stored, error) {
	w := where(table, key)
	va, hasV := item[attrVersion]
	ca, hasC := item[attrCheckpoint]
	if !hasV && !hasC {
		return stored{}, nil
	}
	if !hasV || !hasC {
		have, miss := attrVersion, attrCheckpoint
		if !hasV {
			have, miss = miss, have
		}
		return stored{}, fmt.Errorf("%w: %s: attribute %q without %q (expected both, or neither for an item without a checkpoint)", checkpoint.ErrCorrupt, w, have, miss)
	}
	version, err := number(w, attrVersion, va)
	if err != nil {
		return stored{}, err
	}
	cs, ok := ca.(*types.AttributeValueMemberS)
	if !ok {
		return stored{}, fmt.Errorf("%w: %s: attribute %q is of type %s (expected a string holding the JSON checkpoint document)", checkpoint.ErrCorrupt, w, attrCheckpoint, typeName(ca))
	}
	cp, err := checkpoint.DecodeDocument(w, []byte(cs.Value))
	if err != nil {
		return stored{}, err
	}
	if cp.Key != key {
		return stored{}, fmt.Errorf("%w: %s: the document holds the checkpoint of key %q (expected key %q)", checkpoint.ErrCorrupt, w, cp.Key.String(), key.String())
	}
	if cp.Version != version {
		return stored{}, fmt.Errorf("%w: %s: attribute %q is %d but the document has version %d (expected them equal)", checkpoint.ErrCorrupt, w, attrVersion, version, cp.Version)
	}
	return stored{cp: cp, doc: cs.Value}, nil
}

// decodeLease decodes the lease attributes of item, which must belong to
// key. It returns nil if the item holds no lease. Every error matches
// checkpoint.ErrCorrupt.
func decodeLease(table string, key checkpoint.Key, item map[string]types.AttributeValue) (*checkpoint.Lease, error) {
	w := where(table, key)
	ca, hasC := item[attrCounter]
	oa, hasO := item[attrOwner]
	ea, hasE := item[attrExpires]
	if !hasC && !hasO && !hasE {
		return nil, nil
	}
	if !hasC {
		return nil, fmt.Errorf("%w: %s: lease attributes without %q (expected the lease counter with the owner and expiry)", checkpoint.ErrCorrupt, w, attrCounter)
	}
	counter, err := number(w, attrCounter, ca)
	if err != nil {
		return nil, err
	}
	l := &checkpoint.Lease{Key: key, Counter: counter}
	if hasO {
		s, ok := oa.(*types.AttributeValueMemberS)
		if !ok {
			return nil, fmt.Errorf("%w: %s: attribute %q is of type %s (expected a string, the worker id)", checkpoint.ErrCorrupt, w, attrOwner, typeName(oa))
		}
		l.Owner = s.Value
	}
	if hasE {
		s, ok := ea.(*types.AttributeValueMemberS)
		if !ok {
			return nil, fmt.Errorf("%w: %s: attribute %q is of type %s (expected an RFC 3339 time string)", checkpoint.ErrCorrupt, w, attrExpires, typeName(ea))
		}
		t, err := time.Parse(time.RFC3339Nano, s.Value)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: attribute %q is %q (expected an RFC 3339 time string): %w", checkpoint.ErrCorrupt, w, attrExpires, s.Value, err)
		}
		if t.IsZero() {
			return nil, fmt.Errorf("%w: %s: attribute %q is the zero time (expected the lease expiry)", checkpoint.ErrCorrupt, w, attrExpires)
		}
		l.Expires = t
	}
	if err := checkpoint.CheckLease(l); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", checkpoint.ErrCorrupt, w, err)
	}
	return l, nil
}

// number decodes a positive integer attribute.
func number(w, name string, a types.AttributeValue) (uint64, error) {
	n, ok := a.(*types.AttributeValueMemberN)
	if !ok {
		return 0, fmt.Errorf("%w: %s: attribute %q is of type %s (expected a number)", checkpoint.ErrCorrupt, w, name, typeName(a))
	}
	v, err := strconv.ParseUint(n.Value, 10, 64)
	if err != nil || v == 0 {
		return 0, fmt.Errorf("%w: %s: attribute %q is %q (expected an integer from 1 to %d)", checkpoint.ErrCorrupt, w, name, n.Value, uint64(1<<64-1))
	}
	return v, nil
}

// typeName names the DynamoDB type of an attribute value.
func typeName(a types.AttributeValue) string {
	switch a.(type) {
	case *types.AttributeValueMemberS:
		return "S"
	case *types.AttributeValueMemberN:
		return "N"
	case *types.AttributeValueMemberB:
		return "B"
	case *types.AttributeValueMemberBOOL:
		return "BOOL"
	case *types.AttributeValueMemberNULL:
		return "NULL"
	case *types.AttributeValueMemberM:
		return "M"
	case *types.AttributeValueMemberL:
		return "L"
	case *types.AttributeValueMemberSS:
		return "SS"
	case *types.AttributeValueMemberNS:
		return "NS"
	case *types.AttributeValueMemberBS:
		return "BS"
	case nil:
		return "missing"
	}
	return fmt.Sprintf("%T", a)
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func num(v uint64) *types.AttributeValueMemberN {
	return &types.AttributeValueMemberN{Value: strconv.FormatUint(v, 10)}
}

func str(s string) *types.AttributeValueMemberS { return &types.AttributeValueMemberS{Value: s} }
