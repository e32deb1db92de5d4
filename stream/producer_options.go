package stream

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/unistream-go/unistream/stream/dlq"
	"github.com/unistream-go/unistream/stream/wal"
)

// FsyncPolicy says when the producer's write-ahead log (WAL) is written and
// synced to stable storage (fsync), and so what Put's return promises.
//
// Put appends the record to the WAL's group buffer, in memory; the buffer
// is written to the file with one write(2) for many records (group
// commit), and fsynced as the policy says. Whatever the policy:
//
//   - a record is in the WAL file before it is handed to the stream (and
//     on stable storage, unless with FsyncInterval), so a record the stream
//     may have stored is not lost by a crash: the next producer re-sends
//     it if its acknowledgement was not recorded (at-least-once, same ID);
//   - a record acknowledged by Flush (or sent before Close returned nil)
//     is safe whatever happens next;
//   - if writing or syncing the WAL fails, records are still sent (delivery
//     comes first) and Close reports the failure.
//
// The policies differ in what a crash may lose of the records Put accepted
// and not yet sent.
type FsyncPolicy int64

const (
	// FsyncPerBatch writes and fsyncs the log once for all the records of
	// a batch (and any record appended before: one fsync often covers
	// several batches), beside the batch's Write: the two start together,
	// and nothing of the batch is acknowledged in the log, retried or
	// dead-lettered, nor does Flush return, before both are done. A
	// record whose Write failed while the crash cut its sync short is
	// lost. Besides,
	// each time a batch's worth of records (MaxRecords, or MaxBytes up to
	// 1 MiB) was appended since the last sync, a background writer writes
	// and fsyncs them, so that the fsync overlaps the sending of the
	// previous batch and records waiting behind a stream outage reach the
	// disk; and every MaxAge of real time it syncs what is left. Put
	// returns with the record in memory: a crash of the process or of the
	// machine may lose the records appended since the last sync (about one
	// batch's worth, or MaxAge's worth, at most, and the batch being sent
	// if its Write fails), never a record the stream stored. The default.
	FsyncPerBatch FsyncPolicy = 0
	// FsyncAlways writes and fsyncs the log before Put returns. No crash
	// loses a record Put accepted. Concurrent Puts share one write and one
	// fsync (group commit), so throughput grows with the number of
	// goroutines calling Put; one goroutine pays a full fsync per record.
	FsyncAlways FsyncPolicy = -1
	// fsyncInvalid is what FsyncInterval returns for a bad duration.
	fsyncInvalid FsyncPolicy = math.MinInt64
)

// FsyncInterval writes the log before each batch is sent (without fsync)
// and when a batch's worth of records waits, and fsyncs it every d (> 0)
// of real time (a background ticker, not the producer's Clock) while there
// are unsynced writes. Put returns with the record in memory. A crash of
// the process may lose the records waiting for their batch and not yet
// written; a crash of the machine may also lose about the last d of
// records written, including records already sent (which the stream may
// hold even though the WAL forgot them).
func FsyncInterval(d time.Duration) FsyncPolicy {
	if d <= 0 {
		return fsyncInvalid
	}
	return FsyncPolicy(d)
}

// String returns "always", "per-batch" or "interval(d)".
func (p FsyncPolicy) String() string {
	switch {
	case p == FsyncPerBatch:
		return "per-batch"
	case p == FsyncAlways:
		return "always"
	case p > 0:
		return fmt.Sprintf("interval(%v)", time.Duration(p))
	}
	return "invalid"
}

// interval returns the sync period of an FsyncInterval policy, or 0.
func (p FsyncPolicy) interval() time.Duration {
	if p > 0 {
		return time.Duration(p)
	}
	return 0
}

// Producer defaults.
const (
	// DefaultMaxRecords is the default batch size in records.
	DefaultMaxRecords = 500
	// DefaultMaxBytes is the default batch size in bytes (Record.Size).
	DefaultMaxBytes = 1 << 20
	// DefaultMaxAge is the default longest wait of a record for its batch.
	DefaultMaxAge = time.Second
	// DefaultBufferRecords is the default bound on buffered records.
	DefaultBufferRecords = 100_000
	// DefaultBufferBytes is the default bound on buffered bytes.
	DefaultBufferBytes = 64 << 20
	// DefaultSendLanes is the default number of send lanes: batches in
	// flight at once.
	DefaultSendLanes = 4
)

