package pulsar

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"sort"
	"unicode/utf8"

	pulsarclient "github.com/apache/pulsar-client-go/pulsar"

	"github.com/unistream-go/unistream/stream/driver"
)

// Message properties the writer sets and the reader removes.
const (
	// PropertyID carries the record's ID. A message without it (written by
	// another producer) gets RecordID of its position as its ID.
	PropertyID = "unistream-id"
	// PropertyHeaders carries the record's headers, which may repeat keys
	// and hold any bytes: base64 (standard, padded) of, per header, the
	// key's length, the key, the value's length and the value, lengths as
	// unsigned varints. On a message without it, every property other than
	// the adapter's becomes a header, sorted by key.
	PropertyHeaders = "unistream-headers"
	// PropertyKeyBase64 is "1" when the message key is the base64 (standard,
	// padded) of the record key, because the key is not valid UTF-8 (Pulsar
	// keys are strings).
	PropertyKeyBase64 = "unistream-key-b64"
)

// toMessage sets m to the producer message of a record: the key (base64
// if it is not UTF-8), the value as payload, the ID and headers as
// properties (in props, which it clears first) and the time as event time
// (milliseconds; a zero time sets none).
func toMessage(m *pulsarclient.ProducerMessage, props map[string]string, r *driver.Record) {
	clear(props)
	props[PropertyID] = r.ID
	*m = pulsarclient.ProducerMessage{Payload: r.Value, Properties: props}
	if len(r.Key) > 0 {
		if utf8.Valid(r.Key) {
			m.Key = string(r.Key)
		} else {
			m.Key = base64.StdEncoding.EncodeToString(r.Key)
			props[PropertyKeyBase64] = "1"
		}
	}
	if len(r.Headers) > 0 {
		props[PropertyHeaders] = encodeHeaders(r.Headers)
	}
	if !r.Time.IsZero() && r.Time.UnixMilli() > 0 {
		m.EventTime = r.Time
	}
}

// encodeHeaders encodes headers for PropertyHeaders.
func encodeHeaders(hs []driver.Header) string {
	var b []byte
	for _, h := range hs {
		b = binary.AppendUvarint(b, uint64(len(h.Key)))
		b = append(b, h.Key...)
		b = binary.AppendUvarint(b, uint64(len(h.Value)))
		b = append(b, h.Value...)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// decodeHeaders decodes PropertyHeaders; the error says what was expected.
func decodeHeaders(s string) ([]driver.Header, error) {
	const expected = "base64 of (uvarint length, key, uvarint length, value) per header"
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("property %s: %w: expected %s", PropertyHeaders, err, expected)
	}
	var out []driver.Header
	field := func() ([]byte, error) {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return nil, fmt.Errorf("property %s: truncated at header %d: expected %s", PropertyHeaders, len(out)+1, expected)
		}
		v := b[k : k+int(n)]
		b = b[k+int(n):]
		return v, nil
	}
	for len(b) > 0 {
		k, err := field()
		if err != nil {
			return nil, err
		}
		v, err := field()
		if err != nil {
			return nil, err
		}
		out = append(out, driver.Header{Key: string(k), Value: v})
	}
	return out, nil
}

// toRecord maps a received message of partition to a record.
func toRecord(topic, partition string, part int32, m pulsarclient.Message) (driver.Record, error) {
	mid := m.ID()
	id := MessageID{Ledger: mid.LedgerID(), Entry: mid.EntryID(), Batch: mid.BatchIdx(), Partition: part}
	if err := id.check(); err != nil {
		return driver.Record{}, fmt.Errorf("pulsar: message of %s/%s from the broker: %w", topic, partition, err)
	}
	props := m.Properties()
	r := driver.Record{Value: m.Payload(), Stream: topic, Partition: partition, Pointer: id.Pointer()}
	r.ID = props[PropertyID]
	if r.ID == "" {
		r.ID = RecordID(topic, partition, id)
	}
	if k := m.Key(); k != "" {
		if props[PropertyKeyBase64] == "1" {
			key, err := base64.StdEncoding.DecodeString(k)
			if err != nil {
				return driver.Record{}, fmt.Errorf("pulsar: message %s of %s/%s: key %q with %s=1: %w: expected base64", id, topic, partition, k, PropertyKeyBase64, err)
			}
			r.Key = key
		} else {
			r.Key = []byte(k)
		}
	}
	if h, ok := props[PropertyHeaders]; ok {
		hs, err := decodeHeaders(h)
		if err != nil {
			return driver.Record{}, fmt.Errorf("pulsar: message %s of %s/%s: %w", id, topic, partition, err)
		}
		r.Headers = hs
	} else if _, ours := props[PropertyID]; !ours && len(props) > 0 {
		keys := make([]string, 0, len(props))
		for k := range props {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			r.Headers = append(r.Headers, driver.Header{Key: k, Value: []byte(props[k])})
		}
	}
	r.Time = m.EventTime()
	if r.Time.IsZero() {
		r.Time = m.PublishTime()
	}
	if !r.Time.IsZero() {
		r.Time = r.Time.UTC()
	}
	return r, nil
}
