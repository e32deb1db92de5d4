// Command parallel-by-key runs the records of a batch in parallel while
// keeping each key's records in order: WithConcurrency(n) with
// WithOrderKey. Orders of different customers are handled at the same
// time; the orders of one customer never overtake each other. The commit
// still advances only over the contiguous prefix of finished records.
//
//	go run ./examples/parallel-by-key
package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"time"

	"github.com/unistream-go/unistream/examples/internal/broker"
	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if _, err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "parallel-by-key:", err)
		os.Exit(1)
	}
}

// result is what the run saw.
type result struct {
	perKey      map[string][]int // the sequence numbers each customer's handler saw, in order
	maxParallel int
	elapsed     time.Duration
}

func run(ctx context.Context, out io.Writer) (result, error) {
	res := result{perKey: map[string][]int{}}
	url, stopBroker, err := broker.StreamURL("orders", 1)
	if err != nil {
		return res, err
	}
	defer stopBroker()
	customers := []string{"alice", "bob", "carol", "dave"}
	const perCustomer = 6
	p, err := stream.OpenProducer(ctx, url, stream.WithoutWAL(), stream.WithMaxAge(10*time.Millisecond))
	if err != nil {
		return res, err
	}
	for i := range perCustomer {
		for _, cu := range customers {
			if err := p.Put(ctx, stream.Record{ID: cu + "-" + strconv.Itoa(i), Key: []byte(cu), Value: []byte(strconv.Itoa(i))}); err != nil {
				p.Close(ctx)
				return res, err
			}
		}
	}
	if err := p.Close(ctx); err != nil {
		return res, err
	}
	p.Stream().Close()

	var (
		mu      sync.Mutex
		running int
		done    int
	)
	total := len(customers) * perCustomer
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	began := time.Now()
	c, err := stream.OpenConsumer(ctx, url,
		func(ctx context.Context, r *stream.Record) error {
			seq, _ := strconv.Atoi(string(r.Value))
			mu.Lock()
			running++
			res.maxParallel = max(res.maxParallel, running)
			res.perKey[string(r.Key)] = append(res.perKey[string(r.Key)], seq)
			mu.Unlock()
			time.Sleep(time.Duration(10+rand.IntN(30)) * time.Millisecond) // the work
			mu.Lock()
			running--
			done++
			if done == total {
				stop()
			}
			mu.Unlock()
			return nil
		},
		stream.WithCheckpointStore(checkpoint.NewMemoryStore()),
		stream.WithOnExhausted(stream.Halt),
		stream.WithBatchSize(total),
		stream.WithConcurrency(8),
		stream.WithOrderKey(func(r *stream.Record) string { return string(r.Key) }),
		stream.WithPollInterval(20*time.Millisecond))
	if err != nil {
		return res, err
	}
	defer c.Close()
	if err := c.Run(runCtx); err != nil {
		return res, err
	}
	res.elapsed = time.Since(began)
	for _, cu := range customers {
		fmt.Fprintf(out, "%-6s handled in order: %v\n", cu, res.perKey[cu])
	}
	fmt.Fprintf(out, "%d records, up to %d at once, in %.2f sec\n", total, res.maxParallel, res.elapsed.Seconds())
	return res, nil
}
