package dlq

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/unistream-go/unistream/stream/driver"
)

// HeaderVersion is the header that marks a record holding an envelope; its
// value is the envelope version in decimal ("1").
const HeaderVersion = "unistream-dlq-version"

// StreamSink stores envelopes as records of a stream (for example a Kafka
// topic "orders.dlq") through the stream's driver. It is safe for concurrent
// use; Puts are serialized on one writer.
type StreamSink struct {
	s driver.Stream

	mu     sync.Mutex
	w      driver.Writer
	closed bool
}

var _ Sink = (*StreamSink)(nil)

// NewStreamSink opens a writer to s. The sink does not own s: Close closes
// the writer, and the caller closes the stream.
func NewStreamSink(s driver.Stream) (*StreamSink, error) {
	if s == nil {
		return nil, errors.New("dlq: stream sink: the stream is nil")
	}
	w, err := s.OpenWriter(context.Background())
	if err != nil {
		return nil, fmt.Errorf("dlq: stream sink %s: open writer: %w", s.Name(), err)
	}
	return &StreamSink{s: s, w: w}, nil
}

// Put writes env as one record (see EncodeRecord) and returns nil once the
// stream acknowledged it. A whole-call error and the record's own write
// error are returned wrapped; a record over the stream's MaxRecordBytes
// fails before the write with an error wrapping driver.ErrRecordTooLarge.
func (k *StreamSink) Put(ctx context.Context, env *Envelope) error {
	name := k.s.Name()
	if env == nil {
		return fmt.Errorf("dlq: stream sink %s: put a nil envelope", name)
	}
	rec, err := EncodeRecord(env)
	if err != nil {
		return fmt.Errorf("dlq: stream sink %s: %w", name, err)
	}
	if limit := k.s.Capabilities().MaxRecordBytes; limit > 0 && rec.Size() > limit {
		return fmt.Errorf("dlq: stream sink %s: envelope %q makes a record of %d bytes, the stream's MaxRecordBytes is %d: %w",
			name, env.ID, rec.Size(), limit, driver.ErrRecordTooLarge)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return fmt.Errorf("dlq: stream sink %s: put envelope %q: %w", name, env.ID, ErrClosed)
	}
	results := make([]driver.WriteResult, 1)
	if err := k.w.Write(ctx, []driver.Record{rec}, results); err != nil {
		return fmt.Errorf("dlq: stream sink %s: write envelope %q: %w", name, env.ID, err)
	}
	if err := results[0].Err; err != nil {
		return fmt.Errorf("dlq: stream sink %s: write envelope %q: %w", name, env.ID, err)
	}
	return nil
}

// Close closes the sink's writer, not the stream. It is idempotent.
func (k *StreamSink) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return nil
	}
	k.closed = true
	if err := k.w.Close(); err != nil {
		return fmt.Errorf("dlq: stream sink %s: close writer: %w", k.s.Name(), err)
	}
	return nil
}

// EncodeRecord returns the record that StreamSink writes for env: ID and
// Key are the original record's (so the DLQ stream keeps per-key order and
// consumers can de-duplicate), Value is the envelope JSON (with Version set
// to Version if zero), Time is env.DeadLetteredAt, and the header
// HeaderVersion carries the envelope version.
func EncodeRecord(env *Envelope) (driver.Record, error) {
	if env == nil {
		return driver.Record{}, errors.New("encode a nil envelope")
	}
	line, err := encodeLine(env)
	if err != nil {
		return driver.Record{}, err
	}
	v := env.Version
	if v == 0 {
		v = Version
	}
	return driver.Record{
		ID:      env.ID,
		Key:     bytes.Clone(env.Key),
		Value:   line[:len(line)-1], // without the newline
		Headers: []driver.Header{{Key: HeaderVersion, Value: []byte(strconv.Itoa(v))}},
		Time:    env.DeadLetteredAt,
	}, nil
}

// DecodeRecord reads the envelope back from a record written by StreamSink.
// The HeaderVersion header, when present, must be a supported version that
// matches the envelope's; a record without the header (a backend that drops
// headers) is accepted if its value is a valid envelope.
func DecodeRecord(r *driver.Record) (*Envelope, error) {
	if r == nil {
		return nil, errors.New("dlq: decode a nil record")
	}
	where := fmt.Sprintf("dlq: record %q of %s/%s", r.ID, r.Stream, r.Partition)
	hv, hasHeader := -1, false
	for _, h := range r.Headers {
		if h.Key != HeaderVersion {
			continue
		}
		v, err := strconv.Atoi(string(h.Value))
		if err != nil || checkVersion(v) != nil {
			return nil, fmt.Errorf("%s: header %s is %q: expected an envelope version from 1 to %d", where, HeaderVersion, h.Value, Version)
		}
		hv, hasHeader = v, true
		break
	}
	var env Envelope
	if err := json.Unmarshal(r.Value, &env); err != nil {
		if !hasHeader {
			return nil, fmt.Errorf("%s: no %s header and the value is not a JSON envelope: %w", where, HeaderVersion, err)
		}
		return nil, fmt.Errorf("%s: value is not a JSON envelope: %w", where, err)
	}
	if err := checkVersion(env.Version); err != nil {
		if !hasHeader {
			return nil, fmt.Errorf("%s: no %s header and the value is not an envelope: %w", where, HeaderVersion, err)
		}
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	if hasHeader && hv != env.Version {
		return nil, fmt.Errorf("%s: header %s is %d but the envelope's version is %d", where, HeaderVersion, hv, env.Version)
	}
	return &env, nil
}

// Record rebuilds the original record (ID, Key, Value, Headers, Time) for a
// replay; Stream, Partition and Pointer are left empty, as on a record
// being written. The byte slices are copies.
func (e *Envelope) Record() driver.Record {
	r := driver.Record{
		ID:    e.ID,
		Key:   bytes.Clone(e.Key),
		Value: bytes.Clone(e.Value),
		Time:  e.Time,
	}
	if e.Headers != nil {
		r.Headers = make([]driver.Header, len(e.Headers))
		for i, h := range e.Headers {
			r.Headers[i] = driver.Header{Key: h.Key, Value: bytes.Clone(h.Value)}
		}
	}
	return r
}
