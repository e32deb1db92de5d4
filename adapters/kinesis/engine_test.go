package kinesis_test

import (
	"context"
	"fmt"
	"math/big"
	"net/url"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/unistream-go/unistream/adapters/kinesis"
	"github.com/unistream-go/unistream/adapters/kinesis/kinesistest"
	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/driver"
)

// handled records what a handler saw, in call order.
type handled struct {
	mu    sync.Mutex
	order []*stream.Record
	count map[string]int
}

func newHandled() *handled { return &handled{count: map[string]int{}} }

func (h *handled) add(r *stream.Record) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.order = append(h.order, r)
	h.count[r.ID]++
}

func (h *handled) n() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.count)
}

// runConsumer runs c until done() or the timeout, then stops it gracefully.
func runConsumer(t *testing.T, c *stream.Consumer, done func() bool) {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- c.Run(ctx) }()
	deadline := time.Now().Add(60 * time.Second)
	for !done() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	if err := <-errc; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if !done() {
		t.Fatalf("the consumer did not finish within 60s")
	}
}

// TestEngineReshardSplitAndMerge consumes a stream through the engine
// while a shard splits and two shards merge: every record is handled
// once, and each key's records in write order across parents and
// children.
func TestEngineReshardSplitAndMerge(t *testing.T) {
	t.Run("kinesisfake", func(t *testing.T) {
		b := kinesistest.Start(t)
		reshardSplitAndMerge(t, openFake(t, b, "reshard", 2))
	})
	t.Run("kinesalite", func(t *testing.T) {
		endpoint := startKinesalite(t)
		u, err := url.Parse(kinesaliteURL(endpoint, "reshard", append([]string{"create_stream", "true", "shards", "2"}, fastKeys...)...))
		if err != nil {
			t.Fatal(err)
		}
		o, err := kinesis.ParseURL(u)
		if err != nil {
			t.Fatal(err)
		}
		s, err := kinesis.Open(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		reshardSplitAndMerge(t, s)
	})
}

// adjacentTo returns which of shards has a hash key range that ends right
// before the range of shard next.
func adjacentTo(t *testing.T, s *kinesis.Stream, shards []string, next string) string {
	t.Helper()
	out, err := s.Client().ListShards(context.Background(), &awskinesis.ListShardsInput{StreamName: aws.String(s.Name())})
	if err != nil {
		t.Fatal(err)
	}
	ranges := map[string][2]*big.Int{}
	for _, sh := range out.Shards {
		lo, _ := new(big.Int).SetString(aws.ToString(sh.HashKeyRange.StartingHashKey), 10)
		hi, _ := new(big.Int).SetString(aws.ToString(sh.HashKeyRange.EndingHashKey), 10)
		ranges[aws.ToString(sh.ShardId)] = [2]*big.Int{lo, hi}
	}
	for _, c := range shards {
		if new(big.Int).Add(ranges[c][1], big.NewInt(1)).Cmp(ranges[next][0]) == 0 {
			return c
		}
	}
	t.Fatalf("none of %v is adjacent to %s", shards, next)
	return ""
}

func reshardSplitAndMerge(t *testing.T, s *kinesis.Stream) {
	ctx := context.Background()
	const keys = 11
	seq := 0
	round := func(n int) {
		var recs []driver.Record
		for range n {
			recs = append(recs, driver.Record{ID: fmt.Sprintf("r%04d", seq), Key: []byte(fmt.Sprintf("key-%d", seq%keys)), Value: []byte{byte(seq)}})
			seq++
		}
		write(t, s, recs...)
	}
	round(60)
	h := newHandled()
	c, err := stream.NewConsumer(stream.NewStream(s), func(_ context.Context, r *stream.Record) error { h.add(r); return nil },
		stream.WithName("reshard"), stream.WithOnExhausted(stream.Halt), stream.WithCheckpointStore(checkpoint.NewMemoryStore()), stream.WithBatchSize(7),
		stream.WithPollInterval(2*time.Millisecond), stream.WithPartitionRefresh(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // reshards and writes while the consumer runs
		defer wg.Done()
		for h.n() < 20 {
			time.Sleep(time.Millisecond)
		}
		children, err := s.Split(ctx, "shardId-000000000000")
		if err != nil {
			t.Errorf("Split: %v", err)
			return
		}
		round(60)
		// The upper child of shard 0 is adjacent to shard 1.
		upper := adjacentTo(t, s, children, "shardId-000000000001")
		merged, err := s.Merge(ctx, upper, "shardId-000000000001")
		if err != nil {
			t.Errorf("Merge: %v", err)
			return
		}
		round(60)
		t.Logf("split shardId-000000000000 into %v, merged %s and shardId-000000000001 into %s", children, upper, merged)
	}()
	runConsumer(t, c, func() bool { wg.Wait(); return h.n() == 180 })
	h.mu.Lock()
	defer h.mu.Unlock()
	for id, n := range h.count {
		if n != 1 {
			t.Errorf("record %s handled %d times", id, n)
		}
	}
	last := map[string]string{}
	for _, r := range h.order {
		if l, ok := last[string(r.Key)]; ok && l > r.ID {
			t.Errorf("key %s: %s (shard %s) handled after %s", r.Key, r.ID, r.Partition, l)
		}
		last[string(r.Key)] = r.ID
	}
	ps, err := s.Partitions(ctx)
	if err != nil || len(ps) != 5 {
		t.Errorf("Partitions = %d, %v; want 5 after a split and a merge", len(ps), err)
	}
}

// TestEngineKPLResume consumes KPL aggregates through the engine, stops
// in the middle of an aggregate, and resumes from the checkpoint: every
// user record is handled once, in order.
func TestEngineKPLResume(t *testing.T) {
	b := kinesistest.Start(t)
	s := openFake(t, b, "kplresume", 1)
	ctx := context.Background()
	var want []string
	for a := range 4 {
		var recs []kplRecord
		for i := range 5 {
			recs = append(recs, kplRecord{key: fmt.Sprintf("k%d", i%2), data: []byte(fmt.Sprintf("a%d-%d", a, i))})
			want = append(want, fmt.Sprintf("a%d-%d", a, i))
		}
		if _, err := s.Client().PutRecord(ctx, &awskinesis.PutRecordInput{StreamName: aws.String("kplresume"), PartitionKey: aws.String("p"), Data: aggregate(recs...)}); err != nil {
			t.Fatal(err)
		}
	}
	store := checkpoint.NewMemoryStore()
	h := newHandled()
	var stopAt7 context.CancelFunc
	handler := func(_ context.Context, r *stream.Record) error {
		h.add(r)
		if h.n() == 7 && stopAt7 != nil {
			stopAt7()
		}
		return nil
	}
	newConsumer := func() *stream.Consumer {
		c, err := stream.NewConsumer(stream.NewStream(s), handler, stream.WithName("kpl"), stream.WithOnExhausted(stream.Halt), stream.WithCheckpointStore(store), stream.WithBatchSize(3),
			stream.WithPollInterval(2*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	// First run: stops gracefully after the 7th record, inside aggregate 1.
	c := newConsumer()
	runCtx, cancel := context.WithCancel(ctx)
	stopAt7 = cancel
	if err := c.Run(runCtx); err != nil {
		t.Fatal(err)
	}
	c.Close()
	cp, err := store.Load(ctx, checkpoint.Key{Consumer: "kpl", Stream: "kplresume", Partition: "shardId-000000000000"})
	if err != nil || cp.Committed == nil {
		t.Fatalf("checkpoint after the stop: %+v, %v", cp, err)
	}
	t.Logf("stopped at %s after %d records", cp.Committed, h.n())
	stopAt7 = nil
	runConsumer(t, newConsumer(), func() bool { return h.n() == len(want) })
	h.mu.Lock()
	defer h.mu.Unlock()
	var got []string
	for _, r := range h.order {
		got = append(got, string(r.Value))
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("handled %v, want %v", got, want)
	}
	ids := make([]string, 0, len(h.count))
	for id, n := range h.count {
		if n != 1 {
			t.Errorf("%s handled %d times", id, n)
		}
		ids = append(ids, id)
	}
	sort.Strings(ids)
}
