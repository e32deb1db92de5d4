package pulsar_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	pulsarclient "github.com/apache/pulsar-client-go/pulsar"

	"github.com/unistream-go/unistream/adapters/pulsar"
	"github.com/unistream-go/unistream/adapters/pulsar/pulsartest"
	"github.com/unistream-go/unistream/stream/driver"
	"github.com/unistream-go/unistream/stream/streamtest/enginebench"
)

// The benchmark compares the consumer engine with plain pulsar-client-go on
// the same pulsarfake broker, in one run: each iteration of b.N records
// measures both and reports records/s of each and their ratio
// (engine / plain). Run it with a fixed count for stable numbers:
//
//	go test ./adapters/pulsar -run '^$' -bench 'BenchmarkConsumer$/store=memory' -benchtime 200000x

const (
	benchPartitions = 4
	benchValueLen   = 100
)

func benchRecord(i int) (key string, value []byte) {
	v := make([]byte, benchValueLen)
	for j := range v {
		v[j] = byte(i + j)
	}
	return fmt.Sprintf("customer-%d", i%1000), v
}

// benchClient returns a pulsar-client-go client of the broker, closed at
// the end of the benchmark.
func benchClient(b *testing.B, br *pulsartest.Broker) pulsarclient.Client {
	cl, err := pulsarclient.NewClient(pulsarclient.ClientOptions{URL: br.ServiceURL(), Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(cl.Close)
	return cl
}

// BenchmarkConsumer compares the consumer engine (no-op handler, batch
// 1000) with a plain pulsar-client-go loop that receives and acknowledges
// the same records on a durable subscription, with each checkpoint store:
// memory and file (in b.TempDir()). The records are split over
// enginebench.Rounds topics, which the two sides read in alternating
// rounds (enginebench.Comparison); it reports records/s of each, their
// ratio and the store's saves/record.
func BenchmarkConsumer(b *testing.B) {
	for _, st := range []enginebench.Store{enginebench.Memory, enginebench.File} {
		b.Run("store="+st.Name, func(b *testing.B) { benchConsumer(b, st) })
	}
}

func benchConsumer(b *testing.B, store enginebench.Store) {
	ctx := context.Background()
	n := b.N
	topic := func(r int) string { return fmt.Sprintf("bench-%d", r) }
	var topics []pulsartest.Option
	for r := range enginebench.Rounds {
		topics = append(topics, pulsartest.Topic(topic(r), benchPartitions))
	}
	br := pulsartest.Start(b, topics...)
	cl := benchClient(b, br)
	// Fill the topics with plain batching producers, keyed as the adapter
	// would route.
	var failed atomic.Int64
	for r := range enginebench.Rounds {
		p, err := cl.CreateProducer(pulsarclient.ProducerOptions{Topic: topic(r), MaxPendingMessages: 10000})
		if err != nil {
			b.Fatal(err)
		}
		lo, hi := enginebench.Span(n, r)
		for i := lo; i < hi; i++ {
			k, v := benchRecord(i)
			p.SendAsync(ctx, &pulsarclient.ProducerMessage{Key: k, Payload: v, Properties: map[string]string{pulsar.PropertyID: fmt.Sprint("id-", i)}},
				func(_ pulsarclient.MessageID, _ *pulsarclient.ProducerMessage, err error) {
					if err != nil {
						failed.Add(1)
					}
				})
		}
		if err := p.FlushWithCtx(ctx); err != nil {
			b.Fatal(err)
		}
		p.Close()
	}
	if failed.Load() > 0 {
		b.Fatalf("%d sends failed", failed.Load())
	}
	enginebench.Comparison{
		Plain: func(b *testing.B, r, n int) time.Duration { return plainReceive(b, cl, topic(r), n) },
		Open: func(r int) (driver.Stream, error) {
			return enginebench.OpenURL(ctx, br.URL(topic(r), "fetch_wait", "10ms"))
		},
	}.Run(b, store)
}

// plainReceive reads n records of topic with one plain consumer of every
// partition from the start, Receive and Ack per message, and returns the
// time it took.
func plainReceive(b *testing.B, cl pulsarclient.Client, topic string, n int) time.Duration {
	ctx := context.Background()
	t0 := time.Now()
	c, err := cl.Subscribe(pulsarclient.ConsumerOptions{Topic: topic, SubscriptionName: "plain", Type: pulsarclient.Exclusive,
		SubscriptionInitialPosition: pulsarclient.SubscriptionPositionEarliest})
	if err != nil {
		b.Fatal(err)
	}
	for got := 0; got < n; got++ {
		m, err := c.Receive(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Ack(m); err != nil {
			b.Fatal(err)
		}
	}
	c.Close()
	return time.Since(t0)
}

// BenchmarkProducer compares, on pulsarfake, the producer engine (WAL in
// b.TempDir() with FsyncPerBatch) with plain pulsar-client-go producing
// the same records to a topic of benchPartitions partitions: one batching
// producer of the partitioned topic (MaxPendingMessages 10000),
// SendAsync with a callback per message, then Flush. The engine runs with
// its default batch (500 records, 1 MiB) and with batches of 10000 records
// and 16 MiB (within the adapter's MaxBatchRecords, 10000, and
// MaxBatchBytes, 64 MiB), which pay one WAL fsync and one acknowledged
// Write per 10000 records. The nowal variants run the engine without its
// WAL, to separate the WAL's cost from the cost of sending one
// acknowledged batch at a time. The records are split over
// enginebench.Rounds rounds in which the sides take turns going first
// (enginebench.Rotate), so that on a shared machine whose load drifts
// they see about the same load; each side is opened once (a client and
// producer, or a producer engine) and produces every round's records. It
// reports records/s of each, their ratio (engine / plain) and each side's
// CPU time a record, beside plain+id (the plain client sending the
// engine's ID property) and, with the WAL, plain+log (see
// enginebench.ProducerComparison.Run, whose side labels separate them in a
// CPU profile). Run it with a fixed count:
//
//	go test ./adapters/pulsar -run '^$' -bench 'BenchmarkProducer$' -benchtime 500000x -count 3
func BenchmarkProducer(b *testing.B) {
	for _, v := range enginebench.ProducerVariants(true) {
		b.Run(v.Name, func(b *testing.B) {
			topics := []pulsartest.Option{pulsartest.Topic("engine", benchPartitions)}
			for _, name := range enginebench.PlainStreams() {
				topics = append(topics, pulsartest.Topic(name, benchPartitions))
			}
			br := pulsartest.Start(b, topics...)
			keys, skeys, values := make([][]byte, b.N), make([]string, b.N), make([][]byte, b.N)
			for i := range b.N {
				skeys[i], values[i] = benchRecord(i)
				keys[i] = []byte(skeys[i])
			}
			enginebench.ProducerComparison{Keys: keys, Values: values, URL: br.URL("engine"), PlainWithID: true,
				OpenPlain: func(b *testing.B, side enginebench.PlainSide) (func(lo, hi int) time.Duration, func()) {
					return benchPlainProducer(b, br, side, skeys, values)
				},
			}.Run(b, v)
		})
	}
}

// benchPlainProducer opens a client and a producer of the topic side.Name
// and returns the function that sends records [lo, hi) of keys and values
// with it (SendAsync with a callback per message, then Flush) and returns
// the time it took, and the function that closes them. With side.WithID,
// each message carries an ID (enginebench.AppendID) in the PropertyID
// property, as the engine's writer sends it.
func benchPlainProducer(b *testing.B, br *pulsartest.Broker, side enginebench.PlainSide, keys []string, values [][]byte) (func(lo, hi int) time.Duration, func()) {
	ctx := context.Background()
	cl, err := pulsarclient.NewClient(pulsarclient.ClientOptions{URL: br.ServiceURL(), Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	p, err := cl.CreateProducer(pulsarclient.ProducerOptions{Topic: side.Name, MaxPendingMessages: 10000})
	if err != nil {
		cl.Close()
		b.Fatal(err)
	}
	produce := func(lo, hi int) time.Duration {
		t0 := time.Now()
		var failed atomic.Int64
		var idBuf []byte
		for i := lo; i < hi; i++ {
			m := &pulsarclient.ProducerMessage{Key: keys[i], Payload: values[i]}
			if side.WithID {
				idBuf = enginebench.AppendID(idBuf[:0], i)
				m.Properties = map[string]string{pulsar.PropertyID: string(idBuf)}
			}
			p.SendAsync(ctx, m,
				func(_ pulsarclient.MessageID, _ *pulsarclient.ProducerMessage, err error) {
					if err != nil {
						failed.Add(1)
					}
				})
		}
		if err := p.FlushWithCtx(ctx); err != nil {
			b.Fatal(err)
		}
		d := time.Since(t0)
		if failed.Load() > 0 {
			b.Fatalf("%d plain sends failed", failed.Load())
		}
		return d
	}
	return produce, func() {
		p.Close()
		cl.Close()
	}
}

// BenchmarkWriter measures the adapter's Write alone: calls of 500 and of
// 10000 records of 100 bytes over the benchmark's partitions, each
// acknowledged by the broker before the next, from one writer and from
// four writing at once (the producer engine's default send lanes, which
// share the stream's partition producers). The producer engine sends one
// batch at a time per lane through Write, so this bounds its throughput
// on this adapter.
func BenchmarkWriter(b *testing.B) {
	for _, writers := range []int{1, 4} {
		for _, size := range []int{500, 10000} {
			b.Run(fmt.Sprintf("writers=%d/batch=%d", writers, size), func(b *testing.B) { benchWriter(b, writers, size) })
		}
	}
}

func benchWriter(b *testing.B, writers, size int) {
	ctx := context.Background()
	br := pulsartest.Start(b, pulsartest.Topic("w", benchPartitions))
	s, err := enginebench.OpenURL(ctx, br.URL("w"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	recs := make([]driver.Record, size)
	for i := range recs {
		k, v := benchRecord(i)
		recs[i] = driver.Record{ID: fmt.Sprintf("id-%d", i), Key: []byte(k), Value: v}
	}
	ws := make([]driver.Writer, writers)
	for i := range ws {
		if ws[i], err = s.OpenWriter(ctx); err != nil {
			b.Fatal(err)
		}
		defer ws[i].Close()
	}
	var calls atomic.Int64
	errs := make(chan error, writers)
	b.ReportAllocs()
	b.ResetTimer()
	for _, w := range ws {
		go func() {
			res := make([]driver.WriteResult, len(recs))
			for calls.Add(1) <= int64(b.N) {
				if err := w.Write(ctx, recs, res); err != nil {
					errs <- err
					return
				}
				for i := range res {
					if res[i].Err != nil {
						errs <- res[i].Err
						return
					}
				}
			}
			errs <- nil
		}()
	}
	var firstErr error
	for range ws { // every writer's goroutine ends before the benchmark does
		if err := <-errs; err != nil && firstErr == nil {
			firstErr = err
		}
	}
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*len(recs))/b.Elapsed().Seconds(), "records/s")
}
