package kinesis_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/unistream-go/unistream/adapters/kinesis"
	"github.com/unistream-go/unistream/adapters/kinesis/kinesistest"
	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/driver"
	"github.com/unistream-go/unistream/stream/streamtest/enginebench"
)

// BenchmarkConsumer compares, on kinesisfake, the consumer engine (no-op
// handler, batch 1000) with a plain GetRecords loop over the same shards
// (one goroutine per shard, GetRecords of up to 1000 records, the engine's
// batch, until every record is read), with each checkpoint store: memory,
// file (in b.TempDir()) and dynamodb (the DynamoDB store on dynalite, as a
// KCL-style deployment keeps its checkpoints; npm dynalite, installed by
// `make tools`). The records are split over enginebench.Rounds streams of
// 4 shards, which the two sides read in alternating rounds
// (enginebench.Comparison); it reports records/s of each, their ratio
// (engine / plain) and the store's saves/record. Run it with a fixed
// count:
//
//	go test ./adapters/kinesis -run '^$' -bench 'BenchmarkConsumer$' -benchtime 200000x
func BenchmarkConsumer(b *testing.B) {
	dyn := newDynalite(b)
	dynamo := enginebench.Store{Name: "dynamodb", New: func(b *testing.B, _ driver.Stream) checkpoint.Store {
		s, err := dyn.store(b)
		if err != nil {
			b.Fatal(err)
		}
		return s
	}}
	for _, st := range []enginebench.Store{enginebench.Memory, enginebench.File, dynamo} {
		b.Run("store="+st.Name, func(b *testing.B) { benchConsumer(b, st) })
	}
}

func benchConsumer(b *testing.B, store enginebench.Store) {
	const shards = 4
	ctx := context.Background()
	n := b.N
	br := kinesistest.Start(b)
	name := func(r int) string { return fmt.Sprintf("bench-%d", r) }
	url := func(r int) string {
		return br.URL(name(r), "poll_interval", "1ms", "max_batch_records", "10000", "max_batch_bytes", "64MiB")
	}
	// Fill the streams through the adapter's writer; plain reads them with
	// the SDK client of the same stream.
	streams := make([]*kinesis.Stream, enginebench.Rounds)
	parts := make([][]driver.Partition, enginebench.Rounds)
	for r := range enginebench.Rounds {
		if err := br.CreateStream(name(r), shards); err != nil {
			b.Fatal(err)
		}
		ds, err := stream.Open(ctx, url(r))
		if err != nil {
			b.Fatal(err)
		}
		var s *kinesis.Stream
		if !ds.As(&s) {
			b.Fatalf("%s is not a *kinesis.Stream", url(r))
		}
		b.Cleanup(func() { s.Close() })
		lo, hi := enginebench.Span(n, r)
		benchFill(b, s, lo, hi)
		if parts[r], err = s.Partitions(ctx); err != nil {
			b.Fatal(err)
		}
		streams[r] = s
	}
	enginebench.Comparison{
		Plain: func(b *testing.B, r, n int) time.Duration {
			t0 := time.Now()
			plainRead(b, streams[r], parts[r], n)
			return time.Since(t0)
		},
		Open: func(r int) (driver.Stream, error) { return enginebench.OpenURL(ctx, url(r)) },
	}.Run(b, store)
}

