package checkpoint

import (
	"context"
	"fmt"
	"time"
	"unicode/utf8"
)

// Lease is the ownership of one partition by one worker of a consumer, kept
// next to the checkpoints so that several processes can share a stream
// without a broker-side group (KCL-style shard leases).
//
// Every change of a lease (acquire, renew, release) goes through
// compare-and-swap on Counter, so two workers can never both hold it: of two
// workers that read the same lease and try to take it, exactly one wins and
// the other gets an error matching ErrLeaseConflict.
//
// # Fencing
//
// Counter is also the fencing token: it changes on every write, so a worker
// whose lease was taken learns it at its next renew (ErrLeaseConflict) and
// stops. Until it notices, its checkpoint saves are still fenced by the
// checkpoint's own compare-and-swap: the new owner loads the checkpoint at
// version v and every later save bumps it, so a save by the former owner
// (holding version v or older) is rejected with ErrConflict and can never
// overwrite the new owner's progress. At worst the two race for the first
// save after the handover; the loser gets ErrConflict and reloads, and no
// outcome is lost. Workers take a lease only after it has not been renewed
// for a whole lease duration, and an owner that cannot renew stops before
// its lease can be taken, so that race needs a process paused for longer
// than the lease duration.
type Lease struct {
	Key
	// Owner is the worker holding the lease; "" for a released lease.
	Owner string `json:"owner,omitempty"`
	// Expires is when the lease lapses unless renewed, as the owner's
	// clock saw it when it last wrote the lease. Zero for a released lease.
	Expires time.Time `json:"expires,omitzero"`
	// Counter counts the writes of the lease: 0 for a lease never stored.
	// It is the compare-and-swap version and the fencing token.
	Counter uint64 `json:"counter"`
}

// Held reports whether the lease has an owner and, by the clock that gave
// now, has not expired.
func (l *Lease) Held(now time.Time) bool {
	return l.Owner != "" && now.Before(l.Expires)
}

// Clone returns a copy of l.
func (l *Lease) Clone() *Lease {
	c := *l
	return &c
}

// String describes the lease for logs and errors.
func (l *Lease) String() string {
	if l.Owner == "" {
		return fmt.Sprintf("lease %s (free, counter %d)", l.Key, l.Counter)
	}
	return fmt.Sprintf("lease %s (owner %q until %s, counter %d)", l.Key, l.Owner, l.Expires.UTC().Format(time.RFC3339Nano), l.Counter)
}

// ErrLeaseConflict is returned (wrapped) by the Leaser methods when the
// stored lease's counter differs from the caller's: another worker changed
// the lease since the caller read it. It matches ErrConflict too.
var ErrLeaseConflict = fmt.Errorf("%w: lease changed by another worker", ErrConflict)

// Leaser is implemented by a Store that also keeps partition leases. The
// stores of this module (MemoryStore, FileStore, the DynamoDB and Redis stores)
// implement it; stream.WithLeases uses it to share a stream's partitions
// among workers.
//
// A Leaser stores leases and applies compare-and-swap; it reads no clock.
// The policy (when a lease counts as expired, which to take) is the
// caller's. Leases live apart from checkpoints: saving a checkpoint never
// changes a lease and the reverse.
//
// Every method returns an error if the key, consumer, stream or owner is
// invalid, an error matching ErrLeaseConflict when the stored counter is
// not the caller's, and an error matching ErrCorrupt when the stored lease
// cannot be decoded (never reset). On any error the argument is unchanged.
type Leaser interface {
	// LoadLease returns the lease of key, or a free lease with Counter 0 if
	// none was stored.
	LoadLease(ctx context.Context, key Key) (*Lease, error)
	// ListLeases returns the stored leases of consumer on stream, sorted by
	// partition.
	ListLeases(ctx context.Context, consumer, stream string) ([]*Lease, error)
	// AcquireLease gives l to owner until expires if the stored counter
	// equals l.Counter (0: no lease may be stored). On success l holds the
	// new lease (Owner, Expires, Counter+1). The caller decides whether it
	// may take l: the balancer takes only free or expired leases.
	AcquireLease(ctx context.Context, l *Lease, owner string, expires time.Time) error
	// RenewLease extends l, which must have an owner, to expires if the
	// stored counter equals l.Counter. On success l.Expires and l.Counter
	// are updated.
	RenewLease(ctx context.Context, l *Lease, expires time.Time) error
	// ReleaseLease frees l (no owner, no expiry) if the stored counter
	// equals l.Counter, so another worker can take it at once. On success l
	// is updated.
	ReleaseLease(ctx context.Context, l *Lease) error
}

// leaseConflict returns the ErrLeaseConflict error of a lease write whose
// counter does not match the stored one.
func leaseConflict(op string, key Key, expected, stored uint64) error {
	if stored == 0 {
		return fmt.Errorf("%w: %s %s: expected counter %d, but no lease is stored (counter 0)", ErrLeaseConflict, op, key, expected)
	}
	return fmt.Errorf("%w: %s %s: expected counter %d, but counter %d is stored", ErrLeaseConflict, op, key, expected, stored)
}

// LeaseChange is a validated lease write: what the stored lease must be
// (counter Expect) and what it becomes (Next). Stores other than those of
// this package build one with PrepareAcquire, PrepareRenew or PrepareRelease
// (LeaseSwap does it for them) so that every store accepts and refuses the
// same writes.
type LeaseChange struct {
	// Op is "acquire", "renew" or "release", for errors.
	Op string
	// Expect is the counter the stored lease must have (0: none stored).
	Expect uint64
	// Next is the lease to store: Counter is Expect+1.
	Next Lease
}

