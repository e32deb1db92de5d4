package checkpoint

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
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
	// entries maps a Key to its *memEntry; an entry, once stored, stays.
	// Finding an entry takes no lock and each entry has its own, so that
	// saves to different keys (a consumer's partitions) never wait for
	// each other nor write to a shared cache line.
	entries sync.Map
	// recent holds the entries found last, so that the engine's saves,
	// which go to a few keys over and over, find their entry by comparing
	// the key's strings (which share their bytes with the saved ones: a
	// pointer comparison) instead of hashing the key.
	recent  [recentEntries]atomic.Pointer[memEntry]
	nextRec atomic.Uint32 // the slot of recent the next miss fills
	mu      sync.RWMutex  // guards leases
	leases  map[Key]Lease // see memory_lease.go; nil until the first lease
}

// memEntry is the stored copy of one checkpoint, plus buffers kept for reuse
// while the checkpoint has no batch or no batch records, so that the cycle
// "batch fetched, records processed, batch cleared" does not allocate.
type memEntry struct {
	key   Key // the entry's key, never changed
	mu    sync.Mutex
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
	return &MemoryStore{}
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
	e := s.lookup(key)
	if e == nil {
		return &Checkpoint{Key: key}, nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cp.Clone(), nil
}

// lookup returns the entry of key, or nil.
func (s *MemoryStore) lookup(key Key) *memEntry {
	for i := range s.recent {
		// Partition first: the saves of one consumer differ there.
		if e := s.recent[i].Load(); e != nil && e.key.Partition == key.Partition && e.key.Stream == key.Stream && e.key.Consumer == key.Consumer {
			return e
		}
	}
	v, ok := s.entries.Load(key)
	if !ok {
		return nil
	}
	e := v.(*memEntry)
	s.recent[s.nextRec.Add(1)%recentEntries].Store(e)
	return e
}

// recentEntries is the size of MemoryStore.recent: a consumer with up to
// this many partitions finds every entry without hashing.
const recentEntries = 8

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
	e := s.lookup(cp.Key)
	if e == nil {
		// Every stored key was valid when it was saved: only a key not
		// stored yet needs checking.
		if err := cp.Key.Validate(); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("checkpoint: save %s: %w", cp.Key, err)
		}
		if cp.Version != 0 {
			return conflict(cp.Key, cp.Version, 0)
		}
		ne := &memEntry{key: cp.Key}
		// Locked before it is published: a Load or Save that finds it
		// waits for the checkpoint.
		ne.mu.Lock()
		if got, loaded := s.entries.LoadOrStore(cp.Key, ne); loaded {
			e = got.(*memEntry) // a concurrent first Save won
		} else {
			ne.set(cp)
			ne.cp.Version = 1
			ne.mu.Unlock()
			cp.Version = 1
			return nil
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("checkpoint: save %s: %w", cp.Key, err)
	}
	if stored := e.cp.Version; stored != cp.Version {
		return conflict(cp.Key, cp.Version, stored)
	}
	e.set(cp)
	e.cp.Version = cp.Version + 1
	cp.Version++
	return nil
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
	var out []*Checkpoint
	s.entries.Range(func(k, v any) bool {
		if k := k.(Key); k.Consumer == consumer && k.Stream == stream {
			e := v.(*memEntry)
			e.mu.Lock()
			out = append(out, e.cp.Clone())
			e.mu.Unlock()
		}
		return true
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Partition < out[j].Partition })
	return out, nil
}
