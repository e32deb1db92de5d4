package stream_test

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/unistream-go/unistream/stream"
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
	run := func(n int, opts ...stream.ConsumerOption) time.Duration {
		s := enginebench.MemStream(b, n)
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
