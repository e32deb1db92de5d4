package kinesis_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/unistream-go/unistream/adapters/kinesis"
	"github.com/unistream-go/unistream/stream/driver"
)

func TestEnvelopeRoundTrip(t *testing.T) {
	for _, r := range []driver.Record{
		{ID: "a", Key: []byte("k"), Value: []byte("v"), Time: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), Headers: []driver.Header{{Key: "h", Value: []byte{0, 1}}, {Key: "h", Value: nil}}},
		{ID: "", Value: nil},
		{ID: "bin", Key: []byte{0xff, 0, 1}, Value: []byte{0xF0, 'U', 'S', 1}, Time: time.Unix(-5, 0).UTC()},
	} {
		keyIn := len(r.Key) > 0 && r.Key[0] == 0xff
		data := kinesis.EncodeEnvelope(&r, keyIn)
		if len(data) > kinesis.EnvelopeSize(&r, keyIn) {
			t.Errorf("%s: encoded %d bytes, EnvelopeSize said %d", r.ID, len(data), kinesis.EnvelopeSize(&r, keyIn))
		}
		var got driver.Record
		if len(r.Key) > 0 && !keyIn {
			got.Key = r.Key
		}
		fromEnv, err := kinesis.DecodeEnvelope(data, &got)
		if err != nil {
			t.Fatalf("%s: %v", r.ID, err)
		}
		if fromEnv != (keyIn || len(r.Key) == 0) || got.ID != r.ID || !bytes.Equal(got.Key, r.Key) || !bytes.Equal(got.Value, r.Value) || !got.Time.Equal(r.Time) || len(got.Headers) != len(r.Headers) {
			t.Errorf("round trip of %+v = %+v (key from envelope %v)", r, got, fromEnv)
		}
	}
}

func FuzzEnvelope(f *testing.F) {
	f.Add(kinesis.EncodeEnvelope(&driver.Record{ID: "x", Key: []byte("k"), Value: []byte("v"), Time: time.Unix(1, 2), Headers: []driver.Header{{Key: "a", Value: []byte("b")}}}, true))
	f.Add([]byte{0xF0, 'U', 'S', 1, 7})
	f.Fuzz(func(t *testing.T, data []byte) {
		var r driver.Record
		if _, err := kinesis.DecodeEnvelope(data, &r); err != nil {
			return
		}
		// A decoded envelope encodes back to a record that decodes the same.
		keyIn := len(r.Key) > 0
		var again driver.Record
		if _, err := kinesis.DecodeEnvelope(kinesis.EncodeEnvelope(&r, keyIn), &again); err != nil {
			t.Fatalf("re-encoded envelope does not decode: %v", err)
		}
		if again.ID != r.ID || !bytes.Equal(again.Value, r.Value) || len(again.Headers) != len(r.Headers) {
			t.Fatalf("re-encoded envelope differs: %+v vs %+v", again, r)
		}
	})
}
