package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/unistream-go/unistream/stream/checkpoint"
)

// LeaseHarness tells RunLeases how to make and manipulate the lease store
// under test.
type LeaseHarness struct {
	// New returns a new, empty store. Required. Use t.Cleanup to release it.
	New func(t *testing.T) checkpoint.Leaser
	// Corrupt, if set, damages the stored lease of key (which has been
	// acquired) so that it can no longer be decoded. Without it the
	// corrupt-data test is skipped.
	Corrupt func(t *testing.T, l checkpoint.Leaser, key checkpoint.Key)
	// Reopen, if set, returns a new store over the same data as l. Without
	// it the reopen test is skipped.
	Reopen func(t *testing.T, l checkpoint.Leaser) checkpoint.Leaser
}

// RunLeases runs the lease suite against the store made by h.New: the
// compare-and-swap contract of checkpoint.Leaser (one winner among
// concurrent takers, stale writes refused, arguments unchanged on error),
// listing, validation, corrupt data, and, when the store is also a
// checkpoint.Store, that leases and checkpoints never touch each other.
func RunLeases(t *testing.T, h LeaseHarness) {
	t.Helper()
	if h.New == nil {
		t.Fatal("storetest: LeaseHarness.New is nil")
	}
	tests := []struct {
		name string
		fn   func(*testing.T, LeaseHarness)
	}{
		{"LoadMissing", testLeaseLoadMissing},
		{"Lifecycle", testLeaseLifecycle},
		{"Conflict", testLeaseConflict},
		{"ConcurrentAcquire", testLeaseConcurrentAcquire},
		{"Takeover", testLeaseTakeover},
		{"List", testLeaseList},
		{"Invalid", testLeaseInvalid},
		{"Independent", testLeaseIndependent},
		{"Corrupt", testLeaseCorrupt},
		{"Reopen", testLeaseReopen},
		{"ContextDone", testLeaseContextDone},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, h) })
	}
}

// leaseBase is a fixed time with a non-UTC zone and nanoseconds.
var leaseBase = time.Date(2025, 3, 4, 5, 6, 7, 891011121, time.FixedZone("UTC-3", -3*3600))

// sameLease reports whether two leases are equal, times as instants.
func sameLease(a, b *checkpoint.Lease) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Key == b.Key && a.Owner == b.Owner && a.Counter == b.Counter && a.Expires.Equal(b.Expires)
}

func requireLease(t *testing.T, what string, got, want *checkpoint.Lease) {
	t.Helper()
	if !sameLease(got, want) {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
}

func mustLoadLease(t *testing.T, l checkpoint.Leaser, k checkpoint.Key) *checkpoint.Lease {
	t.Helper()
	got, err := l.LoadLease(context.Background(), k)
	if err != nil {
		t.Fatalf("LoadLease(%s): %v", k, err)
	}
	if got == nil {
		t.Fatalf("LoadLease(%s) returned nil and no error", k)
	}
	return got
}

func mustAcquire(t *testing.T, s checkpoint.Leaser, l *checkpoint.Lease, owner string, exp time.Time) {
	t.Helper()
	c := l.Counter
	if err := s.AcquireLease(context.Background(), l, owner, exp); err != nil {
		t.Fatalf("AcquireLease(%v, %q): %v", l, owner, err)
	}
	if l.Counter != c+1 || l.Owner != owner || !l.Expires.Equal(exp) {
		t.Fatalf("after AcquireLease(%q, %v): lease %v, want owner %q, expiry %v and counter %d", owner, exp, l, owner, exp, c+1)
	}
}

func testLeaseLoadMissing(t *testing.T, h LeaseHarness) {
	s := h.New(t)
	other := &checkpoint.Lease{Key: key("other")}
	mustAcquire(t, s, other, "w", leaseBase)
	for i, k := range trickyKeys() {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			got := mustLoadLease(t, s, k)
			if !reflect.DeepEqual(got, &checkpoint.Lease{Key: k}) {
				t.Fatalf("LoadLease of a missing key = %v, want a free lease with counter 0", got)
			}
		})
	}
}

