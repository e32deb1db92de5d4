package stream

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/driver"
	"github.com/unistream-go/unistream/stream/memstream"
	"github.com/unistream-go/unistream/stream/streamtest"
)

// leaseRecorder is a driver.Rebalance that records the calls and checks
// the contract: calls never concurrent, Revoked and Lost only for assigned
// partitions, no partition assigned twice.
type leaseRecorder struct {
	t     *testing.T
	mu    sync.Mutex
	busy  bool
	owned map[string]bool
	log   []string
}

func newLeaseRecorder(t *testing.T) *leaseRecorder {
	return &leaseRecorder{t: t, owned: map[string]bool{}}
}

func (r *leaseRecorder) enter(op string, ps []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.busy {
		r.t.Errorf("%s(%v) called while another Rebalance call runs", op, ps)
	}
	r.busy = true
	if len(ps) == 0 {
		r.t.Errorf("%s called with no partitions", op)
	}
	for _, p := range ps {
		switch {
		case op == "assigned" && r.owned[p]:
			r.t.Errorf("partition %s assigned twice", p)
		case op != "assigned" && !r.owned[p]:
			r.t.Errorf("partition %s %s without being assigned", p, op)
		}
		r.owned[p] = op == "assigned"
		if !r.owned[p] {
			delete(r.owned, p)
		}
	}
	r.log = append(r.log, fmt.Sprintf("%s %s", op, strings.Join(ps, ",")))
}

func (r *leaseRecorder) exit() {
	r.mu.Lock()
	r.busy = false
	r.mu.Unlock()
}

func (r *leaseRecorder) Assigned(_ context.Context, ps []string) { r.enter("assigned", ps); r.exit() }
func (r *leaseRecorder) Revoked(_ context.Context, ps []string)  { r.enter("revoked", ps); r.exit() }
func (r *leaseRecorder) Lost(_ context.Context, ps []string)     { r.enter("lost", ps); r.exit() }

// ownedSet returns the owned partitions, sorted.
func (r *leaseRecorder) ownedSet() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for p := range r.owned {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// takeLog returns and clears the calls recorded so far.
func (r *leaseRecorder) takeLog() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := r.log
	r.log = nil
	return l
}

// leaseEnv is a stream, a shared store and a fake clock for balancers
// driven step by step.
type leaseEnv struct {
	t     *testing.T
	s     *memstream.Stream
	store *checkpoint.MemoryStore
	clock *streamtest.FakeClock
}

func newLeaseEnv(t *testing.T, partitions int) *leaseEnv {
	return &leaseEnv{
		t:     t,
		s:     memstream.New("orders", memstream.WithPartitions(partitions)),
		store: checkpoint.NewMemoryStore(),
		clock: streamtest.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
	}
}

// worker returns a balancer for worker id, not started: the test calls step.
func (e *leaseEnv) worker(id string, leaser checkpoint.Leaser, opts ...LeaseOption) (*balancer, *leaseRecorder) {
	e.t.Helper()
	if leaser == nil {
		leaser = e.store
	}
	opts = append([]LeaseOption{WithWorkerID(id), WithLeaseDuration(10 * time.Second), WithLeaseRenewInterval(2 * time.Second)}, opts...)
	c, err := NewConsumer(NewStream(e.s), func(context.Context, *Record) error { return nil },
		WithName("billing"), WithCheckpointStore(e.store), WithClock(e.clock), WithOnExhausted(Halt),
		WithLeases(leaser, opts...))
	if err != nil {
		e.t.Fatal(err)
	}
	lc, err := newLeaseConfig(leaser, opts)
	if err != nil {
		e.t.Fatal(err)
	}
	rec := newLeaseRecorder(e.t)
	b := newBalancer(c, leaser, rec, lc)
	// Not started: the test drives the steps; Leave must see a stopped loop.
	b.cancel = func() {}
	close(b.done)
	return b, rec
}

// owners returns partition -> owner from the store.
func (e *leaseEnv) owners() map[string]string {
	e.t.Helper()
	ls, err := e.store.ListLeases(context.Background(), "billing", "orders")
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]string{}
	for _, l := range ls {
		if l.Owner != "" && !IsWorkerLease(l) {
			out[l.Partition] = l.Owner
		}
	}
	return out
}

// checkDisjoint fails if two recorders own one partition.
func checkDisjoint(t *testing.T, recs map[string]*leaseRecorder) {
	t.Helper()
	by := map[string]string{}
	for w, r := range recs {
		for _, p := range r.ownedSet() {
			if o, ok := by[p]; ok {
				t.Fatalf("partition %s owned by both %s and %s", p, o, w)
			}
			by[p] = w
		}
	}
}

