package stream

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/unistream-go/unistream/internal/nodeemu"
	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/checkpoint/dynamodb"
)

// leaseScale is a run of many workers WithLeases over many partitions.
type leaseScale struct {
	lc         *leaseCluster
	dur, renew time.Duration
	poll       time.Duration
	members    map[string]*leaseMember
	stores     map[string]*dyingStore
	live       map[string]bool
}

// scaleResult is what a leaseScale run measured.
type scaleResult struct {
	converge, join, leave, takeover time.Duration
	opsPerWorkerSec                 float64
}

func newLeaseScale(tb testing.TB, store interface {
	checkpoint.Store
	checkpoint.Leaser
}, partitions int, dur, renew, poll time.Duration) *leaseScale {
	return &leaseScale{lc: newLeaseCluster(tb, store, partitions), dur: dur, renew: renew, poll: poll,
		members: map[string]*leaseMember{}, stores: map[string]*dyingStore{}, live: map[string]bool{}}
}

// add starts worker w.
func (ls *leaseScale) add(w string) {
	lc := ls.lc
	st := &dyingStore{store: lc.store}
	c, err := NewConsumer(NewStream(lc.s), func(context.Context, *Record) error { return nil },
		WithName("billing"), WithCheckpointStore(st), WithOnExhausted(Halt),
		WithPollInterval(ls.poll), WithPartitionRefresh(time.Second), WithDrainTimeout(5*time.Second),
		WithLeases(st, WithWorkerID(w), WithLeaseDuration(ls.dur), WithLeaseRenewInterval(ls.renew)))
	if err != nil {
		lc.t.Fatal(err)
	}
	ls.stores[w], ls.members[w], ls.live[w] = st, lc.start(c), true
}

// spread returns the number of partitions owned and the max − min of the
// partitions held per live worker (a live worker holding none counts 0).
func (ls *leaseScale) spread() (owned, spread int) {
	counts := map[string]int{}
	for w := range ls.live {
		counts[w] = 0
	}
	for _, o := range ls.lc.owners() {
		owned++
		if _, ok := counts[o]; ok {
			counts[o]++
		} else {
			counts[o] = 1 << 20 // a partition held by a worker that left: not balanced
		}
	}
	vals := make([]int, 0, len(counts))
	for _, n := range counts {
		vals = append(vals, n)
	}
	return owned, slices.Max(vals) - slices.Min(vals)
}

// waitBalanced waits until every partition is owned by a live worker and
// the spread is at most one; it returns how long that took.
func (ls *leaseScale) waitBalanced(what string, partitions int) time.Duration {
	t0 := time.Now()
	ls.waitFor(what, func() bool {
		owned, spread := ls.spread()
		return owned == partitions && spread <= 1
	})
	return time.Since(t0)
}

// waitFor polls cond for up to 30 lease durations (at least 30 s).
func (ls *leaseScale) waitFor(what string, cond func() bool) {
	ls.lc.t.Helper()
	deadline := time.Now().Add(max(30*time.Second, 30*ls.dur))
	for !cond() {
		if time.Now().After(deadline) {
			owned, spread := ls.spread()
			ls.lc.t.Fatalf("%s: not reached in %v: %d partitions owned, spread %d", what, max(30*time.Second, 30*ls.dur), owned, spread)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition with a deadline
	}
}

// run measures convergence from a cold start with workers workers, after a
// join, after a graceful leave, and the takeover of a killed worker's
// partitions, and the store calls per live worker per second over the
// whole run.
func (ls *leaseScale) run(workers, partitions int) scaleResult {
	var r scaleResult
	t0 := time.Now()
	for i := range workers {
		ls.add(fmt.Sprintf("w%03d", i))
	}
	r.converge = ls.waitBalanced("cold start: balanced", partitions)
	ls.add(fmt.Sprintf("w%03d", workers))
	r.join = ls.waitBalanced("after a join: balanced", partitions)

	delete(ls.live, "w000")
	if err := ls.members["w000"].stop(ls.lc.t); err != nil {
		ls.lc.t.Fatalf("w000 left with %v", err)
	}
	r.leave = ls.waitBalanced("after a leave: balanced", partitions)

	victim := "w001"
	var held []string
	for p, o := range ls.lc.owners() {
		if o == victim {
			held = append(held, p)
		}
	}
	ls.stores[victim].kill()
	killedAt := time.Now()
	delete(ls.live, victim)
	ls.waitFor("the killed worker's partitions are taken over", func() bool {
		owners := ls.lc.owners()
		for _, p := range held {
			if o := owners[p]; o == "" || o == victim {
				return false
			}
		}
		return true
	})
	r.takeover = time.Since(killedAt)
	ls.members[victim].cancel()
	var ops int64
	for w := range ls.live {
		ops += ls.stores[w].ops.Load()
	}
	r.opsPerWorkerSec = float64(ops) / time.Since(t0).Seconds() / float64(len(ls.live))
	return r
}

// TestLeaseScaleBalance: 10 workers over 100 partitions, on the memory and
// the file store, reach a spread of at most one partition per worker from
// a cold start, after a worker joins and after one leaves, and take over a
// killed worker's partitions; the times and the store calls per worker per
// second are logged (BenchmarkLeaseScale reports them at 50 workers over
// 1,000 partitions).
func TestLeaseScaleBalance(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the lease scale test runs 11 consumers for several lease durations")
	}
	for name, newStore := range leaseStores(t) {
		t.Run(name, func(t *testing.T) {
			const dur, renew = time.Second, 100 * time.Millisecond
			ls := newLeaseScale(t, newStore(t), 100, dur, renew, 20*time.Millisecond)
			r := ls.run(10, 100)
			t.Logf("converged in %v, after a join %v, after a leave %v; killed worker's partitions taken over in %v (lease %v, renew %v); %.0f store calls per worker per second",
				r.converge.Round(time.Millisecond), r.join.Round(time.Millisecond), r.leave.Round(time.Millisecond), r.takeover.Round(time.Millisecond), dur, renew, r.opsPerWorkerSec)
		})
	}
}