func testLeaseLifecycle(t *testing.T, h LeaseHarness) {
	s := h.New(t)
	ctx := context.Background()
	for _, k := range trickyKeys() {
		l := mustLoadLease(t, s, k)
		mustAcquire(t, s, l, "worker-a", leaseBase)
		requireLease(t, "Load after Acquire", mustLoadLease(t, s, k), l)
		if !l.Held(leaseBase.Add(-time.Nanosecond)) || l.Held(leaseBase) {
			t.Fatalf("Held around the expiry of %v is wrong", l)
		}

		exp2 := leaseBase.Add(10 * time.Second)
		if err := s.RenewLease(ctx, l, exp2); err != nil {
			t.Fatalf("RenewLease: %v", err)
		}
		want := &checkpoint.Lease{Key: k, Owner: "worker-a", Expires: exp2, Counter: 2}
		requireLease(t, "lease after Renew", l, want)
		requireLease(t, "Load after Renew", mustLoadLease(t, s, k), want)

		if err := s.ReleaseLease(ctx, l); err != nil {
			t.Fatalf("ReleaseLease: %v", err)
		}
		want = &checkpoint.Lease{Key: k, Counter: 3}
		requireLease(t, "lease after Release", l, want)
		got := mustLoadLease(t, s, k)
		requireLease(t, "Load after Release", got, want)
		if got.Held(leaseBase) {
			t.Fatalf("a released lease is Held: %v", got)
		}

		// Another worker takes the released lease.
		mustAcquire(t, s, got, "worker-b", exp2)
		requireLease(t, "Load after Acquire by another", mustLoadLease(t, s, k), got)
	}
}

func testLeaseConflict(t *testing.T, h LeaseHarness) {
	s := h.New(t)
	ctx := context.Background()
	k := key("0")
	l := mustLoadLease(t, s, k)
	mustAcquire(t, s, l, "a", leaseBase)
	stored := l.Clone()

	stale := []*checkpoint.Lease{
		{Key: k}, // "none stored"
		{Key: k, Owner: "a", Expires: leaseBase, Counter: 2},    // from the future
		{Key: k, Owner: "a", Expires: leaseBase, Counter: 1000}, // far off
	}
	ops := []struct {
		name string
		do   func(l *checkpoint.Lease) error
	}{
		{"Acquire", func(l *checkpoint.Lease) error { return s.AcquireLease(ctx, l, "b", leaseBase.Add(time.Hour)) }},
		{"Renew", func(l *checkpoint.Lease) error { return s.RenewLease(ctx, l, leaseBase.Add(time.Hour)) }},
		{"Release", func(l *checkpoint.Lease) error { return s.ReleaseLease(ctx, l) }},
	}
	for _, op := range ops {
		for _, st := range stale {
			if op.name != "Acquire" && st.Counter == 0 {
				continue // refused as invalid, tested in Invalid
			}
			t.Run(fmt.Sprintf("%s counter %d", op.name, st.Counter), func(t *testing.T) {
				arg := st.Clone()
				err := op.do(arg)
				if !errors.Is(err, checkpoint.ErrLeaseConflict) || !errors.Is(err, checkpoint.ErrConflict) {
					t.Fatalf("%s with counter %d over counter %d: err = %v, want one matching ErrLeaseConflict and ErrConflict", op.name, st.Counter, stored.Counter, err)
				}
				if !reflect.DeepEqual(arg, st) {
					t.Errorf("a conflicting %s changed its argument: %v, was %v", op.name, arg, st)
				}
				requireLease(t, "stored lease after a conflicting "+op.name, mustLoadLease(t, s, k), stored)
			})
		}
	}
}

func testLeaseConcurrentAcquire(t *testing.T, h LeaseHarness) {
	const workers, rounds = 6, 8
	s := h.New(t)
	ctx := context.Background()
	k := key("0")
	for round := range rounds {
		seen := mustLoadLease(t, s, k)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var winners []string
		errc := make(chan error, workers)
		for w := range workers {
			wg.Go(func() {
				l := seen.Clone()
				owner := fmt.Sprintf("w%d", w)
				err := s.AcquireLease(ctx, l, owner, leaseBase.Add(time.Duration(round)*time.Second))
				switch {
				case err == nil:
					mu.Lock()
					winners = append(winners, owner)
					mu.Unlock()
				case !errors.Is(err, checkpoint.ErrLeaseConflict):
					errc <- fmt.Errorf("worker %d: AcquireLease: %w", w, err)
				}
			})
		}
		wg.Wait()
		close(errc)
		for err := range errc {
			t.Error(err)
		}
		if len(winners) != 1 {
			t.Fatalf("round %d: %d workers acquired the same lease (%q), want exactly 1", round, len(winners), winners)
		}
		got := mustLoadLease(t, s, k)
		if got.Owner != winners[0] || got.Counter != seen.Counter+1 {
			t.Fatalf("round %d: stored lease %v, want owner %q and counter %d", round, got, winners[0], seen.Counter+1)
		}
	}
}

