package pulsarfake_test

import (
	"context"
	"testing"
	"time"

	"github.com/apache/pulsar-client-go/pulsar"
)

// BenchmarkProduceConsume measures messages per second through the fake
// with pulsar-client-go: a batching producer and a consumer that acks
// every message.
func BenchmarkProduceConsume(b *testing.B) {
	br := startBroker(b)
	c, err := pulsar.NewClient(pulsar.ClientOptions{URL: br.ServiceURL(), Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	cons, err := c.Subscribe(pulsar.ConsumerOptions{Topic: "bench", SubscriptionName: "s"})
	if err != nil {
		b.Fatal(err)
	}
	defer cons.Close()
	p, err := c.CreateProducer(pulsar.ProducerOptions{Topic: "bench", BatchingMaxPublishDelay: time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	payload := make([]byte, 100)
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	sent := make(chan struct{})
	defer func() { <-sent }()
	go func() {
		defer close(sent)
		for i := 0; i < b.N; i++ {
			p.SendAsync(ctx, &pulsar.ProducerMessage{Payload: payload}, func(pulsar.MessageID, *pulsar.ProducerMessage, error) {})
		}
		_ = p.FlushWithCtx(context.Background())
	}()
	for i := 0; i < b.N; i++ {
		m, err := cons.Receive(ctx)
		if err != nil {
			b.Fatal(err)
		}
		_ = cons.Ack(m)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}
