// Command dlq-replay shows the dead-letter queue's round trip: a consumer
// dead-letters the records it cannot handle yet (here: orders in a
// currency it does not support), the envelopes keep everything needed to
// debug them (source pointer, attempts, errors), and once the handler is
// fixed the records are replayed into the stream, with their ids, and
// handled by the same consumer, which resumes from its checkpoint.
//
// The CLI does the replay step with `unistream dlq replay`, which also
// keeps a replay log so that a second replay sends nothing twice.
//
//	go run ./examples/dlq-replay
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/unistream-go/unistream/examples/internal/broker"
	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/dlq"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	dir, err := os.MkdirTemp("", "dlq-replay-")
	if err == nil {
		defer os.RemoveAll(dir)
		_, err = run(ctx, os.Stdout, dir)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "dlq-replay:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer, dir string) (handled []string, err error) {
	url, stopBroker, err := broker.StreamURL("payments", 1)
	if err != nil {
		return nil, err
	}
	defer stopBroker()
	s, err := stream.Open(ctx, url)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	orders := []string{"10 EUR", "20 USD", "5 CHF", "7 EUR", "3 CHF"}
	if err := put(ctx, s, orders, nil); err != nil {
		return nil, err
	}
	store, err := checkpoint.NewFileStore(filepath.Join(dir, "checkpoints"))
	if err != nil {
		return nil, err
	}
	dlqPath := filepath.Join(dir, "payments.dlq.jsonl")

	// consume runs the consumer until want records reached an outcome.
	var mu sync.Mutex
	consume := func(supported map[string]bool, want int) error {
		sink, err := dlq.OpenFile(dlqPath)
		if err != nil {
			return err
		}
		defer sink.Close()
		runCtx, stop := context.WithCancel(ctx)
		defer stop()
		n := 0
		final := func() {
			n++
			if n == want {
				stop()
			}
		}
		c, err := stream.NewConsumer(s, func(ctx context.Context, r *stream.Record) error {
			cur := string(r.Value[strings.LastIndexByte(string(r.Value), ' ')+1:])
			if !supported[cur] {
				return stream.Permanent(fmt.Errorf("currency %s is not supported", cur))
			}
			mu.Lock()
			handled = append(handled, string(r.Value))
			mu.Unlock()
			fmt.Fprintf(out, "✅ paid %s (%s)\n", r.Value, r.ID)
			return nil
		},
			stream.WithName("payments"), stream.WithCheckpointStore(store), stream.WithDLQ(sink),
			stream.WithPollInterval(20*time.Millisecond),
			stream.WithObserver(stream.ObserverFunc(func(e stream.Event) {
				switch e.Kind {
				case stream.EventDeadLettered:
					fmt.Fprintf(out, "✅ DLQ: %s (%s)\n", e.Record.Value, e.Record.ID)
					final()
				case stream.EventAttemptSucceeded:
					final()
				}
			})))
		if err != nil {
			return err
		}
		defer c.Close()
		return c.Run(runCtx)
	}

	fmt.Fprintln(out, "--- run 1: CHF is not supported yet")
	if err := consume(map[string]bool{"EUR": true, "USD": true}, len(orders)); err != nil {
		return handled, err
	}
	envs, err := dlq.ReadFile(dlqPath)
	if err != nil {
		return handled, err
	}
	for _, e := range envs {
		fmt.Fprintf(out, "envelope %s from %s: %s after %d attempt(s): %s\n", e.ID, e.Source.PointerText, e.Reason, e.Attempts, e.Errors[len(e.Errors)-1].Error)
	}

	fmt.Fprintf(out, "--- replay %d records into %s (what `unistream dlq replay` does)\n", len(envs), s.Name())
	if err := put(ctx, s, nil, envs); err != nil {
		return handled, err
	}
	fmt.Fprintln(out, "--- run 2: CHF supported; the consumer resumes from its checkpoint")
	if err := consume(map[string]bool{"EUR": true, "USD": true, "CHF": true}, len(envs)); err != nil {
		return handled, err
	}
	return handled, nil
}

// put writes values (with new ids) or the records of envelopes (with their
// original ids) to s.
func put(ctx context.Context, s *stream.Stream, values []string, envs []dlq.Envelope) error {
	w, err := s.OpenWriter(ctx)
	if err != nil {
		return err
	}
	defer w.Close()
	var recs []stream.Record
	for i, v := range values {
		recs = append(recs, stream.Record{ID: fmt.Sprintf("pay-%d", i+1), Value: []byte(v), Time: time.Now()})
	}
	for _, e := range envs {
		recs = append(recs, e.Record())
	}
	res, err := w.Write(ctx, recs)
	if err != nil {
		return err
	}
	for i, r := range res {
		if r.Err != nil {
			return fmt.Errorf("write %s: %w", recs[i].ID, r.Err)
		}
	}
	return nil
}
