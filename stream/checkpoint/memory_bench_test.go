package checkpoint

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// legacySave is MemoryStore.Save as it was before the key cache and the
// branch-free batch check: full check, then a map lookup per save. It is
// kept here only so that BenchmarkMemoryStoreSaveBatch compares both in
// one run.
func (s *MemoryStore) legacySave(ctx context.Context, cp *Checkpoint) error {
	if err := checkSave(cp); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("checkpoint: save %s: %w", cp.Key, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.m[cp.Key]
	var stored uint64
	if e != nil {
		stored = e.cp.Version
	}
	if stored != cp.Version {
		return conflict(cp.Key, cp.Version, stored)
	}
	if e == nil {
		e = new(memEntry)
		s.m[cp.Key] = e
	}
	e.legacySet(cp)
	e.cp.Version = cp.Version + 1
	cp.Version++
	return nil
}

// legacySet is memEntry.set as it was: CopyTo over every record.
func (e *memEntry) legacySet(src *Checkpoint) {
	if e.cp.Batch == nil {
		e.cp.Batch = e.batch
	}
	if b := e.cp.Batch; b != nil && b.Records == nil && e.recs != nil {
		b.Records = e.recs[:0]
	}
	src.CopyTo(&e.cp)
	if b := e.cp.Batch; b != nil {
		e.batch = b
		if b.Records != nil {
			e.recs = b.Records
		}
	}
}

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
// record states, one state changed per save, with the current Save and the
// previous one (legacy). partitions>1 alternates saves between keys, as a
// consumer of several partitions does, which defeats the last-key cache.
func BenchmarkMemoryStoreSaveBatch(b *testing.B) {
	impls := []struct {
		name string
		save func(*MemoryStore, context.Context, *Checkpoint) error
	}{
		{"legacy", (*MemoryStore).legacySave},
		{"current", (*MemoryStore).Save},
	}
	for _, n := range []int{1, 8, 1000} {
		for _, parts := range []int{1, 4} {
			for _, impl := range impls {
				b.Run(fmt.Sprintf("records=%d/partitions=%d/impl=%s", n, parts, impl.name), func(b *testing.B) {
					ctx, cancel := context.WithCancel(context.Background()) // the engine's kind of context
					defer cancel()
					s := NewMemoryStore()
					cps := make([]*Checkpoint, parts)
					for p := range cps {
						cps[p] = benchBatch(fmt.Sprint(p), n)
						if err := impl.save(s, ctx, cps[p]); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportAllocs()
					i := 0
					for b.Loop() {
						cp := cps[i%parts]
						r := &cp.Batch.Records[(i/parts)%n]
						if r.Status == InProgress {
							r.Status = Succeeded
						} else {
							r.Status = InProgress
							r.Attempts++
						}
						if err := impl.save(s, ctx, cp); err != nil {
							b.Fatal(err)
						}
						i++
					}
				})
			}
		}
	}
}
