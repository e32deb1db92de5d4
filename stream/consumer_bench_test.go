package stream_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/memstream"
	"github.com/unistream-go/unistream/stream/streamtest/enginebench"
)

// BenchmarkConsumer measures the consumer engine's cost per record with a
// no-op handler on memstream, with the memory and the file store (in
// b.TempDir()): fetch, batch checkpoint, the checkpoint saves, commit.
// It reports ns/record, allocs/record (the engine's, the store's and
// memstream's; -benchmem's allocs/op is the same count rounded down, b.N
// being the number of records) and the store's saves/record:
//
//	go test ./stream -run '^$' -bench 'BenchmarkConsumer$/store=file' -benchtime 200000x -benchmem
func BenchmarkConsumer(b *testing.B) {
	for _, st := range []enginebench.Store{enginebench.Memory, enginebench.File} {
		for _, conc := range []int{1, 8} {
			b.Run(fmt.Sprintf("store=%s/batch=500/concurrency=%d", st.Name, conc), func(b *testing.B) {
				benchConsumer(b, st, conc)
			})
		}
	}
}

func benchConsumer(b *testing.B, st enginebench.Store, conc int) {
	n := b.N
	s := enginebench.MemStream(b, n)
	defer s.Close()
	store := enginebench.Count(st.New(b, s))
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	b.ReportAllocs()
	b.ResetTimer()
	enginebench.Consume(b, s, store, n, stream.WithBatchSize(500), stream.WithConcurrency(conc))
	b.StopTimer()
	runtime.ReadMemStats(&m1)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/record")
	b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/float64(n), "allocs/record")
	b.ReportMetric(float64(store.Saves())/float64(n), "saves/record")
}

// BenchmarkIdlePartitions measures what the consumer engine holds per
// partition that has nothing to read (issue 17's targets: at most 64 KiB
// and 2 goroutines): a consumer over 100 and 1,000 empty memstream
// partitions, once every partition's worker has loaded its checkpoint and
// opened its reader. It reports heap KiB/partition (HeapInuse before the
// consumer and with it running, after a GC) and goroutines/partition. The
// time per op is that of starting the consumer and is not the point.
//
//	go test ./stream -run '^$' -bench BenchmarkIdlePartitions -benchtime 1x
func BenchmarkIdlePartitions(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("partitions=%d", n), func(b *testing.B) {
			var kib, gor float64
			for range b.N {
				k, g := idlePartitions(b, n)
				kib += k
				gor += g
			}
			b.ReportMetric(kib/float64(b.N), "heap-KiB/partition")
			b.ReportMetric(gor/float64(b.N), "goroutines/partition")
		})
	}
}

// idlePartitions runs a consumer over n empty partitions until each has
// its reader open, and returns the heap KiB and goroutines per partition.
func idlePartitions(b *testing.B, n int) (kib, goroutines float64) {
	s, err := memstream.NewBroker().Stream("idle", memstream.WithPartitions(n))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	store := enginebench.Count(checkpoint.NewMemoryStore())
	runtime.GC()
	var before, during runtime.MemStats
	runtime.ReadMemStats(&before)
	g0 := runtime.NumGoroutine()
	c, err := stream.NewConsumer(stream.NewStream(s), func(context.Context, *stream.Record) error { return nil },
		stream.WithName("idle"), stream.WithCheckpointStore(store), stream.WithOnExhausted(stream.Halt))
	if err != nil {
		b.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	// Every worker loads its checkpoint, then opens its reader and polls.
	deadline := time.Now().Add(time.Minute)
	for store.Loads() < int64(n) || runtime.NumGoroutine() < g0+n {
		if time.Now().After(deadline) {
			b.Fatalf("after a minute %d of %d checkpoints loaded, %d goroutines", store.Loads(), n, runtime.NumGoroutine()-g0)
		}
		time.Sleep(time.Millisecond) // polling a condition with a deadline
	}
	runtime.GC()
	runtime.ReadMemStats(&during)
	g := runtime.NumGoroutine() - g0
	stop()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	c.Close()
	return float64(int64(during.HeapInuse)-int64(before.HeapInuse)) / 1024 / float64(n), float64(g) / float64(n)
}
