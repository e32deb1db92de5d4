package otelstream_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/memstream"
	"github.com/unistream-go/unistream/stream/otelstream"
)

// An Observer given to a producer and a consumer with stream.WithObserver
// turns their events into metrics. Here a manual reader collects them; in
// production the meter provider has an exporter (OTLP, Prometheus, ...).
func ExampleNewObserver() {
	ctx := context.Background()
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer provider.Shutdown(ctx)

	obs, err := otelstream.NewObserver(otelstream.WithMeterProvider(provider),
		otelstream.WithSystem(otelstream.SystemForScheme("mem")), otelstream.WithConsumerGroup("billing"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer obs.Close() // unregisters the counters' callback

	s := stream.NewStream(memstream.New("example-otel"))
	p, err := stream.NewProducer(s, stream.WithoutWAL(), stream.WithObserver(obs))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, v := range []string{"apple", "pear", "plum"} {
		if err := p.Put(ctx, stream.Record{Key: []byte(v), Value: []byte(v)}); err != nil {
			fmt.Println(err)
		}
	}
	if err := p.Close(ctx); err != nil {
		fmt.Println(err)
	}

	var handled atomic.Int32
	runCtx, stop := context.WithCancel(ctx)
	c, err := stream.NewConsumer(s, func(context.Context, *stream.Record) error {
		if handled.Add(1) == 1 {
			return errors.New("first attempt fails") // retried
		}
		if handled.Load() == 4 {
			stop() // every record is done: a graceful stop
		}
		return nil
	}, stream.WithName("billing"), stream.WithCheckpointStore(checkpoint.NewMemoryStore()),
		stream.WithOnExhausted(stream.Halt),
		stream.WithRetry(stream.RetryPolicy{MaxAttempts: 3, Initial: time.Millisecond, Multiplier: 1, MaxInterval: time.Millisecond}),
		stream.WithObserver(obs))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	if err := c.Run(runCtx); err != nil {
		fmt.Println(err)
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		fmt.Println(err)
		return
	}
	var lines []string
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, pt := range d.DataPoints {
					lines = append(lines, fmt.Sprintf("%s %d", m.Name, pt.Value))
				}
			case metricdata.Histogram[float64]:
				for _, pt := range d.DataPoints {
					errType, _ := pt.Attributes.Value(otelstream.AttrErrorType)
					lines = append(lines, fmt.Sprintf("%s %s count=%d", m.Name, errType.String(), pt.Count))
				}
			}
		}
	}
	sort.Strings(lines)
	for _, l := range lines {
		if strings.HasPrefix(l, "unistream.consumer.batch.duration") || strings.HasPrefix(l, "unistream.consumer.checkpoint.save.duration") ||
			strings.HasPrefix(l, "messaging.client.operation.duration") {
			continue // one per batch, save or Write: how the records are batched varies
		}
		fmt.Println(l)
	}
	// Output:
	// messaging.client.consumed.messages 3
	// messaging.client.sent.messages 3
	// messaging.process.duration  count=3
	// messaging.process.duration _OTHER count=1
	// unistream.consumer.retries 1
}