func TestLeaseSingleWorkerTakesAll(t *testing.T) {
	e := newLeaseEnv(t, 4)
	a, rec := e.worker("a", nil)
	a.step(context.Background())
	if got, want := rec.ownedSet(), []string{"0", "1", "2", "3"}; !slices.Equal(got, want) {
		t.Fatalf("owned %v, want %v", got, want)
	}
	for p, o := range e.owners() {
		if o != "a" {
			t.Fatalf("lease of %s owned by %q, want a", p, o)
		}
	}
	// Steps renew: the counters move, nothing else changes.
	before, _ := e.store.LoadLease(context.Background(), a.key("0"))
	e.clock.Advance(2 * time.Second)
	a.step(context.Background())
	after, _ := e.store.LoadLease(context.Background(), a.key("0"))
	if after.Counter != before.Counter+1 || !after.Expires.After(before.Expires) {
		t.Fatalf("lease after a step = %v, was %v: want it renewed", after, before)
	}
	if log := rec.takeLog(); len(log) != 1 {
		t.Fatalf("calls = %q, want one assignment", log)
	}
}

func TestLeaseTwoWorkersBalance(t *testing.T) {
	e := newLeaseEnv(t, 5)
	ctx := context.Background()
	a, ra := e.worker("a", nil)
	b, rb := e.worker("b", nil)
	recs := map[string]*leaseRecorder{"a": ra, "b": rb}
	a.step(ctx)
	if n := len(ra.ownedSet()); n != 5 {
		t.Fatalf("a owns %d partitions alone, want 5", n)
	}
	// b holds nothing and nothing is free: it takes nothing, but its
	// presence lease makes a count it, and a hands over down to its share.
	b.step(ctx)
	if got := rb.ownedSet(); len(got) != 0 {
		t.Fatalf("b took %v while a holds every live lease, want nothing (no stealing)", got)
	}
	if l, err := e.store.LoadLease(ctx, b.presenceKey()); err != nil || l.Owner != "b" || !IsWorkerLease(l) {
		t.Fatalf("b's presence lease = %v, %v: want it owned by b", l, err)
	}
	for range 6 {
		a.step(ctx)
		b.step(ctx)
		e.clock.Advance(2 * time.Second)
		checkDisjoint(t, recs)
	}
	na, nb := len(ra.ownedSet()), len(rb.ownedSet())
	if na+nb != 5 || na < 2 || nb < 2 {
		t.Fatalf("a owns %v, b owns %v: want the 5 partitions split 3/2", ra.ownedSet(), rb.ownedSet())
	}
	owners := e.owners()
	for _, p := range ra.ownedSet() {
		if owners[p] != "a" {
			t.Errorf("a runs %s but the lease is owned by %q", p, owners[p])
		}
	}
	for _, p := range rb.ownedSet() {
		if owners[p] != "b" {
			t.Errorf("b runs %s but the lease is owned by %q", p, owners[p])
		}
	}
	logA := strings.Join(ra.takeLog(), "; ")
	if strings.Contains(logA, "lost") || strings.Count(logA, "revoked") != 2 {
		t.Errorf("a's calls %q: want two graceful revokes (the handovers: half the excess of 2, then of 1) and nothing lost", logA)
	}
	if logB := strings.Join(rb.takeLog(), "; "); strings.Contains(logB, "lost") || strings.Contains(logB, "revoked") {
		t.Errorf("b's calls %q: want assignments only", logB)
	}
	// Presence leases are no partitions: nobody runs them, no checkpoint
	// lists them.
	for w, r := range recs {
		for _, p := range r.ownedSet() {
			if strings.HasPrefix(p, WorkerLeasePrefix) {
				t.Errorf("%s runs the presence pseudo-partition %s", w, p)
			}
		}
	}
	cps, err := e.store.List(ctx, "billing", "orders")
	if err != nil {
		t.Fatal(err)
	}
	for _, cp := range cps {
		if strings.HasPrefix(cp.Partition, WorkerLeasePrefix) {
			t.Errorf("checkpoint listed for the presence pseudo-partition %s", cp.Partition)
		}
	}
	// b leaves: its presence lease is released, and a takes everything
	// back at once.
	if err := b.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	if l, _ := e.store.LoadLease(ctx, b.presenceKey()); l.Owner != "" {
		t.Fatalf("b's presence lease after Leave = %v, want it released", l)
	}
	a.step(ctx)
	if n := len(ra.ownedSet()); n != 5 {
		t.Fatalf("a owns %v after b left, want all 5", ra.ownedSet())
	}
}

