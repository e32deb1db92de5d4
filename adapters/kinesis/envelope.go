package kinesis

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/unistream-go/unistream/stream/driver"
)

// A Kinesis record carries only a data blob and a partition key, so the
// writer wraps what else a driver.Record holds (its ID, event time,
// headers, and a key that is not a valid partition key) in a small
// envelope at the start of the data:
//
//	magic      0xF0 'U' 'S' 0x01
//	flags      1 byte: 1 = the key is in the envelope, 2 = the record has no
//	           key, 4 = the record has a time
//	time       if flag 4: varint seconds and uvarint nanoseconds since 1970
//	id         uvarint length, bytes
//	key        if flag 1: uvarint length, bytes
//	headers    uvarint count, then per header uvarint length, key bytes,
//	           uvarint length, value bytes
//	value      the rest
//
// 0xF0 followed by 'U' is not valid UTF-8, so text and JSON payloads of
// other producers never start with the magic. A record without it (or
// whose envelope does not decode) is read as written by another producer:
// its data is the value, its partition key the key, its arrival time the
// time, and RecordID of its position the ID.
//
// With envelope=false the writer writes the plain value as the data, for
// other consumers of the stream (Lambda, Firehose, the KCL), and a reader
// reads it as it reads another producer's record. What the plain form
// cannot carry is refused, never dropped: headers, a key that is not a
// valid partition key (it would come back as the MD5 of its bytes), and a
// value that starts with the magic (a reader would take it for an
// envelope). See checkPlain.
var envelopeMagic = [4]byte{0xF0, 'U', 'S', 0x01}

const (
	flagKeyInEnvelope = 1 << iota
	flagNoKey
	flagTime
)

// ErrNeedsEnvelope is wrapped by the error of a record a stream opened
// with envelope=false refuses, at Put (through CheckRecord) or in Write:
// the plain form cannot carry it.
var ErrNeedsEnvelope = errors.New("the record needs the envelope (envelope=true)")

// checkPlain returns why the plain form (envelope=false) cannot carry r
// whole, or nil.
func checkPlain(r *driver.Record) error {
	switch {
	case len(r.Headers) > 0:
		return fmt.Errorf("kinesis: envelope=false cannot carry headers (the record has %d): %w", len(r.Headers), ErrNeedsEnvelope)
	case len(r.Key) > 0 && !validPartitionKey(r.Key):
		return fmt.Errorf("kinesis: envelope=false cannot carry a key that is not 1 to %d characters of UTF-8 (it would be read back as the MD5 of its bytes): %w", MaxPartitionKeyChars, ErrNeedsEnvelope)
	case hasEnvelope(r.Value):
		return fmt.Errorf("kinesis: envelope=false cannot write a value starting with the envelope magic % x (a reader would take it for an envelope): %w", envelopeMagic[:], ErrNeedsEnvelope)
	}
	return nil
}

// validPartitionKey reports whether key is a partition key as it is: valid
// UTF-8 of 1 to MaxPartitionKeyChars characters.
func validPartitionKey(key []byte) bool {
	return len(key) > 0 && utf8.Valid(key) && utf8.RuneCount(key) <= MaxPartitionKeyChars
}

// CheckRecord implements driver.RecordChecker: with envelope=false it
// returns why the plain form cannot carry r (headers, a key that is not a
// valid partition key, a value starting with the envelope magic), so that
// the producer refuses r at Put; with the envelope, nil.
func (s *Stream) CheckRecord(r *driver.Record) error {
	if s.o.Envelope {
		return nil
	}
	return checkPlain(r)
}

// errEnvelope is wrapped by envelope decoding errors.
var errEnvelope = errors.New("kinesis: malformed record envelope")

// envelopeSize returns the encoded size of r's envelope and value.
func envelopeSize(r *driver.Record, keyInEnvelope bool) int {
	n := len(envelopeMagic) + 1
	if !r.Time.IsZero() {
		n += binary.MaxVarintLen64 + binary.MaxVarintLen32
	}
	n += uvarintLen(len(r.ID)) + len(r.ID)
	if keyInEnvelope {
		n += uvarintLen(len(r.Key)) + len(r.Key)
	}
	n += uvarintLen(len(r.Headers))
	for _, h := range r.Headers {
		n += uvarintLen(len(h.Key)) + len(h.Key) + uvarintLen(len(h.Value)) + len(h.Value)
	}
	return n + len(r.Value)
}

