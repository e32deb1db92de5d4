package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/unistream-go/unistream/config"
	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/dlq"
)

type dlqOptions struct {
	to        string
	replayLog string
	dryRun    bool
	force     bool
	limit     int
}

func newDLQCmd(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "dlq",
		Short: "Inspect and replay dead-lettered records: show, replay",
		Long: `dlq reads the dead-letter queue given by --dlq (or the config file): a
JSON-lines file (file:///PATH.jsonl) or a stream (kafka://…/orders.dlq).

  show    list the envelopes: number, id, source pointer, attempts, reason, last
          error; an envelope of a record dead-lettered before is marked
          "(duplicate of #N)"
  replay  send the original records back to their source stream (--stream or the
          config's stream) or to --to URL, each record once

A crash between the DLQ write and the checkpoint save can dead-letter a
record twice (at-least-once). Envelopes of one consumer with the same
source stream, partition and pointer hold the same record: show marks the
later ones, and replay skips them and says how many it skipped.

replay appends each replayed envelope's identity (consumer, source stream,
partition and pointer) to a replay log, PATH.replayed next to a DLQ file
(or --replay-log), after the stream acknowledged it; a second replay skips
what the log holds, so it does not duplicate. A crash between the send
and the log write can repeat those records once (at-least-once, as
everywhere in unistream; consumers de-duplicate by record id).`,
	}
	root.AddCommand(newDLQShowCmd(g), newDLQReplayCmd(g))
	return root
}

