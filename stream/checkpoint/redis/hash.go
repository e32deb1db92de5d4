package redis

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/unistream-go/unistream/stream/checkpoint"
)

// Schema is the version of the key layout and value format this package
// writes in the "schema" field of every hash. A hash of another schema is
// refused with checkpoint.ErrCorrupt rather than read or overwritten.
const Schema = "1"

// Fields of a partition's hash. The checkpoint and the lease of a partition
// share the hash; either may be missing, never both.
const (
	fieldSchema      = "schema"        // Schema
	fieldVersion     = "version"       // checkpoint version, decimal, 1 or more
	fieldCheckpoint  = "checkpoint"    // checkpoint.EncodeDocument JSON
	fieldWriter      = "writer"        // id of the Save that wrote the checkpoint
	fieldCounter     = "lease_counter" // lease counter, decimal, 1 or more
	fieldOwner       = "lease_owner"   // lease owner (absent when released)
	fieldExpires     = "lease_expires" // RFC 3339 UTC, nanoseconds (absent when released)
	fieldLeaseWriter = "lease_writer"  // id of the write that wrote the lease
)

// knownFields are the fields a hash of schema 1 may hold.
var knownFields = scriptFields

// hashExpected describes a valid hash in errors.
const hashExpected = "a unistream checkpoint hash of schema " + Schema + ": fields schema, version, checkpoint and writer, and/or lease_counter, lease_owner, lease_expires and lease_writer"

// escape percent-escapes the characters that delimit the parts of a key:
// '%', '/', '{' and '}'. Distinct strings stay distinct.
func escape(s string) string {
	if !strings.ContainsAny(s, "%/{}") {
		return s
	}
	return strings.NewReplacer("%", "%25", "/", "%2F", "{", "%7B", "}", "%7D").Replace(s)
}

// groupTag returns the hash tag of consumer on stream: "{consumer/stream}"
// with both parts escaped, so that every key of a group hashes to one
// Redis Cluster slot and distinct groups never share a tag.
func groupTag(consumer, stream string) string {
	return "{" + escape(consumer) + "/" + escape(stream) + "}"
}

// partitionKey returns the Redis key of the hash of k under prefix.
func partitionKey(prefix string, k checkpoint.Key) string {
	return prefix + groupTag(k.Consumer, k.Stream) + ":cp:" + k.Partition
}

// indexKey returns the Redis key of the set of partitions of a group.
func indexKey(prefix, consumer, stream string) string {
	return prefix + groupTag(consumer, stream) + ":partitions"
}

// digest returns the SHA-1 of a document in hexadecimal, as Lua's
// redis.sha1hex computes it: the Save script compares the stored
// document with the one the store decoded through it.
func digest(doc string) string {
	h := sha1.Sum([]byte(doc))
	return hex.EncodeToString(h[:])
}

// stored is a decoded checkpoint, the digest of its raw document and the
// id of the write that stored it.
type stored struct {
	cp     *checkpoint.Checkpoint // nil: the hash holds no checkpoint
	digest string
	writer string
}

// leaseFields are the raw lease fields of a hash ("" for a missing one),
// which the lease script compares against.
type leaseFields struct {
	counter        uint64
	owner, expires string
	writer         string // id of the write that stored them
}

// checkHash reports a hash that is not of this package's schema: no schema
// field, another schema, or a field the schema does not have. An empty
// hash (a missing key) passes.
func checkHash(where string, h map[string]string) error {
	if len(h) == 0 {
		return nil
	}
	schema, ok := h[fieldSchema]
	if !ok {
		return fmt.Errorf("%w: %s: a hash without the field %q (expected %s)", checkpoint.ErrCorrupt, where, fieldSchema, hashExpected)
	}
	if schema != Schema {
		return fmt.Errorf("%w: %s: schema %q (expected %q; a newer unistream may have written it)", checkpoint.ErrCorrupt, where, schema, Schema)
	}
	if len(h) > len(knownFields) || !allKnown(h) {
		var unknown []string
		for f := range h {
			if !isKnown(f) {
				unknown = append(unknown, strconv.Quote(f))
			}
		}
		sort.Strings(unknown)
		return fmt.Errorf("%w: %s: unknown fields %s (expected %s)", checkpoint.ErrCorrupt, where, strings.Join(unknown, ", "), hashExpected)
	}
	return nil
}

func allKnown(h map[string]string) bool {
	for f := range h {
		if !isKnown(f) {
			return false
		}
	}
	return true
}

