package conformance

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/driver"
)

// --- 19 ---

// tally counts handler calls per record and member, and remembers the
// calls that ended with their context cancelled (in flight at a kill).
type tally struct {
	mu          sync.Mutex
	n           map[string]map[string]int // id -> member -> calls
	interrupted map[string]bool
}

func newTally() *tally {
	return &tally{n: map[string]map[string]int{}, interrupted: map[string]bool{}}
}

func (t *tally) add(id, who string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n[id] == nil {
		t.n[id] = map[string]int{}
	}
	t.n[id][who]++
}

func (t *tally) interrupt(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.interrupted[id] = true
}

func (t *tally) count(id string) (total int, by map[string]int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	by = map[string]int{}
	for who, n := range t.n[id] {
		by[who] = n
		total += n
	}
	return total, by
}

func (t *tally) by(who string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, m := range t.n {
		n += m[who]
	}
	return n
}

// membership makes scenario consumers members of one group: through the
// backend's groups (scenario 19) or through leases in the checkpoint store
// (scenario 20). The scale-out body is the same for both.
type membership struct {
	// check skips the scenario unless the mode can run on st with store.
	check func(e *env, st *strm, store checkpoint.Store)
	// settle returns the pause between rounds of records while the
	// scenario waits for the members to share (0: none).
	settle func(e *env) time.Duration
	// join returns the options that make a consumer of s member who of
	// group name, and a function that kills the member's access to its
	// store (nil: closing the member's client is the kill).
	join func(e *env, s driver.Stream, name, who string, store checkpoint.Store) ([]stream.ConsumerOption, func())
}

// backendGroups is the membership of scenario 19: stream.WithGroup, or
// Harness.Group.
var backendGroups = membership{
	settle: func(*env) time.Duration { return 0 },
	check: func(e *env, st *strm, _ checkpoint.Store) {
		e.need(CapConsumerGroups, st.caps.ConsumerGroups, "the backend does not assign partitions to the members of a group")
	},
	join: func(e *env, s driver.Stream, name, _ string, _ checkpoint.Store) ([]stream.ConsumerOption, func()) {
		e.t.Helper()
		gopts := []stream.ConsumerOption{stream.WithGroup(name)}
		if e.h.Group != nil {
			var err error
			if gopts, err = e.h.Group(e.t, s, name); err != nil {
				e.t.Fatalf("harness %s: Group(%s): %v", e.h.Name, name, err)
			}
		}
		return gopts, nil
	},
}

// storeLeases is the membership of scenario 20: stream.WithLeases with the
// leases in the scenario's checkpoint store, on the real clock (lease
// expiry is measured in real time; the fake clock of the other scenarios
// runs as fast as the consumers poll). Each member reaches the store
// through a killableStore, so a killed member can neither save, renew nor
// release: its leases stay until they expire.
var storeLeases = membership{
	// A handover takes a renew interval or two: pause for one between
	// rounds rather than writing many rounds meanwhile.
	settle: func(e *env) time.Duration { return e.leaseDuration() / 4 },
	check: func(e *env, _ *strm, store checkpoint.Store) {
		_, ok := store.(checkpoint.Leaser)
		e.need(CapLeases, ok, fmt.Sprintf("store %s (%T) keeps no leases", e.sf.Name, store))
	},
	join: func(e *env, _ driver.Stream, _, who string, store checkpoint.Store) ([]stream.ConsumerOption, func()) {
		ks := &killableStore{store: store, leaser: store.(checkpoint.Leaser)}
		d := e.leaseDuration()
		return []stream.ConsumerOption{
			stream.WithCheckpointStore(ks), stream.WithClock(stream.SystemClock{}),
			stream.WithLeases(ks, stream.WithWorkerID("worker-"+who), stream.WithLeaseDuration(d), stream.WithLeaseRenewInterval(d/4)),
		}, ks.kill
	},
}

// errKilled is the error of every store call of a killed member.
var errKilled = errors.New("conformance: member killed: store unreachable")

// killableStore is a member's access to the shared checkpoint store and
// leaser; after kill, every call fails, as for a dead process.
type killableStore struct {
	store  checkpoint.Store
	leaser checkpoint.Leaser
	dead   atomic.Bool
}

func (k *killableStore) kill() { k.dead.Store(true) }

func (k *killableStore) alive() error {
	if k.dead.Load() {
		return errKilled
	}
	return nil
}

func (k *killableStore) Load(ctx context.Context, key checkpoint.Key) (*checkpoint.Checkpoint, error) {
	if err := k.alive(); err != nil {
		return nil, err
	}
	return k.store.Load(ctx, key)
}

func (k *killableStore) Save(ctx context.Context, cp *checkpoint.Checkpoint) error {
	if err := k.alive(); err != nil {
		return err
	}
	return k.store.Save(ctx, cp)
}