func newDLQShowCmd(g *globals) *cobra.Command {
	var (
		b bindings
		o dlqOptions
	)
	show := &cobra.Command{
		Use:   "show [DLQ-URL]",
		Short: "List the dead-lettered records",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := dlqConfig(g, cmd, &b, args)
			if err != nil {
				return err
			}
			return runDLQShow(cmd.Context(), g, cfg, o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	b.bind(show.Flags(), "dlq", "dlq", "dead-letter queue URL")
	b.bind(show.Flags(), "connect-timeout", "connect_timeout", "bound on connecting to the broker")
	show.Flags().StringVar(&o.replayLog, "replay-log", "", "the replay log (default: PATH.replayed next to a DLQ file)")
	show.Flags().IntVarP(&o.limit, "max", "n", 0, "show at most this many (0: all)")
	return show
}

func newDLQReplayCmd(g *globals) *cobra.Command {
	var (
		b bindings
		o dlqOptions
	)
	replay := &cobra.Command{
		Use:   "replay [DLQ-URL]",
		Short: "Send dead-lettered records back to their source stream, or --to URL, once",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := dlqConfig(g, cmd, &b, args)
			if err != nil {
				return err
			}
			return runReplay(cmd.Context(), g, cfg, o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	b.bind(replay.Flags(), "dlq", "dlq", "dead-letter queue URL")
	b.bind(replay.Flags(), "stream", "stream", "the source stream the envelopes go back to")
	b.bind(replay.Flags(), "connect-timeout", "connect_timeout", "bound on connecting to the broker")
	replay.Flags().StringVar(&o.to, "to", "", "send to this stream URL instead of the source stream")
	replay.Flags().StringVar(&o.replayLog, "replay-log", "", "the replay log (default: PATH.replayed next to a DLQ file; required for a stream DLQ)")
	replay.Flags().BoolVar(&o.dryRun, "dry-run", false, "list what would be replayed, send nothing")
	replay.Flags().BoolVar(&o.force, "force", false, "replay also what the replay log says was replayed")
	return replay
}

// runDLQShow lists the envelopes of the DLQ, marking duplicates and what
// the replay log says was replayed, then a summary.
func runDLQShow(ctx context.Context, g *globals, cfg *config.Config, o dlqOptions, stdout, stderr io.Writer) error {
	envs, warn, err := readDLQ(ctx, cfg)
	if err != nil {
		return err
	}
	w := stdout
	for _, m := range warn {
		fmt.Fprintln(stderr, "unistream: warning:", m)
	}
	replayed, _ := loadReplayLog(replayLogPath(cfg, o))
	dup := dlq.Duplicates(envs)
	dups := 0
	for _, d := range dup {
		if d >= 0 {
			dups++
		}
	}
	for i, e := range envs {
		if o.limit > 0 && i >= o.limit {
			break
		}
		done := replayed[identity(&e)]
		if g.json() {
			o := map[string]any{"n": i + 1, "envelope": e, "replayed": done}
			if dup[i] >= 0 {
				o["duplicate_of"] = dup[i] + 1
			}
			writeJSON(w, o)
			continue
		}
		writeEnvelopeText(w, i, &e, dup[i], done)
	}
	if g.json() {
		return writeJSON(w, map[string]any{"event": "summary", "envelopes": len(envs), "records": len(envs) - dups, "duplicates": dups})
	}
	fmt.Fprintf(w, "%d dead-lettered records in %s", len(envs)-dups, cfg.DLQ)
	if dups > 0 {
		fmt.Fprintf(w, " (%d envelopes: %d duplicates of an earlier envelope of the same record, which replay skips)", len(envs), dups)
	}
	fmt.Fprintln(w)
	return nil
}

// writeEnvelopeText prints envelope number i+1 as dlq show's text output;
// dupOf is the index of the envelope it duplicates, or negative.
func writeEnvelopeText(w io.Writer, i int, e *dlq.Envelope, dupOf int, done bool) {
	mark := ""
	if dupOf >= 0 {
		mark += fmt.Sprintf(" (duplicate of #%d)", dupOf+1)
	}
	if done {
		mark += " [replayed]"
	}
	reason := e.Reason
	if reason == "" { // an envelope of an earlier release
		reason = "no reason recorded"
	}
	last := ""
	if n := len(e.Errors); n > 0 {
		last = e.Errors[n-1].Error
	}
	fmt.Fprintf(w, "✅ DLQ #%d: %s from %s after %d attempts (%s) by %q at %s%s\n  last error: %s\n  value: %s\n",
		i+1, e.ID, e.Source.PointerText, e.Attempts, reason, e.Consumer, e.DeadLetteredAt.Format(time.RFC3339), mark, last, preview(e.Value))
}

func dlqConfig(g *globals, cmd *cobra.Command, b *bindings, args []string) (*config.Config, error) {
	cfg, err := g.load(cmd, b)
	if err != nil {
		return nil, err
	}
	if len(args) == 1 {
		if err := cfg.Set("dlq", args[0], "argument DLQ-URL"); err != nil {
			return nil, &usageError{err}
		}
	}
	if cfg.DLQ == "" {
		return nil, need("dlq", "dlq")
	}
	return cfg, nil
}

// readDLQ reads every envelope of the DLQ; torn lines of a file (a write
// cut short by a crash) come back as warnings.
func readDLQ(ctx context.Context, cfg *config.Config) ([]dlq.Envelope, []string, error) {
	if strings.HasPrefix(cfg.DLQ, "file:") {
		return readDLQFile(cfg.DLQ)
	}
	s, err := openStream(ctx, cfg, cfg.DLQ)
	if err != nil {
		return nil, nil, err
	}
	defer s.Close()
	parts, err := s.Partitions(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("dlq %s: list partitions: %w", s.Name(), err)
	}
	var out []dlq.Envelope
	for _, p := range parts {
		if out, err = readDLQPartition(ctx, s, p.ID, out); err != nil {
			return nil, nil, err
		}
	}
	return out, nil, nil
}

// readDLQFile reads the envelopes of the DLQ file at url; torn lines come
// back as warnings.
func readDLQFile(url string) ([]dlq.Envelope, []string, error) {
	path, err := dlq.FileURLPath(url)
	if err != nil {
		return nil, nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("dlq file: %w", err)
	}
	defer f.Close()
	r := dlq.NewFileReader(bufio.NewReader(f), path)
	var (
		out  []dlq.Envelope
		warn []string
	)
	for {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out, warn, nil
		}
		if errors.Is(err, dlq.ErrTornLine) {
			warn = append(warn, err.Error())
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		out = append(out, *e)
	}
}

// readDLQPartition appends the envelopes of one partition of the DLQ
// stream s to out.
func readDLQPartition(ctx context.Context, s *stream.Stream, partition string, out []dlq.Envelope) ([]dlq.Envelope, error) {
	r, err := s.OpenReader(ctx, partition, stream.Earliest())
	if err != nil {
		return nil, fmt.Errorf("dlq %s partition %s: %w", s.Name(), partition, err)
	}
	defer r.Close()
	lastData := time.Now()
	for {
		recs, err := r.Fetch(ctx, 500)
		if errors.Is(err, stream.ErrPartitionFinished) {
			return out, nil
		}
		if err == nil && len(recs) == 0 {
			// No end marker for an open partition: read until it has
			// given nothing new for a second.
			if time.Since(lastData) >= time.Second {
				return out, nil
			}
			if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
				return nil, err
			}
			continue
		}
		lastData = time.Now()
		if err != nil {
			return nil, fmt.Errorf("dlq %s partition %s: %w", s.Name(), partition, err)
		}
		for i := range recs {
			e, err := dlq.DecodeRecord(&recs[i])
			if err != nil {
				return nil, err
			}
			out = append(out, *e)
		}
	}
}

// identity names an envelope for the replay log: the consumer that gave
// up on it and the record's source position.
func identity(e *dlq.Envelope) string {
	return fmt.Sprintf("%s|%s|%s|%s|%s|%s", e.Consumer, e.Source.Scheme, e.Source.Stream, e.Source.Partition,
		base64.StdEncoding.EncodeToString(e.Source.Pointer), e.ID)
}

type replayEntry struct {
	Identity string    `json:"identity"`
	ID       string    `json:"id"`
	To       string    `json:"to"`
	Pointer  string    `json:"pointer,omitempty"`
	At       time.Time `json:"at"`
}

func replayLogPath(cfg *config.Config, o dlqOptions) string {
	if o.replayLog != "" {
		return o.replayLog
	}
	if p, err := dlq.FileURLPath(cfg.DLQ); err == nil {
		return p + ".replayed"
	}
	return ""
}

// loadReplayLog reads the identities of a replay log; a missing file is
// empty. A torn last line (a crash mid-write) is ignored; any other bad
// line is an error.
func loadReplayLog(path string) (map[string]bool, error) {
	done := map[string]bool{}
	if path == "" {
		return done, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return done, nil
	}
	if err != nil {
		return nil, fmt.Errorf("replay log: %w", err)
	}
	lines := strings.Split(string(data), "\n")
	for i, l := range lines {
		if l == "" {
			continue
		}
		var e replayEntry
		if err := json.Unmarshal([]byte(l), &e); err != nil || e.Identity == "" {
			if i == len(lines)-1 { // no newline: torn by a crash
				continue
			}
			return nil, fmt.Errorf("replay log %s line %d: expected a JSON object with an identity: %v", path, i+1, err)
		}
		done[e.Identity] = true
	}
	return done, nil
}

func runReplay(ctx context.Context, g *globals, cfg *config.Config, o dlqOptions, stdout, stderr io.Writer) error {
	logPath, target, err := replayTarget(cfg, o)
	if err != nil {
		return err
	}
	envs, warn, err := readDLQ(ctx, cfg)
	if err != nil {
		return err
	}
	for _, m := range warn {
		fmt.Fprintln(stderr, "unistream: warning:", m)
	}
	done, err := loadReplayLog(logPath)
	if err != nil {
		return err
	}
	s, err := openStream(ctx, cfg, target)
	if err != nil {
		return err
	}
	defer s.Close()
	p := planReplay(envs, done, o, s.Name(), g.verbose, stderr)
	if o.dryRun {
		for _, e := range p.todo {
			fmt.Fprintf(stdout, "would replay %s (%s) to %s\n", e.ID, e.Source.PointerText, s.Name())
		}
		fmt.Fprintf(stdout, "dry run: %d to replay, %d already replayed, %d from other streams, %d duplicates skipped\n", len(p.todo), p.already, p.other, p.dups)
		return nil
	}
	sent, failures, err := sendReplay(ctx, s, logPath, p.todo, g.verbose, stderr)
	if err != nil {
		return err
	}
	if g.json() {
		writeJSON(stdout, map[string]any{"event": "summary", "replayed": sent, "already_replayed": p.already, "other_streams": p.other, "duplicates_skipped": p.dups, "failed": len(failures), "to": s.Name()})
	} else {
		fmt.Fprintf(stdout, "replayed %d records to %s (%d already replayed, %d from other streams, %d duplicates skipped, %d failed); replay log %s\n",
			sent, s.Name(), p.already, p.other, p.dups, len(failures), logPath)
	}
	return errors.Join(failures...)
}

// replayTarget gives the replay log and the stream a replay sends to.
func replayTarget(cfg *config.Config, o dlqOptions) (logPath, target string, err error) {
	logPath = replayLogPath(cfg, o)
	if logPath == "" {
		return "", "", &usageError{fmt.Errorf("dlq replay from the stream %s: expected --replay-log FILE to remember what was replayed", cfg.DLQ)}
	}
	target = o.to
	if target == "" {
		target = cfg.Stream
	}
	if target == "" {
		return "", "", &usageError{errors.New("dlq replay: no target: give --to URL, or the source stream with --stream, UNISTREAM_STREAM or stream in the --config file")}
	}
	return logPath, target, nil
}

// replayPlan is what a replay sends, and how many envelopes it leaves out
// and why.
type replayPlan struct {
	todo                 []dlq.Envelope
	already, other, dups int
}

// planReplay picks the envelopes to replay to the stream named target:
// not duplicates, not in the replay log done (unless --force), and from
// target unless --to.
func planReplay(envs []dlq.Envelope, done map[string]bool, o dlqOptions, target string, verbose bool, stderr io.Writer) replayPlan {
	var p replayPlan
	dup := dlq.Duplicates(envs)
	for i, e := range envs {
		switch {
		case dup[i] >= 0:
			// The same record dead-lettered again (a crash between the DLQ
			// write and the checkpoint save): replay it once, even with --force.
			p.dups++
			if verbose {
				fmt.Fprintf(stderr, "unistream: %s (envelope #%d) is a duplicate of envelope #%d: skipped\n", e.ID, i+1, dup[i]+1)
			}
		case done[identity(&e)] && !o.force:
			p.already++
		case o.to == "" && e.Source.Stream != target:
			p.other++
			fmt.Fprintf(stderr, "unistream: %s came from stream %q, not %q: left (use --to to send it elsewhere)\n", e.ID, e.Source.Stream, target)
		default:
			p.todo = append(p.todo, e)
		}
	}
	return p
}

// sendReplay sends todo to s in batches, appending each acknowledged
// envelope to the replay log. It returns how many were sent and the
// failures of single records; err is a failure that stopped it.
func sendReplay(ctx context.Context, s *stream.Stream, logPath string, todo []dlq.Envelope, verbose bool, stderr io.Writer) (sent int, failures []error, err error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return 0, nil, fmt.Errorf("replay log: %w", err)
	}
	defer logf.Close()
	w, err := s.OpenWriter(ctx)
	if err != nil {
		return 0, nil, fmt.Errorf("dlq replay to %s: %w", s.Name(), err)
	}
	defer w.Close()
	prog := newProgress(stderr, "replay", func() string { return fmt.Sprintf("%d of %d sent", sent, len(todo)) })
	const batch = 100
	for i := 0; i < len(todo) && ctx.Err() == nil; i += batch {
		part := todo[i:min(i+batch, len(todo))]
		recs := make([]stream.Record, len(part))
		for j := range part {
			recs[j] = part[j].Record()
		}
		res, err := w.Write(ctx, recs)
		if err != nil {
			failures = append(failures, fmt.Errorf("send %d records to %s: %w", len(recs), s.Name(), err))
			break
		}
		lines, n, failed := replayLogLines(s, part, res, verbose, stderr)
		sent += n
		failures = append(failures, failed...)
		if _, err := logf.WriteString(lines); err != nil {
			return sent, failures, fmt.Errorf("replay log %s: %w (the records of this batch were sent)", logPath, err)
		}
		if err := logf.Sync(); err != nil {
			return sent, failures, fmt.Errorf("replay log %s: %w (the records of this batch were sent)", logPath, err)
		}
		prog.tick()
	}
	prog.done()
	return sent, failures, nil
}

// replayLogLines gives the replay log lines of the envelopes of part the
// stream acknowledged in res, how many those are, and the failures of the
// others.
func replayLogLines(s *stream.Stream, part []dlq.Envelope, res []stream.WriteResult, verbose bool, stderr io.Writer) (string, int, []error) {
	var (
		buf      strings.Builder
		sent     int
		failures []error
	)
	for j := range part {
		if res[j].Err != nil {
			failures = append(failures, fmt.Errorf("replay %s: %w", part[j].ID, res[j].Err))
			continue
		}
		b, _ := json.Marshal(replayEntry{Identity: identity(&part[j]), ID: part[j].ID, To: s.Name(),
			Pointer: s.FormatPointer(res[j].Partition, res[j].Pointer), At: time.Now().UTC()})
		buf.Write(b)
		buf.WriteByte('\n')
		sent++
		if verbose {
			fmt.Fprintf(stderr, "replayed %s to %s\n", part[j].ID, s.FormatPointer(res[j].Partition, res[j].Pointer))
		}
	}
	return buf.String(), sent, failures
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
