package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/unistream-go/unistream/adapters/kafka"
	"github.com/unistream-go/unistream/adapters/kafka/kafkatest"
	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/checkpoint/storetest"
	"github.com/unistream-go/unistream/stream/driver"
)

// keyMap translates the store suite's keys into keys of real topic
// partitions on the broker, and back. The Kafka store keeps a checkpoint
// as a consumer group's commit on the key's own topic partition, which
// the broker refuses for a topic that does not exist; the suite's keys
// ("../../etc"/"passwd", 300-letter names, partition "a/b") cannot be
// topics. The map gives each suite stream a fresh topic and each of its
// partitions the next partition number; consumers (group ids) are passed
// through as they are. Invalid keys are passed through unchanged, so the
// store's own validation is what the suite tests.
type keyMap struct {
	c      *kafkatest.Cluster
	prefix string

	mu     sync.Mutex
	topics map[string]string            // suite stream -> topic
	parts  map[string]map[string]string // suite stream -> suite partition -> topic partition
	back   map[string]string            // topic -> suite stream
	backP  map[string]map[string]string // topic -> topic partition -> suite partition
}

const keyMapPartitions = 16

func newKeyMap(c *kafkatest.Cluster, prefix string) *keyMap {
	return &keyMap{c: c, prefix: prefix, topics: map[string]string{}, parts: map[string]map[string]string{},
		back: map[string]string{}, backP: map[string]map[string]string{}}
}

// topic returns the topic of a suite stream, creating it.
func (m *keyMap) topic(t *testing.T, stream string, create bool) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if tp, ok := m.topics[stream]; ok || !create {
		return tp, ok
	}
	tp := fmt.Sprintf("%s-%d", m.prefix, len(m.topics))
	if err := m.c.CreateTopic(context.Background(), tp, keyMapPartitions); err != nil {
		t.Fatal(err)
	}
	m.topics[stream], m.back[tp] = tp, stream
	m.parts[stream], m.backP[tp] = map[string]string{}, map[string]string{}
	return tp, true
}

func (m *keyMap) to(t *testing.T, k checkpoint.Key) checkpoint.Key {
	if k.Validate() != nil {
		return k
	}
	tp, _ := m.topic(t, k.Stream, true)
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.parts[k.Stream][k.Partition]
	if !ok {
		n := len(m.parts[k.Stream])
		if n == keyMapPartitions {
			t.Fatalf("keyMap: stream %q needs more than %d partitions", k.Stream, keyMapPartitions)
		}
		p = strconv.Itoa(n)
		m.parts[k.Stream][k.Partition], m.backP[tp][p] = p, k.Partition
	}
	return checkpoint.Key{Consumer: k.Consumer, Stream: tp, Partition: p}
}

func (m *keyMap) from(k checkpoint.Key) checkpoint.Key {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.back[k.Stream]; ok {
		return checkpoint.Key{Consumer: k.Consumer, Stream: s, Partition: m.backP[k.Stream][k.Partition]}
	}
	return k
}

// mappedStore is the Kafka store behind a keyMap.
type mappedStore struct {
	t  *testing.T
	m  *keyMap
	st *kafka.Store
}

func (s *mappedStore) Load(ctx context.Context, k checkpoint.Key) (*checkpoint.Checkpoint, error) {
	cp, err := s.st.Load(ctx, s.m.to(s.t, k))
	if cp != nil {
		cp.Key = s.m.from(cp.Key)
	}
	return cp, err
}

func (s *mappedStore) Save(ctx context.Context, cp *checkpoint.Checkpoint) error {
	if cp == nil {
		return s.st.Save(ctx, nil)
	}
	orig := cp.Key
	cp.Key = s.m.to(s.t, orig)
	defer func() { cp.Key = orig }()
	err := s.st.Save(ctx, cp)
	if err != nil {
		// Name the suite's key, as the store names the key it was given.
		return fmt.Errorf("%w (suite key %s)", err, orig)
	}
	return nil
}

