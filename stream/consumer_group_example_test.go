package stream_test

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/driver"
	"github.com/unistream-go/unistream/stream/memstream"
)

// Two consumers in one group share a stream's partitions; each record is
// handled once, by the member that owns its partition. A real deployment
// runs one member per process, with a store both can reach.
func ExampleWithGroup() {
	ctx := context.Background()
	s, _ := memstream.NewBroker().Stream("orders", memstream.WithPartitions(4))
	w, _ := s.OpenWriter(ctx)
	recs := make([]driver.Record, 20)
	for i := range recs {
		recs[i] = driver.Record{ID: fmt.Sprint(i), Key: []byte(fmt.Sprint("order-", i))}
	}
	_ = w.Write(ctx, recs, make([]driver.WriteResult, len(recs)))
	w.Close()

	store := checkpoint.NewMemoryStore()
	var mu sync.Mutex
	byMember := map[string]int{}
	total := 0
	member := func(name string) (*stream.Consumer, error) {
		return stream.NewConsumer(stream.NewStream(s), func(ctx context.Context, r *stream.Record) error {
			mu.Lock()
			defer mu.Unlock()
			byMember[name]++
			total++
			return nil
		}, stream.WithGroup("billing"), stream.WithCheckpointStore(store),
			stream.WithOnExhausted(stream.Halt), stream.WithPollInterval(time.Millisecond))
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	for _, name := range []string{"a", "b"} {
		c, err := member(name)
		if err != nil {
			fmt.Println(err)
			return
		}
		wg.Go(func() {
			if err := c.Run(runCtx); err != nil {
				fmt.Println(err)
			}
		})
	}
	for {
		mu.Lock()
		n := total
		mu.Unlock()
		if n >= 20 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	stop() // each member leaves the group, handing its partitions back
	wg.Wait()
	fmt.Println("records handled:", total, "members left in the group:", len(s.GroupMembers("billing")))
	// Output: records handled: 20 members left in the group: 0
}
