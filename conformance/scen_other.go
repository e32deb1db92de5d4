package conformance

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
)

// --- 14 ---

// transientFaults injects broker faults: a consumer whose fetches fail for
// a while goes on by itself and handles every record exactly once; a
// producer whose writes fail holds, retries and loses nothing; clients
// recover from dropped connections.
func transientFaults(e *env) {
	e.t.Run("consumer_fetch_errors", func(t T) {
		e := newEnv(t, e.h, e.sf)
		st := e.newStream(2)
		st.spread(4)
		f := e.faults(st)
		store, cl, ev := e.store(), newCalls(), &events{}
		const name = "fetch-faults"
		r := e.start(e.consumer(st, name, store, &memSink{}, e.okHandler(cl), stream.WithObserver(ev)))
		r.until("the first records", func() bool { return e.committedAll(store, name, st) }, e.dump(store, name, st))
		f.FailFetches(3)
		st.spread(8)
		// Run must go on by itself: returning the transient error is a failure.
		r.until("every record after the fetch errors", func() bool { return e.committedAll(store, name, st) }, e.dump(store, name, st))
		if err := r.stop(); err != nil {
			e.t.Fatalf("Run = %v after a graceful stop", err)
		}
		if n := len(ev.of(stream.EventFetchError)); n == 0 {
			e.t.Errorf("no fetch_error event: the injected fetch failures never reached the consumer")
		}
		for _, id := range st.allIDs() {
			if n := cl.count(id); n != 1 {
				e.t.Errorf("record %s handled %d times, want once", id, n)
			}
		}
	})
	e.t.Run("producer_write_errors", func(t T) {
		e := newEnv(t, e.h, e.sf)
		// One partition, and writers that have written (one record of
		// each key first): a broker sees calls only as requests, and a
		// call to several partitions, or a client's first call (while it
		// loads the stream's metadata), may reach it in several, which a
		// harness can count as several calls.
		st := e.newStream(1)
		f := e.faults(st)
		ev := &events{}
		p := e.producer(st, stream.WithMaxRecords(4), stream.WithObserver(ev))
		recs := prodRecs("faulty", 20, 3)
		e.put(p, recs[:3]...)
		e.flush(p)
		f.FailWrites(3)
		e.put(p, recs[3:]...)
		e.flush(p)
		if len(ev.of(stream.EventProducerHold)) < 3 {
			e.t.Errorf("%d holds, want at least 3 (one per failed write)", len(ev.of(stream.EventProducerHold)))
		}
		e.checkExactlyOnceInKeyOrder("after failed writes", e.readAll(st, len(recs)), recs)
	})
	e.t.Run("dropped_connections", func(t T) {
		e := newEnv(t, e.h, e.sf)
		st := e.newStream(2)
		f := e.faults(st)
		cd, ok := f.(ConnectionDropper)
		e.need(CapDropConnections, ok, "the harness's Faults cannot drop connections")
		store, cl := e.store(), newCalls()
		const name = "dropped"
		p := e.producer(st)
		r := e.start(e.consumer(st, name, store, &memSink{}, e.okHandler(cl)))
		g1, g2 := prodRecs("before", 10, 3), prodRecs("after", 10, 3)
		e.put(p, g1...)
		e.flush(p)
		e.waitFor("the first records", func() bool { return cl.total() >= len(g1) })
		cd.DropConnections()
		e.put(p, g2...)
		e.flush(p)
		r.until("every record", func() bool { return cl.total() >= len(g1)+len(g2) }, e.dump(store, name, st))
		if err := r.stop(); err != nil {
			e.t.Fatalf("Run = %v after a graceful stop", err)
		}
		for _, rec := range append(g1, g2...) {
			if n := cl.count(rec.ID); n != 1 {
				e.t.Errorf("record %s handled %d times, want once", rec.ID, n)
			}
		}
	})
}

// --- 15 ---

