package postgres_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/checkpoint/postgres"
	"github.com/unistream-go/unistream/stream/memstream"
	"github.com/unistream-go/unistream/stream/streamtest/enginebench"
)

// BenchmarkTxHandler measures postgres.TxHandler against a handler doing
// the same write in a transaction of its own without the applied mark
// (side=plain-tx), both consuming b.N records in alternating rounds of a 4-partition memstream
// with 8 handlers in flight per partition (WithConcurrency), on the memory
// checkpoint store, so that the figures are the database's. tx/plain-tx is
// TxHandler's share of the plain transactions' throughput: the cost of the
// mark (one more INSERT per record in the same transaction).
//
//	go test ./stream/checkpoint/postgres -run '^$' -bench BenchmarkTxHandler -benchtime 5000x
func BenchmarkTxHandler(b *testing.B) {
	pool := txPool(b)
	ctx := context.Background()
	n := b.N
	target, applied := uniqueName(b, pool, "bench_target"), uniqueName(b, pool, "bench_applied")
	if _, err := pool.Exec(ctx, "CREATE TABLE "+target+" (id text NOT NULL, value text NOT NULL)"); err != nil {
		b.Fatal(err)
	}
	insert := func(ctx context.Context, tx pgx.Tx, r *stream.Record) error {
		_, err := tx.Exec(ctx, "INSERT INTO "+target+" (id, value) VALUES ($1, $2)", r.ID, string(r.Value))
		return err
	}
	h, err := postgres.NewTxHandler(ctx, pool, "bench", insert, postgres.WithAppliedTable(applied))
	if err != nil {
		b.Fatal(err)
	}
	plainTx := func(ctx context.Context, r *stream.Record) error {
		return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return insert(ctx, tx, r) })
	}
	consume := func(name string, n int, handler stream.Handler) time.Duration {
		ms := memstream.New(fmt.Sprintf("%s-%d", name, time.Now().UnixNano()), memstream.WithPartitions(4))
		s := stream.NewStream(ms)
		defer s.Close()
		w, err := s.OpenWriter(ctx)
		if err != nil {
			b.Fatal(err)
		}
		recs := make([]stream.Record, n)
		for i := range recs {
			recs[i] = stream.Record{ID: fmt.Sprintf("%s-%d", name, i), Key: []byte(fmt.Sprint(i)), Value: []byte("v")}
		}
		for lo := 0; lo < n; lo += 500 {
			if _, err := w.Write(ctx, recs[lo:min(lo+500, n)]); err != nil {
				b.Fatal(err)
			}
		}
		w.Close()
		var seen atomic.Int64
		runCtx, stop := context.WithCancel(ctx)
		defer stop()
		c, err := stream.NewConsumer(s, func(ctx context.Context, r *stream.Record) error {
			if err := handler(ctx, r); err != nil {
				return err
			}
			if seen.Add(1) == int64(n) {
				stop()
			}
			return nil
		}, stream.WithName("bench"), stream.WithCheckpointStore(checkpoint.NewMemoryStore()), stream.WithOnExhausted(stream.Halt),
			stream.WithConcurrency(8), stream.WithPollInterval(time.Millisecond))
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		t0 := time.Now()
		if err := c.Run(runCtx); err != nil {
			b.Fatal(err)
		}
		return time.Since(t0)
	}
	// Rounds alternating which side goes first share the machine's
	// drifting load between them.
	var plain, tx time.Duration
	b.ResetTimer()
	for r := range enginebench.Rounds {
		lo, hi := enginebench.Span(n, r)
		if hi == lo {
			continue
		}
		enginebench.Alternate(r,
			func() { plain += consume("plain", hi-lo, plainTx) },
			func() { tx += consume("tx", hi-lo, h.Handle) })
	}
	b.StopTimer()
	b.ReportMetric(float64(n)/plain.Seconds(), "plain-tx-records/s")
	b.ReportMetric(float64(n)/tx.Seconds(), "tx-records/s")
	b.ReportMetric(plain.Seconds()/tx.Seconds(), "tx/plain-tx")
}