// A worker that has died is not counted: its presence lease expires with
// its partition leases, and the survivors' share grows.
func TestLeasePresenceExpires(t *testing.T) {
	e := newLeaseEnv(t, 4)
	ctx := context.Background()
	a, ra := e.worker("a", nil)
	b, rb := e.worker("b", nil)
	a.step(ctx)
	b.step(ctx) // b is present and holds nothing
	e.clock.Advance(2 * time.Second)
	a.step(ctx) // a counts b: share 2, hands half its excess over
	if n := len(ra.ownedSet()); n != 3 {
		t.Fatalf("a owns %v with b present, want 3 after one handover (half the excess of 2)", ra.ownedSet())
	}
	// b dies before taking anything. Once its presence has not changed for
	// a lease duration, a takes back what it handed over (after the
	// handover cooldown) and keeps all 4.
	for range 12 {
		e.clock.Advance(2 * time.Second)
		a.step(ctx)
	}
	if n := len(ra.ownedSet()); n != 4 || len(rb.ownedSet()) != 0 {
		t.Fatalf("a owns %v, b %v after b died: want a to hold all 4", ra.ownedSet(), rb.ownedSet())
	}
}

func TestLeaseTakeoverAfterExpiry(t *testing.T) {
	e := newLeaseEnv(t, 4)
	ctx := context.Background()
	a, ra := e.worker("a", nil)
	a.step(ctx)
	b, rb := e.worker("b", nil)
	// a dies: it never steps again. b takes nothing until a's leases have
	// not changed for a whole lease duration by b's clock.
	b.step(ctx)
	e.clock.Advance(10*time.Second - time.Millisecond)
	b.step(ctx)
	if got := rb.ownedSet(); len(got) != 0 {
		t.Fatalf("b took %v before a's leases expired", got)
	}
	e.clock.Advance(time.Millisecond)
	b.step(ctx)
	if got, want := rb.ownedSet(), []string{"0", "1", "2", "3"}; !slices.Equal(got, want) {
		t.Fatalf("b owns %v after a's leases expired, want %v", got, want)
	}
	// a comes back: its renews fail and it reports every partition lost;
	// it takes nothing from b (no stealing), but renews its presence.
	a.step(ctx)
	if log := ra.takeLog(); !slices.Equal(log, []string{"assigned 0,1,2,3", "lost 0,1,2,3"}) {
		t.Fatalf("a's calls %q, want assigned 0,1,2,3 then lost 0,1,2,3", log)
	}
	if got := ra.ownedSet(); len(got) != 0 {
		t.Fatalf("a owns %v right after b took its leases, want nothing", got)
	}
	// b sees a present again and hands it partitions gracefully.
	for range 4 {
		e.clock.Advance(2 * time.Second)
		b.step(ctx)
		a.step(ctx)
		checkDisjoint(t, map[string]*leaseRecorder{"a": ra, "b": rb})
	}
	if na, nb := len(ra.ownedSet()), len(rb.ownedSet()); na != 2 || nb != 2 {
		t.Fatalf("a owns %v, b owns %v after a came back: want 2 each", ra.ownedSet(), rb.ownedSet())
	}
	if log := strings.Join(rb.takeLog(), "; "); strings.Contains(log, "lost") {
		t.Fatalf("b's calls %q: want graceful handovers, nothing lost", log)
	}
}

func TestLeaseLeaveHandsOver(t *testing.T) {
	e := newLeaseEnv(t, 3)
	ctx := context.Background()
	a, ra := e.worker("a", nil)
	b, rb := e.worker("b", nil)
	a.step(ctx)
	if err := a.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	if log := ra.takeLog(); !slices.Equal(log, []string{"assigned 0,1,2", "revoked 0,1,2"}) {
		t.Fatalf("a's calls %q, want assigned then revoked 0,1,2", log)
	}
	if o := e.owners(); len(o) != 0 {
		t.Fatalf("leases still owned after Leave: %v", o)
	}
	// Released leases are free at once: b takes them without waiting.
	b.step(ctx)
	if got := rb.ownedSet(); len(got) != 3 {
		t.Fatalf("b owns %v right after a left, want all 3", got)
	}
	if err := a.Leave(ctx); err != nil {
		t.Fatalf("second Leave: %v", err)
	}
}

// lostReplyLeaser applies every AcquireLease of partition lost but
// reports it failed, as a remote store does when the caller's request is
// cancelled after the store applied it.
type lostReplyLeaser struct {
	checkpoint.Leaser
	lost string
}

func (f *lostReplyLeaser) AcquireLease(ctx context.Context, l *checkpoint.Lease, owner string, exp time.Time) error {
	err := f.Leaser.AcquireLease(ctx, l, owner, exp)
	if err == nil && l.Partition == f.lost {
		return fmt.Errorf("acquire %s: %w", l.Partition, context.Canceled)
	}
	return err
}

// TestLeaseLeaveReleasesStray: a lease the store gave this worker while the
// worker saw the request fail is released by Leave too, so that the other
// workers need not wait for it to expire.
func TestLeaseLeaveReleasesStray(t *testing.T) {
	e := newLeaseEnv(t, 3)
	ctx := context.Background()
	a, ra := e.worker("a", &lostReplyLeaser{Leaser: e.store, lost: "1"})
	a.step(ctx)
	if got := ra.ownedSet(); !slices.Equal(got, []string{"0", "2"}) {
		t.Fatalf("a was assigned %v, want [0 2] (1's acquire reported failed)", got)
	}
	if o := e.owners(); o["1"] != "a" {
		t.Fatalf("owners %v: the store should hold 1 for a", o)
	}
	if err := a.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	if o := e.owners(); len(o) != 0 {
		t.Fatalf("leases still owned after Leave: %v", o)
	}
}

