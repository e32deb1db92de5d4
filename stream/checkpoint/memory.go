package checkpoint

import (
	"context"
	"fmt"
	"sort"
	"sync"
)

// MemoryStore is a Store that keeps checkpoints in memory, for tests,
// examples and consumers whose progress need not survive the process.
//
// It is safe for concurrent use. Save copies the checkpoint into a copy kept
// per key, reusing that copy's buffers, so that in the steady state of the
// consumer engine (one or two saves per record) it does not allocate. Load
// and List return deep copies: the caller owns them, and the store never
// aliases a checkpoint passed to Save.
//
// A cancelled context makes Load, Save and List return the context's error
// (wrapped) before they read or change anything.
type MemoryStore struct {
	mu sync.RWMutex
	m  map[Key]*memEntry
	// last is the entry of the latest Save, so that the engine's run of
	// saves to one key finds it by comparing the key (its strings share
	// their bytes with the stored copy's) instead of hashing it. Only Save
	// reads or sets it, under the write lock.
	last   *memEntry
	leases map[Key]Lease // see memory_lease.go; nil until the first lease
}

// memEntry is the stored copy of one checkpoint, plus buffers kept for reuse
// while the checkpoint has no batch or no batch records, so that the cycle
// "batch fetched, records processed, batch cleared" does not allocate.
type memEntry struct {
	cp    Checkpoint
	batch *Batch        // the last batch buffer, kept when cp.Batch is nil
	recs  []RecordState // the last records buffer, kept when cp.Batch.Records is nil
}

// set deep-copies src into the entry, reusing its buffers.
//
// (Skipping the copy of record states equal to the stored ones was tried:
// comparing a state costs as much as copying it, so it did not pay.)
func (e *memEntry) set(src *Checkpoint) {
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

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{m: make(map[Key]*memEntry)}
}

var _ Store = (*MemoryStore)(nil)

// Load returns a deep copy of the checkpoint saved for key, or a new
// Checkpoint{Key: key} with Version 0 if none was saved. It returns an error
// if key is invalid (see Key.Validate).
func (s *MemoryStore) Load(ctx context.Context, key Key) (*Checkpoint, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("checkpoint: load %s: %w", key, err)
	}
	if err := key.Validate(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	e := s.m[key]
	if e == nil {
		return &Checkpoint{Key: key}, nil
	}
	return e.cp.Clone(), nil
}

// Save stores a deep copy of cp if the stored version equals cp.Version (0:
// nothing may be stored for cp.Key yet), then increments cp.Version.
// Otherwise it returns an error matching ErrConflict that names the key and
// both versions, and leaves cp and the stored checkpoint unchanged. It
// refuses a checkpoint with an invalid key (see Key.Validate), an unknown
// record status or a negative count.
// Save does not keep cp: the caller may change it afterwards.
func (s *MemoryStore) Save(ctx context.Context, cp *Checkpoint) error {
	if cp == nil {
		return checkSave(cp)
	}
	if err := cp.checkBatch(); err != nil {
		if kerr := cp.Key.Validate(); kerr != nil {
			return kerr // the key is checked first, as by check
		}
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entry(cp.Key)
	if e == nil {
		// Every stored key was valid when it was saved: only a key not
		// stored yet needs checking.
		if err := cp.Key.Validate(); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("checkpoint: save %s: %w", cp.Key, err)
	}
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
		s.last = e
	}
	e.set(cp)
	e.cp.Version = cp.Version + 1
	cp.Version++
	return nil
}

// entry returns the stored entry of key, or nil, and remembers it as the
// last one. The caller holds the write lock.
func (s *MemoryStore) entry(key Key) *memEntry {
	if e := s.last; e != nil && e.cp.Key == key {
		return e
	}
	e := s.m[key]
	if e != nil {
		s.last = e
	}
	return e
}

// List returns deep copies of the checkpoints saved for consumer on stream,
// sorted by partition (byte-wise string order). It returns an empty list if
// there are none, and an error if consumer or stream is empty.
func (s *MemoryStore) List(ctx context.Context, consumer, stream string) ([]*Checkpoint, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("checkpoint: list %s/%s: %w", consumer, stream, err)
	}
	if err := checkGroup(consumer, stream); err != nil {
		return nil, err
	}
	s.mu.RLock()
	var out []*Checkpoint
	for k, e := range s.m {
		if k.Consumer == consumer && k.Stream == stream {
			out = append(out, e.cp.Clone())
		}
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Partition < out[j].Partition })
	return out, nil
}
