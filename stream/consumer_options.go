package stream

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/dlq"
	"github.com/unistream-go/unistream/stream/driver"
)

// OnExhausted says what the consumer does with a record that has used all
// its attempts (or failed permanently).
type OnExhausted uint8

const (
	// DeadLetter writes the record to the DLQ and goes on. If the DLQ cannot
	// be written, the partition halts: nothing is skipped.
	DeadLetter OnExhausted = iota
	// Halt stops the partition at the record, durably: a restart does not
	// skip it. An operator resumes it with `unistream checkpoint retry` or
	// `checkpoint skip` (checkpoint.Checkpoint.Retry / Skip).
	Halt
)

// String returns "dead_letter" or "halt".
func (o OnExhausted) String() string {
	switch o {
	case DeadLetter:
		return "dead_letter"
	case Halt:
		return "halt"
	}
	return fmt.Sprintf("OnExhausted(%d)", uint8(o))
}

// Consumer defaults.
const (
	DefaultBatchSize        = 100
	DefaultPollInterval     = 500 * time.Millisecond
	DefaultDrainTimeout     = 30 * time.Second
	DefaultPartitionRefresh = 10 * time.Second
	DefaultConsumerName     = "default"
)

// DefaultDLQRetry is how writing a DLQ envelope is retried before the
// partition halts: 5 attempts, 100 ms doubling to 5 s.
var DefaultDLQRetry = RetryPolicy{MaxAttempts: 5, Initial: 100 * time.Millisecond, Multiplier: 2, MaxInterval: 5 * time.Second, Jitter: true}

// DefaultFetchRetry is the backoff between failed reads of a partition (and
// of its partition list): 100 ms doubling to 10 s, with full jitter. Reads
// are retried until the consumer stops; MaxAttempts is not used.
var DefaultFetchRetry = RetryPolicy{MaxAttempts: 1, Initial: 100 * time.Millisecond, Multiplier: 2, MaxInterval: 10 * time.Second, Jitter: true}

// ConsumerOption configures a Consumer. The options shared with the
// producer (WithClock, WithObserver, WithLogger) are an Option, which is both a
// ConsumerOption and a ProducerOption.
type ConsumerOption interface {
	applyToConsumer(*consumerConfig) error
}

// consumerOptionFunc is a ConsumerOption made of a function.
type consumerOptionFunc func(*consumerConfig) error

func (f consumerOptionFunc) applyToConsumer(c *consumerConfig) error { return f(c) }

// Option configures a Consumer or a Producer alike: WithClock,
// WithObserver and WithLogger.
type Option interface {
	ConsumerOption
	ProducerOption
}

// sharedOption is an Option: one setting applied to either config.
type sharedOption struct {
	consumer consumerOptionFunc
	producer producerOptionFunc
}

func (o sharedOption) applyToConsumer(c *consumerConfig) error { return o.consumer(c) }
func (o sharedOption) applyToProducer(c *producerConfig) error { return o.producer(c) }

type consumerConfig struct {
	name             string
	nameSet          bool // WithName was given
	group            string
	batchSize        int
	pollInterval     time.Duration
	concurrency      int
	orderKey         func(*Record) string
	retry            RetryPolicy
	onExhausted      OnExhausted
	dlq              dlq.Sink
	dlqRetry         RetryPolicy
	fetchRetry       RetryPolicy
	store            checkpoint.Store
	commit           CommitPolicy
	drainTimeout     time.Duration
	start            Start
	observer         Observer
	logger           *slog.Logger // WithLogger
	logs             *logObserver // logs logger's events, or nil (see logged)
	events           eventMask    // the kinds of events observer or logs want
	clock            Clock
	rand             func() float64
	attemptTimeout   time.Duration
	partitionRefresh time.Duration
	partitions       map[string]bool
	middleware       []func(Handler) Handler // WithHandlerMiddleware, in the order given
	// join, when set, makes Run take its partitions from a group instead of
	// owning them all: the stream's native groups (WithGroup) or leases in
	// the checkpoint store. Run calls it once and serves r until it stops,
	// then calls Membership.Leave.
	join func(ctx context.Context, c *Consumer, r driver.Rebalance) (driver.Membership, error)
}

func defaultConsumerConfig() consumerConfig {
	return consumerConfig{
		name:             DefaultConsumerName,
		batchSize:        DefaultBatchSize,
		pollInterval:     DefaultPollInterval,
		concurrency:      1,
		retry:            DefaultRetry,
		dlqRetry:         DefaultDLQRetry,
		commit:           DefaultCommit,
		fetchRetry:       DefaultFetchRetry,
		drainTimeout:     DefaultDrainTimeout,
		start:            Earliest(),
		clock:            SystemClock{},
		logger:           discardLogger,
		partitionRefresh: DefaultPartitionRefresh,
	}
}

