package pulsar_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/unistream-go/unistream/adapters/pulsar"
	"github.com/unistream-go/unistream/adapters/pulsar/pulsartest"
	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/driver"
)

// recorder is a driver.Rebalance that keeps the owned partitions.
type recorder struct {
	mu    sync.Mutex
	owned map[string]bool
	calls []string
}

func newRecorder() *recorder { return &recorder{owned: map[string]bool{}} }

func (r *recorder) Assigned(_ context.Context, ps []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range ps {
		r.owned[p] = true
	}
	r.calls = append(r.calls, "assigned "+strings.Join(ps, ","))
}

func (r *recorder) Revoked(_ context.Context, ps []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range ps {
		delete(r.owned, p)
	}
	r.calls = append(r.calls, "revoked "+strings.Join(ps, ","))
}

func (r *recorder) Lost(_ context.Context, ps []string) { r.Revoked(context.Background(), ps) }

func (r *recorder) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for p := range r.owned {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

func waitOwned(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestJoinGroupSharesPartitions: one member owns every partition; a second
// one takes half; when it leaves, the first owns them all again.
func TestJoinGroupSharesPartitions(t *testing.T) {
	b := pulsartest.Start(t, pulsartest.Topic("grp", 4))
	sa, sb := openStream(t, b.URL("grp")), openStream(t, b.URL("grp"))
	ra, rb := newRecorder(), newRecorder()
	ma, err := sa.JoinGroup(context.Background(), "billing", ra)
	if err != nil {
		t.Fatal(err)
	}
	defer ma.Leave(context.Background())
	all := []string{"0", "1", "2", "3"}
	waitOwned(t, "member A to own every partition", func() bool { return slices.Equal(ra.get(), all) })
	mb, err := sb.JoinGroup(context.Background(), "billing", rb)
	if err != nil {
		t.Fatal(err)
	}
	waitOwned(t, "A and B to split the partitions", func() bool {
		a, bb := ra.get(), rb.get()
		return len(a) == 2 && len(bb) == 2 && slices.Equal(slices.Sorted(slices.Values(append(a, bb...))), all)
	})
	if err := mb.Leave(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := rb.get(); len(got) != 0 {
		t.Errorf("B owns %v after Leave", got)
	}
	waitOwned(t, "A to own every partition again", func() bool { return slices.Equal(ra.get(), all) })
	if _, err := sa.JoinGroup(context.Background(), "bad/name", newRecorder()); err == nil {
		t.Errorf("JoinGroup with a bad group name: no error")
	}
	var _ driver.Rebalance = ra
}

// TestAckStoreFollowsCommits runs a consumer in a durable group with the
// AckStore: the subscription's backlog on the broker falls from every
// entry to at most one batched entry per partition once the group has
// committed everything.
func TestAckStoreFollowsCommits(t *testing.T) {
	ctx := context.Background()
	b := pulsartest.Start(t, pulsartest.Topic("acked", 2))
	ws := openStream(t, b.URL("acked"))
	const total = 40
	var in []driver.Record
	for i := range total {
		in = append(in, driver.Record{ID: fmt.Sprint("a", i), Key: []byte(fmt.Sprint("k", i%5))})
	}
	// Several writes, so that each partition holds several entries.
	for i := 0; i < total; i += 8 {
		write(t, ws, in[i:i+8]...)
	}
	entries, err := b.Fake().MessageCount("acked")
	if err != nil {
		t.Fatal(err)
	}
	s := openStream(t, b.URL("acked", "durable_group", "true", "fetch_wait", "5ms"))
	inner := checkpoint.NewMemoryStore()
	var handled atomic.Int64
	c, err := stream.NewConsumer(stream.NewStream(s), func(context.Context, *stream.Record) error { handled.Add(1); return nil },
		stream.WithName("billing"), stream.WithGroup("billing"), stream.WithCheckpointStore(pulsar.NewAckStore(inner, s)),
		stream.WithOnExhausted(stream.Halt), stream.WithPollInterval(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- c.Run(runCtx) }()
	waitOwned(t, "the group to have a backlog", func() bool {
		n, err := b.Fake().Backlog("acked", "billing")
		return err == nil && n > 0
	})
	waitOwned(t, "every record handled", func() bool { return handled.Load() >= total })
	waitOwned(t, "the backlog to follow the commits", func() bool {
		n, err := b.Fake().Backlog("acked", "billing")
		return err == nil && n <= 2
	})
	stop()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	c.Close()
	if entries <= 4 {
		t.Errorf("the topic holds %d entries: the test needs more than one per partition", entries)
	}
}
