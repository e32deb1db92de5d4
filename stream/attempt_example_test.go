package stream_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
	_ "github.com/unistream-go/unistream/stream/memstream" // registers mem://
)

// A handler reads which attempt of its record it runs with AttemptOf: a
// payment handler that finds its service busy asks for a retry, and on a
// retry, or after a crash interrupted an earlier attempt, first checks
// what that attempt may have done already. The number goes on across
// restarts: it is kept in the checkpoint.
func ExampleAttemptOf() {
	ctx := context.Background()
	s, err := stream.Open(ctx, "mem://example-payments")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	w, _ := s.OpenWriter(ctx)
	if _, err := w.Write(ctx, []stream.Record{{ID: "invoice-7", Key: []byte("alice"), Value: []byte("42.00")}}); err != nil {
		fmt.Println(err)
	}
	w.Close()

	runCtx, stop := context.WithCancel(ctx)
	handle := func(ctx context.Context, r *stream.Record) error {
		a, _ := stream.AttemptOf(ctx)
		fmt.Printf("%s: attempt %d, %d interrupted by a crash\n", r.ID, a.Number, a.Interrupted)
		if a.Number > 1 || a.Interrupted > 0 {
			fmt.Println("  retry: look the payment up before charging again")
		}
		if a.Number == 1 {
			return errors.New("payment service busy")
		}
		stop() // done: a graceful stop
		return nil
	}
	c, err := stream.NewConsumer(s, handle,
		stream.WithName("payments"), stream.WithCheckpointStore(checkpoint.NewMemoryStore()),
		stream.WithOnExhausted(stream.Halt), // no DLQ: a record out of attempts halts the partition
		stream.WithRetry(stream.RetryPolicy{MaxAttempts: 3, Initial: time.Millisecond, Multiplier: 2, MaxInterval: 10 * time.Millisecond}),
		stream.WithPollInterval(10*time.Millisecond))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	fmt.Println("run:", c.Run(runCtx))
	// Output:
	// invoice-7: attempt 1, 0 interrupted by a crash
	// invoice-7: attempt 2, 0 interrupted by a crash
	//   retry: look the payment up before charging again
	// run: <nil>
}
