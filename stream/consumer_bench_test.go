package stream_test

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/unistream-go/unistream/stream"
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
