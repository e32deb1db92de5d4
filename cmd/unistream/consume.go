package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.opentelemetry.io/otel/propagation"

	"github.com/unistream-go/unistream/config"
	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
)

// bindConsumer adds the flags of the consumer options.
func bindConsumer(fs *pflag.FlagSet, b *bindings) {
	b.bind(fs, "checkpoint", "checkpoint", "checkpoint store URL")
	b.bind(fs, "dlq", "dlq", "dead-letter queue URL")
	b.bind(fs, "connect-timeout", "connect_timeout", "bound on connecting to the broker")
	b.bind(fs, "name", "consumer.name", "consumer name")
	b.bind(fs, "batch-size", "consumer.batch_size", "records per batch")
	b.bind(fs, "poll-interval", "consumer.poll_interval", "wait after an empty fetch")
	b.bind(fs, "concurrency", "consumer.concurrency", "records of a batch run in parallel")
	b.bind(fs, "commit-records", "consumer.commit_records", "commit after this many final records (0: each batch; 1: save around every attempt)")
	b.bind(fs, "commit-interval", "consumer.commit_interval", "commit at least this often (default 1s)")
	b.bind(fs, "order-key", "consumer.order_key", "keep one key's records sequential with concurrency")
	b.bind(fs, "on-exhausted", "consumer.on_exhausted", "what to do with a record out of attempts")
	b.bind(fs, "start", "consumer.start", "where a partition without a checkpoint starts")
	b.bind(fs, "partitions", "consumer.partitions", "consume only these partitions (comma-separated)")
	b.bind(fs, "drain-timeout", "consumer.drain_timeout", "bound on finishing in-flight records at Ctrl-C")
	b.bind(fs, "attempt-timeout", "consumer.attempt_timeout", "bound on one attempt")
	b.bind(fs, "max-attempts", "consumer.retry.max_attempts", "attempts per record")
	b.bind(fs, "retry-initial", "consumer.retry.initial", "wait before the first retry")
	b.bind(fs, "retry-max", "consumer.retry.max_interval", "longest wait between attempts")
	b.bind(fs, "retry-multiplier", "consumer.retry.multiplier", "growth of the wait per retry")
	b.bind(fs, "retry-jitter", "consumer.retry.jitter", "full jitter on waits")
	bindSharing(fs, b)
}

type consumeOptions struct {
	exec          string
	permanentCode int
	skipCode      int
	maxRecords    int
}