func (s *mappedStore) List(ctx context.Context, consumer, stream string) ([]*checkpoint.Checkpoint, error) {
	tp, ok := s.m.topic(s.t, stream, false)
	if !ok {
		tp = stream
		if consumer != "" && stream != "" {
			// Never the topic of another suite stream: nothing is stored.
			tp = s.m.prefix + "-unused"
		}
	}
	l, err := s.st.List(ctx, consumer, tp)
	for _, cp := range l {
		cp.Key = s.m.from(cp.Key)
	}
	sort.Slice(l, func(i, j int) bool { return l[i].Partition < l[j].Partition })
	return l, err
}

// openStream opens a stream of topic on c for a store's client.
func openStream(t *testing.T, c *kafkatest.Cluster, topic string) *kafka.Stream {
	t.Helper()
	s, err := kafka.Open(context.Background(), kafka.Options{Target: kafka.Target{Brokers: c.Addrs(), Topic: topic},
		FetchWait: 10 * time.Millisecond, MetadataMinAge: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var storeSeq int

func TestStoreSuite(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic("store-client", 1))
	stores := map[checkpoint.Store]*keyMap{}
	var mu sync.Mutex
	newStore := func(t *testing.T, m *keyMap) checkpoint.Store {
		s := &mappedStore{t: t, m: m, st: kafka.NewStore(openStream(t, c, "store-client"))}
		mu.Lock()
		stores[s] = m
		mu.Unlock()
		return s
	}
	storetest.Run(t, storetest.Harness{
		New: func(t *testing.T) checkpoint.Store {
			mu.Lock()
			storeSeq++
			prefix := fmt.Sprintf("st%d", storeSeq)
			mu.Unlock()
			return newStore(t, newKeyMap(c, prefix))
		},
		Reopen: func(t *testing.T, s checkpoint.Store) checkpoint.Store {
			mu.Lock()
			m := stores[s]
			mu.Unlock()
			return newStore(t, m)
		},
		Corrupt: func(t *testing.T, s checkpoint.Store, k checkpoint.Key) {
			mu.Lock()
			m := stores[s]
			mu.Unlock()
			mk := m.to(t, k)
			commitRaw(t, c, mk, 7, "unistream1:@@not base64@@")
		},
	})
}

// commitRaw commits an offset and metadata for a key as a standalone
// client.
func commitRaw(t *testing.T, c *kafkatest.Cluster, k checkpoint.Key, offset int64, meta string) {
	t.Helper()
	cl, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	p, _ := strconv.Atoi(k.Partition)
	os := kadm.Offsets{}
	os.Add(kadm.Offset{Topic: k.Stream, Partition: int32(p), At: offset, LeaderEpoch: -1, Metadata: meta})
	resp, err := kadm.NewClient(cl).CommitOffsets(context.Background(), k.Consumer, os)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatalf("commit %s: %v", k, err)
	}
}

// recorder is a driver.Rebalance that records what it owns.
type recorder struct {
	mu    sync.Mutex
	owned []string
	lost  []string
}

func (r *recorder) Assigned(_ context.Context, ps []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.owned = append(r.owned, ps...)
}

func (r *recorder) Revoked(_ context.Context, ps []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.owned = slices.DeleteFunc(r.owned, func(p string) bool { return slices.Contains(ps, p) })
}

func (r *recorder) Lost(_ context.Context, ps []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lost = append(r.lost, ps...)
	r.owned = slices.DeleteFunc(r.owned, func(p string) bool { return slices.Contains(ps, p) })
}

func (r *recorder) has(p string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Contains(r.owned, p)
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached in 30s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestStoreFencing runs the suite's fencing case: a member of group "c"
// saves, leaves the group while another member owns the partition, and its
// next commit (now as a client outside the live group) is refused.
func TestStoreFencing(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic("s", 1))
	storetest.RunFencing(t, storetest.Fencing{
		New: func(t *testing.T) (checkpoint.Store, checkpoint.Store) {
			sa, sb := openStream(t, c, "s"), openStream(t, c, "s")
			ra, rb := &recorder{}, &recorder{}
			ma, err := sa.JoinGroup(context.Background(), "c", ra)
			if err != nil {
				t.Fatal(err)
			}
			waitUntil(t, "member a assigned", func() bool { return ra.has("0") })
			fence = func(t *testing.T) {
				if _, err := sb.JoinGroup(context.Background(), "c", rb); err != nil {
					t.Fatal(err)
				}
				if err := ma.Leave(context.Background()); err != nil {
					t.Fatal(err)
				}
				waitUntil(t, "member b assigned", func() bool { return rb.has("0") })
			}
			return kafka.NewStore(sa), kafka.NewStore(sb)
		},
		Fence: func(t *testing.T, _ checkpoint.Key) { fence(t) },
	})
}

var fence func(t *testing.T)

func TestStoreMetadataTooLarge(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic("orders", 1))
	st := kafka.NewStore(openStream(t, c, "orders"), kafka.WithMaxMetadataBytes(400))
	k := checkpoint.Key{Consumer: "billing", Stream: "orders", Partition: "0"}
	cp := &checkpoint.Checkpoint{Key: k, Committed: kafka.PointerAt(41), Batch: &checkpoint.Batch{Seq: 1, First: kafka.PointerAt(42), Last: kafka.PointerAt(99), Size: 58}}
	for i := range 20 {
		r := checkpoint.RecordState{Pointer: kafka.PointerAt(int64(42 + i)), ID: fmt.Sprintf("id-%d-%x", i, i*7919), Status: checkpoint.Failed, Attempts: 1}
		r.AddError(1, time.Unix(int64(i), 0), fmt.Sprintf("handler error %d: %x", i, i*104729))
		cp.Batch.Records = append(cp.Batch.Records, r)
	}
	err := st.Save(context.Background(), cp)
	if !errors.Is(err, kafka.ErrMetadataTooLarge) || !strings.Contains(err.Error(), "limit is 400") || !strings.Contains(err.Error(), k.String()) {
		t.Fatalf("Save of a large batch state = %v, want ErrMetadataTooLarge naming the key and the limit", err)
	}
	if cp.Version != 0 {
		t.Fatalf("a refused Save set the version to %d", cp.Version)
	}
	// A small one fits, and its committed offset is Committed+1.
	cp.Batch.Records = cp.Batch.Records[:1]
	if err := st.Save(context.Background(), cp); err != nil {
		t.Fatal(err)
	}
	cl, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	got, meta, err := kadmFetch(cl, "billing", "orders", 0)
	if err != nil {
		t.Fatal(err)
	}
	if got != 42 {
		t.Errorf("group billing committed offset %d for orders/0, want 42 (Committed 41 + 1)", got)
	}
	if !strings.HasPrefix(meta, "unistream1:") || len(meta) > 400 {
		t.Errorf("commit metadata %q: want the unistream1: prefix and at most 400 bytes", meta)
	}
	t.Logf("a batch of 58 records with one failed record state: %d bytes of commit metadata", len(meta))
}

