package kafka_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/unistream-go/unistream/adapters/kafka"
	"github.com/unistream-go/unistream/adapters/kafka/kafkatest"
	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/driver"
	"github.com/unistream-go/unistream/stream/otelstream"
	"github.com/unistream-go/unistream/stream/streamtest/enginebench"
)

// The benchmarks compare the engines with plain franz-go on the same
// embedded broker, in one run: each iteration of b.N records measures both
// and reports records/s of each and their ratio (engine / plain). The
// producer benchmarks alternate the two sides in rounds (enginebench.Rounds). Run them
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
// 1000) with a plain franz-go consume loop that reads the same records,
// with each checkpoint store: memory, file (in b.TempDir()) and kafka (the
// Kafka-native Store, on the engine's stream). The b.N records are split
// over enginebench.Rounds topics; in each round plain and engine each read
// the round's topic from the start (plain with one client over every
// partition, the engine with a new stream, store and consumer),
// alternating which goes first (enginebench.Comparison). Besides the
// records/s of each side and engine/plain it reports the store's
// saves/record.
func BenchmarkConsumer(b *testing.B) {
	kafkaStore := enginebench.Store{Name: "kafka", New: func(_ *testing.B, s driver.Stream) checkpoint.Store {
		return kafka.NewStore(s.(*kafka.Stream))
	}}
	for _, st := range []enginebench.Store{enginebench.Memory, enginebench.File, kafkaStore} {
		b.Run("store="+st.Name, func(b *testing.B) { benchConsumer(b, st) })
	}
}

func benchConsumer(b *testing.B, store enginebench.Store) {
	ctx := context.Background()
	c, topic := benchFill(b, b.N)
	enginebench.Comparison{
		Plain: func(b *testing.B, r, n int) time.Duration { return benchPlainConsume(b, c, topic(r), n) },
		Open:  func(r int) (driver.Stream, error) { return kafkaOpen(ctx, c.URL(topic(r), "fetch_wait", "10ms")) },
	}.Run(b, store)
}

// benchFill starts an embedded broker with one topic per round
// (enginebench.Rounds) and fills round r's topic with the records of
// enginebench.Span(n, r) with plain franz-go. It returns the broker and the
// topic of a round.
func benchFill(b *testing.B, n int) (*kafkatest.Cluster, func(r int) string) {
	ctx := context.Background()
	topic := func(r int) string { return fmt.Sprintf("bench-%d", r) }
	var topics []kafkatest.Option
	for r := range enginebench.Rounds {
		topics = append(topics, kafkatest.Topic(topic(r), benchPartitions))
	}
	c := kafkatest.Start(b, topics...)
	cl, err := c.Client(kgo.MaxBufferedRecords(1 << 20))
	if err != nil {
		b.Fatal(err)
	}
	for r := range enginebench.Rounds {
		lo, hi := enginebench.Span(n, r)
		benchProduce(b, cl, lo, hi, func(int) (string, int32) { return topic(r), 0 })
	}
	if err := cl.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	cl.Close()
	return c, topic
}

// benchProduce produces the records lo to hi-1 of benchRecord, with an
// id header, through cl: record i to the topic and partition at(i) gives
// (the partition counts only with a manual partitioner). It does not wait
// for them: Flush.
func benchProduce(b *testing.B, cl *kgo.Client, lo, hi int, at func(i int) (string, int32)) {
	for i := lo; i < hi; i++ {
		k, v := benchRecord(i)
		topic, p := at(i)
		cl.Produce(context.Background(), &kgo.Record{Topic: topic, Partition: p, Key: k, Value: v,
			Headers: []kgo.RecordHeader{{Key: "unistream-id", Value: fmt.Appendf(nil, "id-%d", i)}}}, func(_ *kgo.Record, err error) {
			if err != nil {
				b.Error(err)
			}
		})
	}
}

// BenchmarkConsumerOtel measures what the OpenTelemetry observer costs the
// consumer engine on Kafka: the engine with an otelstream.Observer on an
// SDK meter provider with a manual reader (the SDK's default exemplar
// filter, which samples with the trace) against the same engine without
// an observer, both on the memory checkpoint store, reading the same
// topics in alternating rounds (enginebench.Comparison, whose "plain" side
// is here the engine without the observer). engine/plain is the observed
// engine's share of the bare one's throughput (issue 16: at least 0.9).
// process=all records messaging.process.duration for every attempt (the
// default); process=1in16 samples it (otelstream.WithProcessDurationSampling);
// process=histograms aggregates it exactly in otelstream.Histograms,
// registered with the reader as a producer (otelstream.WithHistograms);
// observer=noop gives the engine an observer that does nothing instead, to
// tell what the engine's events cost from what the Observer costs. After
// the run a collection must count every record the observed side consumed.
//
//	go test ./adapters/kafka -run '^$' -bench BenchmarkConsumerOtel -benchtime 800000x -count 3
func BenchmarkConsumerOtel(b *testing.B) {
	for _, v := range []struct {
		name  string
		every int
	}{{"process=all", 1}, {"process=1in16", 16}, {"process=histograms", -1}, {"observer=noop", 0}} {
		b.Run(v.name, func(b *testing.B) { benchConsumerOtel(b, v.every) })
	}
}

