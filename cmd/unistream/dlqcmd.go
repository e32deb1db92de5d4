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
	var (
		sb bindings
		so dlqOptions
	)
	show := &cobra.Command{
		Use:   "show [DLQ-URL]",
		Short: "List the dead-lettered records",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := dlqConfig(g, cmd, &sb, args)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			envs, warn, err := readDLQ(ctx, cfg)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			for _, m := range warn {
				fmt.Fprintln(cmd.ErrOrStderr(), "unistream: warning:", m)
			}
			replayed, _ := loadReplayLog(replayLogPath(cfg, so))
			dup := dlq.Duplicates(envs)
			dups := 0
			for _, d := range dup {
				if d >= 0 {
					dups++
				}
			}
			for i, e := range envs {
				if so.limit > 0 && i >= so.limit {
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
				mark := ""
				if dup[i] >= 0 {
					mark += fmt.Sprintf(" (duplicate of #%d)", dup[i]+1)
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
			if g.json() {
				return writeJSON(w, map[string]any{"event": "summary", "envelopes": len(envs), "records": len(envs) - dups, "duplicates": dups})
			}
			fmt.Fprintf(w, "%d dead-lettered records in %s", len(envs)-dups, cfg.DLQ)
			if dups > 0 {
				fmt.Fprintf(w, " (%d envelopes: %d duplicates of an earlier envelope of the same record, which replay skips)", len(envs), dups)
			}
			fmt.Fprintln(w)
			return nil
		},
	}
	sb.bind(show.Flags(), "dlq", "dlq", "dead-letter queue URL")
	sb.bind(show.Flags(), "connect-timeout", "connect_timeout", "bound on connecting to the broker")
	show.Flags().StringVar(&so.replayLog, "replay-log", "", "the replay log (default: PATH.replayed next to a DLQ file)")
	show.Flags().IntVarP(&so.limit, "max", "n", 0, "show at most this many (0: all)")

	var (
		rb bindings
		ro dlqOptions
	)
	replay := &cobra.Command{
		Use:   "replay [DLQ-URL]",
		Short: "Send dead-lettered records back to their source stream, or --to URL, once",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := dlqConfig(g, cmd, &rb, args)
			if err != nil {
				return err
			}
			return runReplay(cmd.Context(), g, cfg, ro, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	rb.bind(replay.Flags(), "dlq", "dlq", "dead-letter queue URL")
	rb.bind(replay.Flags(), "stream", "stream", "the source stream the envelopes go back to")
	rb.bind(replay.Flags(), "connect-timeout", "connect_timeout", "bound on connecting to the broker")
	replay.Flags().StringVar(&ro.to, "to", "", "send to this stream URL instead of the source stream")
	replay.Flags().StringVar(&ro.replayLog, "replay-log", "", "the replay log (default: PATH.replayed next to a DLQ file; required for a stream DLQ)")
	replay.Flags().BoolVar(&ro.dryRun, "dry-run", false, "list what would be replayed, send nothing")
	replay.Flags().BoolVar(&ro.force, "force", false, "replay also what the replay log says was replayed")
	root.AddCommand(show, replay)
	return root
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
		path, err := dlq.FileURLPath(cfg.DLQ)
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
		r, err := s.OpenReader(ctx, p.ID, stream.Earliest())
		if err != nil {
			return nil, nil, fmt.Errorf("dlq %s partition %s: %w", s.Name(), p.ID, err)
		}
		lastData := time.Now()
		for {
			recs, err := r.Fetch(ctx, 500)
			if errors.Is(err, stream.ErrPartitionFinished) {
				break
			}
			if err == nil && len(recs) == 0 {
				// No end marker for an open partition: read until it has
				// given nothing new for a second.
				if time.Since(lastData) >= time.Second {
					break
				}
				if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
					r.Close()
					return nil, nil, err
				}
				continue
			}
			lastData = time.Now()
			if err != nil {
				r.Close()
				return nil, nil, fmt.Errorf("dlq %s partition %s: %w", s.Name(), p.ID, err)
			}
			for i := range recs {
				e, err := dlq.DecodeRecord(&recs[i])
				if err != nil {
					r.Close()
					return nil, nil, err
				}
				out = append(out, *e)
			}
		}
		r.Close()
	}
	return out, nil, nil
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
	logPath := replayLogPath(cfg, o)
	if logPath == "" {
		return &usageError{fmt.Errorf("dlq replay from the stream %s: expected --replay-log FILE to remember what was replayed", cfg.DLQ)}
	}
	target := o.to
	if target == "" {
		target = cfg.Stream
	}
	if target == "" {
		return &usageError{errors.New("dlq replay: no target: give --to URL, or the source stream with --stream, UNISTREAM_STREAM or stream in the --config file")}
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
	var todo []dlq.Envelope
	var already, other, dups int
	dup := dlq.Duplicates(envs)
	for i, e := range envs {
		switch {
		case dup[i] >= 0:
			// The same record dead-lettered again (a crash between the DLQ
			// write and the checkpoint save): replay it once, even with --force.
			dups++
			if g.verbose {
				fmt.Fprintf(stderr, "unistream: %s (envelope #%d) is a duplicate of envelope #%d: skipped\n", e.ID, i+1, dup[i]+1)
			}
		case done[identity(&e)] && !o.force:
			already++
		case o.to == "" && e.Source.Stream != s.Name():
			other++
			fmt.Fprintf(stderr, "unistream: %s came from stream %q, not %q: left (use --to to send it elsewhere)\n", e.ID, e.Source.Stream, s.Name())
		default:
			todo = append(todo, e)
		}
	}
	if o.dryRun {
		for _, e := range todo {
			fmt.Fprintf(stdout, "would replay %s (%s) to %s\n", e.ID, e.Source.PointerText, s.Name())
		}
		fmt.Fprintf(stdout, "dry run: %d to replay, %d already replayed, %d from other streams, %d duplicates skipped\n", len(todo), already, other, dups)
		return nil
	}
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("replay log: %w", err)
	}
	defer logf.Close()
	w, err := s.OpenWriter(ctx)
	if err != nil {
		return fmt.Errorf("dlq replay to %s: %w", s.Name(), err)
	}
	defer w.Close()
	sent := 0
	prog := newProgress(stderr, "replay", func() string { return fmt.Sprintf("%d of %d sent", sent, len(todo)) })
	var failures []error
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
		var buf strings.Builder
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
			if g.verbose {
				fmt.Fprintf(stderr, "replayed %s to %s\n", part[j].ID, s.FormatPointer(res[j].Partition, res[j].Pointer))
			}
		}
		if _, err := logf.WriteString(buf.String()); err != nil {
			return fmt.Errorf("replay log %s: %w (the records of this batch were sent)", logPath, err)
		}
		if err := logf.Sync(); err != nil {
			return fmt.Errorf("replay log %s: %w (the records of this batch were sent)", logPath, err)
		}
		prog.tick()
	}
	prog.done()
	if g.json() {
		writeJSON(stdout, map[string]any{"event": "summary", "replayed": sent, "already_replayed": already, "other_streams": other, "duplicates_skipped": dups, "failed": len(failures), "to": s.Name()})
	} else {
		fmt.Fprintf(stdout, "replayed %d records to %s (%d already replayed, %d from other streams, %d duplicates skipped, %d failed); replay log %s\n",
			sent, s.Name(), already, other, dups, len(failures), logPath)
	}
	return errors.Join(failures...)
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
