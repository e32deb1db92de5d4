package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/unistream-go/unistream/stream/checkpoint"
)

// LoadLease returns the lease of key, or a free lease with Counter 0 if none
// was stored (see checkpoint.Leaser).
func (s *Store) LoadLease(ctx context.Context, key checkpoint.Key) (*checkpoint.Lease, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("postgres checkpoint store: load lease %s: %w", key, err)
	}
	if err := key.Validate(); err != nil {
		return nil, err
	}
	r, err := s.readRow(ctx, s.pool, key)
	if err != nil {
		return nil, fmt.Errorf("postgres checkpoint store: load lease %s from table %s: %w", key, s.table, err)
	}
	l, err := decodeLease(s.table, key, r)
	switch {
	case err != nil:
		s.forgetLease(key)
		return nil, err
	case l == nil:
		return &checkpoint.Lease{Key: key}, nil
	}
	s.rememberLease(key, r.cols())
	return l, nil
}

// ListLeases returns the stored leases of consumer on stream, sorted by
// partition (see checkpoint.Leaser).
func (s *Store) ListLeases(ctx context.Context, consumer, stream string) ([]*checkpoint.Lease, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("postgres checkpoint store: list leases %s/%s: %w", consumer, stream, err)
	}
	if err := checkpoint.ValidateGroup(consumer, stream); err != nil {
		return nil, err
	}
	rows, err := s.group(ctx, consumer, stream)
	if err != nil {
		return nil, fmt.Errorf("postgres checkpoint store: list leases %s/%s in table %s: %w", consumer, stream, s.table, err)
	}
	var out []*checkpoint.Lease
	for _, g := range rows {
		l, err := decodeLease(s.table, g.key, g.row)
		if err != nil {
			return nil, err
		}
		if l != nil {
			s.rememberLease(g.key, g.cols())
			out = append(out, l)
		}
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

// swapLease writes ch.Next with one statement whose condition is that the
// lease columns are exactly what this store last read or wrote (reading
// and decoding them first when it has not seen the expected counter), so
// that a lease it has not decoded is never overwritten.
func (s *Store) swapLease(ctx context.Context, l *checkpoint.Lease, ch *checkpoint.LeaseChange) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("postgres checkpoint store: %s %s: %w", ch.Op, l.Key, err)
	}
	if ch.Next.Counter > maxInt64 {
		return checkpoint.Permanent(fmt.Errorf("postgres checkpoint store: %s %s: counter %d (expected below %d, the largest a bigint holds)", ch.Op, l.Key, ch.Expect, maxInt64))
	}
	next := leaseCols{counter: int64(ch.Next.Counter)}
	if ch.Next.Owner != "" {
		ns, ok := expiresNanos(ch.Next.Expires)
		if !ok {
			return checkpoint.Permanent(fmt.Errorf("postgres checkpoint store: %s %s: expiry %s (expected a time from 1677-09-21 to 2262-04-11, which Unix nanoseconds hold)", ch.Op, l.Key, ch.Next.Expires))
		}
		owner := ch.Next.Owner
		next.owner, next.expires = &owner, &ns
	}
	s.mu.Lock()
	cur, ok := s.seenLease[l.Key]
	s.mu.Unlock()
	if ch.Expect > 0 && (!ok || cur.counter != int64(ch.Expect)) {
		r, err := s.readRow(ctx, s.pool, l.Key)
		if err != nil {
			return fmt.Errorf("postgres checkpoint store: %s %s: read table %s: %w", ch.Op, l.Key, s.table, err)
		}
		stored, err := decodeLease(s.table, l.Key, r)
		if err != nil {
			s.forgetLease(l.Key)
			return err
		}
		var counter uint64
		if stored != nil {
			counter = stored.Counter
			cur = r.cols()
		}
		if counter != ch.Expect {
			return ch.Conflict(counter)
		}
	}
	c, st, p := keyArgs(l.Key)
	var tag pgconn.CommandTag
	var err error
	if ch.Expect == 0 {
		tag, err = s.pool.Exec(ctx, s.sql.insertLease, c, st, p, next.counter, next.owner, next.expires)
	} else {
		tag, err = s.pool.Exec(ctx, s.sql.updateLease, c, st, p, next.counter, next.owner, next.expires, cur.counter, cur.owner, cur.expires)
	}
	if err != nil {
		s.forgetLease(l.Key)
		return fmt.Errorf("postgres checkpoint store: %s %s in table %s: %w", ch.Op, l.Key, s.table, classify(err))
	}
	if tag.RowsAffected() != 1 {
		s.forgetLease(l.Key)
		return s.leaseRefused(ctx, l.Key, ch)
	}
	s.rememberLease(l.Key, next)
	ch.Apply(l)
	return nil
}

// leaseRefused explains a lease write that changed no row by reading the
// row: a conflict naming the stored counter, or corruption.
func (s *Store) leaseRefused(ctx context.Context, key checkpoint.Key, ch *checkpoint.LeaseChange) error {
	r, err := s.readRow(ctx, s.pool, key)
	if err != nil {
		return fmt.Errorf("%w: %s %s: the conditional write changed no row, and reading the row to see why failed: %w", checkpoint.ErrLeaseConflict, ch.Op, key, err)
	}
	now, err := decodeLease(s.table, key, r)
	if err != nil {
		return err
	}
	var counter uint64
	if now != nil {
		counter = now.Counter
	}
	return ch.Conflict(counter)
}

// rememberLease keeps the lease columns of key as stored, so that the next
// write of the lease needs no read.
func (s *Store) rememberLease(key checkpoint.Key, c leaseCols) {
	s.mu.Lock()
	s.seenLease[key] = c
	s.mu.Unlock()
}

func (s *Store) forgetLease(key checkpoint.Key) {
	s.mu.Lock()
	delete(s.seenLease, key)
	s.mu.Unlock()
}