// maxSendLanes is the largest number of send lanes WithSendLanes accepts.
const maxSendLanes = 64

// DefaultSendRetry is the producer's default backoff after a failed
// send: 500 ms doubling to at most 30 s, with full jitter, and no bound
// on the attempts (MaxAttempts 0): a record that fails transiently is
// sent again for ever.
var DefaultSendRetry = RetryPolicy{MaxAttempts: 0, Initial: 500 * time.Millisecond, Multiplier: 2, MaxInterval: 30 * time.Second, Jitter: true}

// ProducerOption configures a Producer. Options are checked by NewProducer,
// which reports a bad one as an *OptionError.
type ProducerOption interface {
	applyToProducer(*producerConfig) error
}

// producerOptionFunc is a ProducerOption made of a function.
type producerOptionFunc func(*producerConfig) error

func (f producerOptionFunc) applyToProducer(c *producerConfig) error { return f(c) }

type producerConfig struct {
	walPath       string
	noWAL         bool
	fsync         FsyncPolicy
	maxRecords    int
	maxBytes      int
	maxAge        time.Duration
	retry         RetryPolicy
	bufferRecords int
	bufferBytes   int
	block         bool
	sendLanes     int
	observer      Observer
	logger        *slog.Logger // WithLogger
	logs          *logObserver // logs logger's events, or nil (see logged)
	clock         Clock
	idFunc        func() string
	dlq           dlq.Sink
	putHooks      []PutHook   // WithPutHook, in the order given
	walOpts       wal.Options // tests inject faults and small compaction sizes here
}

func defaultProducerConfig() producerConfig {
	return producerConfig{
		fsync:         FsyncPerBatch,
		maxRecords:    DefaultMaxRecords,
		maxBytes:      DefaultMaxBytes,
		maxAge:        DefaultMaxAge,
		retry:         DefaultSendRetry,
		bufferRecords: DefaultBufferRecords,
		bufferBytes:   DefaultBufferBytes,
		block:         true,
		sendLanes:     DefaultSendLanes,
		clock:         SystemClock{},
		logger:        discardLogger,
	}
}

// WithWAL sets the file of the producer's write-ahead log. Every record Put
// is appended to it (see FsyncPolicy for when it reaches the disk), and the
// records it holds unsent are replayed by the next producer opened on it. A WAL (or an explicit
// WithoutWAL) is required. The file is created with mode 0600 and its
// directory with 0700; one producer at a time may use it.
func WithWAL(path string) ProducerOption {
	return producerOptionFunc(func(c *producerConfig) error {
		if path == "" {
			return &OptionError{Option: "WithWAL", Value: `""`, Expected: "a file path for the write-ahead log"}
		}
		c.walPath = path
		return nil
	})
}

// WithWALStrict makes NewProducer fail instead of repairing a WAL whose
// last write was torn by a crash: by default the torn tail (at most one
// record, never one whose sync completed) is cut and reported in
// ProducerStats.Recovery and the EventProducerReplayed event. With it,
// NewProducer returns an error matching wal.ErrTorn that names the file and
// the tail, and leaves the file untouched.
func WithWALStrict() ProducerOption {
	return producerOptionFunc(func(c *producerConfig) error {
		c.walOpts.NoRepair = true
		return nil
	})
}

// WithoutWAL runs the producer without a write-ahead log: buffered records
// live in memory only and are lost if the process dies before they are
// sent. It is not crash-safe; it exists for tests and for data that may be
// lost.
func WithoutWAL() ProducerOption {
	return producerOptionFunc(func(c *producerConfig) error {
		c.noWAL = true
		return nil
	})
}

// WithFsync sets when the WAL is written and synced, and so what a crash
// may lose of the records Put accepted: FsyncPerBatch (the default; records
// waiting for their batch), FsyncAlways (nothing), or FsyncInterval(d).
// See FsyncPolicy.
func WithFsync(p FsyncPolicy) ProducerOption {
	return producerOptionFunc(func(c *producerConfig) error {
		if p != FsyncPerBatch && p != FsyncAlways && p <= 0 {
			return &OptionError{Option: "WithFsync", Value: p, Expected: "FsyncAlways, FsyncPerBatch or FsyncInterval(d) with d > 0"}
		}
		c.fsync = p
		return nil
	})
}

