package otelstream_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/driver"
	"github.com/unistream-go/unistream/stream/memstream"
	"github.com/unistream-go/unistream/stream/otelstream"
	"github.com/unistream-go/unistream/stream/streamtest/enginebench"
)

// BenchmarkConsumerObserved runs the consumer engine over memstream with
// no observer (bare) and with an otelstream Observer on the SDK's meter
// provider (observed), on the same records in alternating rounds, and
// reports observed/bare (below 1: the metrics cost throughput).
// process=all records messaging.process.duration for every attempt (the
// default), process=1in16 for one in 16 (WithProcessDurationSampling).
func BenchmarkConsumerObserved(b *testing.B) {
	b.Run("process=all", func(b *testing.B) { benchConsumerObserved(b, 1) })
	b.Run("process=1in16", func(b *testing.B) { benchConsumerObserved(b, 16) })
}

func benchConsumerObserved(b *testing.B, every int) {
	reader := sdkmetric.NewManualReader()
	obs, err := otelstream.NewObserver(otelstream.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))),
		otelstream.WithSystem("mem"), otelstream.WithConsumerGroup("bench"), otelstream.WithProcessDurationSampling(every))
	if err != nil {
		b.Fatal(err)
	}
	defer obs.Close()
	bare, observed := compareConsumers(b, nil, stream.WithObserver(obs))
	b.ReportMetric(float64(b.N)/bare.Seconds(), "bare-records/s")
	b.ReportMetric(float64(b.N)/observed.Seconds(), "observed-records/s")
	b.ReportMetric(bare.Seconds()/observed.Seconds(), "observed/bare")
}

// compareConsumers consumes b.N records on memstream (4 partitions, each
// record with headers) with a bare consumer engine and one with opts, in
// alternating rounds on streams of their own, and returns the time each
// took to see all its records.
func compareConsumers(b *testing.B, headers []driver.Header, opts ...stream.ConsumerOption) (bare, with time.Duration) {
	fill := func(name string, count int) driver.Stream {
		s := memstream.New(name, memstream.WithPartitions(4), memstream.WithMaxBatchRecords(1000))
		w, err := s.OpenWriter(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		defer w.Close()
		for lo := 0; lo < count; lo += 1000 {
			recs := make([]driver.Record, min(1000, count-lo))
			for i := range recs {
				recs[i] = driver.Record{Key: fmt.Appendf(nil, "k%d", lo+i), Value: []byte("v"), Headers: headers}
			}
			res := make([]driver.WriteResult, len(recs))
			if err := w.Write(context.Background(), recs, res); err != nil {
				b.Fatal(err)
			}
		}
		return s
	}
	run := func(s driver.Stream, count int, opts ...stream.ConsumerOption) time.Duration {
		t0 := time.Now()
		end := enginebench.Consume(b, s, checkpoint.NewMemoryStore(), count, opts...)
		return end.Sub(t0)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for r := range enginebench.Rounds {
		lo, hi := enginebench.Span(b.N, r)
		if hi == lo {
			continue
		}
		b.StopTimer()
		sb, sw := fill(fmt.Sprintf("bare-%d", r), hi-lo), fill(fmt.Sprintf("with-%d", r), hi-lo)
		b.StartTimer()
		enginebench.Alternate(r,
			func() { bare += run(sb, hi-lo) },
			func() { with += run(sw, hi-lo, opts...) })
	}
	b.StopTimer()
	return bare, with
}

// BenchmarkObserve measures one record's events (an attempt started and
// succeeded) through an Observer on the SDK's meter provider, from
// parallel goroutines on 8 partitions.
func BenchmarkObserve(b *testing.B) {
	reader := sdkmetric.NewManualReader()
	obs, err := otelstream.NewObserver(otelstream.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))))
	if err != nil {
		b.Fatal(err)
	}
	rec := &stream.Record{ID: "1"}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			part := partitions[i%len(partitions)]
			i++
			obs.Observe(stream.Event{Kind: stream.EventAttemptStarted, Stream: "s", Partition: part, Record: rec, Attempt: 1})
			obs.Observe(stream.Event{Kind: stream.EventAttemptSucceeded, Stream: "s", Partition: part, Record: rec, Attempt: 1, Elapsed: time.Millisecond})
		}
	})
}

var partitions = []string{"0", "1", "2", "3", "4", "5", "6", "7"}