// WithName sets the consumer name: checkpoints are kept per name, so two
// consumers with different names read the stream independently. Default
// "default".
func WithName(name string) ConsumerOption {
	return consumerOptionFunc(func(c *consumerConfig) error {
		if name == "" {
			return &OptionError{Option: "WithName", Value: `""`, Expected: "a non-empty consumer name"}
		}
		c.name = name
		c.nameSet = true
		return nil
	})
}

// WithGroup makes the consumer one member of the named group of the
// stream's backend (a Kafka consumer group, say): instead of owning every
// partition, Run owns those the group assigns to this process, and hands
// them over when the group rebalances. On a revoke the partition stops
// fetching, lets its in-flight handlers finish (bounded by the drain
// timeout) and persists before the next owner gets it, so that owner
// resumes from the checkpoint exactly; a partition lost without a handover
// (an expired session) is stopped at once and its saves are refused.
//
// The stream must implement driver.Grouper (NewConsumer fails otherwise).
// The consumer name, whose checkpoints the members share, defaults to the
// group name; WithName overrides it. WithGroup cannot be combined with
// WithPartitions.
func WithGroup(name string) ConsumerOption {
	return consumerOptionFunc(func(c *consumerConfig) error {
		if name == "" {
			return &OptionError{Option: "WithGroup", Value: `""`, Expected: "a non-empty group name"}
		}
		c.group = name
		c.join = func(ctx context.Context, co *Consumer, r driver.Rebalance) (driver.Membership, error) {
			g, ok := co.s.d.(driver.Grouper)
			if !ok {
				return nil, errNoGroups(co.s, name)
			}
			return g.JoinGroup(ctx, name, r)
		}
		return nil
	})
}

// errNoGroups is the error of WithGroup on a stream that is not a
// driver.Grouper.
func errNoGroups(s *Stream, group string) error {
	scheme := fmt.Sprintf("of scheme %q", s.Scheme())
	if s.Scheme() == "" {
		scheme = "(its driver tells no scheme)"
	}
	return &OptionError{Option: "WithGroup", Value: group,
		Expected: fmt.Sprintf("a stream whose backend assigns partitions to group members (driver.Grouper); stream %q %s does not", s.Name(), scheme)}
}

// WithBatchSize sets how many records are fetched and checkpointed as one
// batch (default 100). It is capped by nothing but memory.
func WithBatchSize(n int) ConsumerOption {
	return consumerOptionFunc(func(c *consumerConfig) error {
		if n < 1 {
			return &OptionError{Option: "WithBatchSize", Value: n, Expected: "at least 1"}
		}
		c.batchSize = n
		return nil
	})
}

// WithPollInterval sets the wait after an empty fetch (default 500 ms).
func WithPollInterval(d time.Duration) ConsumerOption {
	return consumerOptionFunc(func(c *consumerConfig) error {
		if d <= 0 {
			return &OptionError{Option: "WithPollInterval", Value: d, Expected: "a positive duration"}
		}
		c.pollInterval = d
		return nil
	})
}

// WithConcurrency runs up to n records of a batch at once. Records with the
// same order key (the record key by default, see WithOrderKey) still run one
// after another, in order. The default 1 is strictly sequential: a record
// waiting for its retry holds back the rest of its partition.
func WithConcurrency(n int) ConsumerOption {
	return consumerOptionFunc(func(c *consumerConfig) error {
		if n < 1 {
			return &OptionError{Option: "WithConcurrency", Value: n, Expected: "at least 1"}
		}
		c.concurrency = n
		return nil
	})
}

// WithOrderKey sets the key that keeps records sequential under
// WithConcurrency. The default is the record key.
func WithOrderKey(f func(*Record) string) ConsumerOption {
	return consumerOptionFunc(func(c *consumerConfig) error {
		if f == nil {
			return &OptionError{Option: "WithOrderKey", Value: nil, Expected: "a non-nil function"}
		}
		c.orderKey = f
		return nil
	})
}

// WithRetry sets the handler retry policy (default DefaultRetry).
func WithRetry(p RetryPolicy) ConsumerOption {
	return consumerOptionFunc(func(c *consumerConfig) error {
		if err := p.Validate(); err != nil {
			return fmt.Errorf("WithRetry: %w", err)
		}
		c.retry = p
		return nil
	})
}