// WithMaxRecords sets the batch size in records (default 500): a batch is
// sent once this many records wait. It is lowered to the backend's
// Capabilities().MaxBatchRecords when that is smaller. With several send
// lanes (WithSendLanes) it bounds each lane's batch, and a lane sends once
// it holds its share, n divided by the number of lanes.
func WithMaxRecords(n int) ProducerOption {
	return producerOptionFunc(func(c *producerConfig) error {
		if n < 1 {
			return &OptionError{Option: "WithMaxRecords", Value: n, Expected: "at least 1"}
		}
		c.maxRecords = n
		return nil
	})
}

// WithMaxBytes sets the batch size in bytes of Record.Size (default 1 MiB):
// a batch is sent once this many bytes wait. It is lowered to the backend's
// Capabilities().MaxBatchBytes when that is smaller. A record larger than
// the batch size is sent alone. With several send lanes (WithSendLanes) it
// bounds each lane's batch, and a lane sends once it holds its share, n
// divided by the number of lanes.
func WithMaxBytes(n int) ProducerOption {
	return producerOptionFunc(func(c *producerConfig) error {
		if n < 1 {
			return &OptionError{Option: "WithMaxBytes", Value: n, Expected: "at least 1 byte"}
		}
		c.maxBytes = n
		return nil
	})
}

// WithMaxAge sets the longest time a record waits for its batch to fill
// (default 1 s): a batch is sent once its oldest record is this old (with
// several send lanes, a lane's batch once the lane's oldest record is).
func WithMaxAge(d time.Duration) ProducerOption {
	return producerOptionFunc(func(c *producerConfig) error {
		if d <= 0 {
			return &OptionError{Option: "WithMaxAge", Value: d, Expected: "a positive duration"}
		}
		c.maxAge = d
		return nil
	})
}

// WithSendRetry sets the backoff after a failed send (default
// DefaultSendRetry); Initial, Multiplier, MaxInterval and Jitter are used
// as the consumer uses them. MaxAttempts bounds a record's sends that fail
// with a transient error: the record whose MaxAttempts-th send fails is
// refused (dead-lettered with WithProducerDLQ, else dropped and reported;
// see Producer). 0, the default, retries for ever. A permanent error
// (driver.IsPermanent) refuses the record at its first failed send,
// whatever MaxAttempts. A record that was not written only because an
// earlier record of its partition failed (driver.ErrPrecedingRecordFailed)
// is not counted. The backoff also paces the retries of a failed DLQ
// write.
func WithSendRetry(p RetryPolicy) ProducerOption {
	return producerOptionFunc(func(c *producerConfig) error {
		if p.MaxAttempts < 0 {
			return &OptionError{Option: "WithSendRetry: RetryPolicy.MaxAttempts", Value: p.MaxAttempts, Expected: "0 (retry for ever) or at least 1"}
		}
		v := p
		v.MaxAttempts = max(v.MaxAttempts, 1) // 0 is valid here
		if err := v.Validate(); err != nil {
			if oe, ok := err.(*OptionError); ok {
				oe.Option = "WithSendRetry: " + oe.Option
			}
			return err
		}
		c.retry = p
		return nil
	})
}

// WithSendLanes sets the number of send lanes (default 4, at most 64):
// how many batches may be in flight at once. A record goes to lane
// hash(Key) mod n (FNV-1a of the key; records without a key all go to
// lane 0), so the records of one key always share a lane and are never in
// two concurrent writes: they keep their order. Each lane has its own
// queue, its own batches (of at most MaxRecords records and MaxBytes
// bytes, due when the lane holds 1/n of either, or when its oldest record
// is MaxAge old), its own writer (Stream.OpenWriter, opened at the lane's
// first batch) with one Write in flight at a time, and its own hold and
// backoff after a failed write: while one lane holds, the others go on
// sending, so a key the backend keeps refusing holds back only the keys of
// its lane (until the buffer fills). The buffer bound (WithBufferLimit),
// Flush, Close and Stats cover every lane.
//
// More lanes overlap more round trips to the backend, which pays when the
// producer waits on the backend's latency (small batches); when the
// backend or the CPU is the bound (large batches, say), they add nothing
// and their concurrent writes may cost some throughput: measure, and try
// fewer. WithSendLanes(1) sends one batch at a time, cut from the records
// of every key in Put order, as producers did before lanes.
func WithSendLanes(n int) ProducerOption {
	return producerOptionFunc(func(c *producerConfig) error {
		if n < 1 || n > maxSendLanes {
			return &OptionError{Option: "WithSendLanes", Value: n, Expected: fmt.Sprintf("between 1 and %d lanes", maxSendLanes)}
		}
		c.sendLanes = n
		return nil
	})
}

