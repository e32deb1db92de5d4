package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/dlq"
)

type demoOptions struct {
	backend  string
	records  int
	seed     int64
	failRate float64
	sendFail float64
	dir      string
	keep     bool
}

func newDemoCmd(g *globals) *cobra.Command {
	o := demoOptions{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a producer and a consumer with random failures on an embedded backend",
		Long: `demo starts an embedded broker (Kafka by default: franz-go's kfake on
loopback, spoken to over real sockets), produces records through the
crash-safe producer (with random send failures, so you see it hold and
re-send), then consumes them with random handler failures: retries with
backoff, dead-lettering, a file checkpoint and a file DLQ in a temporary
directory. It ends with a summary.`,
		Example: `  unistream demo
  unistream demo --backend mem --records 40 --seed 7 --keep`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := g.check(); err != nil {
				return err
			}
			if _, err := lookupBackend(o.backend); err != nil {
				return &usageError{fmt.Errorf("demo --backend: %w", err)}
			}
			return runDemo(cmd.Context(), cmd.OutOrStdout(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.backend, "backend", "kafka", "embedded backend to run on: "+backendNames())
	f.IntVar(&o.records, "records", 20, "number of records to produce")
	f.Int64Var(&o.seed, "seed", 5, "random seed (0: from the clock); the same seed gives the same failures, and the default one shows retries, send failures and dead letters")
	f.Float64Var(&o.failRate, "fail-rate", 0.4, "chance that one handler attempt fails")
	f.Float64Var(&o.sendFail, "send-fail-rate", 0.3, "chance that one producer send fails")
	f.StringVar(&o.dir, "dir", "", "directory for the WAL, checkpoint and DLQ files (default: a new temporary one)")
	f.BoolVar(&o.keep, "keep", false, "keep the temporary directory")
	return cmd
}

// chance returns a deterministic number in [0,1) for (seed, parts...).
func chance(seed int64, parts ...string) float64 {
	h := fnv.New64a()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(seed))
	h.Write(b[:])
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	x := h.Sum64() // FNV mixes its high bits poorly: finish with splitmix64
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return float64(x>>11) / float64(1<<53)
}

// flakySends returns a write hook that fails each write with chance
// rate, the nth write the same way for a seed.
func flakySends(seed int64, rate float64) stream.WriteHook {
	var calls atomic.Int64
	return func(context.Context, []stream.Record) error {
		n := calls.Add(1)
		if chance(seed, "send", strconv.FormatInt(n, 10)) < rate {
			return errors.New("randomly failed due to send error")
		}
		return nil
	}
}

type demoValue struct {
	ID       string `json:"id"`
	CreateAt string `json:"create_at"`
	Value    int    `json:"value"`
}

func runDemo(ctx context.Context, out io.Writer, o demoOptions) error {
	backend, err := lookupBackend(o.backend)
	if err != nil {
		return fmt.Errorf("demo --backend: %w", err)
	}
	if o.records < 1 {
		return fmt.Errorf("demo --records %d: expected at least 1", o.records)
	}
	if o.failRate < 0 || o.failRate >= 1 || o.sendFail < 0 || o.sendFail >= 1 {
		return fmt.Errorf("demo --fail-rate and --send-fail-rate: expected numbers in [0, 1)")
	}
	if o.seed == 0 {
		o.seed = time.Now().UnixNano() % 1_000_000
	}
	dir := o.dir
	if dir == "" {
		d, err := os.MkdirTemp("", "unistream-demo-")
		if err != nil {
			return err
		}
		dir = d
		if !o.keep {
			defer os.RemoveAll(dir)
		}
	}
	start := time.Now()
	fmt.Fprintf(out, "unistream demo on %s (seed %d, files in %s)\n\n", o.backend, o.seed, dir)

	broker, err := backend.start(ctx, embedOptions{})
	if err != nil {
		return fmt.Errorf("demo: start the embedded %s broker: %w", o.backend, err)
	}
	defer broker.Close()
	name := fmt.Sprintf("demo-orders-%d", o.seed)
	ms, err := stream.Open(ctx, broker.URL(name, 1))
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer ms.Close()

	produced, prodStats, err := demoProduce(ctx, out, o, ms, dir)
	if err != nil {
		return err
	}
	fmt.Fprintln(out)
	res, err := demoConsume(ctx, out, o, ms, dir, produced)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\nsummary: produced %d (%d send failures, %d records re-sent), processed %d: %d succeeded, %d dead-lettered; %d retries; elapsed %.2f sec\n",
		produced, prodStats.failedSends, prodStats.resent, res.processed, res.succeeded, res.deadLettered, res.retries, time.Since(start).Seconds())
	if o.dir == "" && !o.keep {
		fmt.Fprintln(out, "the checkpoint, WAL and DLQ files were in a temporary directory, now removed: run with --keep to inspect them")
		return nil
	}
	fmt.Fprintf(out, "checkpoint: %s\ndead letters: %s\n", filepath.Join(dir, "checkpoints"), filepath.Join(dir, "dlq.jsonl"))
	return nil
}

type produceStats struct{ failedSends, resent int }