// WithOnExhausted chooses DeadLetter (the default) or Halt.
func WithOnExhausted(o OnExhausted) ConsumerOption {
	return consumerOptionFunc(func(c *consumerConfig) error {
		if o != DeadLetter && o != Halt {
			return &OptionError{Option: "WithOnExhausted", Value: o, Expected: "stream.DeadLetter or stream.Halt"}
		}
		c.onExhausted = o
		return nil
	})
}

// WithDLQ sets the dead-letter sink. It is required with DeadLetter.
func WithDLQ(s dlq.Sink) ConsumerOption {
	return consumerOptionFunc(func(c *consumerConfig) error {
		if s == nil {
			return &OptionError{Option: "WithDLQ", Value: nil, Expected: "a non-nil dlq.Sink"}
		}
		c.dlq = s
		return nil
	})
}

// WithDLQRetry sets how a DLQ write is retried before the partition halts
// (default DefaultDLQRetry).
func WithDLQRetry(p RetryPolicy) ConsumerOption {
	return consumerOptionFunc(func(c *consumerConfig) error {
		if err := p.Validate(); err != nil {
			return fmt.Errorf("WithDLQRetry: %w", err)
		}
		c.dlqRetry = p
		return nil
	})
}

// WithFetchRetry sets the backoff between failed reads from the backend
// (default DefaultFetchRetry). A transient read failure never ends Run:
// the partition waits and tries again, reopening its reader after repeated
// failures, until the consumer stops. A start pointer that is no longer in
// the partition is not retried: it ends Run with an error matching
// driver.ErrPointerNotFound; nor is a permanent read error
// (driver.IsPermanent), which ends Run with an error naming the partition.
func WithFetchRetry(p RetryPolicy) ConsumerOption {
	return consumerOptionFunc(func(c *consumerConfig) error {
		if err := p.Validate(); err != nil {
			return fmt.Errorf("WithFetchRetry: %w", err)
		}
		c.fetchRetry = p
		return nil
	})
}

// WithCheckpointStore sets where progress is persisted; NewConsumer needs
// it. checkpoint.NewMemoryStore() forgets everything when the process ends
// (tests, demos); in production use a file store (checkpoint.NewFileStore)
// or a durable shared one.
func WithCheckpointStore(s checkpoint.Store) ConsumerOption {
	return consumerOptionFunc(func(c *consumerConfig) error {
		if s == nil {
			return &OptionError{Option: "WithCheckpointStore", Value: nil, Expected: "a non-nil checkpoint.Store"}
		}
		c.store = s
		return nil
	})
}

// CommitPolicy says how often the consumer commits: saves the progress of
// the records that succeeded (or were skipped or dead-lettered) since the
// last commit. A batch is always committed when it is done. Outcomes that
// must survive a restart are saved when they happen, whatever the policy:
// a handler error (its attempt count and next retry time), a permanent
// error, a skip, a DLQ write and a halt. After a crash, the records that
// succeeded since the last commit are handed to the handler again.
type CommitPolicy struct {
	// Records commits once this many records have become final since the
	// last commit; 0 leaves it to the end of the batch and Interval. 1 is
	// per-record mode (CommitPerRecord): every attempt is saved
	// in_progress before its handler runs and its outcome after, so a
	// crash repeats at most the attempts it interrupted.
	Records int
	// Interval commits at least this often while records become final; 0
	// leaves it to the end of the batch and Records.
	Interval time.Duration
}

// DefaultCommit commits at the end of each batch and at least every second.
var DefaultCommit = CommitPolicy{Interval: time.Second}

// CommitPerRecord saves around every attempt, as careful mode does: for
// handlers whose side effects are expensive to repeat. It costs two
// checkpoint saves per record.
var CommitPerRecord = CommitPolicy{Records: 1}

// perRecord reports whether p saves around every attempt.
func (p CommitPolicy) perRecord() bool { return p.Records == 1 }

// WithCommit sets the commit cadence (default DefaultCommit: at the end of
// each batch and at least every second).
func WithCommit(p CommitPolicy) ConsumerOption {
	return consumerOptionFunc(func(c *consumerConfig) error {
		if p.Records < 0 {
			return &OptionError{Option: "WithCommit", Value: p.Records, Expected: "CommitPolicy.Records of 0 (end of batch) or more"}
		}
		if p.Interval < 0 {
			return &OptionError{Option: "WithCommit", Value: p.Interval, Expected: "CommitPolicy.Interval of 0 (none) or a positive duration"}
		}
		c.commit = p
		return nil
	})
}

