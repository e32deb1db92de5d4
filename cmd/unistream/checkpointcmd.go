package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/unistream-go/unistream/config"
	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
)

type cpOptions struct {
	partition string
	all       bool
	reason    string
	yes       bool
}

func newCheckpointCmd(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "checkpoint",
		Short: "Show and repair a consumer's checkpoints: show, retry, skip, reset",
		Long: `checkpoint reads and changes the checkpoints of one consumer name on one
stream, in the store given by --checkpoint (or the config file).

  show    each partition's committed pointer, batch state, counts and halt reason;
          pending are the batch's records after the committed pointer that have
          no state yet. A checkpoint consume would refuse to resume from (a
          pointer the stream's codec rejects) is an error naming the partition,
          the pointer's bytes and what was expected; reset starts it over.
  retry   resume a halted partition: the halted record gets fresh attempts
  skip    resume a halted partition past the halted record (recorded as skipped)
  reset   forget a partition's progress (needs --yes): the consumer starts again
          from its start position

A running consumer picks retry and skip up on its own; stop it before a reset.
Every change is a compare-and-swap on the checkpoint's version: a change made
meanwhile by a consumer is never overwritten.`,
	}
	root.AddCommand(
		newCheckpointShowCmd(g),
		newCheckpointRetryCmd(g),
		newCheckpointSkipCmd(g),
		newCheckpointResetCmd(g),
	)
	return root
}

// cpEnv is what a checkpoint subcommand works on once its stream and
// checkpoint store are open.
type cpEnv struct {
	w     io.Writer
	json  bool
	cfg   *config.Config
	s     *stream.Stream
	store checkpoint.Store
	o     cpOptions
}

// cpAction is the work of one checkpoint subcommand.
type cpAction func(ctx context.Context, e *cpEnv) error

func newCheckpointShowCmd(g *globals) *cobra.Command {
	c, _ := newCheckpointSubCmd(g, "show", "Print each partition's committed pointer, batch state and halt reason", runCheckpointShow)
	return c
}

func newCheckpointRetryCmd(g *globals) *cobra.Command {
	c, _ := newCheckpointSubCmd(g, "retry", "Resume a halted partition with fresh attempts for the halted record",
		checkpointChange("retry", func(cp *checkpoint.Checkpoint, _ cpOptions) error { return cp.Retry(time.Now().UTC()) }))
	return c
}

func newCheckpointSkipCmd(g *globals) *cobra.Command {
	c, o := newCheckpointSubCmd(g, "skip", "Resume a halted partition past the halted record",
		checkpointChange("skip", func(cp *checkpoint.Checkpoint, o cpOptions) error { return cp.Skip(time.Now().UTC(), o.reason) }))
	c.Flags().StringVar(&o.reason, "reason", "skipped by operator", "why the record is skipped (kept in the checkpoint)")
	return c
}

func newCheckpointResetCmd(g *globals) *cobra.Command {
	c, o := newCheckpointSubCmd(g, "reset", "Forget a partition's progress (needs --yes)",
		checkpointChange("reset", func(cp *checkpoint.Checkpoint, _ cpOptions) error {
			*cp = checkpoint.Checkpoint{Key: cp.Key, Version: cp.Version, Counts: cp.Counts, UpdatedAt: time.Now().UTC()}
			return nil
		}))
	c.Flags().BoolVar(&o.yes, "yes", false, "confirm the reset")
	c.Flags().BoolVar(&o.all, "all", false, "reset every partition of the consumer")
	return c
}

// newCheckpointSubCmd builds a checkpoint subcommand with the flags they
// all share; it returns the options its flags set, for the subcommand's
// own flags.
func newCheckpointSubCmd(g *globals, use, short string, run cpAction) (*cobra.Command, *cpOptions) {
	var (
		b bindings
		o cpOptions
	)
	c := &cobra.Command{
		Use:   use + " [STREAM-URL]",
		Short: short,
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCheckpointSubCmd(g, cmd, &b, args, use, o, run)
		},
	}
	b.bind(c.Flags(), "checkpoint", "checkpoint", "checkpoint store URL")
	b.bind(c.Flags(), "name", "consumer.name", "consumer name")
	b.bind(c.Flags(), "connect-timeout", "connect_timeout", "bound on connecting to the broker")
	c.Flags().StringVarP(&o.partition, "partition", "p", "", "the partition")
	return c, &o
}