// TestStoreAdoptsPlainCommit: a commit without the store's metadata (a
// plain consumer's, or an offset reset) loads as version 0 at its position.
func TestStoreAdoptsPlainCommit(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic("orders", 2))
	st := kafka.NewStore(openStream(t, c, "orders"))
	k := checkpoint.Key{Consumer: "legacy", Stream: "orders", Partition: "1"}
	commitRaw(t, c, k, 10, "")
	cp, err := st.Load(context.Background(), k)
	if err != nil {
		t.Fatal(err)
	}
	if cp.Version != 0 || string(cp.Committed) != string(kafka.PointerAt(9)) {
		t.Fatalf("Load of a plain commit at offset 10 = version %d committed %x, want version 0 committed offset 9", cp.Version, cp.Committed)
	}
	if err := st.Save(context.Background(), cp); err != nil || cp.Version != 1 {
		t.Fatalf("Save over a plain commit: %v (version %d)", err, cp.Version)
	}
	for _, bad := range []checkpoint.Key{{Consumer: "c", Stream: "no/topic", Partition: "0"}, {Consumer: "c", Stream: "orders", Partition: "x"}} {
		if _, err := st.Load(context.Background(), bad); err == nil || errors.Is(err, checkpoint.ErrConflict) {
			t.Errorf("Load(%s) = %v, want an error naming what a key must be", bad, err)
		}
	}
}

var _ driver.Rebalance = (*recorder)(nil)

