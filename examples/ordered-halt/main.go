// Command ordered-halt shows ordered mode: when records must be handled
// strictly in order (a ledger, a state machine), a record that exhausts its
// attempts halts its partition instead of going to a DLQ. The halt is
// durable (the checkpoint records it, so a restart does not skip the
// record), the other partitions go on, and an operator resumes the
// partition with `unistream checkpoint retry` or `checkpoint skip`, which
// this program does itself after the halt.
//
//	go run ./examples/ordered-halt
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"time"

	"github.com/unistream-go/unistream/examples/internal/broker"
	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	dir, err := os.MkdirTemp("", "ordered-halt-")
	if err == nil {
		defer os.RemoveAll(dir)
		_, err = run(ctx, os.Stdout, dir)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ordered-halt:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer, dir string) (order []string, err error) {
	url, stopBroker, err := broker.StreamURL("ledger", 1)
	if err != nil {
		return nil, err
	}
	defer stopBroker()
	p, err := stream.OpenProducer(ctx, url, stream.WithoutWAL(), stream.WithMaxAge(10*time.Millisecond))
	if err != nil {
		return nil, err
	}
	entries := []string{"open account", "deposit 100", "withdraw 30 (corrupt)", "deposit 5", "close month"}
	for i, e := range entries {
		if err := p.Put(ctx, stream.Record{ID: fmt.Sprintf("entry-%d", i+1), Key: []byte("account-1"), Value: []byte(e)}); err != nil {
			p.Close(ctx)
			return nil, err
		}
	}
	if err := p.Close(ctx); err != nil {
		return nil, err
	}
	p.Stream().Close()

	store, err := checkpoint.NewFileStore(filepath.Join(dir, "checkpoints"))
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	halted := make(chan stream.Event, 1)
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	c, err := stream.OpenConsumer(ctx, url,
		func(ctx context.Context, r *stream.Record) error {
			if string(r.Value) == "withdraw 30 (corrupt)" {
				return errors.New("the entry does not balance")
			}
			mu.Lock()
			order = append(order, string(r.Value))
			n := len(order)
			mu.Unlock()
			fmt.Fprintf(out, "✅ applied %q\n", r.Value)
			if n == len(entries)-1 {
				stop() // the rest is applied: stop gracefully
			}
			return nil
		},
		stream.WithName("ledger"),
		stream.WithCheckpointStore(store),
		stream.WithOnExhausted(stream.Halt),
		stream.WithRetry(stream.RetryPolicy{MaxAttempts: 2, Initial: 20 * time.Millisecond, Multiplier: 2, MaxInterval: 100 * time.Millisecond}),
		stream.WithPollInterval(20*time.Millisecond),
		stream.WithObserver(stream.ObserverFunc(func(e stream.Event) {
			switch e.Kind {
			case stream.EventAttemptFailed:
				fmt.Fprintf(out, "❌ %q attempt %d: %v\n", e.Record.Value, e.Attempt, e.Err)
			case stream.EventHalted:
				select {
				case halted <- stream.Event{Partition: e.Partition, Err: e.Err}:
				default:
				}
			}
		})))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	done := make(chan error, 1)
	go func() { done <- c.Run(runCtx) }() // owned by run: waited for below

	var h stream.Event
	select {
	case h = <-halted:
	case err := <-done:
		return order, fmt.Errorf("the consumer stopped before halting: %v", err)
	}
	key := checkpoint.Key{Consumer: "ledger", Stream: c.Stream().Name(), Partition: h.Partition}
	cp, err := store.Load(ctx, key)
	if err != nil {
		stop()
		<-done
		return order, err
	}
	rec := cp.Halted()
	fmt.Fprintf(out, "🛑 partition %s halted at %s after %d attempts: %s (nothing after it was applied)\n",
		h.Partition, c.Stream().FormatPointer(h.Partition, rec.Pointer), rec.Attempts, rec.LastError())

	// The operator's decision, as `unistream checkpoint skip` makes it.
	fmt.Fprintln(out, "👷 operator: skip the corrupt entry (it is booked by hand)")
	if err := cp.Skip(time.Now(), "booked by hand"); err != nil {
		stop()
		<-done
		return order, err
	}
	if err := store.Save(ctx, cp); err != nil {
		stop()
		<-done
		return order, err
	}
	if err := <-done; err != nil {
		return order, err
	}
	fmt.Fprintf(out, "applied in order: %q\n", order)
	return order, nil
}