// runCheckpointSubCmd checks the arguments of a checkpoint subcommand,
// opens its checkpoint store and stream, and runs it.
func runCheckpointSubCmd(g *globals, cmd *cobra.Command, b *bindings, args []string, use string, o cpOptions, run cpAction) error {
	cfg, err := g.load(cmd, b)
	if err != nil {
		return err
	}
	if len(args) == 1 {
		if err := cfg.Set("stream", args[0], "argument STREAM-URL"); err != nil {
			return &usageError{err}
		}
	}
	if cfg.Stream == "" {
		return need("stream", "")
	}
	if use != "show" && !o.all && o.partition == "" {
		return &usageError{fmt.Errorf("checkpoint %s: expected --partition ID (or --all)", use)}
	}
	if use == "reset" && !o.yes {
		return &usageError{errors.New("checkpoint reset forgets the progress of the partition and the consumer then re-reads it from its start position: add --yes to confirm")}
	}
	ctx := cmd.Context()
	store, err := openStore(ctx, cfg, false)
	if err != nil {
		return err
	}
	defer checkpoint.CloseStore(store)
	s, err := openStream(ctx, cfg, cfg.Stream)
	if err != nil {
		return err
	}
	defer s.Close()
	return run(ctx, &cpEnv{w: cmd.OutOrStdout(), json: g.json(), cfg: cfg, s: s, store: store, o: o})
}

// runCheckpointShow prints the checkpoints of the consumer, of one
// partition with --partition.
func runCheckpointShow(ctx context.Context, e *cpEnv) error {
	cps, err := e.store.List(ctx, consumerName(e.cfg), e.s.Name())
	if err != nil {
		return err
	}
	if e.o.partition != "" {
		var keep []*checkpoint.Checkpoint
		for _, cp := range cps {
			if cp.Partition == e.o.partition {
				keep = append(keep, cp)
			}
		}
		cps = keep
	}
	// A checkpoint the consumer would refuse to resume from is an
	// error here too, by the consumer's own check: shown as it is, its
	// pointers would read as positions ("@invalid(…)").
	var invalid []error
	valid := cps[:0:0]
	for _, cp := range cps {
		if err := e.s.ValidateCheckpoint(cp); err != nil {
			invalid = append(invalid, fmt.Errorf("partition %s: %w (unistream consume refuses to resume from it; checkpoint reset --partition %s starts the partition over)", cp.Partition, err, cp.Partition))
			continue
		}
		valid = append(valid, cp)
	}
	if e.json {
		if err := writeCheckpointsJSON(ctx, e, valid); err != nil {
			return err
		}
		return errors.Join(invalid...)
	}
	if len(valid) == 0 && len(invalid) == 0 {
		fmt.Fprintf(e.w, "no checkpoints of consumer %q on stream %s in %s\n", consumerName(e.cfg), e.s.Name(), checkpoint.RedactURL(e.cfg.Checkpoint))
		return nil
	}
	writeCheckpointsText(ctx, e, valid)
	return errors.Join(invalid...)
}

func writeCheckpointsJSON(ctx context.Context, e *cpEnv, cps []*checkpoint.Checkpoint) error {
	out := make([]map[string]any, 0, len(cps))
	for _, cp := range cps {
		out = append(out, checkpointJSON(ctx, e.cfg, e.s, cp))
	}
	return writeJSON(e.w, map[string]any{"consumer": consumerName(e.cfg), "stream": e.s.Name(), "partitions": out})
}

