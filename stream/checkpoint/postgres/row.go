package postgres

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/unistream-go/unistream/stream/checkpoint"
)

// Columns of the table. One row per partition holds the checkpoint and the
// lease of that partition; either may be missing (its columns NULL).
const (
	colConsumer   = "consumer"      // text: escaped consumer name
	colStream     = "stream"        // text: escaped stream name
	colPartition  = "partition"     // text: escaped partition
	colVersion    = "version"       // bigint: checkpoint version
	colCheckpoint = "checkpoint"    // text: checkpoint.EncodeDocument JSON
	colCounter    = "lease_counter" // bigint: lease counter
	colOwner      = "lease_owner"   // text: lease owner (NULL when released)
	colExpires    = "lease_expires" // bigint: lease expiry, Unix nanoseconds (NULL when released)
)

// escape returns the column value of a key part: '%' as %25 and NUL (which
// a PostgreSQL text value cannot hold) as %00. Everything else is kept, so
// that the columns read as the names they hold.
func escape(s string) string {
	if !strings.ContainsAny(s, "%\x00") {
		return s
	}
	return strings.NewReplacer("%", "%25", "\x00", "%00").Replace(s)
}

// unescape reverses escape; ok is false for a value escape cannot return.
func unescape(s string) (string, bool) {
	if !strings.Contains(s, "%") {
		return s, !strings.Contains(s, "\x00")
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case 0:
			return "", false // escape writes NUL as %00
		case '%':
		default:
			b.WriteByte(s[i])
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "%25"):
			b.WriteByte('%')
		case strings.HasPrefix(s[i:], "%00"):
			b.WriteByte(0)
		default:
			return "", false
		}
		i += 2
	}
	return b.String(), true
}

// maxInt64 is the largest version or counter a bigint column holds.
const maxInt64 = uint64(math.MaxInt64)

// where names a row in errors.
func where(table string, k checkpoint.Key) string {
	return fmt.Sprintf("table %s, row %q", table, k.String())
}

// row is the stored columns of one partition, as scanned: nil for NULL.
type row struct {
	version *int64
	doc     *string
	counter *int64
	owner   *string
	expires *int64
}

// stored is the decoded checkpoint of a row plus the document a
// conditional write compares against.
type stored struct {
	cp  *checkpoint.Checkpoint // nil: the row holds no checkpoint
	doc string                 // the raw checkpoint column
}

// decodeCheckpoint decodes the checkpoint columns of r, which must belong
// to key. A row without them (or no row) gives a zero stored. Every error
// matches checkpoint.ErrCorrupt and names the table, the key and what was
// expected.
func decodeCheckpoint(table string, key checkpoint.Key, r row) (stored, error) {
	w := where(table, key)
	if r.version == nil && r.doc == nil {
		return stored{}, nil
	}
	if r.version == nil || r.doc == nil {
		have, miss := colVersion, colCheckpoint
		if r.version == nil {
			have, miss = miss, have
		}
		return stored{}, fmt.Errorf("%w: %s: column %q is set but %q is NULL (expected both, or neither for a row without a checkpoint)", checkpoint.ErrCorrupt, w, have, miss)
	}
	if *r.version <= 0 {
		return stored{}, fmt.Errorf("%w: %s: column %q is %d (expected an integer from 1 to %d)", checkpoint.ErrCorrupt, w, colVersion, *r.version, int64(maxInt64))
	}
	cp, err := checkpoint.DecodeDocument(w, []byte(*r.doc))
	if err != nil {
		return stored{}, err
	}
	if cp.Key != key {
		return stored{}, fmt.Errorf("%w: %s: the document holds the checkpoint of key %q (expected key %q)", checkpoint.ErrCorrupt, w, cp.Key.String(), key.String())
	}
	if cp.Version != uint64(*r.version) {
		return stored{}, fmt.Errorf("%w: %s: column %q is %d but the document has version %d (expected them equal)", checkpoint.ErrCorrupt, w, colVersion, *r.version, cp.Version)
	}
	return stored{cp: cp, doc: *r.doc}, nil
}

// leaseCols are the stored lease columns of a row, kept by the store so
// that the next write of the lease needs no read.
type leaseCols struct {
	counter int64
	owner   *string
	expires *int64
}

// decodeLease decodes the lease columns of r, which must belong to key. It
// returns nil if the row holds no lease. Every error matches
// checkpoint.ErrCorrupt.
func decodeLease(table string, key checkpoint.Key, r row) (*checkpoint.Lease, error) {
	w := where(table, key)
	if r.counter == nil && r.owner == nil && r.expires == nil {
		return nil, nil
	}
	if r.counter == nil {
		return nil, fmt.Errorf("%w: %s: lease columns without %q (expected the lease counter with the owner and expiry)", checkpoint.ErrCorrupt, w, colCounter)
	}
	if *r.counter <= 0 {
		return nil, fmt.Errorf("%w: %s: column %q is %d (expected an integer from 1 to %d)", checkpoint.ErrCorrupt, w, colCounter, *r.counter, int64(maxInt64))
	}
	l := &checkpoint.Lease{Key: key, Counter: uint64(*r.counter)}
	if r.owner != nil {
		if *r.owner == "" {
			return nil, fmt.Errorf("%w: %s: column %q is empty (expected the worker id, or NULL for a released lease)", checkpoint.ErrCorrupt, w, colOwner)
		}
		l.Owner = *r.owner
	}
	if r.expires != nil {
		l.Expires = time.Unix(0, *r.expires).UTC()
	}
	if err := checkpoint.CheckLease(l); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", checkpoint.ErrCorrupt, w, err)
	}
	return l, nil
}

// cols returns the lease columns of a row that decodeLease accepted.
func (r row) cols() leaseCols {
	return leaseCols{counter: *r.counter, owner: r.owner, expires: r.expires}
}

// expiresNanos returns the lease_expires value of t: Unix nanoseconds,
// which hold the instants from 1677-09-21 to 2262-04-11.
func expiresNanos(t time.Time) (int64, bool) {
	if t.Before(time.Unix(0, math.MinInt64)) || t.After(time.Unix(0, math.MaxInt64)) {
		return 0, false
	}
	return t.UnixNano(), true
}
