package kinesis

import "github.com/unistream-go/unistream/stream/driver"

// EncodeEnvelope and DecodeEnvelope expose the record envelope to tests.
func EncodeEnvelope(r *driver.Record, keyInEnvelope bool) []byte {
	return appendEnvelope(nil, r, keyInEnvelope)
}

func DecodeEnvelope(data []byte, r *driver.Record) (bool, error) { return decodeEnvelope(data, r) }

// EnvelopeSize exposes envelopeSize.
func EnvelopeSize(r *driver.Record, keyInEnvelope bool) int { return envelopeSize(r, keyInEnvelope) }

// WithDefaults exposes Options.withDefaults.
func (o Options) WithDefaults() Options { return o.withDefaults() }