// scaleOut splits the partitions between two consumers of one name, stops
// one mid-way and hands its partitions to the other, which resumes them
// from the checkpoints: nothing is lost or handled twice, and each
// consumer touched only its own partitions.
//
// The split is made by hand with WithPartitions on every backend; group
// mode (the backend assigning partitions) is scenario 19.
func scaleOut(e *env) {
	st := e.newStream(4)
	st.spread(6)
	if st.caps.ConsumerGroups {
		e.t.Logf("%s declares ConsumerGroups: this scenario splits by hand (WithPartitions); 19_group_scale_out runs the group mode", e.h.Name)
	}
	ps := st.partitions()
	a, b := ps[:len(ps)/2], ps[len(ps)/2:]
	store := e.store()
	const name = "group"
	clA, clB, clTake := newCalls(), newCalls(), newCalls()
	ctxA, stopA := context.WithCancel(context.Background())
	hA := func(ctx context.Context, r *stream.Record) error {
		if clA.add(r, e.clock.Now()) == 1 && clA.total() == 3 {
			stopA() // consumer A stops gracefully mid-way
		}
		return nil
	}
	rA := e.startCtx(e.consumer(st, name, store, &memSink{}, hA, stream.WithPartitions(a...), stream.WithBatchSize(2)), ctxA, stopA)
	rB := e.start(e.consumer(st, name, store, &memSink{}, e.okHandler(clB), stream.WithPartitions(b...), stream.WithBatchSize(2)))
	rA.until("consumer A to stop", func() bool { ended, _ := rA.exited(); return ended }, e.dump(store, name, st))
	if err := rA.stop(); err != nil {
		e.t.Fatalf("consumer A: Run = %v after a graceful stop", err)
	}
	rB.until("consumer B to finish its partitions", func() bool {
		for _, p := range b {
			ids := st.ids(p)
			if !e.committedTo(store, name, st, p, ids[len(ids)-1]) {
				return false
			}
		}
		return true
	}, e.dump(store, name, st))
	if err := rB.stop(); err != nil {
		e.t.Fatalf("consumer B: Run = %v after a graceful stop", err)
	}
	for _, tc := range []struct {
		who  string
		cl   *calls
		mine []string
	}{{"A", clA, a}, {"B", clB, b}} {
		for _, id := range tc.cl.order() {
			if !slices.Contains(tc.mine, st.partOf(id)) {
				e.t.Errorf("consumer %s (partitions %v) handled %s of partition %s", tc.who, tc.mine, id, st.partOf(id))
			}
		}
	}
	// B takes over every partition, A's from A's checkpoints.
	e.runUntil(e.consumer(st, name, store, &memSink{}, e.okHandler(clTake)), "the take-over to finish",
		func() bool { return e.committedAll(store, name, st) }, e.dump(store, name, st))
	for _, id := range st.allIDs() {
		if n := clA.count(id) + clB.count(id) + clTake.count(id); n != 1 {
			e.t.Errorf("record %s handled %d times (A %d, B %d, after the take-over %d), want once", id, n, clA.count(id), clB.count(id), clTake.count(id))
		}
	}
	if clTake.total() == 0 {
		e.t.Errorf("the take-over handled nothing: consumer A stopped with nothing left, so the hand-over was not exercised")
	}
	e.t.Logf("A handled %d, B %d, the take-over %d records", clA.total(), clB.total(), clTake.total())
}

// --- 16 ---