func writeCheckpointsText(ctx context.Context, e *cpEnv, cps []*checkpoint.Checkpoint) {
	w, s := e.w, e.s
	fmt.Fprintf(w, "consumer %q on stream %s (%s)\n", consumerName(e.cfg), s.Name(), checkpoint.RedactURL(e.cfg.Checkpoint))
	for _, cp := range cps {
		fmt.Fprintf(w, "partition %s: committed %s; %s; counts: %d succeeded, %d dead-lettered, %d skipped, %d retries; version %d, updated %s\n",
			cp.Partition, s.FormatPointer(cp.Partition, cp.Committed), batchState(ctx, e.cfg, s, cp),
			cp.Counts.Succeeded, cp.Counts.DeadLettered, cp.Counts.Skipped, cp.Counts.Retries, cp.Version, cp.UpdatedAt.Format(time.RFC3339))
		if h := cp.Halted(); h != nil {
			fmt.Fprintf(w, "  HALTED at %s (id %s) after %d attempts: %s; last error: %s\n",
				s.FormatPointer(cp.Partition, h.Pointer), h.ID, h.Attempts, h.Reason, h.LastError())
			fmt.Fprintf(w, "  resume with: unistream checkpoint retry --partition %s   or   unistream checkpoint skip --partition %s\n", cp.Partition, cp.Partition)
		}
	}
}

// checkpointChange is the action of a subcommand that changes checkpoints
// with f: those of --partition, or of every partition with --all.
func checkpointChange(verb string, f func(cp *checkpoint.Checkpoint, o cpOptions) error) cpAction {
	return func(ctx context.Context, e *cpEnv) error {
		parts, err := checkpointPartitions(ctx, e)
		if err != nil {
			return err
		}
		for _, p := range parts {
			if err := changeCheckpoint(ctx, e, verb, p, f); err != nil {
				return err
			}
		}
		return nil
	}
}

// checkpointPartitions names the partitions a change applies to.
func checkpointPartitions(ctx context.Context, e *cpEnv) ([]string, error) {
	if !e.o.all {
		return []string{e.o.partition}, nil
	}
	cps, err := e.store.List(ctx, consumerName(e.cfg), e.s.Name())
	if err != nil {
		return nil, err
	}
	var parts []string
	for _, cp := range cps {
		parts = append(parts, cp.Partition)
	}
	return parts, nil
}

// changeCheckpoint changes the checkpoint of partition p with f, saves it
// and reports it.
func changeCheckpoint(ctx context.Context, e *cpEnv, verb, p string, f func(cp *checkpoint.Checkpoint, o cpOptions) error) error {
	key := checkpoint.Key{Consumer: consumerName(e.cfg), Stream: e.s.Name(), Partition: p}
	cp, err := e.store.Load(ctx, key)
	if err != nil {
		return err
	}
	if cp.Version == 0 && verb != "reset" {
		return fmt.Errorf("checkpoint %s: no checkpoint for %s in %s", verb, key, checkpoint.RedactURL(e.cfg.Checkpoint))
	}
	if verb != "reset" { // reset is the way out of a checkpoint the consumer refuses
		if err := e.s.ValidateCheckpoint(cp); err != nil {
			return fmt.Errorf("checkpoint %s: %w (only checkpoint reset --partition %s --yes changes it)", verb, err, p)
		}
	}
	if err := f(cp, e.o); err != nil {
		return fmt.Errorf("checkpoint %s %s: %w", verb, key, err)
	}
	if err := e.store.Save(ctx, cp); err != nil {
		return fmt.Errorf("checkpoint %s %s: %w", verb, key, err)
	}
	if e.json {
		writeJSON(e.w, map[string]any{"action": verb, "partition": p, "checkpoint": checkpointJSON(ctx, e.cfg, e.s, cp)})
	} else {
		fmt.Fprintf(e.w, "partition %s: %s done; committed %s; %s\n", p, verb, e.s.FormatPointer(p, cp.Committed), batchState(ctx, e.cfg, e.s, cp))
	}
	return nil
}

func consumerName(cfg *config.Config) string {
	if cfg.Consumer.Name != "" {
		return cfg.Consumer.Name
	}
	return stream.DefaultConsumerName
}

