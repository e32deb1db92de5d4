package config

import (
	"errors"
	"fmt"
	"time"

	"github.com/unistream-go/unistream/stream"
)

// RetryPolicy returns r over base: the fields r sets replace base's.
func (r Retry) RetryPolicy(base stream.RetryPolicy) stream.RetryPolicy {
	if r.MaxAttempts > 0 {
		base.MaxAttempts = r.MaxAttempts
	}
	if r.Initial > 0 {
		base.Initial = r.Initial
	}
	if r.Multiplier >= 1 {
		base.Multiplier = r.Multiplier
	}
	if r.MaxInterval > 0 {
		base.MaxInterval = r.MaxInterval
	}
	if base.MaxInterval < base.Initial {
		base.MaxInterval = base.Initial
	}
	if r.Jitter != nil {
		base.Jitter = *r.Jitter
	}
	return base
}

// StartPosition returns the consumer's start position.
func (c Consumer) StartPosition() (stream.Start, error) {
	switch c.Start {
	case "", "earliest":
		return stream.Earliest(), nil
	case "latest":
		return stream.Latest(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, c.Start)
	if err != nil {
		return stream.Start{}, fmt.Errorf("consumer.start %q: expected earliest, latest or an RFC 3339 time", c.Start)
	}
	return stream.AtTime(t), nil
}

// ConsumerOptions returns the consumer options the configuration sets
// (name, batch, poll interval, concurrency, commit cadence, order key, retry, on-exhausted,
// start, partitions and timeouts). The checkpoint store, DLQ sink and
// observer are the caller's: open them from Checkpoint and DLQ.
func (c *Config) ConsumerOptions() ([]stream.ConsumerOption, error) {
	k := c.Consumer
	var opts []stream.ConsumerOption
	if k.Name != "" {
		opts = append(opts, stream.WithName(k.Name))
	}
	if k.BatchSize > 0 {
		opts = append(opts, stream.WithBatchSize(k.BatchSize))
	}
	if k.PollInterval > 0 {
		opts = append(opts, stream.WithPollInterval(k.PollInterval))
	}
	if k.Concurrency > 0 {
		opts = append(opts, stream.WithConcurrency(k.Concurrency))
	}
	if c.Source("consumer.commit_records") != "" || c.Source("consumer.commit_interval") != "" {
		p := stream.CommitPolicy{Records: k.CommitRecords, Interval: k.CommitInterval}
		if c.Source("consumer.commit_interval") == "" && p.Records != 1 {
			p.Interval = stream.DefaultCommit.Interval
		}
		opts = append(opts, stream.WithCommit(p))
	}
	if k.OrderKey == "key" || (k.OrderKey == "" && k.Concurrency > 1) {
		opts = append(opts, stream.WithOrderKey(func(r *stream.Record) string { return string(r.Key) }))
	}
	opts = append(opts, stream.WithRetry(k.Retry.RetryPolicy(stream.DefaultRetry)))
	if k.OnExhausted == "halt" {
		opts = append(opts, stream.WithOnExhausted(stream.Halt))
	}
	start, err := k.StartPosition()
	if err != nil {
		return nil, err
	}
	opts = append(opts, stream.WithStart(start))
	if len(k.Partitions) > 0 {
		opts = append(opts, stream.WithPartitions(k.Partitions...))
	}
	if k.DrainTimeout > 0 {
		opts = append(opts, stream.WithDrainTimeout(k.DrainTimeout))
	}
	if k.AttemptTimeout > 0 {
		opts = append(opts, stream.WithAttemptTimeout(k.AttemptTimeout))
	}
	if k.PartitionRefresh > 0 {
		opts = append(opts, stream.WithPartitionRefresh(k.PartitionRefresh))
	}
	return opts, nil
}

// ProducerOptions returns the producer options the configuration sets: the
// WAL (or WithoutWAL when producer.wal is empty), fsync, batch bounds,
// buffer bounds and retry. The observer is the caller's.
func (c *Config) ProducerOptions() ([]stream.ProducerOption, error) {
	p := c.Producer
	var opts []stream.ProducerOption
	if p.WAL != "" {
		opts = append(opts, stream.WithWAL(p.WAL))
		if p.WALStrict {
			opts = append(opts, stream.WithWALStrict())
		}
	} else {
		if p.WALStrict {
			return nil, errors.New("producer.wal_strict is set without producer.wal: expected a WAL file to be strict about")
		}
		opts = append(opts, stream.WithoutWAL())
	}
	switch p.Fsync {
	case "":
	case "always":
		opts = append(opts, stream.WithFsync(stream.FsyncAlways))
	case "batch":
		opts = append(opts, stream.WithFsync(stream.FsyncPerBatch))
	default:
		d, err := time.ParseDuration(p.Fsync)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("producer.fsync %q: expected always, batch or an interval such as 100ms", p.Fsync)
		}
		opts = append(opts, stream.WithFsync(stream.FsyncInterval(d)))
	}
	if p.MaxRecords > 0 {
		opts = append(opts, stream.WithMaxRecords(p.MaxRecords))
	}
	if p.MaxBytes > 0 {
		opts = append(opts, stream.WithMaxBytes(p.MaxBytes))
	}
	if p.MaxAge > 0 {
		opts = append(opts, stream.WithMaxAge(p.MaxAge))
	}
	if p.BufferRecords > 0 || p.BufferBytes > 0 {
		r, b := p.BufferRecords, p.BufferBytes
		if r == 0 {
			r = stream.DefaultBufferRecords
		}
		if b == 0 {
			b = stream.DefaultBufferBytes
		}
		opts = append(opts, stream.WithBufferLimit(r, b))
	}
	if p.SendLanes > 0 {
		opts = append(opts, stream.WithSendLanes(p.SendLanes))
	}
	opts = append(opts, stream.WithProducerRetry(p.Retry.RetryPolicy(stream.DefaultProducerRetry)))
	return opts, nil
}