func TestLeaseLineage(t *testing.T) {
	e := newLeaseEnv(t, 1)
	ctx := context.Background()
	children, err := e.s.Split("0")
	if err != nil {
		t.Fatal(err)
	}
	a, ra := e.worker("a", nil)
	a.step(ctx)
	if got := ra.ownedSet(); !slices.Equal(got, []string{"0"}) {
		t.Fatalf("owned %v while the parent is unfinished, want only the parent 0", got)
	}
	// The parent finishes: it is handed back and its children are leased.
	cp, err := e.store.Load(ctx, a.key("0"))
	if err != nil {
		t.Fatal(err)
	}
	cp.Finished = true
	if err := e.store.Save(ctx, cp); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(2 * time.Second)
	a.step(ctx)
	want := []string{children[0], children[1]}
	sort.Strings(want)
	if got := ra.ownedSet(); !slices.Equal(got, want) {
		t.Fatalf("owned %v after the parent finished, want the children %v", got, want)
	}
	if log := ra.takeLog(); !slices.Contains(log, "revoked 0") {
		t.Fatalf("calls %q, want the finished parent revoked", log)
	}
	if l, _ := e.store.LoadLease(ctx, a.key("0")); l.Owner != "" {
		t.Fatalf("the finished parent's lease is still owned: %v", l)
	}

	// A merge: the child waits for both parents.
	merged, err := e.s.Merge(children[0], children[1])
	if err != nil {
		t.Fatal(err)
	}
	finish := func(p string) {
		cp, err := e.store.Load(ctx, a.key(p))
		if err != nil {
			t.Fatal(err)
		}
		cp.Finished = true
		if err := e.store.Save(ctx, cp); err != nil {
			t.Fatal(err)
		}
	}
	finish(children[0])
	e.clock.Advance(2 * time.Second)
	a.step(ctx)
	if got := ra.ownedSet(); !slices.Equal(got, []string{children[1]}) {
		t.Fatalf("owned %v with one merge parent unfinished, want only %s", got, children[1])
	}
	finish(children[1])
	e.clock.Advance(2 * time.Second)
	a.step(ctx)
	if got := ra.ownedSet(); !slices.Equal(got, []string{merged}) {
		t.Fatalf("owned %v after both merge parents finished, want the child %s", got, merged)
	}
}

// flakyLeaser fails lease writes with a store error while down.
type flakyLeaser struct {
	checkpoint.Leaser
	mu   sync.Mutex
	down bool
}

var errStoreDown = errors.New("store unreachable")

func (f *flakyLeaser) setDown(d bool) { f.mu.Lock(); f.down = d; f.mu.Unlock() }
func (f *flakyLeaser) isDown() bool   { f.mu.Lock(); defer f.mu.Unlock(); return f.down }

func (f *flakyLeaser) RenewLease(ctx context.Context, l *checkpoint.Lease, exp time.Time) error {
	if f.isDown() {
		return errStoreDown
	}
	return f.Leaser.RenewLease(ctx, l, exp)
}

func (f *flakyLeaser) ReleaseLease(ctx context.Context, l *checkpoint.Lease) error {
	if f.isDown() {
		return errStoreDown
	}
	return f.Leaser.ReleaseLease(ctx, l)
}

func TestLeaseRenewFailures(t *testing.T) {
	e := newLeaseEnv(t, 2)
	ctx := context.Background()
	fl := &flakyLeaser{Leaser: e.store}
	a, ra := e.worker("a", fl)
	a.step(ctx)
	fl.setDown(true)
	// Renew fails; the lease is kept while nobody may take it before the
	// next round: last renew at t0, duration 10s, rounds every 2s, so
	// rounds at t0+2s..t0+6s keep it and the one at t0+8s gives it up.
	for i := 1; i <= 3; i++ {
		e.clock.Advance(2 * time.Second)
		a.step(ctx)
		if got := ra.ownedSet(); len(got) != 2 {
			t.Fatalf("round %d with the store down: owned %v, want both kept", i, got)
		}
	}
	e.clock.Advance(2 * time.Second)
	a.step(ctx)
	if got := ra.ownedSet(); len(got) != 0 {
		t.Fatalf("owned %v 8s after the last renew of a 10s lease, want both lost", got)
	}
	if log := ra.takeLog(); !slices.Contains(log, "lost 0,1") {
		t.Fatalf("calls %q, want lost 0,1", log)
	}
	// Leave with the store down reports the failed releases: no partition
	// is held here, only the presence lease.
	if err := a.Leave(ctx); !errors.Is(err, errStoreDown) || !strings.Contains(err.Error(), "presence lease of worker a") {
		t.Fatalf("Leave holding no partition with the store down: err = %v, want the presence release error", err)
	}

	// A store that recovers in time keeps the leases.
	e2 := newLeaseEnv(t, 1)
	fl2 := &flakyLeaser{Leaser: e2.store}
	b, rb := e2.worker("b", fl2)
	b.step(ctx)
	fl2.setDown(true)
	e2.clock.Advance(2 * time.Second)
	b.step(ctx)
	fl2.setDown(false)
	e2.clock.Advance(2 * time.Second)
	b.step(ctx)
	if got := rb.ownedSet(); len(got) != 1 {
		t.Fatalf("owned %v after the store recovered, want the lease kept", got)
	}
	// Leave while the store is down: the release error is returned.
	fl2.setDown(true)
	if err := b.Leave(ctx); !errors.Is(err, errStoreDown) {
		t.Fatalf("Leave with the store down: err = %v, want the release error", err)
	}
}

