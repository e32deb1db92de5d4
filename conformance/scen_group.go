package conformance

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/unistream-go/unistream/stream"
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

// groupMember opens its own stream of st (as another process would) and
// runs a consumer that is a member of group name, with ctx (cancel
// cancels it).
func (e *env) groupMember(st *strm, name string, ctx context.Context, cancel context.CancelFunc, h stream.Handler, extra ...stream.ConsumerOption) (*running, driver.Stream) {
	e.t.Helper()
	s, err := stream.Open(context.Background(), st.url)
	if err != nil {
		e.t.Fatalf("stream.Open(%s): %v", st.url, err)
	}
	e.t.Cleanup(func() { s.Close() })
	gopts := []stream.ConsumerOption{stream.WithGroup(name)}
	if e.h.Group != nil {
		if gopts, err = e.h.Group(e.t, s, name); err != nil {
			e.t.Fatalf("harness %s: Group(%s): %v", e.h.Name, name, err)
		}
	}
	opts := append(append(e.consumerOpts(name, e.groupStore, &memSink{}), stream.WithBatchSize(2)), gopts...)
	c, err := stream.NewConsumer(s, h, append(opts, extra...)...)
	if err != nil {
		e.t.Fatalf("NewConsumer in group %s: %v", name, err)
	}
	return e.startCtx(c, ctx, cancel), s
}

// groupScaleOut runs consumers as members of one group: two members
// share the partitions; one stops gracefully mid-way and the other takes
// its partitions over from their checkpoints, with every record handled
// exactly once; a third joins and is killed (its context cancelled
// without a drain, its client closed) with a handler in flight, and the
// survivor takes over: records whose outcome was persisted are not
// handled again, only the ones in flight at the kill repeat.
func groupScaleOut(e *env) {
	st := e.newStream(4)
	e.need(CapConsumerGroups, st.caps.ConsumerGroups, "the backend does not assign partitions to the members of a group")
	store := e.store()
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
	rA, _ := e.groupMember(st, name, ctxA, stopA, handler("A", func(ctx context.Context, r *stream.Record) {
		mu.Lock()
		defer mu.Unlock()
		if armed {
			if handled++; handled == 2 {
				stopA() // A stops gracefully with work left in its partitions
			}
		}
	}))
	ctxB, stopB := context.WithCancel(context.Background())
	rB, _ := e.groupMember(st, name, ctxB, stopB, handler("B", nil))
	share("A", "B")
	exactlyOnce("two members sharing")

	// 2. A stops gracefully mid-way; B takes its partitions over.
	mu.Lock()
	armed = true
	mu.Unlock()
	st.spread(len(st.ids(st.partitions()[0])) + 6)
	rA.until("member A to stop gracefully", func() bool { ended, _ := rA.exited(); return ended }, e.dump(store, name, st))
	if err := rA.stop(); err != nil {
		e.t.Fatalf("member A: Run = %v after a graceful stop, want nil", err)
	}
	rB.until("member B to take every partition over", allDone, e.dump(store, name, st))
	exactlyOnce("after member A stopped gracefully")

	// 3. C joins, and is killed with a handler in flight.
	ctxC, stopC := context.WithCancel(context.Background())
	inflight := make(chan string, 1)
	var once sync.Once
	var sC driver.Stream
	rC, sC := e.groupMember(st, name, ctxC, stopC, handler("C", func(ctx context.Context, r *stream.Record) {
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
	stopC()
	sC.Close() // the client goes away with the process
	rC.until("member C to end after the kill", func() bool { ended, _ := rC.exited(); return ended }, e.dump(store, name, st))
	st.spread(len(st.ids(st.partitions()[0])) + 2)
	rB.until("member B to take member C's partitions over", allDone, e.dump(store, name, st))
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
