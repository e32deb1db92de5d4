package redis

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/streamtest/enginebench"
)

// tripCounter is a client hook that counts round trips: each command, and
// each pipeline as one.
type tripCounter struct{ n atomic.Int64 }

func (c *tripCounter) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (c *tripCounter) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmd)
	}
}

func (c *tripCounter) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmds)
	}
}

// countTrips adds a tripCounter to s's client.
func countTrips(s *Store) *tripCounter {
	c := &tripCounter{}
	s.client.AddHook(c)
	return c
}

// benchCheckpoints are the checkpoints BenchmarkStoreSave saves: what the
// engine saves at a batch commit (the committed pointer, the next batch's
// bounds, no record states), and a batch whose records failed (each with
// its state and one handler error), the larger case.
func benchCheckpoints(k checkpoint.Key) map[string]*checkpoint.Checkpoint {
	now := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)
	ptr := func(i int) []byte { return []byte(fmt.Sprintf("%016d", i)) }
	commit := &checkpoint.Checkpoint{Key: k, Committed: ptr(41),
		Batch:  &checkpoint.Batch{Seq: 7, First: ptr(42), Last: ptr(541), Size: 500, Running: true},
		Counts: checkpoint.Counts{Succeeded: 123456, Retries: 17}, UpdatedAt: now}
	failed := commit.Clone()
	for i := range 16 {
		r := checkpoint.RecordState{Pointer: ptr(42 + 3*i), ID: fmt.Sprintf("order-%d", 9000+i),
			Status: checkpoint.Failed, Attempts: 2, FirstAttempt: now, LastAttempt: now.Add(time.Second), NextRetry: now.Add(time.Minute)}
		r.AddError(2, now.Add(time.Second), fmt.Sprintf("payment service: 503 for order %d", 9000+i))
		failed.Batch.Records = append(failed.Batch.Records, r)
	}
	return map[string]*checkpoint.Checkpoint{"commit": commit, "failed-records": failed}
}

// BenchmarkStoreSave measures Store.Save in a steady state (a store that
// saved the checkpoint before, as the engine's) on the local server: the
// round trip of one EVALSHA. Each Save changes the counts, as a batch
// commit does. It reports the round trips per Save.
//
//	go test ./stream/checkpoint/redis -run '^$' -bench StoreSave -benchmem
func BenchmarkStoreSave(b *testing.B) {
	for _, shape := range []string{"commit", "failed-records"} {
		b.Run(shape, func(b *testing.B) {
			s := newStore(b)
			ctx := context.Background()
			cp := benchCheckpoints(checkpoint.Key{Consumer: "bench", Stream: "orders", Partition: "0"})[shape]
			if err := s.Save(ctx, cp); err != nil {
				b.Fatal(err)
			}
			trips := countTrips(s)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				cp.Counts.Succeeded += 500
				if err := s.Save(ctx, cp); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(trips.n.Load())/float64(b.N), "round-trips/save")
		})
	}
}

// BenchmarkConsumer compares the consumer engine on memstream with the
// Redis store and with the memory store, a no-op handler and batches of
// 500, in one run: the b.N records are split over enginebench.Rounds
// rounds, each a new one-partition stream consumed by both sides in
// turn, alternating which goes first. It reports memory-records/s,
// redis-records/s, their ratio redis/memory, the Redis store's saves per
// record and its round trips per record (every command and pipeline,
// loads and saves).
//
//	go test ./stream/checkpoint/redis -run '^$' -bench 'BenchmarkConsumer$' -benchtime 200000x
func BenchmarkConsumer(b *testing.B) {
	needServer(b)
	n := b.N
	var mem, red time.Duration
	var saves, trips int64
	opts := []stream.ConsumerOption{stream.WithBatchSize(500)}
	b.ResetTimer()
	for r := range enginebench.Rounds {
		lo, hi := enginebench.Span(n, r)
		if hi == lo {
			continue
		}
		runMem := func() {
			s := enginebench.MemStream(b, hi-lo)
			t0 := time.Now()
			end := enginebench.Consume(b, s, checkpoint.NewMemoryStore(), hi-lo, opts...)
			mem += end.Sub(t0)
			s.Close()
		}
		runRedis := func() {
			s := enginebench.MemStream(b, hi-lo)
			b.StopTimer()
			st := newStore(b)
			tc := countTrips(st)
			cs := enginebench.Count(st)
			b.StartTimer()
			t0 := time.Now()
			end := enginebench.Consume(b, s, cs, hi-lo, opts...)
			red += end.Sub(t0)
			saves += cs.Saves()
			trips += tc.n.Load()
			s.Close()
		}
		enginebench.Alternate(r, runMem, runRedis)
	}
	b.StopTimer()
	b.ReportMetric(float64(n)/mem.Seconds(), "memory-records/s")
	b.ReportMetric(float64(n)/red.Seconds(), "redis-records/s")
	b.ReportMetric(mem.Seconds()/red.Seconds(), "redis/memory")
	b.ReportMetric(float64(saves)/float64(n), "saves/record")
	b.ReportMetric(float64(trips)/float64(n), "round-trips/record")
}