// benchConsumerOtel runs BenchmarkConsumerOtel with the process duration
// of one attempt in every recorded, in Histograms for every < 0, or a
// no-op observer for every 0.
func benchConsumerOtel(b *testing.B, every int) {
	ctx := context.Background()
	c, topic := benchFill(b, b.N)
	hs := otelstream.NewHistograms()
	var reader *sdkmetric.ManualReader
	if every < 0 {
		reader = sdkmetric.NewManualReader(sdkmetric.WithProducer(hs))
	} else {
		reader, hs = sdkmetric.NewManualReader(), nil
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(ctx)
	obs, err := otelstream.NewObserver(otelstream.WithMeterProvider(mp), otelstream.WithSystem("kafka"),
		otelstream.WithConsumerGroup("bench"), otelstream.WithProcessDurationSampling(every), otelstream.WithHistograms(hs))
	if err != nil {
		b.Fatal(err)
	}
	defer obs.Close()
	var observer stream.Observer = obs
	if every == 0 {
		observer = stream.ObserverFunc(func(stream.Event) {})
	}
	open := func(r int) (driver.Stream, error) { return kafkaOpen(ctx, c.URL(topic(r), "fetch_wait", "10ms")) }
	enginebench.Comparison{
		Plain: func(b *testing.B, r, n int) time.Duration {
			t0 := time.Now()
			s, err := open(r)
			if err != nil {
				b.Fatal(err)
			}
			end := enginebench.Consume(b, s, checkpoint.NewMemoryStore(), n)
			s.Close()
			return end.Sub(t0)
		},
		Open:    open,
		Options: []stream.ConsumerOption{stream.WithObserver(observer)},
	}.Run(b, enginebench.Memory)
	if every == 0 {
		return
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		b.Fatal(err)
	}
	var consumed int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if s, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == "messaging.client.consumed.messages" {
				for _, p := range s.DataPoints {
					consumed += p.Value
				}
			}
		}
	}
	if consumed != int64(b.N) {
		b.Fatalf("messaging.client.consumed.messages = %d after the run, want %d (every record of the observed side)", consumed, b.N)
	}
}

// benchPlainConsume reads n records of topic from the start with a new
// plain franz-go client over every partition and returns the time it took.
func benchPlainConsume(b *testing.B, c *kafkatest.Cluster, topic string, n int) time.Duration {
	ctx := context.Background()
	t0 := time.Now()
	pc, err := c.Client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
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
	return time.Since(t0)
}

// BenchmarkProducer compares the producer engine with plain franz-go
// producing the same records (Produce with a promise per record, then
// Flush), each side opened once, in every enginebench.ProducerVariants
// variant (batches of 500 and 10000, with the WAL and without),
// alternating rounds (enginebench.ProducerComparison).
func BenchmarkProducer(b *testing.B) {
	for _, v := range enginebench.ProducerVariants(true) {
		b.Run(v.Name, func(b *testing.B) {
			topics := []kafkatest.Option{kafkatest.Topic("engine", benchPartitions)}
			for _, name := range enginebench.PlainStreams() {
				topics = append(topics, kafkatest.Topic(name, benchPartitions))
			}
			c := kafkatest.Start(b, topics...)
			keys, values := make([][]byte, b.N), make([][]byte, b.N)
			for i := range b.N {
				keys[i], values[i] = benchRecord(i)
			}
			enginebench.ProducerComparison{Keys: keys, Values: values, URL: c.URL("engine"), PlainWithID: true,
				OpenPlain: func(b *testing.B, side enginebench.PlainSide) (func(lo, hi int) time.Duration, func()) {
					return benchPlainProducer(b, c, side, keys, values)
				},
			}.Run(b, v)
		})
	}
}

