package checkpoint

import (
	"context"
	"fmt"
	"sort"
	"time"
)

var _ Leaser = (*MemoryStore)(nil)

// LoadLease returns the lease of key, or a free lease with Counter 0 if none
// was stored (see Leaser).
func (s *MemoryStore) LoadLease(ctx context.Context, key Key) (*Lease, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("checkpoint: load lease %s: %w", key, err)
	}
	if err := key.Validate(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	l, ok := s.leases[key]
	if !ok {
		return &Lease{Key: key}, nil
	}
	return &l, nil
}

// ListLeases returns the stored leases of consumer on stream, sorted by
// partition (see Leaser).
func (s *MemoryStore) ListLeases(ctx context.Context, consumer, stream string) ([]*Lease, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("checkpoint: list leases %s/%s: %w", consumer, stream, err)
	}
	if err := checkGroup(consumer, stream); err != nil {
		return nil, err
	}
	s.mu.RLock()
	var out []*Lease
	for k, l := range s.leases {
		if k.Consumer == consumer && k.Stream == stream {
			out = append(out, l.Clone())
		}
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Partition < out[j].Partition })
	return out, nil
}

// AcquireLease gives l to owner until expires if the stored counter equals
// l.Counter (see Leaser).
func (s *MemoryStore) AcquireLease(ctx context.Context, l *Lease, owner string, expires time.Time) error {
	return LeaseSwap(s.swapLease).Acquire(ctx, l, owner, expires)
}

// RenewLease extends l to expires if the stored counter equals l.Counter
// (see Leaser).
func (s *MemoryStore) RenewLease(ctx context.Context, l *Lease, expires time.Time) error {
	return LeaseSwap(s.swapLease).Renew(ctx, l, expires)
}

// ReleaseLease frees l if the stored counter equals l.Counter (see Leaser).
func (s *MemoryStore) ReleaseLease(ctx context.Context, l *Lease) error {
	return LeaseSwap(s.swapLease).Release(ctx, l)
}

// swapLease applies ch under the store's lock.
func (s *MemoryStore) swapLease(ctx context.Context, l *Lease, ch *LeaseChange) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("checkpoint: %s %s: %w", ch.Op, l.Key, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	stored := s.leases[l.Key].Counter
	if stored != ch.Expect {
		return ch.Conflict(stored)
	}
	if s.leases == nil {
		s.leases = make(map[Key]Lease)
	}
	s.leases[l.Key] = ch.Next
	ch.Apply(l)
	return nil
}
