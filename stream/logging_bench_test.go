package stream_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/driver"
	"github.com/unistream-go/unistream/stream/memstream"
	"github.com/unistream-go/unistream/stream/streamtest/enginebench"
)

// BenchmarkConsumerLogger measures what WithLogger costs the consumer on
// the records that log nothing: a no-op handler on memstream with the
// memory store, without a logger ("plain" in the metrics) and with a text
// logger at Info writing to io.Discard ("engine"), alternating in rounds.
// engine/plain near 1 means the logging observer costs nothing visible:
//
//	go test ./stream -run '^$' -bench BenchmarkConsumerLogger -benchtime 400000x
func BenchmarkConsumerLogger(b *testing.B) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	fill := func(n int) *memstream.Stream {
		s, err := memstream.NewBroker().Stream("bench", memstream.WithPartitions(1))
		if err != nil {
			b.Fatal(err)
		}
		w, err := s.OpenWriter(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		const chunk = 500
		recs := make([]driver.Record, chunk)
		res := make([]driver.WriteResult, chunk)
		for i := 0; i < n; i += chunk {
			m := min(chunk, n-i)
			for j := range m {
				recs[j] = driver.Record{ID: "x", Key: []byte{byte(j % 64)}, Value: []byte("payload")}
			}
			if err := w.Write(context.Background(), recs[:m], res[:m]); err != nil {
				b.Fatal(err)
			}
		}
		w.Close()
		return s
	}
	run := func(n int, opts ...stream.ConsumerOption) time.Duration {
		s := fill(n)
		defer s.Close()
		t0 := time.Now()
		end := enginebench.Consume(b, s, enginebench.Memory.New(b, s), n, append(opts, stream.WithBatchSize(500))...)
		return end.Sub(t0)
	}
	var plain, engine time.Duration
	b.ResetTimer()
	for r := range enginebench.Rounds {
		lo, hi := enginebench.Span(b.N, r)
		if hi == lo {
			continue
		}
		enginebench.Alternate(r,
			func() { plain += run(hi - lo) },
			func() { engine += run(hi-lo, stream.WithLogger(logger)) })
	}
	b.StopTimer()
	enginebench.Report(b, b.N, plain, engine)
}