func demoProduce(ctx context.Context, out io.Writer, o demoOptions, ms *stream.Stream, dir string) (int, produceStats, error) {
	var (
		mu    sync.Mutex
		stats produceStats
	)
	line := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(out, format+"\n", args...)
	}
	obs := stream.ObserverFunc(func(e stream.Event) {
		switch e.Kind {
		case stream.EventProducerEmit:
			ids := make([]string, len(e.Records))
			for i := range e.Records {
				ids[i] = "'" + e.Records[i].ID + "'"
			}
			line("📤 📤 send records: [%s]", strings.Join(ids, ", "))
		case stream.EventProducerSent:
			line("📤 🟢 succeeded")
		case stream.EventProducerFailed:
			mu.Lock()
			stats.failedSends++
			stats.resent += e.Count
			mu.Unlock()
			line("📤 🔴 failed, error: %v", e.Err)
		case stream.EventProducerHold:
			line("📤 🚫 on hold for %s due to exponential backoff", e.Delay.Round(time.Millisecond))
		}
	})
	p, err := stream.NewProducer(ms.WithWriteHook(flakySends(o.seed, o.sendFail)),
		stream.WithWAL(filepath.Join(dir, "producer.wal")),
		stream.WithFsync(stream.FsyncPerBatch),
		stream.WithMaxRecords(3),
		stream.WithMaxAge(time.Second),
		stream.WithSendRetry(stream.RetryPolicy{Initial: 50 * time.Millisecond, Multiplier: 2, MaxInterval: 400 * time.Millisecond}),
		stream.WithObserver(obs))
	if err != nil {
		return 0, stats, err
	}
	line("+----- ⏱ 📤 Start 'put records' " + strings.Repeat("-", 46) + "+")
	base := time.Now().UTC()
	for i := 1; i <= o.records; i++ {
		v := demoValue{ID: strconv.Itoa(i), CreateAt: base.Add(time.Duration(i) * time.Second).Format(time.RFC3339Nano), Value: 1 + int(chance(o.seed, "value", strconv.Itoa(i))*100)}
		b, _ := json.Marshal(v)
		line("📤 record = %s", b)
		if err := p.Put(ctx, stream.Record{ID: v.ID, Key: []byte("demo"), Value: b, Time: base.Add(time.Duration(i) * time.Second)}); err != nil {
			p.Close(context.Background())
			return 0, stats, err
		}
		time.Sleep(20 * time.Millisecond)
	}
	t := time.Now()
	if err := p.Close(ctx); err != nil {
		return 0, stats, err
	}
	line("+----- ⏰ ✅ 📤 End 'put records', flushed in %.2f sec %s+", time.Since(t).Seconds(), strings.Repeat("-", 24))
	return o.records, stats, nil
}

// demoAttempts is the demo consumer's attempts per record.
const demoAttempts = 3

type consumeResult struct {
	processed, succeeded, deadLettered, retries int
}

func demoConsume(ctx context.Context, out io.Writer, o demoOptions, ms *stream.Stream, dir string, want int) (consumeResult, error) {
	var (
		mu    sync.Mutex
		res   consumeResult
		pulls int
	)
	store, err := checkpoint.NewFileStore(filepath.Join(dir, "checkpoints"))
	if err != nil {
		return res, err
	}
	sink, err := dlq.OpenFile(filepath.Join(dir, "dlq.jsonl"))
	if err != nil {
		return res, err
	}
	defer sink.Close()
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	obs := stream.ObserverFunc(func(e stream.Event) {
		mu.Lock()
		defer mu.Unlock()
		switch e.Kind {
		case stream.EventBatchFetched:
			pulls++
			fmt.Fprintf(out, "--- %d th pull ---\n", pulls)
			fmt.Fprintln(out, "+----- ⏱ ⏳ Start 'process batch' "+strings.Repeat("-", 46)+"+")
			fmt.Fprintln(out, "⏳")
		case stream.EventAttemptSucceeded:
			res.succeeded++
			res.processed++
			fmt.Fprintf(out, "✅ %s\n", e.Record.Value)
		case stream.EventAttemptFailed:
			if !e.Final { // Delay is the wait left, 0 if the handler outlasted the backoff
				res.retries++
				fmt.Fprintf(out, "❌ %s  (attempt %d: %v; retry in %s)\n", e.Record.Value, e.Attempt, e.Err, e.Delay.Round(time.Millisecond))
			} else {
				fmt.Fprintf(out, "❌ %s  (attempt %d: %v; no attempts left)\n", e.Record.Value, e.Attempt, e.Err)
			}
		case stream.EventDeadLettered:
			res.deadLettered++
			res.processed++
			fmt.Fprintf(out, "✅ DLQ: %s\n", e.Record.Value)
		case stream.EventHalted:
			fmt.Fprintf(out, "🛑 halted at %s: %v\n", e.Record.ID, e.Err)
		case stream.EventBatchDone:
			fmt.Fprintln(out, "⏳")
			fmt.Fprintf(out, "+----- ⏰ ✅ ⏳ End 'process batch', elapsed = %.2f sec %s+\n", e.Elapsed.Seconds(), strings.Repeat("-", 26))
			if res.processed >= want {
				cancel()
			}
		}
	})
	handler := func(ctx context.Context, r *stream.Record) error {
		mu.Lock()
		attempt := strconv.Itoa(res.retries) // varies per attempt, deterministic for a seed
		mu.Unlock()
		if chance(o.seed, "handle", r.ID, attempt) < o.failRate {
			return errors.New("randomly failed")
		}
		return nil
	}
	c, err := stream.NewConsumer(ms, handler,
		stream.WithName("demo"),
		stream.WithCheckpointStore(store),
		stream.WithDLQ(sink),
		stream.WithBatchSize(3),
		stream.WithPollInterval(100*time.Millisecond),
		stream.WithRetry(stream.RetryPolicy{MaxAttempts: demoAttempts, Initial: 100 * time.Millisecond, Multiplier: 2, MaxInterval: time.Second, Jitter: true}),
		stream.WithObserver(obs))
	if err != nil {
		return res, err
	}
	defer c.Close()
	if err := c.Run(runCtx); err != nil {
		return res, err
	}
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	return res, nil
}