// BenchmarkLeaseScale runs leaseScale at 50 workers over 1,000 partitions
// on the memory store (lease 2 s, renew 250 ms) and the file store (lease
// 10 s, renew 2 s: each round of each worker reads every lease and
// checkpoint file, 2,000 files), and at 10 workers over 200 partitions on
// the DynamoDB store on dynalite (lease 5 s, renew 1 s), and reports the convergence times in lease
// durations, the takeover time of a killed worker's partitions, and the
// store calls per worker per second.
//
//	go test ./stream -run '^$' -bench BenchmarkLeaseScale -benchtime 1x
func BenchmarkLeaseScale(b *testing.B) {
	stores := map[string]func(testing.TB) interface {
		checkpoint.Store
		checkpoint.Leaser
	}{
		"memory": func(testing.TB) interface {
			checkpoint.Store
			checkpoint.Leaser
		} {
			return checkpoint.NewMemoryStore()
		},
		"file": func(tb testing.TB) interface {
			checkpoint.Store
			checkpoint.Leaser
		} {
			s, err := checkpoint.NewFileStore(tb.TempDir())
			if err != nil {
				tb.Fatal(err)
			}
			return s
		},
	}
	stores["dynamodb"] = func(tb testing.TB) interface {
		checkpoint.Store
		checkpoint.Leaser
	} {
		p, err := nodeemu.Start(context.Background(), "dynalite", nodeemu.Dynalite)
		if err != nil {
			tb.Fatalf("start dynalite (npm dynalite 4.0.0, installed by `make tools`): %v", err)
		}
		tb.Cleanup(func() { p.Close() })
		s, err := dynamodb.New(context.Background(), "lease-scale", dynamodb.WithEndpoint("http://"+p.Addr), dynamodb.WithRegion("us-east-1"),
			dynamodb.WithStaticCredentials("AKIDTEST", "secret-test", ""), dynamodb.WithCreateTable(10*time.Second))
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { s.Close() })
		return s
	}
	for _, name := range []string{"memory", "file", "dynamodb"} {
		b.Run("store="+name, func(b *testing.B) {
			dur, renew := 2*time.Second, 250*time.Millisecond
			workers, partitions := 50, 1000
			switch name {
			case "file":
				dur, renew = 10*time.Second, 2*time.Second
			case "dynamodb":
				// The case: 10 workers over 200 shards, on dynalite
				// (one node process answering every worker's listings).
				dur, renew, workers, partitions = 5*time.Second, time.Second, 10, 200
			}
			for range b.N {
				ls := newLeaseScale(b, stores[name](b), partitions, dur, renew, 100*time.Millisecond)
				r := ls.run(workers, partitions)
				b.ReportMetric(r.converge.Seconds()/dur.Seconds(), "converge-leases")
				b.ReportMetric(r.join.Seconds()/dur.Seconds(), "join-leases")
				b.ReportMetric(r.leave.Seconds()/dur.Seconds(), "leave-leases")
				b.ReportMetric(r.takeover.Seconds()/dur.Seconds(), "takeover-leases")
				b.ReportMetric(r.opsPerWorkerSec, "store-calls/worker/s")
			}
		})
	}
}