func TestLeaseMaxLeases(t *testing.T) {
	e := newLeaseEnv(t, 5)
	ctx := context.Background()
	a, ra := e.worker("a", nil, WithMaxLeases(2))
	a.step(ctx)
	if got := ra.ownedSet(); len(got) != 2 {
		t.Fatalf("owned %v with WithMaxLeases(2), want 2", got)
	}
	b, rb := e.worker("b", nil, WithMaxLeases(2))
	b.step(ctx)
	if got := rb.ownedSet(); len(got) != 2 {
		t.Fatalf("b owned %v with WithMaxLeases(2), want 2 of the 3 free", got)
	}
	checkDisjoint(t, map[string]*leaseRecorder{"a": ra, "b": rb})
}

func TestLeaseConcurrentTakers(t *testing.T) {
	// Several workers step at once over the same free leases: the store's
	// compare-and-swap lets one take each.
	e := newLeaseEnv(t, 8)
	ctx := context.Background()
	recs := map[string]*leaseRecorder{}
	var bs []*balancer
	for i := range 4 {
		id := fmt.Sprintf("w%d", i)
		b, r := e.worker(id, nil, WithLeaseBalancing(false))
		recs[id] = r
		bs = append(bs, b)
	}
	var wg sync.WaitGroup
	for _, b := range bs {
		wg.Go(func() { b.step(ctx) })
	}
	wg.Wait()
	checkDisjoint(t, recs)
	total := 0
	owners := e.owners()
	for id, r := range recs {
		for _, p := range r.ownedSet() {
			if owners[p] != id {
				t.Errorf("%s runs %s but the lease is owned by %q", id, p, owners[p])
			}
		}
		total += len(r.ownedSet())
	}
	if total != len(owners) {
		t.Fatalf("%d partitions run, %d leases owned", total, len(owners))
	}
}

func TestWithLeasesOptions(t *testing.T) {
	s := memstream.New("orders")
	h := func(context.Context, *Record) error { return nil }
	cases := []struct {
		name string
		opt  ConsumerOption
		want string
	}{
		{"nil leaser", WithLeases(nil), "non-nil checkpoint.Leaser"},
		{"zero duration", WithLeases(checkpoint.NewMemoryStore(), WithLeaseDuration(0)), "positive duration"},
		{"renew too slow", WithLeases(checkpoint.NewMemoryStore(), WithLeaseDuration(time.Second), WithLeaseRenewInterval(600*time.Millisecond)), "less than half the lease duration"},
		{"empty worker", WithLeases(checkpoint.NewMemoryStore(), WithWorkerID("")), "non-empty worker id"},
		{"negative max", WithLeases(checkpoint.NewMemoryStore(), WithMaxLeases(-1)), "0 (no cap) or more"},
		{"nil logger", WithLeases(checkpoint.NewMemoryStore(), WithLeaseLogger(nil)), "non-nil *slog.Logger"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewConsumer(NewStream(s), h, WithOnExhausted(Halt), tc.opt)
			var oe *OptionError
			if !errors.As(err, &oe) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewConsumer: err = %v, want an OptionError containing %q", err, tc.want)
			}
		})
	}
	if id := defaultWorkerID(); id == "" || id == defaultWorkerID() {
		t.Fatalf("default worker ids %q are not unique", id)
	}
}

// ---- End to end: consumers with WithLeases running the engine.

// dyingStore is a checkpoint store and leaser that can be killed: every
// call then fails, as for a process cut off from its store (or dead).
type dyingStore struct {
	store interface {
		checkpoint.Store
		checkpoint.Leaser
	}
	mu   sync.Mutex
	dead bool
	ops  atomic.Int64 // calls made, dead or alive
}

var errDead = errors.New("worker killed: store unreachable")

func (d *dyingStore) kill() { d.mu.Lock(); d.dead = true; d.mu.Unlock() }
func (d *dyingStore) err() error {
	d.ops.Add(1)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dead {
		return errDead
	}
	return nil
}

