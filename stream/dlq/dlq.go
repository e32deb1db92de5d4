// Package dlq holds the dead-letter envelope, one format for every backend,
// and the sinks that store envelopes: a JSON-lines file and any stream
// through its driver.
//
// The consumer engine writes an Envelope for a record that exhausted its
// attempts or failed permanently; `unistream dlq replay` sends envelopes back
// to their source stream.
//
//	sink, err := dlq.OpenFile("/var/lib/billing/orders.dlq.jsonl")
//	consumer := stream.NewConsumer(s, handle, stream.WithDLQ(sink))
//
// Sinks:
//
//   - FileSink (OpenFile): one JSON envelope per line, mode 0600, fsynced by
//     every Put. ReadFile and FileReader read it back; a bad line is reported
//     as a *LineError with its line number and byte offset, wrapping
//     ErrTornLine (a Put cut short by a crash, safe to tolerate) or
//     ErrMalformedLine (corruption), never skipped silently.
//   - StreamSink (NewStreamSink): one record per envelope on any stream, for
//     example a Kafka topic "orders.dlq"; DecodeRecord reads it back.
//
// Envelope.Record rebuilds the original record for a replay.
//
// A crash between the DLQ write and the checkpoint save that records it
// makes the restarted consumer dead-letter the record again (at-least-once),
// so a DLQ may hold two envelopes of one record: the same consumer, source
// stream, partition and pointer (Envelope.RecordKey). Duplicates and Unique
// find them, so that a tool shows and replays each record once.
package dlq

import (
	"context"
	"time"

	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/driver"
)

// Version is the envelope format version written in every envelope.
const Version = 1

// Header is one header of the original record.
type Header struct {
	Key   string `json:"key"`
	Value []byte `json:"value"`
}

// Envelope is one dead-lettered record with everything needed to debug and
// replay it.
type Envelope struct {
	// Version is the envelope format version (Version).
	Version int `json:"v"`
	// ID is the original record's stable id.
	ID string `json:"id"`
	// Key, Value, Headers and Time are the original record's.
	Key     []byte    `json:"key,omitempty"`
	Value   []byte    `json:"value"`
	Headers []Header  `json:"headers,omitempty"`
	Time    time.Time `json:"time,omitzero"`
	// Source says where the record was read from; Pointer is the binary
	// pointer and PointerText its human form.
	Source Source `json:"source"`
	// Consumer is the consumer name that gave up on the record.
	Consumer string `json:"consumer"`
	// Attempts is how many times the handler ran.
	Attempts int `json:"attempts"`
	// Errors are the last attempt errors, oldest first.
	Errors []checkpoint.AttemptError `json:"errors"`
	// Reason says why the record was dead-lettered: "exhausted" (its
	// attempts failed), "permanent" (a Permanent error), or "crashed: …"
	// (crashes of the consumer during its attempts used them). Never empty.
	Reason string `json:"reason"`
	// FirstAttempt and LastAttempt are the times of the first and last attempt.
	FirstAttempt time.Time `json:"first_attempt,omitzero"`
	LastAttempt  time.Time `json:"last_attempt,omitzero"`
	// DeadLetteredAt is when the envelope was written.
	DeadLetteredAt time.Time `json:"dead_lettered_at"`
}

// Source is the position of the original record.
type Source struct {
	Scheme      string `json:"scheme"`
	Stream      string `json:"stream"`
	Partition   string `json:"partition"`
	Pointer     []byte `json:"pointer"`
	PointerText string `json:"pointer_text"`
}

// Sink stores envelopes.
type Sink interface {
	// Put stores one envelope durably before returning nil.
	Put(ctx context.Context, env *Envelope) error
	// Close releases the sink.
	Close() error
}

// RecordEnvelope returns an envelope, at the current Version, holding r's
// ID, key, value, time and headers; the caller says where r came from and
// why it is dead-lettered (Source, Consumer, Attempts, Errors, Reason and
// the times).
func RecordEnvelope(r *driver.Record) *Envelope {
	env := &Envelope{Version: Version, ID: r.ID, Key: r.Key, Value: r.Value, Time: r.Time}
	for _, h := range r.Headers {
		env.Headers = append(env.Headers, Header{Key: h.Key, Value: h.Value})
	}
	return env
}