// benchFill writes the records [lo, hi) to s, 100 bytes each, in calls of
// up to 10000.
func benchFill(b *testing.B, s *kinesis.Stream, lo, hi int) {
	ctx := context.Background()
	w, err := s.OpenWriter(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	for i := lo; i < hi; i += 10000 {
		m := min(10000, hi-i)
		recs := make([]driver.Record, m)
		for j := range recs {
			k := i + j
			v := make([]byte, 100)
			for x := range v {
				v[x] = byte(k + x)
			}
			recs[j] = driver.Record{ID: fmt.Sprintf("id-%d", k), Key: fmt.Appendf(nil, "customer-%d", k%1000), Value: v}
		}
		res := make([]driver.WriteResult, m)
		if err := w.Write(ctx, recs, res); err != nil {
			b.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil {
				b.Fatal(r.Err)
			}
		}
	}
}

// plainRead reads n records from the shards with a GetRecords loop per
// shard, from TRIM_HORIZON.
func plainRead(b *testing.B, s *kinesis.Stream, ps []driver.Partition, n int) {
	ctx := context.Background()
	var got atomic.Int64
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			it, err := s.Client().GetShardIterator(ctx, &awskinesis.GetShardIteratorInput{StreamName: aws.String(s.Name()), ShardId: aws.String(p.ID), ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
			if err != nil {
				b.Error(err)
				return
			}
			iter := it.ShardIterator
			for got.Load() < int64(n) {
				out, err := s.Client().GetRecords(ctx, &awskinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(1000)})
				if err != nil {
					b.Error(err)
					return
				}
				got.Add(int64(len(out.Records)))
				iter = out.NextShardIterator
				if len(out.Records) == 0 {
					time.Sleep(time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
}

// benchShards is the number of shards of the producer benchmark's streams.
const benchShards = 4

// benchRecord returns record i of a benchmark: key "customer-N" over 1000
// keys and a value of 100 bytes.
func benchRecord(i int) (key, value []byte) {
	v := make([]byte, 100)
	for j := range v {
		v[j] = byte(i + j)
	}
	return fmt.Appendf(nil, "customer-%d", i%1000), v
}

// BenchmarkProducer compares, on kinesisfake, the producer engine (WAL in
// b.TempDir() with FsyncPerBatch, the engine's default batch of 500
// records) with a plain aws-sdk-go-v2 loop producing the same records:
// PutRecords calls of 500 records (the API's limit) one after the other,
// each call's failed records sent again (after a short backoff) until
// every one is stored. The nowal variant runs the engine without its WAL,
// to separate the WAL's cost from the cost of the engine's sends. Both
// write to streams of benchShards shards. The records are split over
// enginebench.Rounds rounds in which the sides take turns going first
// (enginebench.Rotate), so that on a shared machine whose load drifts
// they see about the same load; each side is opened once (an SDK client,
// or a producer engine) and produces every round's records. It reports
// records/s of each, their ratio (engine / plain) and each side's CPU
// time a record, beside plain+log with the WAL (see
// enginebench.ProducerComparison.Run, whose side labels separate the
// sides in a CPU profile). The engine writes each record in its envelope
// (with its ID); plain writes the bare value. Run it with a fixed count:
//
//	go test ./adapters/kinesis -run '^$' -bench 'BenchmarkProducer$' -benchtime 400000x -count 4
func BenchmarkProducer(b *testing.B) {
	for _, v := range enginebench.ProducerVariants(false) {
		b.Run(v.Name, func(b *testing.B) {
			br := kinesistest.Start(b)
			for _, name := range append(enginebench.PlainStreams(), "engine") {
				if err := br.CreateStream(name, benchShards); err != nil {
					b.Fatal(err)
				}
			}
			keys, values := make([][]byte, b.N), make([][]byte, b.N)
			for i := range b.N {
				keys[i], values[i] = benchRecord(i)
			}
			enginebench.ProducerComparison{Keys: keys, Values: values, URL: br.URL("engine"),
				OpenPlain: func(b *testing.B, side enginebench.PlainSide) (func(lo, hi int) time.Duration, func()) {
					return benchPlainProducer(b, br, side.Name, keys, values)
				},
			}.Run(b, v)
		})
	}
}

// benchPlainProducer makes an SDK client of the broker and returns the
// function that writes records [lo, hi) of keys and values to the stream
// name with it, in PutRecords calls of 500 records one after the
// other, sending each call's failed records again until all are stored,
// and returns the time it took, and a function that does nothing (the
// client holds nothing to close).
func benchPlainProducer(b *testing.B, br *kinesistest.Broker, name string, keys, values [][]byte) (func(lo, hi int) time.Duration, func()) {
	cl := awskinesis.New(awskinesis.Options{
		Region:       kinesistest.Region,
		BaseEndpoint: aws.String(br.Endpoint()),
		Credentials:  credentials.NewStaticCredentialsProvider("plain", "plain", ""),
	})
	return func(lo, hi int) time.Duration { return benchPlainProduce(b, cl, name, keys[lo:hi], values[lo:hi]) }, func() {}
}

// benchPlainProduce writes the records to the stream name with cl (see
// benchPlainProducer) and returns the time it took.
func benchPlainProduce(b *testing.B, cl *awskinesis.Client, name string, keys, values [][]byte) time.Duration {
	ctx := context.Background()
	t0 := time.Now()
	entries := make([]types.PutRecordsRequestEntry, 0, 500)
	for i := 0; i < len(keys); i += 500 {
		entries = entries[:0]
		for j := i; j < min(i+500, len(keys)); j++ {
			entries = append(entries, types.PutRecordsRequestEntry{Data: values[j], PartitionKey: aws.String(string(keys[j]))})
		}
		for attempt := 1; len(entries) > 0; attempt++ {
			if attempt > 10 {
				b.Fatalf("plain: %d records of a PutRecords call still failed after %d attempts", len(entries), attempt-1)
			}
			out, err := cl.PutRecords(ctx, &awskinesis.PutRecordsInput{StreamName: aws.String(name), Records: entries})
			if err != nil {
				b.Fatal(err)
			}
			if aws.ToInt32(out.FailedRecordCount) == 0 {
				break
			}
			// Keep the failed records, in order, and send them again.
			failed := entries[:0]
			for k, res := range out.Records {
				if res.ErrorCode != nil {
					failed = append(failed, entries[k])
				}
			}
			entries = failed
			time.Sleep(time.Duration(attempt) * 10 * time.Millisecond)
		}
	}
	return time.Since(t0)
}
