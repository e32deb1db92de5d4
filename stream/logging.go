package stream

import (
	"context"
	"log/slog"
)

// WithLogger logs, on l, what an operator wants to see of a consumer or a
// producer: the events the engine reports (see Observer) that mean
// something went wrong or changed for good. Consumer: fetch errors and
// checkpoint load/save failures (Warn), their recovery and DLQ writes
// (Info), halted partitions (Error). Producer: holds after a failed send,
// records dead-lettered and DLQ write failures (Warn), records dropped and
// write-ahead log failures (Error), records replayed from the WAL (Info).
// At Debug, also each checkpoint save and each WAL fsync with its
// duration. Nothing is logged per record processed or sent.
//
// The default is a logger that discards everything: the library logs
// nothing unless asked. The logging rides on the engine's events, beside
// any WithObserver observer, which sees the same events as without it;
// the engines build the events of every record only for the latter.
func WithLogger(l *slog.Logger) Option {
	check := func() error {
		if l == nil {
			return &OptionError{Option: "WithLogger", Value: nil, Expected: "a non-nil *slog.Logger (slog.New(slog.DiscardHandler) logs nothing)"}
		}
		return nil
	}
	return sharedOption{
		consumer: func(c *consumerConfig) error { c.logger = l; return check() },
		producer: func(c *producerConfig) error { c.logger = l; return check() },
	}
}

// discardLogger is the default logger: it logs nothing.
var discardLogger = slog.New(slog.DiscardHandler)

// logging reports whether l logs anything at all, so that a discarding
// logger (the default) costs no events.
func logging(l *slog.Logger) bool {
	return l != nil && l.Handler() != slog.DiscardHandler
}

// newLogObserver returns the observer that logs l's events, or nil when l
// logs nothing (the default): the engines then build no event for it.
func newLogObserver(l *slog.Logger) *logObserver {
	if !logging(l) {
		return nil
	}
	return &logObserver{log: l}
}

// logged reports whether the logObserver logs events of kind k: the
// engines build the other events only for a WithObserver observer.
func logged(k EventKind) bool {
	switch k {
	case EventFetchError, EventCheckpointError, EventCheckpointRecovered, EventDeadLettered, EventHalted,
		EventProducerHold, EventProducerDeadLettered, EventProducerDropped, EventProducerDLQError, EventProducerReplayed,
		EventCheckpointSaved, EventProducerWALSynced:
		return true
	}
	return false
}

// logObserver turns the engine's events into log lines. The engines give
// it the events it logs (see logged) beside the WithObserver observer,
// which sees every event as without it.
type logObserver struct {
	log *slog.Logger
}

// Observe logs the events worth a log line and ignores the others.
func (o *logObserver) Observe(e Event) {
	var (
		level slog.Level
		msg   string
	)
	switch e.Kind {
	case EventFetchError:
		level, msg = slog.LevelWarn, "stream: reading the stream failed; retrying"
	case EventCheckpointError:
		level, msg = slog.LevelWarn, "stream: loading or saving the checkpoint failed"
	case EventCheckpointRecovered:
		level, msg = slog.LevelInfo, "stream: checkpoint store reachable again"
	case EventDeadLettered:
		level, msg = slog.LevelInfo, "stream: record written to the DLQ"
	case EventHalted:
		level, msg = slog.LevelError, "stream: partition halted; resume it with `unistream checkpoint retry` or `checkpoint skip`"
	case EventProducerHold:
		level, msg = slog.LevelWarn, "stream: producer holds sends after a failure"
	case EventProducerDeadLettered:
		level, msg = slog.LevelWarn, "stream: producer records refused by the stream, written to the DLQ"
	case EventProducerDropped:
		level, msg = slog.LevelError, "stream: producer records refused by the stream and dropped (no DLQ sink)"
	case EventProducerDLQError:
		level, msg = slog.LevelWarn, "stream: producer DLQ write failed; retrying"
	case EventProducerReplayed:
		level, msg = slog.LevelInfo, "stream: producer re-sends records recovered from the write-ahead log"
		if e.Err != nil {
			level = slog.LevelWarn
		}
	case EventCheckpointSaved:
		level, msg = slog.LevelDebug, "stream: checkpoint saved"
	case EventProducerWALSynced:
		level, msg = slog.LevelDebug, "stream: producer write-ahead log synced"
	default:
		return
	}
	ctx := context.Background()
	if !o.log.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 8)
	attrs = append(attrs, slog.String("event", e.Kind.String()), slog.String("stream", e.Stream))
	if e.Partition != "" {
		attrs = append(attrs, slog.String("partition", e.Partition))
	}
	switch e.Kind {
	case EventProducerHold, EventProducerDeadLettered, EventProducerDropped, EventProducerDLQError:
		attrs = append(attrs, slog.Int("lane", e.Lane))
	}
	if e.Record != nil && e.Record.ID != "" {
		attrs = append(attrs, slog.String("record_id", e.Record.ID))
	}
	if e.Count > 0 {
		attrs = append(attrs, slog.Int("count", e.Count))
	}
	if e.Attempt > 0 {
		attrs = append(attrs, slog.Int("attempt", e.Attempt))
	}
	if e.Delay > 0 {
		attrs = append(attrs, slog.Duration("retry_in", e.Delay))
	}
	switch e.Kind {
	case EventCheckpointSaved, EventProducerWALSynced:
		attrs = append(attrs, slog.Duration("elapsed", e.Elapsed))
	}
	if e.Err != nil {
		attrs = append(attrs, slog.String("error", e.Err.Error()))
	}
	o.log.LogAttrs(ctx, level, msg, attrs...)
}

// logWALError logs a write-ahead log failure (which has no event: Close
// reports it), once per distinct error so that a broken disk does not log
// a line per batch. prev is the error noted before.
func (p *Producer) logWALError(prev, err error) {
	if err == nil || (prev != nil && prev.Error() == err.Error()) {
		return
	}
	p.cfg.logger.LogAttrs(context.Background(), slog.LevelError,
		"stream: producer write-ahead log failed; records are still sent, but may be lost or re-sent after a crash",
		slog.String("stream", p.s.Name()), slog.String("wal", p.cfg.walPath), slog.String("error", err.Error()))
}