// benchPlainProducer opens a plain franz-go client producing to the topic
// side.Name and returns the function that produces records [lo, hi) of
// keys and values with it (a promise per record, then Flush) and returns
// the time it took, and the function that closes the client. With
// side.WithID, each record carries an ID (enginebench.AppendID, made into
// one buffer per call) in the HeaderID header, as the engine's writer
// sends it.
func benchPlainProducer(b *testing.B, c *kafkatest.Cluster, side enginebench.PlainSide, keys, values [][]byte) (func(lo, hi int) time.Duration, func()) {
	ctx := context.Background()
	cl, err := c.Client(kgo.DefaultProduceTopic(side.Name), kgo.MaxBufferedRecords(10000))
	if err != nil {
		b.Fatal(err)
	}
	produce := func(lo, hi int) time.Duration {
		t0 := time.Now()
		var failed atomic.Int64
		var ids []byte
		if side.WithID {
			ids = make([]byte, 0, 36*(hi-lo))
		}
		for i := lo; i < hi; i++ {
			r := &kgo.Record{Key: keys[i], Value: values[i]}
			if side.WithID {
				start := len(ids)
				ids = enginebench.AppendID(ids, i)
				r.Headers = []kgo.RecordHeader{{Key: kafka.HeaderID, Value: ids[start:len(ids):len(ids)]}}
			}
			cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
				if err != nil {
					failed.Add(1)
				}
			})
		}
		if err := cl.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		d := time.Since(t0)
		if failed.Load() > 0 {
			b.Fatalf("%d plain records failed", failed.Load())
		}
		return d
	}
	return produce, cl.Close
}

// BenchmarkWriter measures the adapter's Write alone: calls of 500 and of
// 10000 records of 100 bytes, each acknowledged by the broker before the
// next. The producer engine sends one batch at a time through Write, so
// this is the bound of its throughput on this adapter.
func BenchmarkWriter(b *testing.B) {
	for _, size := range []int{500, 10000} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) { benchWriter(b, size) })
	}
}

func benchWriter(b *testing.B, size int) {
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
	recs := make([]driver.Record, size)
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
		for i := range res {
			if res[i].Err != nil {
				b.Fatal(res[i].Err)
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*len(recs))/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkWriterVsPlain compares the adapter's Write with plain franz-go
// under the same contract, in one run: each iteration writes one call of
// size records through Write, and produces the same records (with the
// same id header) through a plain franz-go client (default options: a
// promise per record, then Flush), waiting for every acknowledgement. The
// sides alternate which goes first. writer/plain near 1 means the
// adapter adds little to what one acknowledged batch at a time costs with
// franz-go itself.
func BenchmarkWriterVsPlain(b *testing.B) {
	for _, size := range []int{500, 10000} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) { benchWriterVsPlain(b, size) })
	}
}

func benchWriterVsPlain(b *testing.B, size int) {
	ctx := context.Background()
	c := kafkatest.Start(b, kafkatest.Topic("w", benchPartitions), kafkatest.Topic("p", benchPartitions))
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
	cl, err := c.Client(kgo.DefaultProduceTopic("p"), kgo.MaxBufferedRecords(10000))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	recs := make([]driver.Record, size)
	for i := range recs {
		k, v := benchRecord(i)
		// A UUIDv7-long id, as the producer engine makes.
		recs[i] = driver.Record{ID: fmt.Sprintf("0190f3c2-7a1b-7c3d-8e4f-%012d", i), Key: k, Value: v}
	}
	res := make([]driver.WriteResult, len(recs))
	var writer, plain time.Duration
	runWriter := func() {
		t0 := time.Now()
		if err := w.Write(ctx, recs, res); err != nil {
			b.Fatal(err)
		}
		writer += time.Since(t0)
		for i := range res {
			if res[i].Err != nil {
				b.Fatal(res[i].Err)
			}
		}
	}
	runPlain := func() {
		t0 := time.Now()
		var failed atomic.Int64
		for i := range recs {
			r := &recs[i]
			kr := &kgo.Record{Key: r.Key, Value: r.Value, Headers: []kgo.RecordHeader{{Key: "unistream-id", Value: []byte(r.ID)}}}
			cl.Produce(ctx, kr, func(_ *kgo.Record, err error) {
				if err != nil {
					failed.Add(1)
				}
			})
		}
		if err := cl.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		plain += time.Since(t0)
		if n := failed.Load(); n > 0 {
			b.Fatalf("%d plain records failed", n)
		}
	}
	// Warm both clients up (metadata, producer id) outside the timing.
	runWriter()
	runPlain()
	writer, plain = 0, 0
	b.ResetTimer()
	for i := range b.N {
		enginebench.Alternate(i, runPlain, runWriter)
	}
	b.StopTimer()
	n := float64(b.N * size)
	b.ReportMetric(n/writer.Seconds(), "writer-records/s")
	b.ReportMetric(n/plain.Seconds(), "plain-records/s")
	b.ReportMetric(plain.Seconds()/writer.Seconds(), "writer/plain")
}
