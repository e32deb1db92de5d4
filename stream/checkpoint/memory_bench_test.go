package checkpoint

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// benchBatch returns a checkpoint whose batch holds n record states, as the
// engine keeps it with n records in flight.
func benchBatch(partition string, n int) *Checkpoint {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cp := &Checkpoint{
		Key:       Key{Consumer: "billing", Stream: "orders", Partition: partition},
		Committed: []byte{0, 0, 0, 0, 0, 0, 0, 9},
		Batch:     &Batch{Seq: 3, First: []byte{0, 0, 0, 0, 0, 0, 0, 10}, Last: []byte{0, 0, 0, 0, 0, 0, 255, 255}, Size: n},
		UpdatedAt: now,
	}
	for i := range n {
		cp.Batch.Records = append(cp.Batch.Records, RecordState{
			Pointer:      []byte{0, 0, 0, 0, 0, 0, byte(i >> 8), byte(i)},
			ID:           "rec-id",
			Status:       InProgress,
			Attempts:     1,
			FirstAttempt: now,
			LastAttempt:  now,
		})
	}
	return cp
}

// BenchmarkMemoryStoreSaveBatch saves a checkpoint whose batch holds n
// record states, one state changed per save. partitions>1 alternates
// saves between keys, as a consumer of several partitions does; parallel
// saves each key from its own goroutine, as the engine's partition
// workers do.
func BenchmarkMemoryStoreSaveBatch(b *testing.B) {
	for _, n := range []int{1, 8, 1000} {
		for _, parts := range []int{1, 4} {
			b.Run(fmt.Sprintf("records=%d/partitions=%d", n, parts), func(b *testing.B) {
				ctx, cancel := context.WithCancel(context.Background()) // the engine's kind of context
				defer cancel()
				s := NewMemoryStore()
				cps := make([]*Checkpoint, parts)
				for p := range cps {
					cps[p] = benchBatch(fmt.Sprint(p), n)
					if err := s.Save(ctx, cps[p]); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					cp := cps[i%parts]
					flip(&cp.Batch.Records[(i/parts)%n])
					if err := s.Save(ctx, cp); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
		}
	}
	b.Run("records=1/partitions=4/parallel", func(b *testing.B) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		s := NewMemoryStore()
		var next atomic.Int32
		b.ReportAllocs()
		b.SetParallelism(2) // 4 goroutines on 2 cores
		b.RunParallel(func(pb *testing.PB) {
			cp := benchBatch(fmt.Sprint(next.Add(1)), 1)
			for pb.Next() {
				flip(&cp.Batch.Records[0])
				if err := s.Save(ctx, cp); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// flip changes a record state the way the engine does: in_progress with
// one more attempt, or succeeded.
func flip(r *RecordState) {
	if r.Status == InProgress {
		r.Status = Succeeded
	} else {
		r.Status = InProgress
		r.Attempts++
	}
}
