package kinesis_test

import (
	"bytes"
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/unistream-go/unistream/adapters/kinesis"
	"github.com/unistream-go/unistream/adapters/kinesis/kinesistest"
	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/driver"
)

// rawRecords reads a shard's records as another consumer (Lambda,
// Firehose, the KCL) gets them, with the SDK.
func rawRecords(t *testing.T, s *kinesis.Stream, name, shard string) []types.Record {
	t.Helper()
	ctx := context.Background()
	it, err := s.Client().GetShardIterator(ctx, &awskinesis.GetShardIteratorInput{StreamName: aws.String(name), ShardId: aws.String(shard), ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Client().GetRecords(ctx, &awskinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
	if err != nil {
		t.Fatal(err)
	}
	return out.Records
}

// TestPlainRecords writes with envelope=false: other consumers read the
// plain value, and the adapter reads the record as it reads another
// producer's: the position as ID, no headers, the arrival time.
func TestPlainRecords(t *testing.T) {
	b := kinesistest.Start(t)
	s := openFake(t, b, "plain", 1, "envelope", "false")
	if !s.Capabilities().PlainRecords {
		t.Errorf("envelope=false: Capabilities().PlainRecords is false")
	}
	eventTime := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	sent := []driver.Record{
		{ID: "a", Key: []byte("k1"), Value: []byte(`{"n":1}`), Time: eventTime},
		{ID: "b", Value: []byte("no key")},
		{ID: "c", Key: []byte("k1"), Value: []byte{0xF0, 'U', 'S'}}, // a prefix of the magic is a value like any other
	}
	write(t, s, sent...)
	raw := rawRecords(t, s, "plain", "shardId-000000000000")
	if len(raw) != len(sent) {
		t.Fatalf("another consumer reads %d records, want %d", len(raw), len(sent))
	}
	for i, r := range raw {
		if !bytes.Equal(r.Data, sent[i].Value) {
			t.Errorf("another consumer reads record %d as %q, want the plain value %q", i, r.Data, sent[i].Value)
		}
	}
	got, err := readShard(t, s, "shardId-000000000000", driver.Start{}, len(sent))
	if err != nil || len(got) != len(sent) {
		t.Fatalf("read %d records, %v; want %d", len(got), err, len(sent))
	}
	for i, r := range got {
		wantKey := sent[i].Key
		if wantKey == nil {
			wantKey = []byte(aws.ToString(raw[i].PartitionKey)) // the writer's own partition key
		}
		switch {
		case r.ID != (kinesis.Codec{}).Format("plain", r.Partition, r.Pointer):
			t.Errorf("record %d: ID %q, want its position %q", i, r.ID, (kinesis.Codec{}).Format("plain", r.Partition, r.Pointer))
		case !bytes.Equal(r.Value, sent[i].Value) || !bytes.Equal(r.Key, wantKey):
			t.Errorf("record %d: key %q value %q, want %q %q", i, r.Key, r.Value, wantKey, sent[i].Value)
		case r.Headers != nil:
			t.Errorf("record %d: headers %v, want none", i, r.Headers)
		case !r.Time.Equal(aws.ToTime(raw[i].ApproximateArrivalTimestamp)):
			t.Errorf("record %d: time %v, want the arrival time %v", i, r.Time, aws.ToTime(raw[i].ApproximateArrivalTimestamp))
		}
	}
}

// plainRefusals are records the plain form cannot carry whole, with what
// the refusal names.
var plainRefusals = []struct {
	name string
	rec  driver.Record
	says string
}{
	{"headers", driver.Record{ID: "h", Key: []byte("k"), Value: []byte("v"), Headers: []driver.Header{{Key: "h", Value: []byte("1")}}}, "envelope=false cannot carry headers"},
	{"binary key", driver.Record{ID: "b", Key: []byte{0xff, 0}, Value: []byte("v")}, "cannot carry a key"},
	{"long key", driver.Record{ID: "l", Key: bytes.Repeat([]byte("k"), kinesis.MaxPartitionKeyChars+1), Value: []byte("v")}, "cannot carry a key"},
	{"magic value", driver.Record{ID: "m", Key: []byte("k"), Value: []byte{0xF0, 'U', 'S', 1, 'x'}}, "value starting with the envelope magic"},
}

// TestPlainRefusals: what envelope=false cannot carry is refused, never
// dropped: by the writer per record, by
// CheckRecord, and so by the producer at Put, naming the option. With the
// envelope, the same records are accepted.
func TestPlainRefusals(t *testing.T) {
	b := kinesistest.Start(t)
	plain := openFake(t, b, "refused", 1, "envelope", "false")
	env := openFake(t, b, "enveloped", 1)
	p, err := stream.NewProducer(stream.NewStream(plain), stream.WithoutWAL())
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		// Nothing is buffered when Put refuses; a record Put accepted
		// would be retried for ever, so Close is bounded.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := p.Close(ctx); err != nil {
			t.Errorf("producer Close: %v (a refused record was accepted?)", err)
		}
	}()
	w, err := plain.OpenWriter(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, c := range plainRefusals {
		t.Run(c.name, func(t *testing.T) {
			if err := env.CheckRecord(&c.rec); err != nil {
				t.Errorf("with the envelope, CheckRecord = %v, want nil", err)
			}
			err := plain.CheckRecord(&c.rec)
			if !errors.Is(err, kinesis.ErrNeedsEnvelope) || !strings.Contains(err.Error(), c.says) {
				t.Errorf("CheckRecord = %v, want ErrNeedsEnvelope saying %q", err, c.says)
			}
			err = p.Put(context.Background(), c.rec)
			if !errors.Is(err, kinesis.ErrNeedsEnvelope) || !strings.Contains(err.Error(), c.says) {
				t.Errorf("Put = %v, want ErrNeedsEnvelope saying %q", err, c.says)
			}
			ok := driver.Record{ID: "ok", Key: []byte("other"), Value: []byte("fine")}
			res := make([]driver.WriteResult, 2)
			if err := w.Write(context.Background(), []driver.Record{ok, c.rec}, res); err != nil {
				t.Fatal(err)
			}
			if res[0].Err != nil || res[0].Pointer == nil {
				t.Errorf("Write: the record before it = %+v, want it stored", res[0])
			}
			if !errors.Is(res[1].Err, kinesis.ErrNeedsEnvelope) || !strings.Contains(res[1].Err.Error(), c.says) {
				t.Errorf("Write: record refused with %v, want ErrNeedsEnvelope saying %q", res[1].Err, c.says)
			}
		})
	}
	write(t, env, plainRefusals[0].rec) // the envelope carries headers
}

// TestEnvelopeOption: the envelope is on by default, from a URL and in
// an Options built in code whose zero field takes the default; off only
// when set.
func TestEnvelopeOption(t *testing.T) {
	for _, c := range []struct {
		name string
		o    func() (kinesis.Options, error)
		want bool
	}{
		{"url default", func() (kinesis.Options, error) { return kinesis.ParseURL(mustURL(t, "kinesis://s")) }, true},
		{"url false", func() (kinesis.Options, error) { return kinesis.ParseURL(mustURL(t, "kinesis://s?envelope=false")) }, false},
		{"struct literal", func() (kinesis.Options, error) { return kinesis.Options{}, nil }, true},
		{"WithEnvelope(false)", func() (kinesis.Options, error) { return kinesis.NewOptions(kinesis.WithEnvelope(false)), nil }, false},
	} {
		o, err := c.o()
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := o.WithDefaults().Envelope; got != c.want {
			t.Errorf("%s: Envelope = %v, want %v", c.name, got, c.want)
		}
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