// Conflict returns the error matching ErrLeaseConflict for a stored counter
// that is not Expect.
func (c *LeaseChange) Conflict(stored uint64) error {
	return leaseConflict(c.Op, c.Next.Key, c.Expect, stored)
}

// PrepareAcquire validates an AcquireLease call and returns the change.
func PrepareAcquire(l *Lease, owner string, expires time.Time) (*LeaseChange, error) {
	if err := checkLease("acquire", l); err != nil {
		return nil, err
	}
	if err := checkOwner("acquire", l.Key, owner); err != nil {
		return nil, err
	}
	if expires.IsZero() {
		return nil, fmt.Errorf("checkpoint: acquire lease %s: zero expiry (expected the time the lease lapses)", l.Key)
	}
	next := Lease{Key: l.Key, Owner: owner, Expires: expires, Counter: l.Counter + 1}
	return &LeaseChange{Op: "acquire lease", Expect: l.Counter, Next: next}, nil
}

// PrepareRenew validates a RenewLease call and returns the change.
func PrepareRenew(l *Lease, expires time.Time) (*LeaseChange, error) {
	if err := checkLease("renew", l); err != nil {
		return nil, err
	}
	if err := checkOwner("renew", l.Key, l.Owner); err != nil {
		return nil, err
	}
	if l.Counter == 0 {
		return nil, fmt.Errorf("checkpoint: renew lease %s: counter 0 (expected a lease returned by AcquireLease)", l.Key)
	}
	if expires.IsZero() {
		return nil, fmt.Errorf("checkpoint: renew lease %s: zero expiry (expected the time the lease lapses)", l.Key)
	}
	next := Lease{Key: l.Key, Owner: l.Owner, Expires: expires, Counter: l.Counter + 1}
	return &LeaseChange{Op: "renew lease", Expect: l.Counter, Next: next}, nil
}

// PrepareRelease validates a ReleaseLease call and returns the change.
func PrepareRelease(l *Lease) (*LeaseChange, error) {
	if err := checkLease("release", l); err != nil {
		return nil, err
	}
	if l.Counter == 0 {
		return nil, fmt.Errorf("checkpoint: release lease %s: counter 0 (expected a stored lease)", l.Key)
	}
	next := Lease{Key: l.Key, Counter: l.Counter + 1}
	return &LeaseChange{Op: "release lease", Expect: l.Counter, Next: next}, nil
}

// LeaseSwap is a store's write of a validated lease change: it stores
// ch.Next if the stored lease's counter is ch.Expect (else ch.Conflict),
// and then sets *l (ch.Apply). Its methods are the Leaser writes: each
// validates the call as every store does (PrepareAcquire, PrepareRenew,
// PrepareRelease) and runs the swap, so that a store's AcquireLease is
//
//	return checkpoint.LeaseSwap(s.swapLease).Acquire(ctx, l, owner, expires)
type LeaseSwap func(ctx context.Context, l *Lease, ch *LeaseChange) error

// Acquire validates an AcquireLease call and runs the swap.
func (swap LeaseSwap) Acquire(ctx context.Context, l *Lease, owner string, expires time.Time) error {
	ch, err := PrepareAcquire(l, owner, expires)
	if err != nil {
		return err
	}
	return swap(ctx, l, ch)
}

// Renew validates a RenewLease call and runs the swap.
func (swap LeaseSwap) Renew(ctx context.Context, l *Lease, expires time.Time) error {
	ch, err := PrepareRenew(l, expires)
	if err != nil {
		return err
	}
	return swap(ctx, l, ch)
}

// Release validates a ReleaseLease call and runs the swap.
func (swap LeaseSwap) Release(ctx context.Context, l *Lease) error {
	ch, err := PrepareRelease(l)
	if err != nil {
		return err
	}
	return swap(ctx, l, ch)
}

// Apply sets *l to the new lease after the store wrote it.
func (c *LeaseChange) Apply(l *Lease) { *l = c.Next }

// CheckLease reports the first reason l cannot be a stored lease; stores
// call it after decoding.
func CheckLease(l *Lease) error {
	if err := l.Key.Validate(); err != nil {
		return err
	}
	if l.Counter == 0 {
		return fmt.Errorf("checkpoint: lease %s: counter 0 (expected a stored lease, counter 1 or more)", l.Key)
	}
	if !utf8.ValidString(l.Owner) {
		return fmt.Errorf("checkpoint: lease %s: owner is not valid UTF-8", l.Key)
	}
	if (l.Owner == "") != l.Expires.IsZero() {
		return fmt.Errorf("checkpoint: lease %s: owner %q with expiry %v (expected both set, or both empty for a released lease)", l.Key, l.Owner, l.Expires)
	}
	return nil
}

func checkLease(op string, l *Lease) error {
	if l == nil {
		return fmt.Errorf("checkpoint: %s lease: nil lease", op)
	}
	return l.Key.Validate()
}

func checkOwner(op string, key Key, owner string) error {
	if owner == "" || !utf8.ValidString(owner) {
		return fmt.Errorf("checkpoint: %s lease %s: owner %q (expected a non-empty UTF-8 worker id)", op, key, owner)
	}
	return nil
}