func isKnown(f string) bool {
	for _, k := range knownFields {
		if f == k {
			return true
		}
	}
	return false
}

// decodeCheckpoint decodes the checkpoint fields of the hash h, which must
// belong to key. A hash without them (missing, or holding only a lease)
// gives a zero stored. Every error matches checkpoint.ErrCorrupt.
func decodeCheckpoint(where string, key checkpoint.Key, h map[string]string) (stored, error) {
	if err := checkHash(where, h); err != nil {
		return stored{}, err
	}
	vs, hasV := h[fieldVersion]
	doc, hasC := h[fieldCheckpoint]
	if !hasV && !hasC {
		return stored{}, nil
	}
	if !hasV || !hasC {
		have, miss := fieldVersion, fieldCheckpoint
		if !hasV {
			have, miss = miss, have
		}
		return stored{}, fmt.Errorf("%w: %s: field %q without %q (expected both, or neither for a hash holding only a lease)", checkpoint.ErrCorrupt, where, have, miss)
	}
	version, err := number(where, fieldVersion, vs)
	if err != nil {
		return stored{}, err
	}
	cp, err := checkpoint.DecodeDocument(where, []byte(doc))
	if err != nil {
		return stored{}, err
	}
	if cp.Key != key {
		return stored{}, fmt.Errorf("%w: %s: the document holds the checkpoint of key %q (expected key %q)", checkpoint.ErrCorrupt, where, cp.Key.String(), key.String())
	}
	if cp.Version != version {
		return stored{}, fmt.Errorf("%w: %s: field %q is %d but the document has version %d (expected them equal)", checkpoint.ErrCorrupt, where, fieldVersion, version, cp.Version)
	}
	return stored{cp: cp, digest: digest(doc), writer: h[fieldWriter]}, nil
}

// decodeLease decodes the lease fields of the hash h, which must belong to
// key. It returns nil if the hash holds no lease. Every error matches
// checkpoint.ErrCorrupt.
func decodeLease(where string, key checkpoint.Key, h map[string]string) (*checkpoint.Lease, leaseFields, error) {
	if err := checkHash(where, h); err != nil {
		return nil, leaseFields{}, err
	}
	cs, hasC := h[fieldCounter]
	owner, hasO := h[fieldOwner]
	exp, hasE := h[fieldExpires]
	if !hasC && !hasO && !hasE {
		return nil, leaseFields{}, nil
	}
	if !hasC {
		return nil, leaseFields{}, fmt.Errorf("%w: %s: lease fields without %q (expected the lease counter with the owner and expiry)", checkpoint.ErrCorrupt, where, fieldCounter)
	}
	counter, err := number(where, fieldCounter, cs)
	if err != nil {
		return nil, leaseFields{}, err
	}
	l := &checkpoint.Lease{Key: key, Counter: counter, Owner: owner}
	if hasO && owner == "" {
		return nil, leaseFields{}, fmt.Errorf("%w: %s: field %q is empty (expected a worker id, or no field for a released lease)", checkpoint.ErrCorrupt, where, fieldOwner)
	}
	if hasE {
		t, err := time.Parse(time.RFC3339Nano, exp)
		if err != nil {
			return nil, leaseFields{}, fmt.Errorf("%w: %s: field %q is %q (expected an RFC 3339 time): %w", checkpoint.ErrCorrupt, where, fieldExpires, exp, err)
		}
		if t.IsZero() {
			return nil, leaseFields{}, fmt.Errorf("%w: %s: field %q is the zero time (expected the lease expiry)", checkpoint.ErrCorrupt, where, fieldExpires)
		}
		l.Expires = t
	}
	if err := checkpoint.CheckLease(l); err != nil {
		return nil, leaseFields{}, fmt.Errorf("%w: %s: %w", checkpoint.ErrCorrupt, where, err)
	}
	return l, leaseFields{counter: counter, owner: owner, expires: exp, writer: h[fieldLeaseWriter]}, nil
}

// number decodes a counter field: a canonical decimal from 1 to 2^64-1.
// The scripts compare these fields as strings, so "01" is refused too.
func number(where, name, s string) (uint64, error) {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || v == 0 || strconv.FormatUint(v, 10) != s {
		return 0, fmt.Errorf("%w: %s: field %q is %q (expected a decimal integer from 1 to %d)", checkpoint.ErrCorrupt, where, name, s, uint64(1<<64-1))
	}
	return v, nil
}

// formatTime formats a lease expiry as stored.
func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