// BenchmarkObserveVsSDK compares Observe of a successful attempt with the
// one SDK call it makes (messaging.process.duration's Record with an
// attribute set built beforehand), in alternating rounds on one
// goroutine, and reports observer/sdk (above 1: the Observer's own cost).
func BenchmarkObserveVsSDK(b *testing.B) {
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	obs, err := otelstream.NewObserver(otelstream.WithMeterProvider(mp), otelstream.WithSystem("kafka"), otelstream.WithConsumerGroup("g"))
	if err != nil {
		b.Fatal(err)
	}
	h, err := mp.Meter("direct").Float64Histogram("direct.duration", metric.WithUnit("s"))
	if err != nil {
		b.Fatal(err)
	}
	set := metric.WithAttributeSet(attribute.NewSet(otelstream.AttrSystem.String("kafka"), otelstream.AttrDestination.String("s"),
		otelstream.AttrPartition.String("1"), otelstream.AttrConsumerGroup.String("g"),
		otelstream.AttrOperationName.String("process"), otelstream.AttrOperationType.String("process")))
	opts := []metric.RecordOption{set}
	ctx := context.Background()
	rec := &stream.Record{ID: "1"}
	e := stream.Event{Kind: stream.EventAttemptSucceeded, Stream: "s", Partition: "1", Record: rec, Attempt: 1, Elapsed: time.Millisecond}
	var direct, observed time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for r := range enginebench.Rounds {
		lo, hi := enginebench.Span(b.N, r)
		enginebench.Alternate(r,
			func() {
				t0 := time.Now()
				for range hi - lo {
					h.Record(ctx, e.Elapsed.Seconds(), opts...)
				}
				direct += time.Since(t0)
			},
			func() {
				t0 := time.Now()
				for range hi - lo {
					obs.Observe(e)
				}
				observed += time.Since(t0)
			})
	}
	b.StopTimer()
	b.ReportMetric(float64(direct.Nanoseconds())/float64(b.N), "sdk-ns/event")
	b.ReportMetric(float64(observed.Nanoseconds())/float64(b.N), "observer-ns/event")
	b.ReportMetric(observed.Seconds()/direct.Seconds(), "observer/sdk")
}

// BenchmarkObserveKinds measures Observe of one event of each kind the
// consumer and producer send per record or per batch, on one goroutine
// and one cached partition (or lane): a counter's event is an atomic add,
// an attempt's end a histogram Record (all of them, or one in 16 with
// WithProcessDurationSampling).
func BenchmarkObserveKinds(b *testing.B) {
	rec := &stream.Record{ID: "1"}
	for _, c := range []struct {
		name string
		e    stream.Event
		opts []otelstream.Option
	}{
		{"batch_fetched", stream.Event{Kind: stream.EventBatchFetched, Stream: "s", Partition: "1", Count: 100}, nil},
		{"skipped", stream.Event{Kind: stream.EventSkipped, Stream: "s", Partition: "1", Record: rec, Elapsed: time.Millisecond}, nil},
		{"attempt_succeeded", stream.Event{Kind: stream.EventAttemptSucceeded, Stream: "s", Partition: "1", Record: rec, Elapsed: time.Millisecond}, nil},
		{"attempt_succeeded/sampled=16", stream.Event{Kind: stream.EventAttemptSucceeded, Stream: "s", Partition: "1", Record: rec, Elapsed: time.Millisecond},
			[]otelstream.Option{otelstream.WithProcessDurationSampling(16)}},
		{"attempt_succeeded/histograms", stream.Event{Kind: stream.EventAttemptSucceeded, Stream: "s", Partition: "1", Record: rec, Elapsed: time.Millisecond},
			[]otelstream.Option{otelstream.WithHistograms(otelstream.NewHistograms())}},
		{"producer_sent", stream.Event{Kind: stream.EventProducerSent, Stream: "s", Lane: 1, Count: 100}, nil},
	} {
		b.Run(c.name, func(b *testing.B) {
			mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
			obs, err := otelstream.NewObserver(append([]otelstream.Option{otelstream.WithMeterProvider(mp),
				otelstream.WithSystem("kafka"), otelstream.WithConsumerGroup("g")}, c.opts...)...)
			if err != nil {
				b.Fatal(err)
			}
			defer obs.Close()
			obs.Observe(c.e)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				obs.Observe(c.e)
			}
		})
	}
}