// resharding splits a partition: the children are picked up, a child is
// read only after its parent is finished (so per-key order holds across
// the split), and a split while the consumer runs is picked up too.
func resharding(e *env) {
	st := e.newStream(1)
	e.need(CapResharding, st.caps.Resharding, "the backend does not reshard")
	e.need(CapSplit, e.h.CanSplit, "the harness cannot split a partition")
	parent := st.partitions()[0]
	keys := []string{"k0", "k1", "k2", "k3", "k4", "k5"}
	var batch []string
	for i := range 24 {
		batch = append(batch, keys[i%len(keys)])
	}
	st.writeKeys(batch...)
	children := e.split(st, parent)
	if len(children) == 0 {
		e.t.Fatalf("Split(%s) returned no children", parent)
	}
	st.writeKeys(batch...)
	for _, c := range children {
		if len(st.ids(c)) == 0 {
			e.t.Logf("child %s received no records of the 24 written after the split", c)
		}
	}
	lineage := map[string][]string{}
	ps, err := st.s.Partitions(context.Background())
	if err != nil {
		e.t.Fatalf("Partitions: %v", err)
	}
	for _, p := range ps {
		lineage[p.ID] = p.Parents
		if p.ID == parent && !p.Closed {
			e.t.Errorf("the split parent %s is not listed as closed", parent)
		}
	}
	for _, c := range children {
		if !slices.Equal(lineage[c], []string{parent}) {
			e.t.Errorf("child %s lists parents %v, want [%s]", c, lineage[c], parent)
		}
	}

	store, cl, ev := e.store(), newCalls(), &events{}
	childSeen := make(chan struct{})
	var once sync.Once
	isParent := func(id string) bool { return st.partOf(id) == parent }
	h := func(ctx context.Context, r *stream.Record) error {
		n := cl.add(r, e.clock.Now())
		if !isParent(r.ID) {
			once.Do(func() { close(childSeen) })
		} else if r.ID == st.ids(parent)[0] && n == 1 {
			// Give a child started too early the time to show itself.
			select {
			case <-childSeen:
			case <-time.After(200 * time.Millisecond):
			}
		}
		return nil
	}
	const name = "reshard"
	r := e.start(e.consumer(st, name, store, &memSink{}, h, stream.WithObserver(ev), stream.WithBatchSize(5)))
	r.until("every record of the parent and the children", func() bool { return e.committedAll(store, name, st) }, e.dump(store, name, st))

	checkLineage := func(parent string, children []string) {
		e.t.Helper()
		lastParent := -1
		firstChild := -1
		for i, id := range cl.order() {
			switch p := st.partOf(id); {
			case p == parent:
				lastParent = i
			case slices.Contains(children, p) && firstChild < 0:
				firstChild = i
			}
		}
		if firstChild >= 0 && firstChild < lastParent {
			e.t.Errorf("a record of child %s was handled (call %d) before the last record of its parent %s (call %d): a child must wait until its parent is finished",
				st.partOf(cl.order()[firstChild]), firstChild, parent, lastParent)
		}
		finished, started := -1, -1
		for i, x := range ev.all() {
			if x.Kind == stream.EventPartitionFinished && x.Partition == parent && finished < 0 {
				finished = i
			}
			if x.Kind == stream.EventAttemptStarted && slices.Contains(children, x.Partition) && started < 0 {
				started = i
			}
		}
		if finished < 0 {
			e.t.Errorf("no partition_finished event for the parent %s", parent)
		} else if started >= 0 && started < finished {
			e.t.Errorf("a child of %s started before the parent's partition_finished event", parent)
		}
		if cp := e.cp(store, name, st, parent); !cp.Finished {
			e.t.Errorf("the checkpoint of the finished parent %s is not marked finished", parent)
		}
	}
	checkLineage(parent, children)

	// A split while the consumer runs.
	grandchildren := e.split(st, children[0])
	st.writeKeys(batch...)
	r.until("the records of the new partitions", func() bool { return e.committedAll(store, name, st) }, e.dump(store, name, st))
	if err := r.stop(); err != nil {
		e.t.Fatalf("Run = %v after a graceful stop", err)
	}
	checkLineage(children[0], grandchildren)

	for _, id := range st.allIDs() {
		if n := cl.count(id); n != 1 {
			e.t.Errorf("record %s handled %d times, want once", id, n)
		}
	}
	// Per-key order across the splits: the handler saw each key's records
	// in write order.
	pos := map[string]int{}
	for i, id := range cl.order() {
		pos[id] = i
	}
	last := map[string]int{}
	for _, id := range st.allIDs() { // ids sort in write order
		k := string(st.recs[id].Key)
		if l, ok := last[k]; ok && pos[id] < l {
			e.t.Errorf("key %s: %s handled before an earlier record of the key, across a split", k, id)
			break
		}
		last[k] = pos[id]
	}
}

