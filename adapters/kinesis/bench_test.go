package kinesis_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/unistream-go/unistream/adapters/kinesis"
	"github.com/unistream-go/unistream/adapters/kinesis/kinesistest"
	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/driver"
)

// BenchmarkConsumer compares, in one run on kinesisfake, the consumer
// engine (no-op handler, batch 1000, memory checkpoint store) with a
// plain GetRecords loop over the same shards (one goroutine per shard,
// GetRecords of up to 1000 records, the engine's batch, until every record is read). Each
// iteration of b.N records measures both and reports records/s of each
// and their ratio (engine / plain). Run it with a fixed count:
//
//	go test ./adapters/kinesis -run '^$' -bench Consumer -benchtime 200000x
func BenchmarkConsumer(b *testing.B) {
	const shards = 4
	ctx := context.Background()
	n := b.N
	br := kinesistest.Start(b)
	if err := br.CreateStream("bench", shards); err != nil {
		b.Fatal(err)
	}
	ds, err := stream.Open(ctx, br.URL("bench", "poll_interval", "1ms", "max_batch_records", "10000", "max_batch_bytes", "64MiB"))
	if err != nil {
		b.Fatal(err)
	}
	s := ds.(*kinesis.Stream)
	defer s.Close()
	// Fill the shards through the adapter's writer.
	w, err := s.OpenWriter(ctx)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < n; i += 10000 {
		m := min(10000, n-i)
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
	w.Close()
	ps, err := s.Partitions(ctx)
	if err != nil {
		b.Fatal(err)
	}
	// Plain: a GetRecords loop per shard with the SDK client. It runs
	// once untimed first, so that the timed plain pass does not pay the
	// process's warm-up (heap growth, connections) for the engine.
	plainRead(b, s, ps, n)
	b.ResetTimer()
	t0 := time.Now()
	plainRead(b, s, ps, n)
	plain := time.Since(t0)

	// The engine.
	t1 := time.Now()
	var count atomic.Int64
	done := make(chan struct{})
	h := func(ctx context.Context, r *stream.Record) error {
		if count.Add(1) == int64(n) {
			close(done)
		}
		return nil
	}
	cons, err := stream.NewConsumer(s, h, stream.WithCheckpointStore(checkpoint.NewMemoryStore()), stream.WithOnExhausted(stream.Halt),
		stream.WithBatchSize(1000), stream.WithPollInterval(time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- cons.Run(runCtx) }()
	<-done
	engine := time.Since(t1)
	stop()
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	cons.Close()
	b.StopTimer()
	b.ReportMetric(float64(n)/plain.Seconds(), "plain-records/s")
	b.ReportMetric(float64(n)/engine.Seconds(), "engine-records/s")
	b.ReportMetric(plain.Seconds()/engine.Seconds(), "engine/plain")
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
			it, err := s.Client().GetShardIterator(ctx, &awskinesis.GetShardIteratorInput{StreamName: aws.String("bench"), ShardId: aws.String(p.ID), ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
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
