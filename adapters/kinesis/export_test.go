package kinesis

import (
	"time"

	"github.com/unistream-go/unistream/stream/driver"
)

// EncodeEnvelope and DecodeEnvelope expose the record envelope to tests.
func EncodeEnvelope(r *driver.Record, keyInEnvelope bool) []byte {
	return appendEnvelope(nil, r, keyInEnvelope)
}

func DecodeEnvelope(data []byte, r *driver.Record) (bool, error) { return decodeEnvelope(data, r) }

// EnvelopeSize exposes envelopeSize.
func EnvelopeSize(r *driver.Record, keyInEnvelope bool) int { return envelopeSize(r, keyInEnvelope) }

// WithDefaults exposes Options.withDefaults.
func (o Options) WithDefaults() Options { return o.withDefaults() }

// IdleWaitOf returns the wait a kinesis reader makes before its next
// GetRecords call after the empty calls in a row it has seen (0 after a
// call that found records).
func IdleWaitOf(r driver.Reader) time.Duration {
	rd := r.(*reader)
	if rd.idle == 0 {
		return 0
	}
	return rd.s.idleWait(rd.idle)
}

// HoldReadSlots takes n of the stream's GetRecords slots and returns the
// function that gives them back.
func HoldReadSlots(s *Stream, n int) (release func()) {
	for range n {
		s.readSlots <- struct{}{}
	}
	return func() {
		for range n {
			<-s.readSlots
		}
	}
}
