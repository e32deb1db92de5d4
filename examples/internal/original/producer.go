// Package original holds the two examples of the Python original, its
// producer and its consumer, written once for every backend: the
// kafka-producer, kafka-consumer, kinesis-producer and kinesis-consumer
// commands run them on their embedded broker (or on $UNISTREAM_STREAM).
//
// Produce puts records one by one through the crash-safe producer (a
// write-ahead log on disk, batches of 3) while the "network" fails sends
// at random, so the producer holds with exponential backoff and re-sends
// the same batch, in order, until it succeeds. Consume writes records and
// consumes them with a handler that fails at random: retries with backoff,
// a dead-letter file for records out of attempts, and a checkpoint
// directory.
package original

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/unistream-go/unistream/examples/internal/broker"
	"github.com/unistream-go/unistream/stream"
)

// flaky returns a write hook that fails each write with chance rate, as
// a bad network would.
func flaky(rnd *rand.Rand, rate float64) stream.WriteHook {
	var mu sync.Mutex
	return func(context.Context, []stream.Record) error {
		mu.Lock()
		fail := rnd.Float64() < rate
		mu.Unlock()
		if fail {
			return errors.New("randomly failed due to send error")
		}
		return nil
	}
}

// Produce puts records on the embedded backend ("kafka", "kinesis" or "pulsar"),
// failing each send with chance failRate drawn from rnd, and prints what
// the producer does to out.
func Produce(ctx context.Context, out io.Writer, backend string, records int, failRate float64, rnd *rand.Rand) error {
	url, stopBroker, err := broker.Embedded(backend, "orders", 1)
	if err != nil {
		return err
	}
	defer stopBroker()
	s, err := stream.Open(ctx, url)
	if err != nil {
		return err
	}
	defer s.Close()
	dir, err := os.MkdirTemp("", "unistream-producer-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	// The values have their own generator: rnd belongs to the flaky
	// stream, used from the producer's goroutine.
	vals := rand.New(rand.NewPCG(rnd.Uint64(), rnd.Uint64()))
	var mu sync.Mutex
	say := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(out, format+"\n", args...)
	}
	p, err := stream.NewProducer(s.WithWriteHook(flaky(rnd, failRate)),
		stream.WithWAL(filepath.Join(dir, "orders.wal")),
		stream.WithMaxRecords(3),
		stream.WithMaxAge(time.Minute), // batches by count here; Close sends the rest
		stream.WithSendRetry(stream.RetryPolicy{Initial: 50 * time.Millisecond, Multiplier: 2, MaxInterval: time.Second}),
		stream.WithObserver(stream.ObserverFunc(func(e stream.Event) {
			switch e.Kind {
			case stream.EventProducerEmit:
				ids := make([]string, len(e.Records))
				for i, r := range e.Records {
					ids[i] = "'" + r.ID + "'"
				}
				say("📤 📤 send records: [%s]", strings.Join(ids, ", "))
			case stream.EventProducerSent:
				say("📤 🟢 succeeded")
			case stream.EventProducerFailed:
				say("📤 🔴 failed, error: %v", e.Err)
			case stream.EventProducerHold:
				say("📤 🚫 on hold for %s due to exponential backoff", e.Delay.Round(time.Millisecond))
			}
		})))
	if err != nil {
		return err
	}
	for i := 1; i <= records; i++ {
		v, _ := json.Marshal(map[string]any{"id": strconv.Itoa(i), "create_at": time.Now().UTC().Format(time.RFC3339Nano), "value": 1 + vals.IntN(100)})
		say("📤 record = %s", v)
		if err := p.Put(ctx, stream.Record{ID: strconv.Itoa(i), Value: v}); err != nil {
			p.Close(context.WithoutCancel(ctx))
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := p.Close(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	st := p.Stats()
	say("done: %d records sent to %s in %d batches, %d failed sends re-sent", st.Sent, s.Name(), st.Batches, st.FailedAttempts)
	return nil
}