func (d *dyingStore) Load(ctx context.Context, k checkpoint.Key) (*checkpoint.Checkpoint, error) {
	if err := d.err(); err != nil {
		return nil, err
	}
	return d.store.Load(ctx, k)
}
func (d *dyingStore) Save(ctx context.Context, cp *checkpoint.Checkpoint) error {
	if err := d.err(); err != nil {
		return err
	}
	return d.store.Save(ctx, cp)
}
func (d *dyingStore) List(ctx context.Context, c, s string) ([]*checkpoint.Checkpoint, error) {
	if err := d.err(); err != nil {
		return nil, err
	}
	return d.store.List(ctx, c, s)
}
func (d *dyingStore) LoadLease(ctx context.Context, k checkpoint.Key) (*checkpoint.Lease, error) {
	if err := d.err(); err != nil {
		return nil, err
	}
	return d.store.LoadLease(ctx, k)
}
func (d *dyingStore) ListLeases(ctx context.Context, c, s string) ([]*checkpoint.Lease, error) {
	if err := d.err(); err != nil {
		return nil, err
	}
	return d.store.ListLeases(ctx, c, s)
}
func (d *dyingStore) AcquireLease(ctx context.Context, l *checkpoint.Lease, o string, exp time.Time) error {
	if err := d.err(); err != nil {
		return err
	}
	return d.store.AcquireLease(ctx, l, o, exp)
}
func (d *dyingStore) RenewLease(ctx context.Context, l *checkpoint.Lease, exp time.Time) error {
	if err := d.err(); err != nil {
		return err
	}
	return d.store.RenewLease(ctx, l, exp)
}
func (d *dyingStore) ReleaseLease(ctx context.Context, l *checkpoint.Lease) error {
	if err := d.err(); err != nil {
		return err
	}
	return d.store.ReleaseLease(ctx, l)
}

// leaseCluster is a memstream stream, a shared store and the records
// written, for consumers running WithLeases.
type leaseCluster struct {
	t     testing.TB
	s     *memstream.Stream
	store interface {
		checkpoint.Store
		checkpoint.Leaser
	}
	written []string          // record ids
	last    map[string][]byte // partition -> pointer of its last record

	mu      sync.Mutex
	handled map[string]map[string]int // id -> worker -> calls
}

func newLeaseCluster(t testing.TB, store interface {
	checkpoint.Store
	checkpoint.Leaser
}, partitions int) *leaseCluster {
	s, err := memstream.NewBroker().Stream("orders", memstream.WithPartitions(partitions))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &leaseCluster{t: t, s: s, store: store, last: map[string][]byte{}, handled: map[string]map[string]int{}}
}

func (lc *leaseCluster) write(n int) {
	lc.t.Helper()
	w, err := lc.s.OpenWriter(context.Background())
	if err != nil {
		lc.t.Fatal(err)
	}
	defer w.Close()
	recs := make([]Record, n)
	for i := range recs {
		id := fmt.Sprintf("r%d", len(lc.written)+i)
		recs[i] = Record{ID: id, Key: []byte(fmt.Sprintf("key-%d", (len(lc.written)+i)%13)), Value: []byte(id)}
	}
	res := make([]driver.WriteResult, n)
	if err := w.Write(context.Background(), recs, res); err != nil {
		lc.t.Fatal(err)
	}
	for i, r := range res {
		if r.Err != nil {
			lc.t.Fatal(r.Err)
		}
		lc.written = append(lc.written, recs[i].ID)
		lc.last[r.Partition] = r.Pointer
	}
}

// consumer returns a consumer named worker whose store is st (the shared
// store, or a dying wrapper of it).
func (lc *leaseCluster) consumer(worker string, st interface {
	checkpoint.Store
	checkpoint.Leaser
}) *Consumer {
	lc.t.Helper()
	h := func(ctx context.Context, r *Record) error {
		lc.mu.Lock()
		if lc.handled[r.ID] == nil {
			lc.handled[r.ID] = map[string]int{}
		}
		lc.handled[r.ID][worker]++
		lc.mu.Unlock()
		return nil
	}
	c, err := NewConsumer(NewStream(lc.s), h, WithName("billing"), WithCheckpointStore(st), WithOnExhausted(Halt),
		WithPollInterval(time.Millisecond), WithPartitionRefresh(20*time.Millisecond), WithBatchSize(7),
		WithDrainTimeout(5*time.Second),
		WithLeases(st, WithWorkerID(worker), WithLeaseDuration(600*time.Millisecond), WithLeaseRenewInterval(50*time.Millisecond)))
	if err != nil {
		lc.t.Fatal(err)
	}
	return c
}

type leaseMember struct {
	cancel context.CancelFunc
	done   chan error
}