func (k *killableStore) List(ctx context.Context, consumer, stream string) ([]*checkpoint.Checkpoint, error) {
	if err := k.alive(); err != nil {
		return nil, err
	}
	return k.store.List(ctx, consumer, stream)
}

func (k *killableStore) LoadLease(ctx context.Context, key checkpoint.Key) (*checkpoint.Lease, error) {
	if err := k.alive(); err != nil {
		return nil, err
	}
	return k.leaser.LoadLease(ctx, key)
}

func (k *killableStore) ListLeases(ctx context.Context, consumer, stream string) ([]*checkpoint.Lease, error) {
	if err := k.alive(); err != nil {
		return nil, err
	}
	return k.leaser.ListLeases(ctx, consumer, stream)
}

func (k *killableStore) AcquireLease(ctx context.Context, l *checkpoint.Lease, owner string, expires time.Time) error {
	if err := k.alive(); err != nil {
		return err
	}
	return k.leaser.AcquireLease(ctx, l, owner, expires)
}

func (k *killableStore) RenewLease(ctx context.Context, l *checkpoint.Lease, expires time.Time) error {
	if err := k.alive(); err != nil {
		return err
	}
	return k.leaser.RenewLease(ctx, l, expires)
}

func (k *killableStore) ReleaseLease(ctx context.Context, l *checkpoint.Lease) error {
	if err := k.alive(); err != nil {
		return err
	}
	return k.leaser.ReleaseLease(ctx, l)
}

// groupScaleOut is scenario 19: scaleOutMembers through the backend's
// consumer groups.
func groupScaleOut(e *env) { scaleOutMembers(e, backendGroups) }

// leaseScaleOut is scenario 20: scaleOutMembers through leases kept in
// the checkpoint store (stream.WithLeases), on every backend: the lease
// balancer is the engine's, so every backend must behave the same. The
// killed member's leases stay owned until they expire; the survivor takes
// its partitions over after that.
func leaseScaleOut(e *env) { scaleOutMembers(e, storeLeases) }

