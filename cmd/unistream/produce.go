package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/unistream-go/unistream/config"
	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/dlq"
	"github.com/unistream-go/unistream/stream/otelstream"
)

type produceOptions struct {
	file     string
	format   string
	key      string
	keyField string
	idField  string
	maxLine  int
}

func newProduceCmd(g *globals) *cobra.Command {
	var (
		b bindings
		o produceOptions
	)
	cmd := &cobra.Command{
		Use:   "produce [STREAM-URL]",
		Short: "Send records read from standard input or a file, one per line",
		Long: `produce reads records, one per line, from standard input (or --file) and
sends them through the producer engine: batched by count, bytes and age,
retried with backoff, and kept in a write-ahead log when producer.wal (or
--wal) is set. The next produce on the same WAL sends what a crash left
unsent in it. What a crash may lose of the records read and not yet sent
depends on --fsync: with always, nothing; with batch (the default), the
records read since the WAL's last sync, about one batch (--max-records, or
--max-age) at most, never a record already sent; with an interval such as
100ms, a crash of the process loses the records not yet written to the
WAL, and a crash of the machine also about the last interval of records
written. Without --wal a crash loses every record not yet sent.

A record the stream refuses for good (too large, not authorized, a topic
that does not exist), or whose sends failed producer.retry.max_attempts
times, is written to the --dlq sink (producer.dlq) with the reason, the
error and the attempts; without one it is dropped, said on standard error,
and produce exits non-zero. The records after it go on.

A crash during a WAL write leaves a torn last record. produce cuts it
(it was never synced) and says on standard error what it cut: the file,
the offset, the bytes and the records. With --wal-strict it does not
repair: it exits non-zero and leaves the file untouched.

--format lines sends each line as it is; --format json checks that each
line is a JSON value, and --key-field / --id-field take the record's key
and id from a top-level field of a JSON object. --key gives every record
the same key. Empty lines are skipped.

With --otlp-endpoint, each record is put in a span of its own, create
<stream> (a child of the span in TRACEPARENT, if set), whose trace the
record carries in its headers to consume's spans.

Ctrl-C stops reading, sends what was read and exits 0; a second Ctrl-C
exits at once (records in the WAL are sent by the next producer on it).`,
		Example: `  seq 1 100 | unistream produce kafka://127.0.0.1:9092/orders
  unistream produce kafka://127.0.0.1:9092/orders --file orders.jsonl --format json --key-field customer --id-field id`,
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
			return runProduce(cmd.Context(), g, cfg, o, cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	b.bind(fs, "connect-timeout", "connect_timeout", "bound on connecting to the broker")
	b.bind(fs, "wal", "producer.wal", "write-ahead log file")
	b.bind(fs, "wal-strict", "producer.wal_strict", "exit with an error instead of cutting a torn WAL tail")
	b.bind(fs, "fsync", "producer.fsync", "when the WAL is synced")
	b.bind(fs, "max-records", "producer.max_records", "records per batch")
	b.bind(fs, "max-bytes", "producer.max_bytes", "bytes per batch")
	b.bind(fs, "max-age", "producer.max_age", "longest wait of a record for its batch")
	b.bind(fs, "retry-initial", "producer.retry.initial", "wait after the first failed send")
	b.bind(fs, "retry-max", "producer.retry.max_interval", "longest wait after failed sends")
	b.bind(fs, "dlq", "producer.dlq", "dead-letter queue URL for the records the stream refuses for good")
	fs.StringVarP(&o.file, "file", "f", "", "read records from this file instead of standard input")
	fs.StringVar(&o.format, "format", "lines", "input format: lines or json (one JSON value per line)")
	fs.StringVar(&o.key, "key", "", "the key of every record")
	fs.StringVar(&o.keyField, "key-field", "", "with --format json: take the key from this top-level field")
	fs.StringVar(&o.idField, "id-field", "", "with --format json: take the record id from this top-level field")
	fs.IntVar(&o.maxLine, "max-line-bytes", 1<<20, "the longest input line accepted")
	bindTelemetry(fs, &b)
	return cmd
}

func runProduce(ctx context.Context, g *globals, cfg *config.Config, o produceOptions, stdin io.Reader, stdout, stderr io.Writer) error {
	if err := checkProduceOptions(cfg, o); err != nil {
		return err
	}
	tel, err := startTelemetry(ctx, cfg, cfg.Stream, stderr)
	if err != nil {
		return err
	}
	defer tel.Close() // after the producer's Close: its last sends are counted
	obs, err := tel.observer("")
	if err != nil {
		return err
	}
	in := stdin
	name := "standard input"
	if o.file != "" {
		f, err := os.Open(o.file)
		if err != nil {
			return err
		}
		defer f.Close()
		in, name = f, o.file
	}
	popts, err := cfg.ProducerOptions()
	if err != nil {
		return &usageError{err}
	}
	s, err := openStream(ctx, cfg, cfg.Stream)
	if err != nil {
		return err
	}
	defer s.Close()

	if cfg.Producer.DLQ != "" {
		octx, cancel := context.WithTimeout(ctx, connectTimeout(cfg))
		sink, err := dlq.Open(octx, cfg.Producer.DLQ)
		cancel()
		if err != nil {
			return fmt.Errorf("open the producer DLQ %s: %w", cfg.Producer.DLQ, err)
		}
		defer sink.Close()
		popts = append(popts, stream.WithProducerDLQ(sink))
	}

	var sent, failed atomic.Int64
	popts = append(popts, stream.WithObserver(fanOut(obs, produceObserver(g.verbose, stderr, &sent, &failed))))
	if l := g.engineLogger(stderr); l != nil {
		popts = append(popts, l)
	}
	if tp := tel.tracePut(s); tp != nil {
		popts = append(popts, tp)
	}
	p, err := stream.NewProducer(s, popts...)
	if err != nil {
		var oe *stream.OptionError
		if errors.As(err, &oe) {
			return &usageError{err}
		}
		return err // the WAL: corrupt, torn with --wal-strict, in use
	}
	if o, ok := obs.(*otelstream.Observer); ok {
		defer o.WatchProducer(p)() // the buffer gauges, until after p.Close
	}
	start := time.Now()
	var read int64
	prog := newProgress(stderr, "produce", func() string {
		return fmt.Sprintf("read %d, sent %d, failed sends %d", read, sent.Load(), failed.Load())
	})
	readErr := readProduceInput(ctx, tel.createSpans(s.Name(), p.Put), in, name, o, &read, prog)
	// Send what was read, also after a bad line or Ctrl-C.
	closeErr := p.Close(context.WithoutCancel(ctx))
	prog.done()
	writeProduceSummary(stdout, g.json(), s.Name(), read, p.Stats(), time.Since(start))
	return errors.Join(readErr, closeErr)
}

// checkProduceOptions checks the stream and the flags of produce.
func checkProduceOptions(cfg *config.Config, o produceOptions) error {
	if cfg.Stream == "" {
		return need("stream", "")
	}
	if o.format != "lines" && o.format != "json" {
		return &usageError{fmt.Errorf("--format %q: expected lines or json", o.format)}
	}
	if (o.keyField != "" || o.idField != "") && o.format != "json" {
		return &usageError{errors.New("--key-field and --id-field need --format json")}
	}
	if o.key != "" && o.keyField != "" {
		return &usageError{errors.New("--key and --key-field: expected one of them")}
	}
	if o.maxLine < 1 {
		return &usageError{fmt.Errorf("--max-line-bytes %d: expected at least 1", o.maxLine)}
	}
	return nil
}

// produceObserver counts the records the producer sent and failed to send
// in sent and failed, and reports its events on stderr: failed sends and
// holds with verbose, a repaired WAL and a WAL replay always.
func produceObserver(verbose bool, stderr io.Writer, sent, failed *atomic.Int64) stream.Observer {
	return stream.ObserverFunc(func(e stream.Event) {
		switch e.Kind {
		case stream.EventProducerSent:
			sent.Add(int64(e.Count))
		case stream.EventProducerFailed:
			failed.Add(int64(e.Count))
			if verbose {
				fmt.Fprintf(stderr, "📤 🔴 send of %d records failed: %v\n", e.Count, e.Err)
			}
		case stream.EventProducerHold:
			if verbose {
				fmt.Fprintf(stderr, "📤 🚫 on hold for %s\n", e.Delay.Round(time.Millisecond))
			}
		case stream.EventProducerDropped:
			fmt.Fprintf(stderr, "unistream: %d record(s) refused for good by the stream and dropped: %v\n", e.Count, e.Err)
		case stream.EventProducerReplayed:
			if e.Err != nil { // the WAL's torn tail was cut
				fmt.Fprintf(stderr, "unistream: warning: repaired the WAL: %v (--wal-strict refuses to repair)\n", e.Err)
			}
			if e.Count > 0 {
				fmt.Fprintf(stderr, "unistream: re-sending %d records left unsent in the WAL by an earlier run\n", e.Count)
			}
		}
	})
}

// readProduceInput puts a record with put for each non-empty line of in (named
// name in errors), counting them in read, until the input ends, a line is
// bad or ctx is done (Ctrl-C: not an error).
func readProduceInput(ctx context.Context, put putFunc, in io.Reader, name string, o produceOptions, read *int64, prog *progress) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64<<10), o.maxLine)
	line := 0
	for sc.Scan() {
		line++
		if ctx.Err() != nil {
			return nil // Ctrl-C: stop reading, send what was read
		}
		text := bytes.TrimRight(sc.Bytes(), "\r")
		if len(bytes.TrimSpace(text)) == 0 {
			continue
		}
		rec, err := parseInput(text, o)
		if err != nil {
			return fmt.Errorf("%s line %d: %w", name, line, err)
		}
		if err := put(ctx, rec); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("%s line %d: %w", name, line, err)
		}
		*read++
		prog.tick()
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("%s line %d: longer than --max-line-bytes %d", name, line+1, o.maxLine)
		}
		return fmt.Errorf("read %s: %w", name, err)
	}
	return nil
}