// WithDrainTimeout bounds how long a graceful stop waits for in-flight
// handlers; then their context is cancelled (default 30 s).
func WithDrainTimeout(d time.Duration) ConsumerOption {
	return consumerOptionFunc(func(c *consumerConfig) error {
		if d <= 0 {
			return &OptionError{Option: "WithDrainTimeout", Value: d, Expected: "a positive duration"}
		}
		c.drainTimeout = d
		return nil
	})
}

// WithStart sets where a partition without a checkpoint starts (default
// Earliest). A partition with a checkpoint always resumes from it.
func WithStart(s Start) ConsumerOption {
	return consumerOptionFunc(func(c *consumerConfig) error {
		c.start = s
		return nil
	})
}

// WithObserver receives the events of a consumer (attempts, commits,
// halts, ...) or of a producer (EventProducerEmit, Sent, Failed, Hold,
// Replayed). Nil means none.
func WithObserver(o Observer) Option {
	return sharedOption{
		consumer: func(c *consumerConfig) error { c.observer = o; return nil },
		producer: func(c *producerConfig) error { c.observer = o; return nil },
	}
}

// WithClock replaces the clock (default SystemClock): a consumer's retry
// times, commit interval and waits; a producer's record times, batch ages
// and backoff waits. Tests pass a streamtest.FakeClock.
func WithClock(cl Clock) Option {
	check := func() error {
		if cl == nil {
			return &OptionError{Option: "WithClock", Value: nil, Expected: "a non-nil Clock"}
		}
		return nil
	}
	return sharedOption{
		consumer: func(c *consumerConfig) error { c.clock = cl; return check() }, // a nil clock fails NewConsumer
		producer: func(c *producerConfig) error { c.clock = cl; return check() }, // and NewProducer
	}
}

// WithRandom replaces the jitter source: f returns numbers in [0, 1).
func WithRandom(f func() float64) ConsumerOption {
	return consumerOptionFunc(func(c *consumerConfig) error {
		c.rand = f
		return nil
	})
}

// WithAttemptTimeout bounds each handler attempt; 0 (the default) means no
// bound beyond the consumer's own stop.
func WithAttemptTimeout(d time.Duration) ConsumerOption {
	return consumerOptionFunc(func(c *consumerConfig) error {
		if d < 0 {
			return &OptionError{Option: "WithAttemptTimeout", Value: d, Expected: "zero or a positive duration"}
		}
		c.attemptTimeout = d
		return nil
	})
}

// WithPartitionRefresh sets how often the partition list is re-read to pick
// up new partitions (default 10 s).
func WithPartitionRefresh(d time.Duration) ConsumerOption {
	return consumerOptionFunc(func(c *consumerConfig) error {
		if d <= 0 {
			return &OptionError{Option: "WithPartitionRefresh", Value: d, Expected: "a positive duration"}
		}
		c.partitionRefresh = d
		return nil
	})
}

// WithPartitions restricts the consumer to the named partitions (default:
// all). Two processes can split a stream by hand this way.
func WithPartitions(ids ...string) ConsumerOption {
	return consumerOptionFunc(func(c *consumerConfig) error {
		if len(ids) == 0 {
			return &OptionError{Option: "WithPartitions", Value: "none", Expected: "at least one partition id"}
		}
		c.partitions = make(map[string]bool, len(ids))
		for _, id := range ids {
			c.partitions[id] = true
		}
		return nil
	})
}

// WithHandlerMiddleware wraps the consumer's handler in mw, once, at
// NewConsumer: the consumer calls mw(h) in place of h for every attempt of
// every record, with the attempt's context (AttemptOf, and the attempt
// timeout if any), and treats what it returns as the handler's outcome. A
// panic in the handler goes through mw before the consumer turns it into
// an error. It is how otelstream.TraceHandler runs each attempt in a
// span; another use is to put values taken from the record's headers (a
// tenant, a request ID) into the handler's context, or to log each
// attempt. With several, the first given is the outermost.
func WithHandlerMiddleware(mw func(Handler) Handler) ConsumerOption {
	return consumerOptionFunc(func(c *consumerConfig) error {
		if mw == nil {
			return &OptionError{Option: "WithHandlerMiddleware", Value: nil, Expected: "a non-nil func(stream.Handler) stream.Handler"}
		}
		c.middleware = append(c.middleware, mw)
		return nil
	})
}