// scaleOutMembers runs consumers as members of one group: two members
// share the partitions; one stops gracefully mid-way and the other takes
// its partitions over from their checkpoints, with every record handled
// exactly once; a third joins and is killed (its context cancelled
// without a drain, its client closed) with a handler in flight, and the
// survivor takes over: records whose outcome was persisted are not
// handled again, only the ones in flight at the kill repeat.
func scaleOutMembers(e *env, m membership) {
	st := e.newStream(4)
	store := e.store()
	m.check(e, st, store)
	e.groupStore = store
	name := "group-" + st.name()
	tl := newTally()
	handler := func(who string, before func(ctx context.Context, r *stream.Record)) stream.Handler {
		return func(ctx context.Context, r *stream.Record) error {
			tl.add(r.ID, who)
			if before != nil {
				before(ctx, r)
			}
			if ctx.Err() != nil {
				tl.interrupt(r.ID)
				return ctx.Err()
			}
			return nil
		}
	}
	allDone := func() bool { return e.committedAll(store, name, st) }
	// share writes rounds of records to every partition until each of the
	// members has handled some of a round: then the group has spread the
	// partitions over them.
	share := func(members ...string) {
		e.t.Helper()
		before := map[string]int{}
		for _, m := range members {
			before[m] = tl.by(m)
		}
		per := len(st.ids(st.partitions()[0]))
		for round := 1; ; round++ {
			per++
			st.spread(per)
			e.waitFor(fmt.Sprintf("round %d of records to be committed", round), allDone)
			ok := true
			for _, m := range members {
				if tl.by(m) == before[m] {
					ok = false
				}
			}
			if ok {
				return
			}
			time.Sleep(m.settle(e))
			if round == 30 {
				e.t.Fatalf("after %d rounds of records, members %v have not all handled records of the group: %v", round, members, before)
			}
		}
	}
	exactlyOnce := func(phase string) {
		e.t.Helper()
		for _, id := range st.allIDs() {
			if n, by := tl.count(id); n != 1 {
				e.t.Errorf("%s: record %s (partition %s) handled %d times %v, want once", phase, id, st.partOf(id), n, by)
			}
		}
	}

	// 1. Two members share the stream.
	ctxA, stopA := context.WithCancel(context.Background())
	var mu sync.Mutex
	armed, handled := false, 0
	rA, _, _ := e.groupMember(m, st, name, "A", ctxA, stopA, handler("A", func(ctx context.Context, r *stream.Record) {
		mu.Lock()
		defer mu.Unlock()
		if armed {
			if handled++; handled == 2 {
				stopA() // A stops gracefully with work left in its partitions
			}
		}
	}))
	ctxB, stopB := context.WithCancel(context.Background())
	rB, _, _ := e.groupMember(m, st, name, "B", ctxB, stopB, handler("B", nil))
	share("A", "B")
	exactlyOnce("two members sharing")

	// 2. A stops gracefully mid-way; B takes its partitions over.
	mu.Lock()
	armed = true
	mu.Unlock()
	// Rounds of records until A has handled two of them and stopped (a
	// round may all go to B if the partitions moved meanwhile).
	aEnded := func() bool { ended, _ := rA.exited(); return ended }
	for round, per := 1, len(st.ids(st.partitions()[0]))+6; !aEnded(); round, per = round+1, per+1 {
		if round > 30 {
			e.t.Fatalf("member A handled fewer than two of %d rounds of records", round-1)
		}
		st.spread(per)
		rA.until("member A to stop gracefully, or the round to be committed", func() bool { return aEnded() || allDone() }, e.dump(store, name, st))
		if !aEnded() {
			time.Sleep(m.settle(e))
		}
	}
	if err := rA.stop(); err != nil {
		e.t.Fatalf("member A: Run = %v after a graceful stop, want nil", err)
	}
	rB.until("member B to take every partition over", allDone, e.dump(store, name, st))
	exactlyOnce("after member A stopped gracefully")

	// 3. C joins, and is killed with a handler in flight.
	ctxC, stopC := context.WithCancel(context.Background())
	inflight := make(chan string, 1)
	var once sync.Once
	rC, sC, killC := e.groupMember(m, st, name, "C", ctxC, stopC, handler("C", func(ctx context.Context, r *stream.Record) {
		first := false
		once.Do(func() { first = true })
		if first {
			inflight <- r.ID
			<-ctx.Done() // in flight until the kill
		}
	}), stream.WithDrainTimeout(1)) // no drain: the kill cancels handlers at once
	var held string
	for round := 0; held == ""; round++ {
		st.spread(len(st.ids(st.partitions()[0])) + 1)
		select {
		case held = <-inflight:
		default:
			time.Sleep(m.settle(e))
			if round == 300 {
				e.t.Fatalf("member C was given no records after %d rounds", round)
			}
			e.waitFor("a round of records", func() bool {
				select {
				case held = <-inflight:
					return true
				default:
				}
				return allDone()
			})
		}
	}
	var heldByC []string
	killedAt := time.Now()
	if killC != nil {
		killC() // the member's store calls fail from now on
		heldByC = e.leasesOf(store, name, st, "worker-C")
		if len(heldByC) == 0 {
			e.t.Errorf("member C was killed with a record of it in flight, but holds no lease")
		}
	}
	stopC()
	sC.Close() // the client goes away with the process
	if killC != nil {
		// A killed member releases nothing: its leases stay until they
		// expire (a lease duration after its last renew, at most a renew
		// interval before the kill), and only then the survivor takes
		// them; never from a live owner.
		e.waitFor("member C's leases to be taken over", func() bool {
			return len(e.leasesOf(store, name, st, "worker-C")) == 0
		})
		d := e.leaseDuration()
		if since := time.Since(killedAt); since < d-d/4 {
			e.t.Errorf("member C's leases %v were taken over %v after its kill, before they could expire (lease duration %v, renew interval %v)", heldByC, since, d, d/4)
		}
	}
	rC.until("member C to end after the kill", func() bool { ended, _ := rC.exited(); return ended }, e.dump(store, name, st))
	st.spread(len(st.ids(st.partitions()[0])) + 2)
	rB.until("member B to take member C's partitions over", allDone, e.dump(store, name, st))
	if killC != nil {
		if left := e.leasesOf(store, name, st, "worker-C"); len(left) != 0 {
			e.t.Errorf("member C's leases %v are still owned after member B took every partition over", left)
		}
	}
	if err := rB.stop(); err != nil {
		e.t.Fatalf("member B: Run = %v after a graceful stop, want nil", err)
	}
	repeated := []string{}
	for _, id := range st.allIDs() {
		n, by := tl.count(id)
		switch {
		case n == 0:
			e.t.Errorf("record %s (partition %s) was never handled", id, st.partOf(id))
		case n > 1:
			tl.mu.Lock()
			in := tl.interrupted[id]
			tl.mu.Unlock()
			if !in {
				e.t.Errorf("record %s handled %d times %v, but no call of it was in flight at a kill: only in-flight records may repeat", id, n, by)
			}
			repeated = append(repeated, id)
		}
	}
	if n, by := tl.count(held); n < 2 || by["C"] != 1 {
		e.t.Errorf("the record in flight at the kill, %s, was handled %d times %v; want C's interrupted call and a later one", held, n, by)
	}
	sort.Strings(repeated)
	e.t.Logf("handled: A %d, B %d, C %d records; repeated after the kill: %v", tl.by("A"), tl.by("B"), tl.by("C"), repeated)
}