func testLeaseTakeover(t *testing.T, h LeaseHarness) {
	s := h.New(t)
	ctx := context.Background()
	k := key("0")
	a := mustLoadLease(t, s, k)
	mustAcquire(t, s, a, "a", leaseBase)

	// b sees the lease expired and takes it over.
	b := mustLoadLease(t, s, k)
	if b.Held(leaseBase.Add(time.Second)) {
		t.Fatalf("lease %v is held after its expiry", b)
	}
	mustAcquire(t, s, b, "b", leaseBase.Add(time.Minute))

	// a's renew and release now fail: it lost the lease.
	before := a.Clone()
	if err := s.RenewLease(ctx, a, leaseBase.Add(time.Hour)); !errors.Is(err, checkpoint.ErrLeaseConflict) {
		t.Fatalf("renew by the former owner: err = %v, want ErrLeaseConflict", err)
	}
	if err := s.ReleaseLease(ctx, a); !errors.Is(err, checkpoint.ErrLeaseConflict) {
		t.Fatalf("release by the former owner: err = %v, want ErrLeaseConflict", err)
	}
	if !reflect.DeepEqual(a, before) {
		t.Fatalf("failed writes changed the former owner's lease: %v", a)
	}
	requireLease(t, "lease after the former owner's attempts", mustLoadLease(t, s, k), b)
	// b can renew.
	if err := s.RenewLease(ctx, b, leaseBase.Add(2*time.Minute)); err != nil {
		t.Fatalf("renew by the new owner: %v", err)
	}
}

func testLeaseList(t *testing.T, h LeaseHarness) {
	s := h.New(t)
	ctx := context.Background()
	mine := []string{"2", "10", "1", "a/b", "shardId-000000000001", "Z", "z"}
	want := map[string]*checkpoint.Lease{}
	for i, p := range mine {
		l := &checkpoint.Lease{Key: checkpoint.Key{Consumer: "c", Stream: "s", Partition: p}}
		mustAcquire(t, s, l, fmt.Sprintf("owner-%d", i), leaseBase.Add(time.Duration(i)*time.Second))
		if i%3 == 0 {
			if err := s.ReleaseLease(ctx, l); err != nil {
				t.Fatalf("ReleaseLease: %v", err)
			}
		}
		want[p] = l
	}
	for _, k := range []checkpoint.Key{
		{Consumer: "c", Stream: "s2", Partition: "1"},
		{Consumer: "c2", Stream: "s", Partition: "1"},
		{Consumer: "c,s", Stream: "x", Partition: "1"},
		{Consumer: "C", Stream: "s", Partition: "1"},
	} {
		mustAcquire(t, s, &checkpoint.Lease{Key: k}, "other", leaseBase)
	}
	list, err := s.ListLeases(ctx, "c", "s")
	if err != nil {
		t.Fatalf("ListLeases: %v", err)
	}
	var got []string
	for _, l := range list {
		got = append(got, l.Partition)
		requireLease(t, "ListLeases entry "+l.Partition, l, want[l.Partition])
	}
	sorted := append([]string(nil), mine...)
	sort.Strings(sorted)
	if !reflect.DeepEqual(got, sorted) {
		t.Fatalf("ListLeases(c, s) partitions = %q, want %q (sorted)", got, sorted)
	}
	// The result is a copy.
	list[0].Owner = "changed"
	list[0].Counter = 99
	again, err := s.ListLeases(ctx, "c", "s")
	if err != nil {
		t.Fatalf("second ListLeases: %v", err)
	}
	requireLease(t, "ListLeases after changing a previous result", again[0], want[again[0].Partition])

	// Long names.
	long := fmt.Sprintf("%0260d", 7)
	for _, p := range []string{"b", "a"} {
		mustAcquire(t, s, &checkpoint.Lease{Key: checkpoint.Key{Consumer: long, Stream: long, Partition: p}}, "w", leaseBase)
	}
	mustAcquire(t, s, &checkpoint.Lease{Key: checkpoint.Key{Consumer: long, Stream: long + "x", Partition: "c"}}, "w", leaseBase)
	ll, err := s.ListLeases(ctx, long, long)
	if err != nil {
		t.Fatalf("ListLeases of long names: %v", err)
	}
	if len(ll) != 2 || ll[0].Partition != "a" || ll[1].Partition != "b" {
		t.Fatalf("ListLeases of long names returned %d leases, want partitions a and b", len(ll))
	}
	if l, err := s.ListLeases(ctx, "nobody", "s"); err != nil || len(l) != 0 {
		t.Fatalf("ListLeases of an empty group = %d leases, %v; want none and no error", len(l), err)
	}
	for _, g := range [][2]string{{"", "s"}, {"c", ""}} {
		if _, err := s.ListLeases(ctx, g[0], g[1]); err == nil {
			t.Errorf("ListLeases(%q, %q) succeeded, want an error for the empty part", g[0], g[1])
		}
	}
}

