package stream_test

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/driver"
	"github.com/unistream-go/unistream/stream/memstream"
)

// BenchmarkConsumer measures the consumer engine's cost per record with a
// no-op handler on memstream: fetch, batch checkpoint, in_progress and
// succeeded saves, commit. Report: ns/record, allocs/record.
func BenchmarkConsumer(b *testing.B) {
	stores := []struct {
		name string
		new  func(b *testing.B) checkpoint.Store
	}{
		{"memory", func(b *testing.B) checkpoint.Store { return checkpoint.NewMemoryStore() }},
		{"file", func(b *testing.B) checkpoint.Store {
			s, err := checkpoint.NewFileStore(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			return s
		}},
	}
	for _, st := range stores {
		for _, conc := range []int{1, 8} {
			b.Run(fmt.Sprintf("store=%s/batch=500/concurrency=%d", st.name, conc), func(b *testing.B) {
				benchConsumer(b, st.new(b), conc)
			})
		}
	}
}

func benchConsumer(b *testing.B, store checkpoint.Store, conc int) {
	n := b.N
	s, err := memstream.NewBroker().Stream("bench", memstream.WithPartitions(1))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	w, err := s.OpenWriter(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	const chunk = 500
	recs := make([]driver.Record, chunk)
	res := make([]driver.WriteResult, chunk)
	for i := 0; i < n; i += chunk {
		m := min(chunk, n-i)
		for j := 0; j < m; j++ {
			recs[j] = driver.Record{ID: "x", Key: []byte{byte(j % 64)}, Value: []byte("payload")}
		}
		if err := w.Write(context.Background(), recs[:m], res[:m]); err != nil {
			b.Fatal(err)
		}
	}
	w.Close()

	var count atomic.Int64
	done := make(chan struct{})
	h := func(ctx context.Context, r *stream.Record) error {
		if count.Add(1) == int64(n) {
			close(done)
		}
		return nil
	}
	c, err := stream.NewConsumer(s, h, stream.WithCheckpointStore(store), stream.WithOnExhausted(stream.Halt),
		stream.WithBatchSize(500), stream.WithConcurrency(conc), stream.WithPollInterval(time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	runtime.GC()
	b.ReportAllocs()
	b.ResetTimer()
	go func() { errc <- c.Run(ctx) }()
	<-done
	cancel()
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/record")
}
