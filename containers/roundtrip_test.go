package containers_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/apache/pulsar-client-go/pulsar"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kintypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/unistream-go/unistream/containers"
)

// TestKafkaRoundTrip starts Kafka, creates a topic with three partitions,
// produces ten records with franz-go and consumes them back from the
// start, checking every record's value, key, partition and offset.
func TestKafkaRoundTrip(t *testing.T) {
	requireDocker(t)
	ctx, cancel := context.WithTimeout(t.Context(), startTimeout)
	defer cancel()
	k, err := containers.StartKafka(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := k.Close(); err != nil {
			t.Error(err)
		}
	}()
	if len(k.Brokers) != 1 || k.ClusterID == "" {
		t.Fatalf("StartKafka: brokers %v, cluster id %q: want one broker and an id", k.Brokers, k.ClusterID)
	}
	const topic = "roundtrip"
	if err := k.CreateTopic(ctx, topic, 3); err != nil {
		t.Fatal(err)
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(k.Brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	type at struct {
		partition int32
		offset    int64
	}
	sent := map[string]at{}
	for i := range 10 {
		r := &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "key-%d", i), Value: fmt.Appendf(nil, "value-%d", i)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce record %d: %v", i, err)
		}
		sent[string(r.Value)] = at{r.Partition, r.Offset}
	}
	got := map[string]at{}
	for len(got) < len(sent) {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records: %v", len(got), len(sent), err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if want := "key-" + string(bytes.TrimPrefix(r.Value, []byte("value-"))); string(r.Key) != want {
				t.Errorf("record %s has key %q, want %q", r.Value, r.Key, want)
			}
			if _, dup := got[string(r.Value)]; dup {
				t.Errorf("record %s consumed twice", r.Value)
			}
			got[string(r.Value)] = at{r.Partition, r.Offset}
		})
	}
	for v, w := range sent {
		if got[v] != w {
			t.Errorf("record %s: consumed at %+v, produced at %+v", v, got[v], w)
		}
	}
}

