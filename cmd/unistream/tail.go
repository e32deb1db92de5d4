package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/unistream-go/unistream/config"
	"github.com/unistream-go/unistream/stream"
)

type tailOptions struct {
	from       string
	partitions []string
	max        int
	follow     bool
	poll       time.Duration
	idle       time.Duration
}

func newTailCmd(g *globals) *cobra.Command {
	var (
		b bindings
		o tailOptions
	)
	cmd := &cobra.Command{
		Use:   "tail [STREAM-URL]",
		Short: "Print a stream's records from a start position, read-only (no checkpoint)",
		Long: `tail reads every partition (or --partitions) from --from and prints the
records: the value per line, or a JSON object per record with --output json.
It keeps no checkpoint and runs no retries: it only looks.

--from is earliest, latest, an RFC 3339 time, or a pointer in its human
form (kafka:orders/3@1042) to start right after it. With --follow=false it
stops once every partition has given nothing new for --idle (the driver has
no end-of-partition marker for an open partition).`,
		Example: `  unistream tail kafka://127.0.0.1:9092/orders --from earliest -n 10
  unistream tail kafka://127.0.0.1:9092/orders --from 2026-01-02T15:00:00Z --output json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.load(cmd, &b)
			if err != nil {
				return err
			}
			if len(args) == 1 {
				if err := cfg.Set("stream", args[0], "argument STREAM-URL"); err != nil {
					return &usageError{err}
				}
			}
			return runTail(cmd.Context(), g, cfg, o, cmd.OutOrStdout())
		},
	}
	fs := cmd.Flags()
	b.bind(fs, "connect-timeout", "connect_timeout", "bound on connecting to the broker")
	fs.StringVar(&o.from, "from", "latest", "start position: earliest, latest, an RFC 3339 time or a pointer (kafka:orders/0@41)")
	fs.StringSliceVar(&o.partitions, "partitions", nil, "read only these partitions")
	fs.IntVarP(&o.max, "max", "n", 0, "stop after this many records (0: no limit)")
	fs.BoolVar(&o.follow, "follow", true, "keep waiting for new records; false stops each partition once it has given nothing new for --idle")
	fs.DurationVar(&o.idle, "idle", time.Second, "with --follow=false: how long a partition gives nothing new before it counts as read to its end")
	fs.DurationVar(&o.poll, "poll-interval", 200*time.Millisecond, "wait after an empty fetch")
	return cmd
}

func runTail(ctx context.Context, g *globals, cfg *config.Config, o tailOptions, stdout io.Writer) error {
	if cfg.Stream == "" {
		return need("stream", "")
	}
	if o.max < 0 || o.poll <= 0 || o.idle <= 0 {
		return &usageError{errors.New("--max must be ≥ 0, and --poll-interval and --idle positive")}
	}
	s, err := openStream(ctx, cfg, cfg.Stream)
	if err != nil {
		return err
	}
	defer s.Close()
	start, onlyPart, err := parseFrom(s, o.from)
	if err != nil {
		return &usageError{err}
	}
	ids, err := tailPartitions(ctx, cfg, s, o.partitions, onlyPart)
	if err != nil {
		return err
	}

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	t := &tailer{s: s, start: start, o: o, json: g.json(), stdout: stdout, stop: stop}
	var (
		wg   sync.WaitGroup
		errs = make([]error, len(ids))
	)
	for i, id := range ids {
		wg.Add(1)
		go func() { // owned by runTail: ends with runCtx or the partition's end
			defer wg.Done()
			errs[i] = t.partition(runCtx, id)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// tailPartitions lists the partitions tail reads: every partition of s,
// or those of --partitions, or the one of a --from pointer (onlyPart).
func tailPartitions(ctx context.Context, cfg *config.Config, s *stream.Stream, partitions []string, onlyPart string) ([]string, error) {
	pctx, cancel := context.WithTimeout(ctx, connectTimeout(cfg))
	parts, err := s.Partitions(pctx)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("tail %s: list partitions: %w", s.Name(), err)
	}
	want := map[string]bool{}
	for _, p := range partitions {
		want[p] = true
	}
	if onlyPart != "" {
		want = map[string]bool{onlyPart: true}
	}
	var ids []string
	for _, p := range parts {
		if len(want) == 0 || want[p.ID] {
			ids = append(ids, p.ID)
			delete(want, p.ID)
		}
	}
	if len(want) > 0 {
		var missing []string
		for p := range want {
			missing = append(missing, p)
		}
		return nil, &usageError{fmt.Errorf("tail %s: no partition %s (the stream has %d)", s.Name(), strings.Join(missing, ", "), len(parts))}
	}
	return ids, nil
}

// tailer prints the records of the partitions tail reads, each partition
// in its own goroutine, and stops them all (stop) after --max records.
type tailer struct {
	s      *stream.Stream
	start  stream.Start
	o      tailOptions
	json   bool
	stdout io.Writer
	stop   context.CancelFunc

	mu    sync.Mutex
	count int // records printed, guarded by mu
}

// partition reads one partition and prints its records until ctx ends,
// the partition ends, or (with --follow=false) it gives nothing new for
// --idle.
func (t *tailer) partition(ctx context.Context, id string) error {
	r, err := t.s.OpenReader(ctx, id, t.start)
	if err != nil {
		return fmt.Errorf("partition %s: %w", id, err)
	}
	defer r.Close()
	lastData := time.Now()
	for ctx.Err() == nil {
		recs, err := r.Fetch(ctx, 100)
		if errors.Is(err, stream.ErrPartitionFinished) {
			return nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("partition %s: %w", id, err)
		}
		if len(recs) == 0 {
			if !t.o.follow && time.Since(lastData) >= t.o.idle {
				return nil
			}
			select {
			case <-ctx.Done():
			case <-time.After(t.o.poll):
			}
			continue
		}
		lastData = time.Now()
		t.print(recs)
	}
	return nil
}

// print prints recs, as many as --max leaves, and stops the tail when
// --max is reached.
func (t *tailer) print(recs []stream.Record) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for j := range recs {
		if t.o.max > 0 && t.count >= t.o.max {
			break
		}
		if t.json {
			writeJSON(t.stdout, recordJSON(t.s, &recs[j]))
		} else {
			fmt.Fprintf(t.stdout, "%s\n", recs[j].Value)
		}
		t.count++
	}
	if t.o.max > 0 && t.count >= t.o.max {
		t.stop()
	}
}

// parseFrom reads --from; a pointer also names its partition.
func parseFrom(s *stream.Stream, from string) (stream.Start, string, error) {
	switch from {
	case "earliest":
		return stream.Earliest(), "", nil
	case "latest":
		return stream.Latest(), "", nil
	}
	if t, err := time.Parse(time.RFC3339Nano, from); err == nil {
		return stream.AtTime(t), "", nil
	}
	part, p, err := s.ParsePointer(from)
	if err != nil {
		return stream.Start{}, "", fmt.Errorf("--from %q: expected earliest, latest, an RFC 3339 time or a pointer of %s as consume --output json prints it, such as kafka:orders/0@41 (%w)",
			from, s, err)
	}
	return stream.After(p), part, nil
}
