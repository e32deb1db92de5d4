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
	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
)

// The benchmark compares the consumer engine with plain pulsar-client-go on
// the same pulsarfake broker, in one run: each iteration of b.N records
// measures both and reports records/s of each and their ratio
// (engine / plain). Run it with a fixed count for stable numbers:
//
//	go test ./adapters/pulsar -run '^$' -bench Consumer -benchtime 200000x

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
// 1000, memory checkpoint store) with a plain pulsar-client-go loop that
// receives and acknowledges the same records on a durable subscription.
func BenchmarkConsumer(b *testing.B) {
	ctx := context.Background()
	n := b.N
	br := pulsartest.Start(b, pulsartest.Topic("bench", benchPartitions))
	cl := benchClient(b, br)
	// Fill the topic with a plain batching producer, keyed as the adapter
	// would route.
	p, err := cl.CreateProducer(pulsarclient.ProducerOptions{Topic: "bench", MaxPendingMessages: 10000})
	if err != nil {
		b.Fatal(err)
	}
	var failed atomic.Int64
	for i := range n {
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
	if failed.Load() > 0 {
		b.Fatalf("%d sends failed", failed.Load())
	}
	b.ResetTimer()

	// Plain pulsar-client-go: one consumer of every partition from the
	// start, Receive and Ack per message.
	t0 := time.Now()
	c, err := cl.Subscribe(pulsarclient.ConsumerOptions{Topic: "bench", SubscriptionName: "plain", Type: pulsarclient.Exclusive,
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
	plain := time.Since(t0)

	// The engine.
	t1 := time.Now()
	s, err := stream.Open(ctx, br.URL("bench", "fetch_wait", "10ms"))
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
	b.ReportMetric(float64(n)/plain.Seconds(), "plain-records/s")
	b.ReportMetric(float64(n)/engine.Seconds(), "engine-records/s")
	b.ReportMetric(plain.Seconds()/engine.Seconds(), "engine/plain")
}