func newConsumeCmd(g *globals) *cobra.Command {
	var (
		b bindings
		o consumeOptions
	)
	cmd := &cobra.Command{
		Use:   "consume [STREAM-URL]",
		Short: "Consume a stream with checkpoints, retries and a DLQ; print records or run a command per record",
		Long: `consume reads every partition of the stream from its checkpoint and hands
each record to a handler, with the engine's retries, DLQ (or halt) and
checkpoints.

Without --exec the handler prints each record's value on standard output
(with --output json, a JSON object per record) and progress goes to
standard error. With --exec CMD, CMD runs through sh -c once per attempt
with the record's value on its standard input and UNISTREAM_RECORD_ID,
UNISTREAM_RECORD_KEY, UNISTREAM_STREAM, UNISTREAM_PARTITION and
UNISTREAM_POINTER in its environment: exit status 0 is success, any other
is a failure to retry, --permanent-exit-code sends the record to the DLQ at
once and --skip-exit-code drops it deliberately. CMD's output goes to
standard error; progress goes to standard output. With --otlp-endpoint,
each attempt runs in a span, child of the record's trace, and CMD gets
its W3C Trace Context in TRACEPARENT (and TRACESTATE).

Each attempt's CMD runs in its own process group, and the attempt owns it:
when CMD exits, when --attempt-timeout passes, or when a stop's drain
timeout passes, whatever is left in the group is killed (SIGKILL). On
Linux the shell is also killed when consume itself dies, even by kill -9;
its own children are not, so a long-running CMD should exec its last
command (sh -c 'exec ./bill'), which then is the shell.

Several consume processes share one stream, each partition read by one of
them at a time, in one of two ways; both need a checkpoint store every
process reaches (file:///DIR on a shared directory, dynamodb://TABLE,
redis://HOST:PORT/DB or postgres://USER@HOST/DB?table=NAME):
  --group NAME  the backend's consumer group assigns the partitions (a Kafka
                consumer group, a Pulsar Failover subscription); the consumer
                name defaults to NAME. Kinesis has no groups: use --leases.
  --leases      the processes share the partitions through leases kept in
                the checkpoint store, on any backend. Each renews its leases
                every --lease-renew-interval; a process that dies leaves its
                partitions to the others after --lease-duration (default
                10s). --worker-id names the process in its leases (default:
                HOSTNAME-PID-RANDOM). Lease changes are logged on standard
                error.
A partition moves after its checkpoint is saved: records may be handled
twice around a move (at least once), none is lost.

Ctrl-C stops gracefully: no new fetches, in-flight records finish (bounded
by the drain timeout), the checkpoint is saved, exit status 0. A second
Ctrl-C exits at once. With --group or --leases, the other processes take
the partitions over at once.`,
		Example: `  unistream consume kafka://127.0.0.1:9092/orders --checkpoint file:///tmp/cp --dlq file:///tmp/orders.dlq.jsonl
  unistream consume --config billing.yaml --exec './charge.sh' --permanent-exit-code 3 --max-attempts 5
  unistream consume "kinesis://orders?region=eu-west-1" --checkpoint "dynamodb://billing-cp?region=eu-west-1" --leases --exec ./bill.sh   # on each of several hosts
  unistream consume kafka://127.0.0.1:9092/orders --checkpoint file:///shared/cp --group billing --exec ./bill.sh
  unistream consume kafka://127.0.0.1:9092/orders --checkpoint "redis://:$REDIS_PASSWORD@cache:6379/0?prefix=billing:" --leases --exec ./bill.sh`,
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
			return runConsume(cmd.Context(), g, cfg, o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	bindConsumer(fs, &b)
	fs.StringVar(&o.exec, "exec", "", "run this shell command per record attempt, the record's value on its stdin")
	fs.IntVar(&o.permanentCode, "permanent-exit-code", 0, "an --exec exit status that means a permanent failure: the record goes to the DLQ without retries (0: none)")
	fs.IntVar(&o.skipCode, "skip-exit-code", 0, "an --exec exit status that means skip the record deliberately (0: none)")
	fs.IntVar(&o.maxRecords, "max-records", 0, "stop gracefully after this many records reach an outcome (0: run until Ctrl-C)")
	bindTelemetry(fs, &b)
	return cmd
}

func runConsume(ctx context.Context, g *globals, cfg *config.Config, o consumeOptions, stdout, stderr io.Writer) error {
	if cfg.Stream == "" {
		return need("stream", "")
	}
	if o.maxRecords < 0 {
		return &usageError{fmt.Errorf("--max-records %d: expected 0 or more", o.maxRecords)}
	}
	for _, c := range []struct {
		name string
		v    int
	}{{"--permanent-exit-code", o.permanentCode}, {"--skip-exit-code", o.skipCode}} {
		if c.v < 0 || c.v > 255 {
			return &usageError{fmt.Errorf("%s %d: expected an exit status from 1 to 255 (0: none)", c.name, c.v)}
		}
		if c.v != 0 && o.exec == "" {
			return &usageError{fmt.Errorf("%s needs --exec", c.name)}
		}
	}
	if o.permanentCode != 0 && o.permanentCode == o.skipCode {
		return &usageError{fmt.Errorf("--permanent-exit-code and --skip-exit-code are both %d: expected different codes", o.skipCode)}
	}
	opts, err := cfg.ConsumerOptions()
	if err != nil {
		return &usageError{err}
	}
	if err := checkSharedStore(cfg); err != nil {
		return err
	}
	if cfg.DLQ == "" && cfg.Consumer.OnExhausted != "halt" {
		return &usageError{fmt.Errorf("no dlq given: records that exhaust their attempts need one: set --dlq (such as file:///tmp/orders.dlq.jsonl), %s or dlq in the --config file; or choose --on-exhausted halt", envOf("dlq"))}
	}
	report := stderr // progress; records go to stdout
	if o.exec != "" {
		report = stdout
	}
	tel, err := startTelemetry(ctx, cfg, cfg.Stream, stderr)
	if err != nil {
		return err
	}
	defer tel.Close() // after the consumer's Close: its last spans and counts are flushed
	if cfg.Checkpoint == "" {
		fmt.Fprintln(stderr, "unistream: no checkpoint store given: progress is kept in memory only and lost at exit (set --checkpoint file:///DIR)")
		cfg.Checkpoint = "mem://"
	}

	s, err := openStream(ctx, cfg, cfg.Stream)
	if err != nil {
		return err
	}
	defer s.Close()
	store, err := openStore(ctx, cfg, true)
	if err != nil {
		return err
	}
	defer checkpoint.CloseStore(store)
	opts = append(opts, stream.WithCheckpointStore(store))
	share, err := sharingOption(g, cfg, s, store, stderr)
	if err != nil {
		return err
	}
	if share != nil {
		opts = append(opts, share)
	}
	if cfg.DLQ != "" {
		sink, err := openSink(ctx, cfg)
		if err != nil {
			return err
		}
		defer sink.Close()
		opts = append(opts, stream.WithDLQ(sink))
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	mon := newMonitor(report, chooseDisplay(g, report), s)
	if o.maxRecords > 0 {
		mon.onFinal = func(total int) {
			if total >= o.maxRecords {
				cancel()
			}
		}
	}
	group := consumerGroupName(cfg.Consumer.Name, cfg.Consumer.Group)
	obs, err := tel.observer(group)
	if err != nil {
		mon.Close()
		return err
	}
	if th := tel.traceHandler(group); th != nil {
		opts = append(opts, th)
	}
	// The metrics first: when the display shows an outcome, a scrape
	// counts it.
	opts = append(opts, stream.WithObserver(fanOut(obs, mon)))
	if l := g.engineLogger(stderr); l != nil {
		opts = append(opts, l)
	}

	var h stream.Handler
	if o.exec != "" {
		h = execHandler(o, s, stderr)
	} else {
		h = printHandler(g, s, stdout)
	}
	c, err := stream.NewConsumer(s, h, opts...)
	if err != nil {
		mon.Close()
		return &usageError{err}
	}
	defer c.Close()
	err = c.Run(runCtx)
	mon.Close()
	if err != nil && !interrupted(runCtx, err) {
		return fmt.Errorf("consume %s: %w", s.Name(), err)
	}
	return nil
}

// printHandler writes each record to w.
func printHandler(g *globals, s *stream.Stream, w io.Writer) stream.Handler {
	var mu sync.Mutex
	return func(ctx context.Context, r *stream.Record) error {
		mu.Lock()
		defer mu.Unlock()
		var err error
		if g.json() {
			err = writeJSON(w, recordJSON(s, r))
		} else {
			_, err = fmt.Fprintf(w, "%s\n", r.Value)
		}
		if err != nil {
			// Standard output is gone (a closed pipe): nothing can be printed.
			return stream.Permanent(fmt.Errorf("write to standard output: %w", err))
		}
		return nil
	}
}

// recordJSON is the JSON form of a record: text as a string, other bytes
// in base64 under value_base64.
func recordJSON(s *stream.Stream, r *stream.Record) map[string]any {
	o := map[string]any{
		"id":        r.ID,
		"partition": r.Partition,
		"pointer":   s.FormatPointer(r.Partition, r.Pointer),
	}
	if !r.Time.IsZero() {
		o["time"] = r.Time.UTC().Format(time.RFC3339Nano)
	}
	put := func(name string, b []byte) {
		if b == nil {
			return
		}
		if utf8.Valid(b) {
			o[name] = string(b)
		} else {
			o[name+"_base64"] = base64.StdEncoding.EncodeToString(b)
		}
	}
	put("key", r.Key)
	put("value", r.Value)
	if len(r.Headers) > 0 {
		hs := map[string]string{}
		for _, h := range r.Headers {
			hs[h.Key] = string(h.Value)
		}
		o["headers"] = hs
	}
	return o
}

// execHandler runs o.exec per attempt.
func execHandler(o consumeOptions, s *stream.Stream, stderr io.Writer) stream.Handler {
	var outMu sync.Mutex
	return func(ctx context.Context, r *stream.Record) error {
		cmd := shellCommand(ctx, o.exec)
		cmd.Stdin = bytes.NewReader(r.Value)
		key := string(r.Key)
		if !utf8.Valid(r.Key) {
			key = base64.StdEncoding.EncodeToString(r.Key)
		}
		cmd.Env = append(os.Environ(),
			"UNISTREAM_RECORD_ID="+r.ID,
			"UNISTREAM_RECORD_KEY="+key,
			"UNISTREAM_STREAM="+s.Name(),
			"UNISTREAM_PARTITION="+r.Partition,
			"UNISTREAM_POINTER="+s.FormatPointer(r.Partition, r.Pointer))
		cmd.Env = append(cmd.Env, traceEnv(ctx)...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		cmd.WaitDelay = 2 * time.Second
		err := runCommand(cmd)
		if out.Len() > 0 {
			outMu.Lock()
			stderr.Write(out.Bytes())
			outMu.Unlock()
		}
		if err == nil {
			return nil
		}
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			if ctx.Err() != nil {
				return fmt.Errorf("--exec %q stopped: %w", o.exec, ctx.Err())
			}
			return fmt.Errorf("--exec %q: %w", o.exec, err)
		}
		code := ee.ExitCode()
		msg := lastLine(out.Bytes())
		ferr := fmt.Errorf("--exec exited with status %d%s", code, msg)
		if code == -1 {
			ferr = fmt.Errorf("--exec was killed (%v)%s", ee, msg)
		}
		switch {
		case o.permanentCode != 0 && code == o.permanentCode:
			return stream.Permanent(ferr)
		case o.skipCode != 0 && code == o.skipCode:
			return stream.Skip("--exec exited with status " + strconv.Itoa(code) + msg)
		}
		return ferr
	}
}

// traceEnv returns TRACEPARENT (and TRACESTATE, if any) holding the W3C
// Trace Context of ctx's span, the attempt's process span with
// --otlp-endpoint, for the --exec command: an OpenTelemetry SDK there that
// reads them makes its spans children of the attempt. Nothing without a
// span.
func traceEnv(ctx context.Context) []string {
	c := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, c)
	env := make([]string, 0, len(c))
	for _, k := range c.Keys() {
		env = append(env, strings.ToUpper(k)+"="+c[k])
	}
	slices.Sort(env)
	return env
}

// lastLine returns ": " and the last non-empty line of out (at most 200
// bytes), or "".
func lastLine(out []byte) string {
	lines := bytes.Split(bytes.TrimRight(out, "\r\n\t "), []byte("\n"))
	l := bytes.TrimSpace(lines[len(lines)-1])
	if len(l) == 0 {
		return ""
	}
	if len(l) > 200 {
		l = append(l[:200:200], "…"...)
	}
	return ": " + string(bytes.ToValidUTF8(l, []byte("�")))
}