func testLeaseInvalid(t *testing.T, h LeaseHarness) {
	s := h.New(t)
	ctx := context.Background()
	good := key("0")
	held := &checkpoint.Lease{Key: key("held")}
	mustAcquire(t, s, held, "a", leaseBase)
	cases := []struct {
		name string
		do   func() error
	}{
		{"acquire nil", func() error { return s.AcquireLease(ctx, nil, "a", leaseBase) }},
		{"acquire invalid key", func() error {
			return s.AcquireLease(ctx, &checkpoint.Lease{Key: checkpoint.Key{Consumer: "c"}}, "a", leaseBase)
		}},
		{"acquire empty owner", func() error { return s.AcquireLease(ctx, &checkpoint.Lease{Key: good}, "", leaseBase) }},
		{"acquire invalid owner", func() error { return s.AcquireLease(ctx, &checkpoint.Lease{Key: good}, "\xff", leaseBase) }},
		{"acquire zero expiry", func() error { return s.AcquireLease(ctx, &checkpoint.Lease{Key: good}, "a", time.Time{}) }},
		{"renew without owner", func() error {
			return s.RenewLease(ctx, &checkpoint.Lease{Key: held.Key, Counter: held.Counter}, leaseBase)
		}},
		{"renew counter 0", func() error { return s.RenewLease(ctx, &checkpoint.Lease{Key: good, Owner: "a"}, leaseBase) }},
		{"renew zero expiry", func() error { c := held.Clone(); return s.RenewLease(ctx, c, time.Time{}) }},
		{"release counter 0", func() error { return s.ReleaseLease(ctx, &checkpoint.Lease{Key: good}) }},
		{"release nil", func() error { return s.ReleaseLease(ctx, nil) }},
		{"load invalid key", func() error { _, err := s.LoadLease(ctx, checkpoint.Key{Stream: "s"}); return err }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.do()
			if err == nil {
				t.Fatalf("%s succeeded, want an error", tc.name)
			}
			if errors.Is(err, checkpoint.ErrConflict) || errors.Is(err, checkpoint.ErrCorrupt) {
				t.Fatalf("%s: err = %v, want an invalid-argument error, not a conflict or corruption", tc.name, err)
			}
		})
	}
	requireLease(t, "held lease after refused writes", mustLoadLease(t, s, held.Key), held)
	requireLease(t, "untouched key after refused writes", mustLoadLease(t, s, good), &checkpoint.Lease{Key: good})
}

func testLeaseIndependent(t *testing.T, h LeaseHarness) {
	s := h.New(t)
	st, ok := s.(checkpoint.Store)
	if !ok {
		t.Skip("the lease store is not a checkpoint.Store")
	}
	ctx := context.Background()
	k, onlyLease := key("0"), key("1")
	cp := Full(k)
	mustSave(t, st, cp)
	l := &checkpoint.Lease{Key: k}
	mustAcquire(t, s, l, "a", leaseBase)
	mustAcquire(t, s, &checkpoint.Lease{Key: onlyLease}, "a", leaseBase)
	if err := s.RenewLease(ctx, l, leaseBase.Add(time.Second)); err != nil {
		t.Fatalf("RenewLease: %v", err)
	}
	requireEqual(t, "checkpoint after lease writes", mustLoad(t, st, k), cp)
	if got := mustLoad(t, st, onlyLease); got.Version != 0 {
		t.Fatalf("Load of a key with only a lease = version %d, want a new checkpoint (version 0)", got.Version)
	}
	list, err := st.List(ctx, "c", "s")
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(list) != 1 || list[0].Partition != "0" {
		t.Fatalf("List after lease writes returned %d checkpoints, want only partition 0", len(list))
	}
	// Saving checkpoints does not change the lease, and a checkpoint can be
	// created for a key that already has a lease.
	cp.Counts.Retries++
	mustSave(t, st, cp)
	mustSave(t, st, &checkpoint.Checkpoint{Key: onlyLease})
	requireLease(t, "lease after checkpoint saves", mustLoadLease(t, s, k), l)
	leases, err := s.ListLeases(ctx, "c", "s")
	if err != nil || len(leases) != 2 {
		t.Fatalf("ListLeases after checkpoint saves = %d leases, %v; want 2", len(leases), err)
	}
}

