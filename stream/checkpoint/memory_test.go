package checkpoint_test

import (
	"context"
	"testing"
	"time"

	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/checkpoint/storetest"
)

func TestMemoryStore(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		New: func(t *testing.T) checkpoint.Store { return checkpoint.NewMemoryStore() },
		// No Corrupt: memory holds no encoded data. No Reopen: the data
		// lives only in the store value.
	})
}

// smallBatch returns a checkpoint with a batch of n records, as the engine
// keeps it while processing.
func smallBatch(n int) *checkpoint.Checkpoint {
	now := time.Now()
	cp := &checkpoint.Checkpoint{
		Key:       checkpoint.Key{Consumer: "billing", Stream: "orders", Partition: "0"},
		Committed: []byte{0, 0, 0, 0, 0, 0, 0, 9},
		Batch: &checkpoint.Batch{
			Seq:   3,
			First: []byte{0, 0, 0, 0, 0, 0, 0, 10},
			Last:  []byte{0, 0, 0, 0, 0, 0, 0, byte(9 + n)},
			Size:  n,
		},
		UpdatedAt: now,
	}
	for i := range n {
		cp.Batch.Records = append(cp.Batch.Records, checkpoint.RecordState{
			Pointer:      []byte{0, 0, 0, 0, 0, 0, 0, byte(10 + i)},
			ID:           "rec-id",
			Status:       checkpoint.Succeeded,
			Attempts:     2,
			Errors:       []checkpoint.AttemptError{{Attempt: 1, Time: now, Error: "boom"}},
			FirstAttempt: now,
			LastAttempt:  now,
		})
	}
	return cp
}

func TestMemoryStoreSaveDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	ctx := context.Background()
	s := checkpoint.NewMemoryStore()

	t.Run("repeat save", func(t *testing.T) {
		cp := smallBatch(3)
		if err := s.Save(ctx, cp); err != nil {
			t.Fatal(err)
		}
		allocs := testing.AllocsPerRun(100, func() {
			cp.Counts.Succeeded++
			if err := s.Save(ctx, cp); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Fatalf("MemoryStore.Save: %v allocations per save, want 0", allocs)
		}
	})

	// The engine's cycle over a batch: fetched (no records yet), each
	// record in progress then succeeded, then the batch cleared.
	t.Run("batch cycle", func(t *testing.T) {
		full := smallBatch(3)
		cp := &checkpoint.Checkpoint{Key: checkpoint.Key{Consumer: "billing", Stream: "orders", Partition: "1"}}
		batch := &checkpoint.Batch{}
		recs := make([]checkpoint.RecordState, 0, 3)
		cycle := func() {
			save := func() {
				if err := s.Save(ctx, cp); err != nil {
					t.Fatal(err)
				}
			}
			*batch = *full.Batch
			batch.Records = nil
			cp.Batch = batch
			save()
			batch.Records = recs[:0]
			for i := range full.Batch.Records {
				r := full.Batch.Records[i]
				r.Status = checkpoint.InProgress
				batch.Records = append(batch.Records, r)
				save()
				batch.Records[i].Status = checkpoint.Succeeded
				save()
			}
			cp.Committed = full.Batch.Last
			cp.Batch = nil
			save()
		}
		cycle()
		allocs := testing.AllocsPerRun(50, cycle)
		if allocs != 0 {
			t.Fatalf("MemoryStore.Save over a batch cycle: %v allocations per cycle, want 0", allocs)
		}
	})
}

func BenchmarkMemoryStoreSave(b *testing.B) {
	ctx := context.Background()
	s := checkpoint.NewMemoryStore()
	cp := smallBatch(3)
	if err := s.Save(ctx, cp); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		cp.Counts.Succeeded++
		if err := s.Save(ctx, cp); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMemoryStoreLoad(b *testing.B) {
	ctx := context.Background()
	s := checkpoint.NewMemoryStore()
	cp := smallBatch(3)
	if err := s.Save(ctx, cp); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Load(ctx, cp.Key); err != nil {
			b.Fatal(err)
		}
	}
}
