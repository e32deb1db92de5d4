package kafka_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/unistream-go/unistream/adapters/kafka"
	"github.com/unistream-go/unistream/adapters/kafka/kafkatest"
	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/driver"
	"github.com/unistream-go/unistream/stream/streamtest/enginebench"
)

// BenchmarkConsumerPartitions compares the consumer engine on a topic of
// many partitions with one plain franz-go client over the same topic, with
// the readers on the pool of shared clients (reader_client=shared, the
// default), with the memory checkpoint store and with the Kafka one (a
// durable store, as users run it: a commit per partition per batch), and
// on a client each (reader_client=partition, the behaviour before
// sharing, memory store). The b.N records are spread evenly over the partitions; in each
// of two rounds both sides read them all from the start, alternating which
// goes first. Besides records/s of each side and engine/plain it reports,
// sampled when the side has read the last record, the connections the
// broker holds, the process's heap in use (after a GC; the embedded
// broker's heap, the same for both sides, included) and its goroutines;
// then the connections once the idle ones have closed (both sides with a
// connection idle timeout of 200 ms: a client's seed and metadata
// connections serve only its start, its fetch connection stays).
//
//	go test ./adapters/kafka -run '^$' -bench BenchmarkConsumerPartitions -benchtime 200000x
func BenchmarkConsumerPartitions(b *testing.B) {
	kafkaStore := enginebench.Store{Name: "kafka", New: func(_ *testing.B, s driver.Stream) checkpoint.Store {
		return kafka.NewStore(s.(*kafka.Stream))
	}}
	for _, parts := range []int{100, 1000} {
		for _, v := range []struct {
			rc    string
			store enginebench.Store
		}{{"shared", enginebench.Memory}, {"shared", kafkaStore}, {"partition", enginebench.Memory}} {
			b.Run(fmt.Sprintf("partitions=%d/reader_client=%s/store=%s", parts, v.rc, v.store.Name), func(b *testing.B) {
				benchConsumerPartitions(b, parts, v.rc, v.store)
			})
		}
	}
}

// sample is what a side holds when it has read its last record.
type sample struct {
	conns, idle, goroutines int
	heap                    uint64
}

// take samples the connections of c and the process.
func (s *sample) take(c *kafkatest.Cluster, most int) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	*s = sample{conns: c.Connections(), goroutines: runtime.NumGoroutine(), heap: ms.HeapInuse}
	s.idle = c.WaitConnections(most, 10*time.Second)
}

// benchIdle is the connection idle timeout of both sides.
const benchIdle = 200 * time.Millisecond

func benchConsumerPartitions(b *testing.B, parts int, readerClient string, store enginebench.Store) {
	ctx := context.Background()
	const topic = "many"
	c := kafkatest.Start(b, kafkatest.Topic(topic, parts))
	cl, err := c.Client(kgo.MaxBufferedRecords(1<<20), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		b.Fatal(err)
	}
	benchProduce(b, cl, 0, b.N, func(i int) (string, int32) { return topic, int32(i % parts) })
	if err := cl.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	cl.Close()

	// What the engine's connections settle to: the pool's fetch
	// connections, or one per partition with a client each; plus one for
	// metadata.
	most := kafka.DefaultReaderClients + 1
	if readerClient == "partition" {
		most = parts + 1
	}
	const rounds = 2
	var plain, engine time.Duration
	var ps, es sample
	b.ReportAllocs()
	b.ResetTimer()
	for r := range rounds {
		runPlain := func() {
			t0 := time.Now()
			pc, err := c.Client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.ConnIdleTimeout(benchIdle))
			if err != nil {
				b.Fatal(err)
			}
			got := 0
			for got < b.N {
				fs := pc.PollRecords(ctx, 1000)
				if err := fs.Err(); err != nil {
					b.Fatal(err)
				}
				got += fs.NumRecords()
			}
			plain += time.Since(t0)
			ps.take(c, 1)
			pc.Close()
		}
		runEngine := func() {
			t0 := time.Now()
			s, err := kafkaOpen(ctx, c.URL(topic, "fetch_wait", "10ms", "reader_client", readerClient, "conn_idle_timeout", benchIdle.String()))
			if err != nil {
				b.Fatal(err)
			}
			// A consumer name per round: both rounds read one topic, and a
			// durable store would start the second where the first ended.
			end := enginebench.ConsumeThen(b, s, store.New(b, s), b.N, func() { es.take(c, most) }, stream.WithName(fmt.Sprintf("bench-%d-%d", b.N, r)))
			engine += end.Sub(t0)
			s.Close()
		}
		// Each side starts on a quiet process: the other side's
		// connections closed and its garbage collected (a side started
		// while the other's thousand partition workers wound down
		// measured up to a third slower).
		quiet := func(side func()) func() {
			return func() {
				c.WaitConnections(0, 10*time.Second)
				runtime.GC()
				side()
			}
		}
		enginebench.Alternate(r, quiet(runPlain), quiet(runEngine))
	}
	b.StopTimer()
	enginebench.Report(b, rounds*b.N, plain, engine)
	b.ReportMetric(float64(es.conns), "engine-conns")
	b.ReportMetric(float64(ps.conns), "plain-conns")
	b.ReportMetric(float64(es.idle), "engine-conns-idle")
	b.ReportMetric(float64(ps.idle), "plain-conns-idle")
	b.ReportMetric(float64(es.heap)/(1<<20), "engine-heap-MB")
	b.ReportMetric(float64(ps.heap)/(1<<20), "plain-heap-MB")
	b.ReportMetric(float64(es.goroutines), "engine-goroutines")
	b.ReportMetric(float64(ps.goroutines), "plain-goroutines")
}
