package conformance

// This file holds the env helpers of the group and lease scenarios: members and their leases.

import (
	"context"
	"sort"
	"time"

	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/driver"
)

// leaseDuration is the lease duration of scenario 20: short, so that a
// killed member's leases expire soon, but long enough that a member
// starved of CPU (every adapter's suite runs at once under -race in `make
// conformance`) still renews in time: 1 s, or 1/60 of the wait timeout if
// that is longer (a slow machine sets a long UNISTREAM_CONFORMANCE_TIMEOUT).
func (e *env) leaseDuration() time.Duration {
	return max(time.Second, e.timeout/60)
}

// groupMember opens its own stream of st (as another process would) and
// runs a consumer that is member who of group name, with ctx (cancel
// cancels it). It returns the member's stream and its kill function (see
// membership.join).
func (e *env) groupMember(m membership, st *strm, name, who string, ctx context.Context, cancel context.CancelFunc, h stream.Handler, extra ...stream.ConsumerOption) (*running, driver.Stream, func()) {
	e.t.Helper()
	s, err := openDriver(context.Background(), st.url)
	if err != nil {
		e.t.Fatalf("stream.Open(%s): %v", st.url, err)
	}
	e.t.Cleanup(func() { s.Close() })
	gopts, kill := m.join(e, s, name, who, e.groupStore)
	opts := append(append(e.consumerOpts(name, e.groupStore, &memSink{}), stream.WithBatchSize(2)), gopts...)
	c, err := stream.NewConsumer(stream.NewStream(s), h, append(opts, extra...)...)
	if err != nil {
		e.t.Fatalf("NewConsumer as member %s of group %s: %v", who, name, err)
	}
	return e.startCtx(c, ctx, cancel), s, kill
}

// leasesOf returns the partitions of st whose lease in store (a
// checkpoint.Leaser) is owned by worker, sorted; presence leases are not
// partitions and are left out.
func (e *env) leasesOf(store checkpoint.Store, name string, st *strm, worker string) []string {
	e.t.Helper()
	ls, err := store.(checkpoint.Leaser).ListLeases(context.Background(), name, st.name())
	if err != nil {
		e.t.Fatalf("list the leases of %s: %v", name, err)
	}
	var out []string
	for _, l := range ls {
		if l.Owner == worker && !stream.IsWorkerLease(l) {
			out = append(out, l.Partition)
		}
	}
	sort.Strings(out)
	return out
}