// --- 18 ---

// noGoroutineLeaks runs producers and consumers through every path that
// starts goroutines (retries, DLQ, halt, drain timeout) and closes them
// and the checkpoint store: no goroutine is left behind.
func noGoroutineLeaks(e *env) {
	lc := newLeakCheck(e.h.BrokerFunctions)
	func() {
		s, err := stream.Open(context.Background(), e.mustURL(2))
		if err != nil {
			e.t.Fatalf("stream.Open: %v", err)
		}
		defer s.Close()
		url := e.lastURL
		p, err := stream.OpenProducer(context.Background(), url, stream.WithWAL(e.t.TempDir()+"/leak.wal"),
			stream.WithMaxAge(time.Millisecond), stream.WithFsync(stream.FsyncInterval(time.Millisecond)))
		if err != nil {
			e.t.Fatalf("OpenProducer: %v", err)
		}
		recs := prodRecs("leak", 12, 3)
		for _, r := range recs {
			if err := p.Put(context.Background(), r); err != nil {
				e.t.Fatalf("Put: %v", err)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), e.timeout)
		defer cancel()
		if err := p.Close(ctx); err != nil {
			e.t.Fatalf("producer Close: %v", err)
		}

		store := e.store()
		// The store is closed with the clients: a store that holds a
		// connection pool (PostgreSQL) runs goroutines until then. The
		// store factory's cleanup closes it again, which does nothing.
		defer checkpoint.CloseStore(store)
		bad := recs[4].ID
		for _, mode := range []stream.OnExhausted{stream.DeadLetter, stream.Halt} {
			cl := newCalls()
			name := "leak-" + mode.String()
			h := func(ctx context.Context, r *stream.Record) error {
				if cl.add(r, e.clock.Now()); r.ID == bad {
					return errors.New("fails")
				}
				return nil
			}
			c, err := stream.OpenConsumer(context.Background(), url, h, append(e.consumerOpts(name, store, &memSink{}),
				stream.WithOnExhausted(mode), stream.WithConcurrency(2))...)
			if err != nil {
				e.t.Fatalf("OpenConsumer: %v", err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- c.Run(ctx) }()
			deadline := time.Now().Add(e.timeout)
			for cl.total() < len(recs)-2 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			cancel()
			if err := <-done; err != nil {
				e.t.Errorf("%s: Run = %v", mode, err)
			}
			if err := c.Close(); err != nil {
				e.t.Errorf("consumer Close: %v", err)
			}
		}

		// A stop during a handler that outlives the drain timeout.
		started := make(chan struct{})
		var once sync.Once
		h := func(ctx context.Context, r *stream.Record) error {
			once.Do(func() { close(started) })
			<-ctx.Done()
			return ctx.Err()
		}
		c, err := stream.OpenConsumer(context.Background(), url, h, append(e.consumerOpts("leak-drain", store, &memSink{}),
			stream.WithDrainTimeout(5*time.Millisecond))...)
		if err != nil {
			e.t.Fatalf("OpenConsumer: %v", err)
		}
		ctx2, cancel2 := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- c.Run(ctx2) }()
		<-started
		cancel2()
		if err := <-done; err != nil {
			e.t.Errorf("drain: Run = %v", err)
		}
		c.Close()
	}()
	if err := lc.wait(e.timeout); err != nil {
		e.t.Errorf("goroutines left after every consumer and producer was closed: %v", err)
	}
}