func uvarintLen(n int) int {
	var b [binary.MaxVarintLen64]byte
	return binary.PutUvarint(b[:], uint64(n))
}

// appendEnvelope appends the envelope of r and its value to dst.
func appendEnvelope(dst []byte, r *driver.Record, keyInEnvelope bool) []byte {
	dst = append(dst, envelopeMagic[:]...)
	var flags byte
	if keyInEnvelope {
		flags |= flagKeyInEnvelope
	}
	if len(r.Key) == 0 {
		flags |= flagNoKey
	}
	if !r.Time.IsZero() {
		flags |= flagTime
	}
	dst = append(dst, flags)
	if !r.Time.IsZero() {
		dst = binary.AppendVarint(dst, r.Time.Unix())
		dst = binary.AppendUvarint(dst, uint64(r.Time.Nanosecond()))
	}
	dst = binary.AppendUvarint(dst, uint64(len(r.ID)))
	dst = append(dst, r.ID...)
	if keyInEnvelope {
		dst = binary.AppendUvarint(dst, uint64(len(r.Key)))
		dst = append(dst, r.Key...)
	}
	dst = binary.AppendUvarint(dst, uint64(len(r.Headers)))
	for _, h := range r.Headers {
		dst = binary.AppendUvarint(dst, uint64(len(h.Key)))
		dst = append(dst, h.Key...)
		dst = binary.AppendUvarint(dst, uint64(len(h.Value)))
		dst = append(dst, h.Value...)
	}
	return append(dst, r.Value...)
}

// hasEnvelope reports whether data starts with the envelope magic.
func hasEnvelope(data []byte) bool {
	return len(data) >= len(envelopeMagic) && [4]byte(data[:4]) == envelopeMagic
}

// decodeEnvelope reads an envelope into r: ID, Time, Headers, Value, and
// Key when the envelope holds it (keyFromEnvelope) or says there is none.
// Slices of r alias data.
func decodeEnvelope(data []byte, r *driver.Record) (keyFromEnvelope bool, err error) {
	if !hasEnvelope(data) {
		return false, fmt.Errorf("%w: no magic prefix", errEnvelope)
	}
	b := data[len(envelopeMagic):]
	if len(b) < 1 {
		return false, fmt.Errorf("%w: no flags byte", errEnvelope)
	}
	flags := b[0]
	b = b[1:]
	if flags&^(flagKeyInEnvelope|flagNoKey|flagTime) != 0 {
		return false, fmt.Errorf("%w: unknown flags %#x", errEnvelope, flags)
	}
	if flags&flagTime != 0 {
		sec, n := binary.Varint(b)
		if n <= 0 {
			return false, fmt.Errorf("%w: bad time seconds", errEnvelope)
		}
		b = b[n:]
		ns, n := binary.Uvarint(b)
		if n <= 0 || ns >= 1e9 {
			return false, fmt.Errorf("%w: bad time nanoseconds", errEnvelope)
		}
		b = b[n:]
		r.Time = time.Unix(sec, int64(ns)).UTC()
	}
	field := func(what string) ([]byte, error) {
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			return nil, fmt.Errorf("%w: bad %s length", errEnvelope, what)
		}
		v := b[n : n+int(l) : n+int(l)]
		b = b[n+int(l):]
		return v, nil
	}
	id, err := field("id")
	if err != nil {
		return false, err
	}
	r.ID = string(id)
	switch {
	case flags&flagNoKey != 0:
		r.Key = nil
		keyFromEnvelope = true
	case flags&flagKeyInEnvelope != 0:
		k, err := field("key")
		if err != nil {
			return false, err
		}
		r.Key = k
		keyFromEnvelope = true
	}
	count, n := binary.Uvarint(b)
	if n <= 0 || count > uint64(len(b)) {
		return false, fmt.Errorf("%w: bad header count", errEnvelope)
	}
	b = b[n:]
	if count > 0 {
		r.Headers = make([]driver.Header, 0, count)
	}
	for range count {
		k, err := field("header key")
		if err != nil {
			return false, err
		}
		v, err := field("header value")
		if err != nil {
			return false, err
		}
		r.Headers = append(r.Headers, driver.Header{Key: string(k), Value: v})
	}
	r.Value = b
	return keyFromEnvelope, nil
}