// TestPulsarRoundTrip starts Pulsar, creates a topic with two partitions
// through the admin API, produces ten messages with pulsar-client-go and
// consumes them from the earliest position, checking payloads, keys and
// message ids, and acknowledging each.
func TestPulsarRoundTrip(t *testing.T) {
	requireDocker(t)
	ctx, cancel := context.WithTimeout(t.Context(), startTimeout)
	defer cancel()
	p, err := containers.StartPulsar(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := p.Close(); err != nil {
			t.Error(err)
		}
	}()
	const topic = "persistent://public/default/roundtrip"
	if err := p.CreateTopic(ctx, topic, 2); err != nil {
		t.Fatal(err)
	}
	// Creating it again is refused: the admin API call is real.
	if err := p.CreateTopic(ctx, topic, 2); err == nil {
		t.Fatal("creating the topic twice succeeded; want the broker's conflict error")
	}

	cl, err := pulsar.NewClient(pulsar.ClientOptions{URL: p.ServiceURL, OperationTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	cons, err := cl.Subscribe(pulsar.ConsumerOptions{Topic: topic, SubscriptionName: "roundtrip",
		Type: pulsar.Exclusive, SubscriptionInitialPosition: pulsar.SubscriptionPositionEarliest})
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	prod, err := cl.CreateProducer(pulsar.ProducerOptions{Topic: topic})
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	sent := map[string]pulsar.MessageID{}
	for i := range 10 {
		v := fmt.Sprintf("value-%d", i)
		id, err := prod.Send(ctx, &pulsar.ProducerMessage{Key: fmt.Sprintf("key-%d", i), Payload: []byte(v)})
		if err != nil {
			t.Fatalf("send message %d: %v", i, err)
		}
		sent[v] = id
	}
	got := map[string]bool{}
	for len(got) < len(sent) {
		m, err := cons.Receive(ctx)
		if err != nil {
			t.Fatalf("received %d of %d messages: %v", len(got), len(sent), err)
		}
		v := string(m.Payload())
		id, ok := sent[v]
		switch {
		case !ok:
			t.Fatalf("received a message never sent: %q", v)
		case got[v]:
			t.Errorf("message %s received twice", v)
		case m.Key() != "key-"+v[len("value-"):]:
			t.Errorf("message %s has key %q", v, m.Key())
		case m.ID().LedgerID() != id.LedgerID() || m.ID().EntryID() != id.EntryID() || m.ID().PartitionIdx() != id.PartitionIdx():
			t.Errorf("message %s received with id %v, sent with %v", v, m.ID(), id)
		}
		got[v] = true
		if err := cons.Ack(m); err != nil {
			t.Fatalf("ack %s: %v", v, err)
		}
	}
}

// TestLocalStackRoundTrip starts LocalStack and, with aws-sdk-go-v2,
// creates a Kinesis stream, puts a record and reads it back from
// TRIM_HORIZON, then creates a DynamoDB table and lists it.
func TestLocalStackRoundTrip(t *testing.T) {
	requireDocker(t)
	ctx, cancel := context.WithTimeout(t.Context(), startTimeout)
	defer cancel()
	l, err := containers.StartLocalStack(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := l.Close(); err != nil {
			t.Error(err)
		}
	}()
	if err := l.CreateStream(ctx, "", 1); err == nil {
		t.Error("CreateStream without a name succeeded")
	}
	cfg := l.Config()

	t.Run("kinesis", func(t *testing.T) {
		kc := kinesis.NewFromConfig(cfg, func(o *kinesis.Options) { o.BaseEndpoint = aws.String(l.Endpoint) })
		name := aws.String("roundtrip")
		if err := l.CreateStream(ctx, *name, 1); err != nil {
			t.Fatal(err)
		}
		sum, err := kc.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: name})
		if err != nil {
			t.Fatal(err)
		}
		if d := sum.StreamDescriptionSummary; d.StreamStatus != kintypes.StreamStatusActive || aws.ToInt32(d.OpenShardCount) != 1 {
			t.Fatalf("after CreateStream: status %s with %d open shards, want ACTIVE with 1", d.StreamStatus, aws.ToInt32(d.OpenShardCount))
		}
		put, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: name, PartitionKey: aws.String("key-1"), Data: []byte("value-1")})
		if err != nil {
			t.Fatal(err)
		}
		it, err := kc.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: name, ShardId: put.ShardId,
			ShardIteratorType: kintypes.ShardIteratorTypeTrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		iter := it.ShardIterator
		for {
			if iter == nil {
				t.Fatal("the shard closed before the record was read")
			}
			out, err := kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter})
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Records) > 0 {
				r := out.Records[0]
				if string(r.Data) != "value-1" || aws.ToString(r.PartitionKey) != "key-1" || aws.ToString(r.SequenceNumber) != aws.ToString(put.SequenceNumber) {
					t.Fatalf("read %q key %q seq %s, put %q key %q seq %s", r.Data, aws.ToString(r.PartitionKey), aws.ToString(r.SequenceNumber),
						"value-1", "key-1", aws.ToString(put.SequenceNumber))
				}
				return
			}
			iter = out.NextShardIterator
			select {
			case <-ctx.Done():
				t.Fatalf("record not read: %v", ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
		}
	})

	t.Run("dynamodb", func(t *testing.T) {
		dc := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(l.Endpoint) })
		_, err := dc.CreateTable(ctx, &dynamodb.CreateTableInput{
			TableName:            aws.String("roundtrip"),
			BillingMode:          ddbtypes.BillingModePayPerRequest,
			AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
			KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: ddbtypes.KeyTypeHash}},
		})
		if err != nil {
			t.Fatal(err)
		}
		out, err := dc.ListTables(ctx, &dynamodb.ListTablesInput{})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(out.TableNames, "roundtrip") {
			t.Fatalf("ListTables = %v, want it to list roundtrip", out.TableNames)
		}
	})
}