// writeProduceSummary prints the summary line of produce, as JSON with asJSON.
func writeProduceSummary(w io.Writer, asJSON bool, streamName string, read int64, st stream.ProducerStats, elapsed time.Duration) {
	if asJSON {
		writeJSON(w, map[string]any{"event": "summary", "read": read, "sent": st.Sent, "failed_sends": st.FailedAttempts, "replayed": st.Replayed, "elapsed_sec": elapsed.Seconds()})
	} else {
		fmt.Fprintf(w, "produced %d records to %s (sent %d, failed sends %d, replayed from the WAL %d) in %.2f sec\n",
			read, streamName, st.Sent, st.FailedAttempts, st.Replayed, elapsed.Seconds())
	}
}

// parseInput makes a record from one input line.
func parseInput(line []byte, o produceOptions) (stream.Record, error) {
	rec := stream.Record{Value: bytes.Clone(line)}
	if o.key != "" {
		rec.Key = []byte(o.key)
	}
	if o.format != "json" {
		return rec, nil
	}
	if !json.Valid(line) {
		return rec, errors.New("not a JSON value (--format json expects one JSON value per line)")
	}
	if o.keyField == "" && o.idField == "" {
		return rec, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(line, &obj); err != nil {
		return rec, errors.New("not a JSON object: --key-field and --id-field need one object per line")
	}
	field := func(name string) ([]byte, error) {
		raw, ok := obj[name]
		if !ok {
			return nil, fmt.Errorf("no field %q", name)
		}
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return []byte(s), nil
		}
		if raw[0] == '{' || raw[0] == '[' || string(raw) == "null" {
			return nil, fmt.Errorf("field %q is %s: expected a string or a number", name, raw)
		}
		return raw, nil // a number or a boolean, as written
	}
	if o.keyField != "" {
		k, err := field(o.keyField)
		if err != nil {
			return rec, fmt.Errorf("--key-field: %w", err)
		}
		rec.Key = k
	}
	if o.idField != "" {
		id, err := field(o.idField)
		if err != nil {
			return rec, fmt.Errorf("--id-field: %w", err)
		}
		if len(id) == 0 {
			return rec, fmt.Errorf("--id-field: field %q is empty", o.idField)
		}
		rec.ID = string(id)
	}
	return rec, nil
}

// progress prints a line about a long run to w: redrawn in place on a
// terminal, every 5 seconds otherwise.
type progress struct {
	w      io.Writer
	what   string
	status func() string
	live   bool
	last   time.Time
	shown  bool
}

func newProgress(w io.Writer, what string, status func() string) *progress {
	return &progress{w: w, what: what, status: status, live: isTerminal(w), last: time.Now()}
}

func (p *progress) tick() {
	every := 5 * time.Second
	if p.live {
		every = 200 * time.Millisecond
	}
	if time.Since(p.last) < every {
		return
	}
	p.last = time.Now()
	p.shown = true
	if p.live {
		fmt.Fprintf(p.w, "\r\x1b[K%s: %s", p.what, p.status())
		return
	}
	fmt.Fprintf(p.w, "%s: %s\n", p.what, p.status())
}

func (p *progress) done() {
	if p.live && p.shown {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
}
