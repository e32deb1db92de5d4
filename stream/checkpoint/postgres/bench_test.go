package postgres

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/streamtest/enginebench"
)

// benchCheckpoint is what the engine saves at a batch commit (the
// committed pointer, the next batch's bounds, no record states), or with
// failed records, each with its state and one handler error.
func benchCheckpoint(k checkpoint.Key, failed int) *checkpoint.Checkpoint {
	now := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)
	cp := &checkpoint.Checkpoint{Key: k, Committed: []byte("00000041"),
		Batch:  &checkpoint.Batch{Seq: 7, First: []byte("00000042"), Last: []byte("00000541"), Size: 500, Running: true},
		Counts: checkpoint.Counts{Succeeded: 123456, Retries: 17}, UpdatedAt: now}
	for i := range failed {
		r := checkpoint.RecordState{Pointer: fmt.Appendf(nil, "%08d", 42+3*i), ID: fmt.Sprintf("order-%d", 9000+i),
			Status: checkpoint.Failed, Attempts: 2, FirstAttempt: now, LastAttempt: now.Add(time.Second), NextRetry: now.Add(time.Minute)}
		r.AddError(2, now.Add(time.Second), fmt.Sprintf("payment service: 503 for order %d", 9000+i))
		cp.Batch.Records = append(cp.Batch.Records, r)
	}
	return cp
}

// BenchmarkStoreSave measures one Save round trip in a steady state (the
// store saved the checkpoint before, as the engine's store has), against
// the memory store, for a commit and for a batch with 16 failed records.
// It reports the statements sent per Save.
//
//	go test ./stream/checkpoint/postgres -run '^$' -bench StoreSave -benchmem
func BenchmarkStoreSave(b *testing.B) {
	for _, shape := range []struct {
		name   string
		failed int
	}{{"commit", 0}, {"failed-records", 16}} {
		for _, name := range []string{"memory", "postgres"} {
			b.Run("store="+name+"/"+shape.name, func(b *testing.B) {
				var tr tracer
				var st checkpoint.Store = checkpoint.NewMemoryStore()
				if name == "postgres" {
					s, err := New(context.Background(), countingPool(b, &tr), WithTable(tableName(b)))
					if err != nil {
						b.Fatal(err)
					}
					st = s
				}
				ctx := context.Background()
				cp := benchCheckpoint(checkpoint.Key{Consumer: "billing", Stream: "orders", Partition: "0"}, shape.failed)
				if err := st.Save(ctx, cp); err != nil {
					b.Fatal(err)
				}
				tr.take()
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					cp.Counts.Succeeded += 500
					if err := st.Save(ctx, cp); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				b.ReportMetric(float64(tr.take())/float64(b.N), "statements/op")
			})
		}
	}
}

// BenchmarkConsumer runs the consumer engine with a no-op handler on
// memstream (one partition, batch 500) with the PostgreSQL store and with
// the memory store, and reports records/s, the store's saves per record
// and the statements (round trips) the PostgreSQL store sent per record:
//
//	go test ./stream/checkpoint/postgres -run '^$' -bench Consumer -benchtime 100000x
func BenchmarkConsumer(b *testing.B) {
	for _, conc := range []int{1, 8} {
		for _, name := range []string{"memory", "postgres"} {
			b.Run(fmt.Sprintf("store=%s/batch=500/concurrency=%d", name, conc), func(b *testing.B) {
				benchConsumer(b, name, conc)
			})
		}
	}
}

func benchConsumer(b *testing.B, name string, conc int) {
	n := b.N
	s := enginebench.MemStream(b, n)
	defer s.Close()
	var tr tracer
	var st checkpoint.Store = checkpoint.NewMemoryStore()
	if name == "postgres" {
		pg, err := New(context.Background(), countingPool(b, &tr), WithTable(tableName(b)))
		if err != nil {
			b.Fatal(err)
		}
		st = pg
	}
	store := enginebench.Count(st)
	tr.take()
	b.ResetTimer()
	enginebench.Consume(b, s, store, n, stream.WithBatchSize(500), stream.WithConcurrency(conc))
	b.StopTimer()
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(store.Saves())/float64(n), "saves/record")
	b.ReportMetric(float64(tr.take())/float64(n), "statements/record")
}