func (lc *leaseCluster) start(c *Consumer) *leaseMember {
	ctx, cancel := context.WithCancel(context.Background())
	m := &leaseMember{cancel: cancel, done: make(chan error, 1)}
	go func() { m.done <- c.Run(ctx) }()
	lc.t.Cleanup(func() {
		m.cancel()
		select {
		case err := <-m.done:
			m.done <- err
		case <-time.After(30 * time.Second):
			lc.t.Error("Run did not return within 30s of its stop")
		}
	})
	return m
}

func (m *leaseMember) stop(t testing.TB) error {
	t.Helper()
	m.cancel()
	select {
	case err := <-m.done:
		m.done <- err
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return within 30s of its stop")
		return nil
	}
}

// waitFor polls cond for up to 30s.
func (lc *leaseCluster) waitFor(what string, cond func() bool) {
	lc.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			lc.t.Fatalf("%s: not reached in 30s; leases %v", what, lc.owners())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// done reports that every partition is committed to its last record.
func (lc *leaseCluster) done() bool {
	for p, ptr := range lc.last {
		cp, err := lc.store.Load(context.Background(), checkpoint.Key{Consumer: "billing", Stream: "orders", Partition: p})
		if err != nil {
			lc.t.Fatal(err)
		}
		if cp.Batch != nil || string(cp.Committed) != string(ptr) {
			return false
		}
	}
	return true
}

func (lc *leaseCluster) owners() map[string]string {
	ls, err := lc.store.ListLeases(context.Background(), "billing", "orders")
	if err != nil {
		lc.t.Fatal(err)
	}
	out := map[string]string{}
	for _, l := range ls {
		if l.Owner != "" && !IsWorkerLease(l) {
			out[l.Partition] = l.Owner
		}
	}
	return out
}

// workersOf returns the workers that handled records since the call
// before, by partition owner in the store.
func (lc *leaseCluster) count(owner string) int {
	n := 0
	for _, o := range lc.owners() {
		if o == owner {
			n++
		}
	}
	return n
}

// checkOutcomes checks that every record written was handled and that the
// checkpoints count each exactly once.
func (lc *leaseCluster) checkOutcomes() (byWorker map[string]int) {
	lc.t.Helper()
	lc.mu.Lock()
	defer lc.mu.Unlock()
	byWorker = map[string]int{}
	for _, id := range lc.written {
		if len(lc.handled[id]) == 0 {
			lc.t.Errorf("record %s was never handled", id)
		}
		for w := range lc.handled[id] {
			byWorker[w]++
		}
	}
	cps, err := lc.store.List(context.Background(), "billing", "orders")
	if err != nil {
		lc.t.Fatal(err)
	}
	var succeeded uint64
	for _, cp := range cps {
		succeeded += cp.Counts.Succeeded
	}
	if succeeded != uint64(len(lc.written)) {
		lc.t.Errorf("checkpoints count %d succeeded records, %d were written: outcomes lost or counted twice", succeeded, len(lc.written))
	}
	return byWorker
}

func leaseStores(t *testing.T) map[string]func(t *testing.T) interface {
	checkpoint.Store
	checkpoint.Leaser
} {
	return map[string]func(t *testing.T) interface {
		checkpoint.Store
		checkpoint.Leaser
	}{
		"memory": func(*testing.T) interface {
			checkpoint.Store
			checkpoint.Leaser
		} {
			return checkpoint.NewMemoryStore()
		},
		"file": func(t *testing.T) interface {
			checkpoint.Store
			checkpoint.Leaser
		} {
			s, err := checkpoint.NewFileStore(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	}
}

func TestLeaseConsumersShareAndTakeOver(t *testing.T) {
	for name, newStore := range leaseStores(t) {
		t.Run(name, func(t *testing.T) {
			lc := newLeaseCluster(t, newStore(t), 4)
			dyingA := &dyingStore{store: lc.store}
			a := lc.start(lc.consumer("a", dyingA))
			b := lc.start(lc.consumer("b", lc.store))
			lc.waitFor("both workers hold leases, 2 each", func() bool { return lc.count("a") == 2 && lc.count("b") == 2 })
			lc.write(200)
			lc.waitFor("the first records are done", lc.done)
			if by := lc.checkOutcomes(); by["a"] == 0 || by["b"] == 0 {
				t.Fatalf("records handled per worker %v: want both workers to have run partitions", by)
			}

			// Kill a: its store calls fail from now on, so it can neither
			// save nor renew nor release. Its leases stay until they expire.
			held := lc.owners()
			dyingA.kill()
			a.cancel()
			if o := lc.owners(); !sameOwners(o, held) {
				t.Fatalf("leases changed right after a died: %v, were %v", o, held)
			}
			lc.write(200)
			lc.waitFor("b took over all partitions", func() bool { return lc.count("b") == 4 })
			lc.waitFor("every record is done", lc.done)
			lc.checkOutcomes()
			if err := a.stop(t); err == nil {
				t.Error("the killed worker's Run returned nil, want the store errors")
			}
			if err := b.stop(t); err != nil {
				t.Fatalf("b's Run: %v", err)
			}
			if o := lc.owners(); len(o) != 0 {
				t.Fatalf("leases still owned after b left gracefully: %v", o)
			}
		})
	}
}

// Presence leases are stored by every store under their reserved id (the
// file store escapes it into a file name and back), listed with the
// leases, and never listed as checkpoints.
func TestWorkerLeaseInStores(t *testing.T) {
	ctx := context.Background()
	for name, newStore := range leaseStores(t) {
		t.Run(name, func(t *testing.T) {
			st := newStore(t)
			c, err := NewConsumer(NewStream(memstream.New("orders")), func(context.Context, *Record) error { return nil },
				WithName("billing"), WithCheckpointStore(st), WithOnExhausted(Halt))
			if err != nil {
				t.Fatal(err)
			}
			lc, err := newLeaseConfig(st, []LeaseOption{WithWorkerID("host-1/pid 7:ü")})
			if err != nil {
				t.Fatal(err)
			}
			b := newBalancer(c, st, newLeaseRecorder(t), lc)
			b.keepPresence(ctx)
			if b.presence == nil {
				t.Fatal("no presence lease after keepPresence")
			}
			ls, err := st.ListLeases(ctx, "billing", "orders")
			if err != nil {
				t.Fatal(err)
			}
			if len(ls) != 1 || !IsWorkerLease(ls[0]) || ls[0].Partition != WorkerLeasePrefix+"host-1/pid 7:ü" || ls[0].Owner != "host-1/pid 7:ü" {
				t.Fatalf("leases %v, want the one presence lease of host-1/pid 7:ü", ls)
			}
			if cps, err := st.List(ctx, "billing", "orders"); err != nil || len(cps) != 0 {
				t.Fatalf("checkpoints %v, %v: want none (a presence lease is no checkpoint)", cps, err)
			}
			b.keepPresence(ctx) // renews
			if err := b.releasePresence(ctx); err != nil {
				t.Fatal(err)
			}
			l, err := st.LoadLease(ctx, b.presenceKey())
			if err != nil || l.Owner != "" || l.Counter != 3 {
				t.Fatalf("presence lease after acquire, renew, release = %v, %v: want free at counter 3", l, err)
			}
		})
	}
}

func sameOwners(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestLeaseConsumerGracefulHandover(t *testing.T) {
	lc := newLeaseCluster(t, checkpoint.NewMemoryStore(), 3)
	lc.write(100)
	a := lc.start(lc.consumer("a", lc.store))
	lc.waitFor("a holds every lease", func() bool { return lc.count("a") == 3 })
	b := lc.start(lc.consumer("b", lc.store))
	lc.waitFor("the partitions are shared", func() bool { return lc.count("b") >= 1 && lc.count("a") >= 1 })
	// a leaves: its partitions are handed over at once (no expiry wait).
	if err := a.stop(t); err != nil {
		t.Fatalf("a's Run: %v", err)
	}
	lc.write(100)
	lc.waitFor("b holds every lease", func() bool { return lc.count("b") == 3 })
	lc.waitFor("every record is done", lc.done)
	lc.checkOutcomes()
	if err := b.stop(t); err != nil {
		t.Fatalf("b's Run: %v", err)
	}
}

// A consumer that shares its stream with other processes through leases in
// its checkpoint store. Run takes the free leases, renews them while it
// runs, and releases them when it stops so others take over at once.
func ExampleWithLeases() {
	s := memstream.New("orders", memstream.WithPartitions(2))
	store := checkpoint.NewMemoryStore() // FileStore or the DynamoDB store across processes
	w, _ := s.OpenWriter(context.Background())
	recs := []Record{{ID: "a", Key: []byte("1")}, {ID: "b", Key: []byte("2")}, {ID: "c", Key: []byte("3")}}
	_ = w.Write(context.Background(), recs, make([]driver.WriteResult, len(recs)))
	w.Close()

	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	handled := 0
	c, err := NewConsumer(NewStream(s), func(_ context.Context, r *Record) error {
		mu.Lock()
		defer mu.Unlock()
		if handled++; handled == len(recs) {
			cancel()
		}
		return nil
	}, WithName("billing"), WithCheckpointStore(store), WithOnExhausted(Halt),
		WithLeases(store, WithWorkerID("host-1"), WithLeaseDuration(10*time.Second)))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("run:", c.Run(ctx))
	fmt.Println("handled:", handled)
	leases, _ := store.ListLeases(context.Background(), "billing", "orders")
	for _, l := range leases {
		fmt.Printf("partition %s: owner %q\n", l.Partition, l.Owner)
	}
	// Output:
	// run: <nil>
	// handled: 3
	// partition 0: owner ""
	// partition 1: owner ""
	// partition ~worker:host-1: owner ""
}