// kadmFetch returns a group's committed offset and metadata of one
// partition.
func kadmFetch(cl *kgo.Client, group, topic string, p int32) (int64, string, error) {
	resp, err := kadm.NewClient(cl).FetchOffsets(context.Background(), group)
	if err != nil {
		return 0, "", err
	}
	o, ok := resp.Lookup(topic, p)
	if !ok {
		return -1, "", nil
	}
	return o.At, o.Metadata, o.Err
}

func TestJoinGroupErrors(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic("orders", 2))
	s := openStream(t, c, "orders")
	m, err := s.JoinGroup(context.Background(), "billing", &recorder{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.JoinGroup(context.Background(), "billing", &recorder{}); err == nil || !strings.Contains(err.Error(), "member already") {
		t.Errorf("a second JoinGroup of one group on one Stream: err = %v, want an error saying it is a member already", err)
	}
	if _, err := s.JoinGroup(context.Background(), "", &recorder{}); err == nil {
		t.Error("JoinGroup with an empty group name succeeded")
	}
	if err := m.Leave(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := m.Leave(context.Background()); err != nil {
		t.Errorf("a second Leave: %v", err)
	}
	// After the leave the Stream may join again.
	m2, err := s.JoinGroup(context.Background(), "billing", &recorder{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := s.JoinGroup(context.Background(), "other", &recorder{}); !errors.Is(err, kafka.ErrClosed) {
		t.Errorf("JoinGroup on a closed Stream: err = %v, want ErrClosed", err)
	}
	_ = m2.Leave(context.Background()) // the client is closed already
}

// TestStoreCoalescesRequests loads and saves the checkpoints of 200
// partitions at once, as a consumer that owns them all does: the offset
// fetches and the commits asked for while one is in flight go together in
// the next request, so the broker sees far fewer than 200 of each, and
// every checkpoint is saved and read back as it was.
func TestStoreCoalescesRequests(t *testing.T) {
	ctx := context.Background()
	c := kafkatest.Start(t)
	const parts = 200
	const topic = "coalesce"
	if err := c.CreateTopic(ctx, topic, parts); err != nil {
		t.Fatal(err)
	}
	fetches := c.Kfake().Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.OffsetFetch}, Count: -1, Observe: true})
	defer fetches.Remove()
	commits := c.Kfake().Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.OffsetCommit}, Count: -1, Observe: true})
	defer commits.Remove()
	st := kafka.NewStore(openStream(t, c, topic))
	key := func(p int) checkpoint.Key {
		return checkpoint.Key{Consumer: "coalescing", Stream: topic, Partition: strconv.Itoa(p)}
	}
	each := func(fn func(p int) error) {
		t.Helper()
		errs := make(chan error, parts)
		for p := range parts {
			go func() { errs <- fn(p) }()
		}
		for range parts {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	}
	cps := make([]*checkpoint.Checkpoint, parts)
	each(func(p int) error {
		cp, err := st.Load(ctx, key(p))
		cps[p] = cp
		return err
	})
	each(func(p int) error {
		cps[p].Committed = kafka.PointerAt(int64(p))
		return st.Save(ctx, cps[p])
	})
	nf, nc := fetches.Hits(), commits.Hits()
	// How many calls share a request depends on the scheduling (27 and 22
	// on an idle machine, 129 and 130 with the whole suite running): one
	// request per call, as before coalescing, is what must not happen.
	if n := nf; n >= parts {
		t.Errorf("%d Loads at once sent %d offset fetches, want fewer", parts, n)
	}
	if n := nc; n >= parts {
		t.Errorf("%d Saves at once sent %d offset commits, want fewer", parts, n)
	}
	t.Logf("%d partitions: %d offset fetches, %d offset commits", parts, nf, nc)
	each(func(p int) error {
		cp, err := st.Load(ctx, key(p))
		if err != nil {
			return err
		}
		off, err := kafka.Offset(cp.Committed)
		if err != nil {
			return err
		}
		if cp.Version != 1 || off != int64(p) {
			return fmt.Errorf("partition %d: version %d, committed offset %d, want version 1 and offset %d", p, cp.Version, off, p)
		}
		return nil
	})
}