// WithBufferLimit bounds the records waiting in memory (and in the WAL):
// at most records records (default 100000) and bytes bytes of Record.Size
// (default 64 MiB). At the bound, Put blocks until there is room, or
// returns ErrBufferFull (see WithBlockWhenFull). A record larger than bytes
// is accepted when the buffer is empty.
func WithBufferLimit(records, bytes int) ProducerOption {
	return producerOptionFunc(func(c *producerConfig) error {
		if records < 1 {
			return &OptionError{Option: "WithBufferLimit", Value: records, Expected: "at least 1 record"}
		}
		if bytes < 1 {
			return &OptionError{Option: "WithBufferLimit", Value: bytes, Expected: "at least 1 byte"}
		}
		c.bufferRecords, c.bufferBytes = records, bytes
		return nil
	})
}

// WithBlockWhenFull says what Put does at the buffer bound: wait for room
// (true, the default; the wait ends with Put's context) or return
// ErrBufferFull at once (false).
func WithBlockWhenFull(block bool) ProducerOption {
	return producerOptionFunc(func(c *producerConfig) error {
		c.block = block
		return nil
	})
}

// WithIDFunc sets the function that gives an ID to each record Put without
// one. It must return unique, non-empty strings and be safe for concurrent
// use. The default makes UUIDv7 strings: a millisecond timestamp, a
// counter within the millisecond and random bits drawn once per producer,
// so that one producer's IDs strictly increase and different producers'
// differ.
func WithIDFunc(f func() string) ProducerOption {
	return producerOptionFunc(func(c *producerConfig) error {
		if f == nil {
			return &OptionError{Option: "WithIDFunc", Value: nil, Expected: "a non-nil func() string"}
		}
		c.idFunc = f
		return nil
	})
}

// WithProducerDLQ sets the sink of the records the stream refuses for
// good (a permanent error, or MaxAttempts failed sends; see
// WithSendRetry): each is written to it in a dlq.Envelope (Reason
// "permanent" or "exhausted", the last error, the attempts; Source names
// the stream, without a partition or pointer; Consumer is empty) and only
// then acknowledged in the WAL. A write to the sink that fails holds the
// record's send lane and is retried until it succeeds. Without it, refused
// records are dropped and reported (see Producer). The producer does not
// close the sink.
func WithProducerDLQ(sink dlq.Sink) ProducerOption {
	return producerOptionFunc(func(c *producerConfig) error {
		if sink == nil {
			return &OptionError{Option: "WithProducerDLQ", Value: nil, Expected: "a non-nil dlq.Sink"}
		}
		c.dlq = sink
		return nil
	})
}

// PutHook sees each record Put accepts, with Put's context, before the
// producer checks and copies it: see WithPutHook.
type PutHook func(ctx context.Context, r *Record)

// WithPutHook makes Put call hook with its context and the record, before
// it gives the record an ID, checks it and copies it into its buffer: the
// hook may change the record (its headers, say), and the record is sent as
// the hook left it. It is how otelstream.TracePut writes the trace
// context of Put's context into the record's headers; another use is to
// stamp every record with a header taken from the context, such as a
// tenant or a request ID.
//
// The hook runs on the goroutine that calls Put, on every Put, so it must
// be cheap and safe for concurrent use. It must not keep r or its slices
// after it returns, and it must not write into the slices r holds (they
// are the caller's until Put copies them): to change the headers, set
// r.Headers to a new slice. Several WithPutHook options run in the order
// given.
func WithPutHook(hook PutHook) ProducerOption {
	return producerOptionFunc(func(c *producerConfig) error {
		if hook == nil {
			return &OptionError{Option: "WithPutHook", Value: nil, Expected: "a non-nil stream.PutHook"}
		}
		c.putHooks = append(c.putHooks, hook)
		return nil
	})
}

// withWALOptions sets low-level WAL options (fault injection, compaction
// size) for tests.
func withWALOptions(o wal.Options) ProducerOption {
	return producerOptionFunc(func(c *producerConfig) error {
		strict := c.walOpts.NoRepair // WithWALStrict, in either order
		c.walOpts = o
		c.walOpts.NoRepair = c.walOpts.NoRepair || strict
		return nil
	})
}