func testLeaseCorrupt(t *testing.T, h LeaseHarness) {
	if h.Corrupt == nil {
		t.Skip("LeaseHarness.Corrupt not set: the store has no way to hold corrupt data")
	}
	s := h.New(t)
	ctx := context.Background()
	k, other := key("0"), key("1")
	l := &checkpoint.Lease{Key: k}
	mustAcquire(t, s, l, "a", leaseBase)
	o := &checkpoint.Lease{Key: other}
	mustAcquire(t, s, o, "a", leaseBase)
	h.Corrupt(t, s, k)

	if got, err := s.LoadLease(ctx, k); !errors.Is(err, checkpoint.ErrCorrupt) {
		t.Fatalf("LoadLease of corrupt data = %v, %v; want an error matching ErrCorrupt", got, err)
	}
	for _, c := range []uint64{0, 1, 2} {
		arg := &checkpoint.Lease{Key: k, Owner: "a", Expires: leaseBase, Counter: c}
		if err := s.AcquireLease(ctx, arg, "b", leaseBase); !errors.Is(err, checkpoint.ErrCorrupt) {
			t.Errorf("AcquireLease(counter %d) over corrupt data: err = %v, want ErrCorrupt", c, err)
		}
		if c > 0 {
			if err := s.RenewLease(ctx, arg, leaseBase); !errors.Is(err, checkpoint.ErrCorrupt) {
				t.Errorf("RenewLease(counter %d) over corrupt data: err = %v, want ErrCorrupt", c, err)
			}
			if err := s.ReleaseLease(ctx, arg); !errors.Is(err, checkpoint.ErrCorrupt) {
				t.Errorf("ReleaseLease(counter %d) over corrupt data: err = %v, want ErrCorrupt", c, err)
			}
		}
	}
	if _, err := s.LoadLease(ctx, k); !errors.Is(err, checkpoint.ErrCorrupt) {
		t.Fatalf("LoadLease after writes over corrupt data: err = %v, want ErrCorrupt still (never overwritten)", err)
	}
	if _, err := s.ListLeases(ctx, "c", "s"); !errors.Is(err, checkpoint.ErrCorrupt) {
		t.Errorf("ListLeases of a group holding corrupt data: err = %v, want ErrCorrupt", err)
	}
	requireLease(t, "another lease next to corrupt data", mustLoadLease(t, s, other), o)
}

func testLeaseReopen(t *testing.T, h LeaseHarness) {
	if h.Reopen == nil {
		t.Skip("LeaseHarness.Reopen not set: the store cannot be reopened over the same data")
	}
	s := h.New(t)
	var want []*checkpoint.Lease
	for i, k := range trickyKeys() {
		l := &checkpoint.Lease{Key: k}
		mustAcquire(t, s, l, fmt.Sprintf("w%d", i), leaseBase.Add(time.Duration(i)*time.Millisecond))
		want = append(want, l)
	}
	r := h.Reopen(t, s)
	for _, w := range want {
		requireLease(t, "LoadLease after Reopen", mustLoadLease(t, r, w.Key), w)
	}
	stale := want[0].Clone()
	if err := r.RenewLease(context.Background(), want[0], leaseBase.Add(time.Hour)); err != nil {
		t.Fatalf("RenewLease after Reopen: %v", err)
	}
	if err := s.RenewLease(context.Background(), stale, leaseBase.Add(time.Hour)); !errors.Is(err, checkpoint.ErrLeaseConflict) {
		t.Fatalf("stale RenewLease on the first store after the reopened one renewed: err = %v, want ErrLeaseConflict", err)
	}
}

func testLeaseContextDone(t *testing.T, h LeaseHarness) {
	s := h.New(t)
	k := key("0")
	l := &checkpoint.Lease{Key: k}
	mustAcquire(t, s, l, "a", leaseBase)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	arg := l.Clone()
	if err := s.RenewLease(ctx, arg, leaseBase.Add(time.Hour)); err != nil {
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("RenewLease with a cancelled context: err = %v, want nil or one matching context.Canceled", err)
		}
		if !reflect.DeepEqual(arg, l) {
			t.Fatalf("a failed RenewLease changed its argument")
		}
		requireLease(t, "lease after a failed RenewLease", mustLoadLease(t, s, k), l)
	} else {
		requireLease(t, "lease after RenewLease with a cancelled context", mustLoadLease(t, s, k), arg)
	}
	if _, err := s.LoadLease(ctx, k); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("LoadLease with a cancelled context: err = %v", err)
	}
	if _, err := s.ListLeases(ctx, "c", "s"); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("ListLeases with a cancelled context: err = %v", err)
	}
}
