package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/unistream-go/unistream/stream/checkpoint"
)

// LoadLease returns the lease of key, or a free lease with Counter 0 if none
// was stored (see checkpoint.Leaser).
func (s *Store) LoadLease(ctx context.Context, key checkpoint.Key) (*checkpoint.Lease, error) {
	if err := ctx.Err(); err != nil {
		return nil, s.errorf("load lease %s: %w", key, err)
	}
	if err := key.Validate(); err != nil {
		return nil, err
	}
	rk := partitionKey(s.prefix, key)
	h, err := s.readHash(ctx, rk, key)
	if err != nil {
		return nil, s.errorf("load lease %s: %w", key, err)
	}
	l, raw, err := decodeLease(s.where(rk, key), key, h)
	if err != nil {
		return nil, err
	}
	if l == nil {
		return &checkpoint.Lease{Key: key}, nil
	}
	s.rememberLease(key, raw)
	return l, nil
}

// ListLeases returns the stored leases of consumer on stream, sorted by
// partition (see checkpoint.Leaser).
func (s *Store) ListLeases(ctx context.Context, consumer, stream string) ([]*checkpoint.Lease, error) {
	if err := ctx.Err(); err != nil {
		return nil, s.errorf("list leases %s/%s: %w", consumer, stream, err)
	}
	if err := checkpoint.ValidateGroup(consumer, stream); err != nil {
		return nil, err
	}
	var out []*checkpoint.Lease
	err := s.group(ctx, consumer, stream, func(k checkpoint.Key, rk string, h map[string]string) error {
		l, raw, err := decodeLease(s.where(rk, k), k, h)
		if err != nil {
			return err
		}
		if l != nil {
			s.rememberLease(k, raw)
			out = append(out, l)
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, checkpoint.ErrCorrupt) {
			return nil, err
		}
		return nil, s.errorf("list leases %s/%s: %w", consumer, stream, err)
	}
	return out, nil
}

// AcquireLease gives l to owner until expires if the stored counter equals
// l.Counter (see checkpoint.Leaser).
func (s *Store) AcquireLease(ctx context.Context, l *checkpoint.Lease, owner string, expires time.Time) error {
	return checkpoint.LeaseSwap(s.swapLease).Acquire(ctx, l, owner, expires)
}

// RenewLease extends l to expires if the stored counter equals l.Counter
// (see checkpoint.Leaser).
func (s *Store) RenewLease(ctx context.Context, l *checkpoint.Lease, expires time.Time) error {
	return checkpoint.LeaseSwap(s.swapLease).Renew(ctx, l, expires)
}

// ReleaseLease frees l if the stored counter equals l.Counter (see
// checkpoint.Leaser).
func (s *Store) ReleaseLease(ctx context.Context, l *checkpoint.Lease) error {
	return checkpoint.LeaseSwap(s.swapLease).Release(ctx, l)
}

// swapLease runs the lease script: it writes ch.Next if the stored lease
// fields are exactly those the store last read or wrote at counter
// ch.Expect (none for counter 0). When it has not seen them it reads and
// decodes them first, so that it never overwrites a lease it has not
// decoded.
func (s *Store) swapLease(ctx context.Context, l *checkpoint.Lease, ch *checkpoint.LeaseChange) error {
	if err := ctx.Err(); err != nil {
		return s.errorf("%s %s: %w", ch.Op, l.Key, err)
	}
	rk := partitionKey(s.prefix, l.Key)
	cur, err := s.storedLease(ctx, rk, l.Key, ch)
	if err != nil {
		return err
	}
	next := leaseFields{counter: ch.Next.Counter, owner: ch.Next.Owner, writer: s.writeID()}
	if next.owner != "" {
		next.expires = formatTime(ch.Next.Expires)
	}
	ik := indexKey(s.prefix, l.Consumer, l.Stream)
	n, err := s.lease.Run(ctx, s.client, []string{rk, ik},
		Schema, strconv.FormatUint(ch.Expect, 10), cur.owner, cur.expires,
		strconv.FormatUint(next.counter, 10), next.owner, next.expires, next.writer, l.Partition).Int()
	if err == nil && n == 0 {
		err = s.diagnoseLease(ctx, rk, l.Key, ch, next)
	}
	switch {
	case err != nil:
		s.forgetLease(l.Key)
		if errors.Is(err, checkpoint.ErrConflict) || errors.Is(err, checkpoint.ErrCorrupt) {
			return err
		}
		return s.errorf("%s %s: %w", ch.Op, l.Key, err)
	case n < 0:
		s.forgetLease(l.Key)
		return s.wrongType(ctx, ik, s.whereIndex(ik, l.Consumer, l.Stream), "a set of partitions")
	}
	s.rememberLease(l.Key, next)
	ch.Apply(l)
	return nil
}

// storedLease returns the lease fields stored at counter ch.Expect (none
// for counter 0): those this store last read or wrote, or else those it
// reads and decodes now, so that the script never overwrites a lease the
// store has not decoded.
func (s *Store) storedLease(ctx context.Context, rk string, key checkpoint.Key, ch *checkpoint.LeaseChange) (leaseFields, error) {
	if ch.Expect == 0 {
		return leaseFields{}, nil
	}
	s.mu.Lock()
	seen, ok := s.seenLease[key]
	s.mu.Unlock()
	if ok && seen.counter == ch.Expect {
		return seen, nil
	}
	h, err := s.readHash(ctx, rk, key)
	if err != nil {
		return leaseFields{}, s.errorf("%s %s: read: %w", ch.Op, key, err)
	}
	stored, raw, err := decodeLease(s.where(rk, key), key, h)
	if err != nil {
		return leaseFields{}, err
	}
	if stored == nil || stored.Counter != ch.Expect {
		return leaseFields{}, ch.Conflict(raw.counter)
	}
	return raw, nil
}

// diagnoseLease explains a refused lease write by reading the hash:
// corrupt data or a conflict naming both counters. It returns nil if the
// stored lease was written by this very write (the client sent it again
// after its reply was lost).
func (s *Store) diagnoseLease(ctx context.Context, rk string, key checkpoint.Key, ch *checkpoint.LeaseChange, next leaseFields) error {
	h, err := s.readHash(ctx, rk, key)
	if err != nil {
		if errors.Is(err, checkpoint.ErrCorrupt) {
			return err
		}
		return fmt.Errorf("%w: %s %s: the compare-and-swap was refused, and reading the hash to see why failed: %w", checkpoint.ErrLeaseConflict, ch.Op, key, classify(err))
	}
	_, raw, err := decodeLease(s.where(rk, key), key, h)
	if err != nil {
		return err
	}
	if raw == next {
		return nil
	}
	if raw.counter == ch.Expect {
		return fmt.Errorf("%w: %s %s: counter %d is stored but its owner or expiry changed since this store read it (written by another process at the same counter)", checkpoint.ErrLeaseConflict, ch.Op, key, raw.counter)
	}
	return ch.Conflict(raw.counter)
}

// rememberLease keeps the lease fields of key as stored, so that the next
// write of the lease needs no read.
func (s *Store) rememberLease(key checkpoint.Key, f leaseFields) {
	s.mu.Lock()
	s.seenLease[key] = f
	s.mu.Unlock()
}

func (s *Store) forgetLease(key checkpoint.Key) {
	s.mu.Lock()
	delete(s.seenLease, key)
	s.mu.Unlock()
}
