package kafka

import (
	"bytes"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/unistream-go/unistream/stream/driver"
)

// TestEncodedSizeBoundsTheWire checks encodedSize against the real v2
// encoding of records: it is never below it.
func TestEncodedSizeBoundsTheWire(t *testing.T) {
	many := make([]driver.Header, 300)
	for i := range many {
		many[i] = driver.Header{Key: "h", Value: []byte{byte(i)}}
	}
	for _, r := range []driver.Record{
		{},
		{ID: "id", Key: []byte("k"), Value: []byte("v")},
		{ID: "x", Value: bytes.Repeat([]byte{1}, 70_000), Headers: []driver.Header{{Key: "a"}}},
		{ID: "many", Key: bytes.Repeat([]byte{2}, 200), Headers: many},
	} {
		kr := toKgo(&r, "t", 0)
		rec := kmsg.Record{
			TimestampDelta64: 1 << 40, OffsetDelta: 1 << 20,
			Key: kr.Key, Value: kr.Value,
		}
		for _, h := range kr.Headers {
			rec.Headers = append(rec.Headers, kmsg.Header{Key: h.Key, Value: h.Value})
		}
		wire := len(rec.AppendTo(nil))
		if got := encodedSize(kr); got < wire {
			t.Errorf("record %q: encodedSize %d < the wire size %d", r.ID, got, wire)
		}
		if got := encodedSize(kr); got > wire+32 {
			t.Errorf("record %q: encodedSize %d is far above the wire size %d", r.ID, got, wire)
		}
	}
}

func TestBatchMaxBytes(t *testing.T) {
	if got := batchMaxBytes(DefaultMaxRecordBytes); got != DefaultMaxRecordBytes+recordOverhead || got > 1_048_588 {
		t.Errorf("batchMaxBytes(default) = %d: want room for the framing, within the broker's default max.message.bytes", got)
	}
	if got := batchMaxBytes(100); got != 1_000_012 {
		t.Errorf("batchMaxBytes(100) = %d, want franz-go's default 1000012", got)
	}
}

func TestCompressionCodec(t *testing.T) {
	for _, name := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		var want kgo.CompressionCodec
		switch name {
		case "none":
			want = kgo.NoCompression()
		case "gzip":
			want = kgo.GzipCompression()
		case "snappy":
			want = kgo.SnappyCompression()
		case "lz4":
			want = kgo.Lz4Compression()
		case "zstd":
			want = kgo.ZstdCompression()
		}
		if compressionCodec(name) != want {
			t.Errorf("compressionCodec(%q) is not the matching franz-go codec", name)
		}
	}
}
