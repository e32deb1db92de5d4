package kafka_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/unistream-go/unistream/adapters/kafka/kafkatest"
	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/driver"
)

// The benchmarks compare the engines with plain franz-go on the same
// embedded broker, in one run: each iteration of b.N records measures both
// and reports records/s of each and their ratio (engine / plain). Run them
// with a fixed count for stable numbers:
//
//	go test ./adapters/kafka -run '^$' -bench . -benchtime 200000x

const (
	benchPartitions = 4
	benchValueLen   = 100
)

func benchRecord(i int) (key, value []byte) {
	v := make([]byte, benchValueLen)
	for j := range v {
		v[j] = byte(i + j)
	}
	return fmt.Appendf(nil, "customer-%d", i%1000), v
}

// BenchmarkConsumer compares the consumer engine (no-op handler, batch
// 1000, memory checkpoint store) with a plain franz-go consume loop that
// reads the same records.
func BenchmarkConsumer(b *testing.B) {
	ctx := context.Background()
	n := b.N
	c := kafkatest.Start(b, kafkatest.Topic("bench", benchPartitions))
	// Fill the topic with plain franz-go.
	cl, err := c.Client(kgo.DefaultProduceTopic("bench"), kgo.MaxBufferedRecords(1<<20))
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		k, v := benchRecord(i)
		cl.Produce(ctx, &kgo.Record{Key: k, Value: v, Headers: []kgo.RecordHeader{{Key: "unistream-id", Value: fmt.Appendf(nil, "id-%d", i)}}}, func(_ *kgo.Record, err error) {
			if err != nil {
				b.Error(err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	cl.Close()
	b.ResetTimer()

	// Plain franz-go: one client consumes every partition from the start.
	t0 := time.Now()
	pc, err := c.Client(kgo.ConsumeTopics("bench"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		b.Fatal(err)
	}
	got := 0
	for got < n {
		fs := pc.PollRecords(ctx, 1000)
		if err := fs.Err(); err != nil {
			b.Fatal(err)
		}
		got += fs.NumRecords()
	}
	pc.Close()
	plain := time.Since(t0)

	// The engine.
	t1 := time.Now()
	s, err := kafkaOpen(ctx, c.URL("bench", "fetch_wait", "10ms"))
	if err != nil {
		b.Fatal(err)
	}
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
	s.Close()
	b.StopTimer()
	report(b, n, plain, engine)
}

// BenchmarkProducer compares the producer engine (WAL, fsync per batch)
// with plain franz-go producing the same records (Produce with a promise
// per record, then Flush), with the engine's default batch (500 records,
// 1 MiB) and with batches of 10000 records and 16 MiB (the adapter's
// MaxBatchRecords and MaxBatchBytes), which pay one WAL fsync and one
// acknowledged Write per 10000 records.
func BenchmarkProducer(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts []stream.ProducerOption
	}{
		{"batch=500", nil},
		{"batch=10000", []stream.ProducerOption{stream.WithMaxRecords(10000), stream.WithMaxBytes(16 << 20)}},
	} {
		b.Run(bc.name, func(b *testing.B) { benchProducer(b, bc.opts...) })
	}
}

func benchProducer(b *testing.B, opts ...stream.ProducerOption) {
	ctx := context.Background()
	n := b.N
	c := kafkatest.Start(b, kafkatest.Topic("plain", benchPartitions), kafkatest.Topic("engine", benchPartitions))
	keys := make([][]byte, n)
	values := make([][]byte, n)
	for i := range n {
		keys[i], values[i] = benchRecord(i)
	}
	b.ResetTimer()

	t0 := time.Now()
	cl, err := c.Client(kgo.DefaultProduceTopic("plain"), kgo.MaxBufferedRecords(10000))
	if err != nil {
		b.Fatal(err)
	}
	var failed atomic.Int64
	for i := range n {
		cl.Produce(ctx, &kgo.Record{Key: keys[i], Value: values[i]}, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.Add(1)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	cl.Close()
	plain := time.Since(t0)
	if failed.Load() > 0 {
		b.Fatalf("%d plain records failed", failed.Load())
	}

	t1 := time.Now()
	s, err := kafkaOpen(ctx, c.URL("engine"))
	if err != nil {
		b.Fatal(err)
	}
	opts = append([]stream.ProducerOption{stream.WithWAL(filepath.Join(b.TempDir(), "bench.wal")), stream.WithFsync(stream.FsyncPerBatch)}, opts...)
	p, err := stream.NewProducer(s, opts...)
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		if err := p.Put(ctx, stream.Record{Key: keys[i], Value: values[i]}); err != nil {
			b.Fatal(err)
		}
	}
	if err := p.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	engine := time.Since(t1)
	if err := p.Close(ctx); err != nil {
		b.Fatal(err)
	}
	s.Close()
	b.StopTimer()
	report(b, n, plain, engine)
}

func report(b *testing.B, n int, plain, engine time.Duration) {
	b.ReportMetric(float64(n)/plain.Seconds(), "plain-records/s")
	b.ReportMetric(float64(n)/engine.Seconds(), "engine-records/s")
	b.ReportMetric(plain.Seconds()/engine.Seconds(), "engine/plain")
}

// BenchmarkWriter measures the adapter's Write alone: 500 records of 100
// bytes per call, acknowledged by the broker.
func BenchmarkWriter(b *testing.B) {
	ctx := context.Background()
	c := kafkatest.Start(b, kafkatest.Topic("w", benchPartitions))
	s, err := kafkaOpen(ctx, c.URL("w"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	w, err := s.OpenWriter(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	recs := make([]driver.Record, 500)
	for i := range recs {
		k, v := benchRecord(i)
		recs[i] = driver.Record{ID: fmt.Sprintf("id-%d", i), Key: k, Value: v}
	}
	res := make([]driver.WriteResult, len(recs))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := w.Write(ctx, recs, res); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*len(recs))/b.Elapsed().Seconds(), "records/s")
}
