package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/unistream-go/unistream/adapters/kafka"
	"github.com/unistream-go/unistream/adapters/kafka/kafkatest"
	"github.com/unistream-go/unistream/stream/checkpoint"
)

// countFetches counts the OffsetFetch requests the broker gets for
// partition p of topic alone (the Store's; a group client's fetch on an
// assignment names the partitions it was given).
func countFetches(t *testing.T, c *kafkatest.Cluster, topic string, p int32) func() int {
	adm, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	md, err := kadm.NewClient(adm).Metadata(context.Background(), topic)
	adm.Close()
	if err != nil {
		t.Fatal(err)
	}
	id := md.Topics[topic].ID
	h := c.Kfake().Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.OffsetFetch}, Observe: true, Count: -1,
		When: func(r kmsg.Request) bool {
			req := r.(*kmsg.OffsetFetchRequest)
			only := func(name string, tid [16]byte, ps []int32) bool {
				return (name == topic || tid == id) && slices.Equal(ps, []int32{p}) // v10 names topics by id
			}
			for _, t := range req.Topics {
				if only(t.Topic, [16]byte{}, t.Partitions) {
					return true
				}
			}
			for _, g := range req.Groups {
				for _, t := range g.Topics {
					if only(t.Topic, t.TopicID, t.Partitions) {
						return true
					}
				}
			}
			return false
		}})
	t.Cleanup(h.Remove)
	last := 0
	return func() int { // the fetches since the last call
		n := h.Hits()
		d := n - last
		last = n
		return d
	}
}

// TestStoreFetchesOnlyWhenUnknown: the Store of a group member fetches the
// committed version only when its Stream does not know it (first Save,
// after an error, in a new generation); a Save from a version another
// Store of the Stream committed over still fails; a standalone Store
// fetches before every Save.
func TestStoreFetchesOnlyWhenUnknown(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic("orders", 2))
	ctx := context.Background()
	counters := []func() int{countFetches(t, c, "orders", 0), countFetches(t, c, "orders", 1)}
	fetches := counters[0]
	sa := openStream(t, c, "orders")
	ra := &recorder{}
	if _, err := sa.JoinGroup(ctx, "billing", ra); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "member a assigned both partitions", func() bool { return ra.has("0") && ra.has("1") })
	st := kafka.NewStore(sa)
	k := checkpoint.Key{Consumer: "billing", Stream: "orders", Partition: "0"}
	step := func(what string, wantFetches int, f func() error) {
		t.Helper()
		fetches()
		if err := f(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if got := fetches(); got != wantFetches {
			t.Errorf("%s sent %d OffsetFetch requests, want %d", what, got, wantFetches)
		}
	}
	cp := &checkpoint.Checkpoint{Key: k, Committed: kafka.PointerAt(9)}
	step("the first Save", 1, func() error { return st.Save(ctx, cp) })
	for i := range 3 {
		cp.Counts.Succeeded++
		step(fmt.Sprintf("Save %d", i+2), 0, func() error { return st.Save(ctx, cp) })
	}
	var loaded *checkpoint.Checkpoint
	step("Load", 1, func() (err error) { loaded, err = st.Load(ctx, k); return err })
	if loaded.Version != 4 || loaded.Counts != cp.Counts {
		t.Fatalf("Load = version %d counts %+v, want version 4 counts %+v", loaded.Version, loaded.Counts, cp.Counts)
	}
	step("Save after Load", 0, func() error { return st.Save(ctx, loaded) })

	// Another Store of the same Stream saves: the first one's version is
	// stale, and its Save fails.
	other := kafka.NewStore(sa)
	theirs, err := other.Load(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	step("Save through another Store", 0, func() error { return other.Save(ctx, theirs) })
	stale := loaded.Clone()
	if err := st.Save(ctx, stale); !errors.Is(err, checkpoint.ErrConflict) {
		t.Fatalf("Save from version %d after another Store of the stream saved version %d: err = %v, want ErrConflict", loaded.Version, theirs.Version, err)
	}

	// A failed commit leaves the committed version unknown: the next Save
	// fetches it.
	h := c.Kfake().Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.OffsetCommit}, Topic: "orders", Err: kerr.UnknownServerError})
	if err := st.Save(ctx, theirs); err == nil || checkpoint.IsPermanent(err) {
		t.Fatalf("Save with the broker failing the commit: err = %v, want a transient error", err)
	}
	h.Remove()
	step("Save after a failed commit", 1, func() error { return st.Save(ctx, theirs) })
	step("the next Save", 0, func() error { return st.Save(ctx, theirs) })

	// A Stream outside the group commits as a standalone client: every
	// Save fetches (the group "audit" has no members, so the broker takes
	// its commits).
	solo := kafka.NewStore(openStream(t, c, "orders"))
	scp := &checkpoint.Checkpoint{Key: checkpoint.Key{Consumer: "audit", Stream: "orders", Partition: "0"}}
	for i := range 3 {
		step(fmt.Sprintf("standalone Save %d", i+1), 1, func() error { return solo.Save(ctx, scp) })
	}

	// A new generation: another member joins and takes one partition.
	// Member a's next Save of the partition it keeps fetches once.
	cps := []*checkpoint.Checkpoint{theirs, {Key: checkpoint.Key{Consumer: "billing", Stream: "orders", Partition: "1"}}}
	for _, cp := range cps {
		if err := st.Save(ctx, cp); err != nil {
			t.Fatal(err)
		}
	}
	sb := openStream(t, c, "orders")
	rb := &recorder{}
	if _, err := sb.JoinGroup(ctx, "billing", rb); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "member b assigned a partition", func() bool { return rb.has("0") || rb.has("1") })
	kept := 0
	if !ra.has("0") {
		kept = 1
	}
	fetches = counters[kept]
	step("Save in a new generation", 1, func() error { return st.Save(ctx, cps[kept]) })
	step("the next Save", 0, func() error { return st.Save(ctx, cps[kept]) })
}

// TestStoreMemberConcurrentWriters runs writers through two Stores of one
// member's Stream, each loading and saving in a loop: the Saves that skip
// the fetch never lose an update.
func TestStoreMemberConcurrentWriters(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic("orders", 2))
	ctx := context.Background()
	s := openStream(t, c, "orders")
	r := &recorder{}
	if _, err := s.JoinGroup(ctx, "billing", r); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "member assigned both partitions", func() bool { return r.has("0") && r.has("1") })
	stores := []*kafka.Store{kafka.NewStore(s), kafka.NewStore(s)}
	keys := []checkpoint.Key{{Consumer: "billing", Stream: "orders", Partition: "0"}, {Consumer: "billing", Stream: "orders", Partition: "1"}}
	const writers, saves = 8, 25
	var mu sync.Mutex
	won := map[checkpoint.Key]uint64{}
	var wg sync.WaitGroup
	errc := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			st, k := stores[w%2], keys[(w/2)%2]
			for n := 0; n < saves; {
				cp, err := st.Load(ctx, k)
				if err != nil {
					errc <- err
					return
				}
				cp.Counts.Succeeded++
				switch err := st.Save(ctx, cp); {
				case errors.Is(err, checkpoint.ErrConflict):
					continue
				case err != nil:
					errc <- err
					return
				}
				n++
				mu.Lock()
				won[k]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	for _, k := range keys {
		cp, err := kafka.NewStore(openStream(t, c, "orders")).Load(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if cp.Counts.Succeeded != won[k] || cp.Version != won[k] {
			t.Errorf("%s: counter %d, version %d after %d successful saves: lost updates", k, cp.Counts.Succeeded, cp.Version, won[k])
		}
	}
}
