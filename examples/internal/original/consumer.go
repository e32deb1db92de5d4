package original

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/unistream-go/unistream/examples/internal/broker"
	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/dlq"
)

// Outcome counts what Consume saw.
type Outcome struct{ Succeeded, DeadLettered, Retries int }

// Consume writes records to the embedded backend ("kafka", "kinesis" or "pulsar")
// and consumes them with a handler that fails each attempt with chance
// failRate drawn from rnd, keeping the checkpoint and the DLQ file in dir.
func Consume(ctx context.Context, out io.Writer, backend, dir string, records int, failRate float64, rnd *rand.Rand) (Outcome, error) {
	var res Outcome
	url, stopBroker, err := broker.Embedded(backend, "orders", 1)
	if err != nil {
		return res, err
	}
	defer stopBroker()

	// The records, as the producer example writes them.
	p, err := stream.OpenProducer(ctx, url, stream.WithoutWAL(), stream.WithMaxAge(10*time.Millisecond))
	if err != nil {
		return res, err
	}
	for i := 1; i <= records; i++ {
		v, _ := json.Marshal(map[string]any{"id": strconv.Itoa(i), "create_at": time.Now().UTC().Format(time.RFC3339Nano), "value": 1 + rnd.IntN(100)})
		if err := p.Put(ctx, stream.Record{ID: strconv.Itoa(i), Value: v}); err != nil {
			p.Close(ctx)
			return res, err
		}
	}
	if err := p.Close(ctx); err != nil {
		return res, err
	}
	p.Stream().Close()

	store, err := checkpoint.NewFileStore(filepath.Join(dir, "checkpoints"))
	if err != nil {
		return res, err
	}
	sink, err := dlq.OpenFile(filepath.Join(dir, "dlq.jsonl"))
	if err != nil {
		return res, err
	}
	defer sink.Close()

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var (
		mu    sync.Mutex
		pulls int
	)
	bar := strings.Repeat("-", 46)
	obs := stream.ObserverFunc(func(e stream.Event) {
		mu.Lock()
		defer mu.Unlock()
		switch e.Kind {
		case stream.EventBatchFetched:
			pulls++
			fmt.Fprintf(out, "--- %d th pull ---\n+----- ⏱ ⏳ Start 'process batch' %s+\n⏳\n", pulls, bar)
		case stream.EventAttemptSucceeded:
			res.Succeeded++
			fmt.Fprintf(out, "✅ %s\n", e.Record.Value)
		case stream.EventAttemptFailed:
			if !e.Final {
				res.Retries++
			}
			fmt.Fprintf(out, "❌ %s\n", e.Record.Value)
		case stream.EventDeadLettered:
			res.DeadLettered++
			fmt.Fprintf(out, "✅ DLQ: %s\n", e.Record.Value)
		case stream.EventBatchDone:
			fmt.Fprintf(out, "⏳\n+----- ⏰ ✅ ⏳ End 'process batch', elapsed = %.2f sec %s+\n", e.Elapsed.Seconds(), bar[:26])
			if res.Succeeded+res.DeadLettered >= records {
				stop() // everything is processed: stop gracefully
			}
		}
	})
	handler := func(ctx context.Context, r *stream.Record) error {
		mu.Lock()
		fail := rnd.Float64() < failRate
		mu.Unlock()
		if fail {
			return errors.New("randomly failed")
		}
		return nil
	}
	c, err := stream.OpenConsumer(ctx, url, handler,
		stream.WithName("example"),
		stream.WithCheckpointStore(store),
		stream.WithDLQ(sink),
		stream.WithBatchSize(3),
		stream.WithPollInterval(50*time.Millisecond),
		stream.WithRetry(stream.RetryPolicy{MaxAttempts: 3, Initial: 50 * time.Millisecond, Multiplier: 2, MaxInterval: 500 * time.Millisecond, Jitter: true}),
		stream.WithObserver(obs))
	if err != nil {
		return res, err
	}
	defer c.Close()
	if err := c.Run(runCtx); err != nil {
		return res, err
	}
	fmt.Fprintf(out, "\n%d succeeded, %d dead-lettered (see %s), %d retries\n", res.Succeeded, res.DeadLettered, filepath.Join(dir, "dlq.jsonl"), res.Retries)
	return res, nil
}