// batchState describes the current batch in one line.
func batchState(ctx context.Context, cfg *config.Config, s *stream.Stream, cp *checkpoint.Checkpoint) string {
	if cp.Finished {
		return "partition finished"
	}
	if cp.Batch == nil {
		return "no batch in progress"
	}
	counts := map[checkpoint.Status]int{}
	for _, r := range cp.Batch.Records {
		counts[r.Status]++
	}
	pending := "? pending"
	if n, err := batchPending(ctx, cfg, s, cp); err != nil {
		pending += " (" + err.Error() + ")"
	} else {
		pending = fmt.Sprintf("%d pending", n)
	}
	return fmt.Sprintf("batch %d of %d records (%s … %s): %s, %d in progress, %d failed, %d succeeded, %d dead-lettered, %d skipped, %d halted",
		cp.Batch.Seq, cp.Batch.Size, s.FormatPointer(cp.Partition, cp.Batch.First), s.FormatPointer(cp.Partition, cp.Batch.Last),
		pending, counts[checkpoint.InProgress], counts[checkpoint.Failed], counts[checkpoint.Succeeded],
		counts[checkpoint.DeadLettered], counts[checkpoint.Skipped], counts[checkpoint.Halted])
}

// batchPending counts the pending records of cp's batch: those after the
// committed pointer that have no state yet (docs/design.md §5, "The
// model"). The records up to the committed pointer are final and no longer
// part of it. How many of the batch's Size records lie after a committed
// pointer inside the batch only the stream can tell (pointers are opaque,
// and offsets may have gaps), so that case reads them, as the consumer
// does when it resumes the batch.
func batchPending(ctx context.Context, cfg *config.Config, s *stream.Stream, cp *checkpoint.Checkpoint) (int, error) {
	b := cp.Batch
	past := func(p []byte) bool { return cp.Committed == nil || s.ComparePointers(p, cp.Committed) > 0 }
	var after int
	switch {
	case !past(b.Last):
		return 0, nil
	case past(b.First):
		after = b.Size
	default:
		n, err := countRecords(ctx, cfg, s, cp.Partition, cp.Committed, b.Last)
		if err != nil {
			return 0, err
		}
		after = n
	}
	for i := range b.Records {
		if r := &b.Records[i]; r.Status != checkpoint.Pending && past(r.Pointer) {
			after--
		}
	}
	return max(after, 0), nil
}

// countRecords counts the records of a partition after the pointer from, up
// to and including the pointer to, reading them within the connect timeout.
func countRecords(ctx context.Context, cfg *config.Config, s *stream.Stream, partition string, from, to stream.Pointer) (int, error) {
	d := connectTimeout(cfg)
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	fail := func(err error) error {
		return fmt.Errorf("reading the records after %s to count them: %w", s.FormatPointer(partition, from), err)
	}
	r, err := s.OpenReader(ctx, partition, stream.After(from))
	if err != nil {
		return 0, fail(err)
	}
	defer r.Close()
	n := 0
	for {
		recs, err := r.Fetch(ctx, 500)
		if err != nil {
			if ctx.Err() != nil {
				err = fmt.Errorf("not done within the connect timeout %s: %w", d, err)
			}
			return 0, fail(err)
		}
		for i := range recs {
			if s.ComparePointers(recs[i].Pointer, to) > 0 {
				return n, nil
			}
			n++
			if s.ComparePointers(recs[i].Pointer, to) == 0 {
				return n, nil
			}
		}
		if len(recs) == 0 {
			if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
				return 0, fail(fmt.Errorf("the stream gave no record up to %s within the connect timeout %s", s.FormatPointer(partition, to), d))
			}
		}
	}
}

func checkpointJSON(ctx context.Context, cfg *config.Config, s *stream.Stream, cp *checkpoint.Checkpoint) map[string]any {
	o := map[string]any{
		"partition":  cp.Partition,
		"version":    cp.Version,
		"committed":  s.FormatPointer(cp.Partition, cp.Committed),
		"finished":   cp.Finished,
		"counts":     cp.Counts,
		"updated_at": cp.UpdatedAt,
		"batch":      batchState(ctx, cfg, s, cp),
	}
	if h := cp.Halted(); h != nil {
		o["halted"] = map[string]any{"pointer": s.FormatPointer(cp.Partition, h.Pointer), "id": h.ID, "attempts": h.Attempts, "reason": h.Reason, "last_error": h.LastError()}
	}
	return o
}
