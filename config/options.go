package config

import (
	"errors"
	"fmt"
	"time"

	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
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
// (name, group, batch, poll interval, concurrency, commit cadence, order
// key, retry, on-exhausted, start, partitions and timeouts). The checkpoint
// store, DLQ sink and observer are the caller's: open them from Checkpoint
// and DLQ. So is WithLeases, which needs the store: see Leases. The group
// and lease keys are checked here: a group and leases together, or a
// lease key without consumer.leases, is an error naming the keys.
func (c *Config) ConsumerOptions() ([]stream.ConsumerOption, error) {
	k := c.Consumer
	if err := c.checkSharing(); err != nil {
		return nil, err
	}
	var opts []stream.ConsumerOption
	if k.Group != "" {
		opts = append(opts, stream.WithGroup(k.Group))
	}
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

// from names a set key and where it was set: "consumer.leases (flag --leases)".
func (c *Config) from(key string) string {
	if src := c.Source(key); src != "" {
		return key + " (" + src + ")"
	}
	return key
}

// checkSharing checks the keys of the group and lease modes together.
func (c *Config) checkSharing() error {
	k := c.Consumer
	if k.Group != "" && k.Leases {
		return fmt.Errorf("%s and %s are both set: expected one way to share the stream, the backend's consumer group or leases in the checkpoint store", c.from("consumer.group"), c.from("consumer.leases"))
	}
	if !k.Leases {
		for _, key := range []string{"consumer.worker_id", "consumer.lease_duration", "consumer.lease_renew_interval"} {
			if c.Source(key) != "" {
				return fmt.Errorf("%s applies only with leases: set consumer.leases (--leases) too, or leave %s out", c.from(key), key)
			}
		}
		return nil
	}
	d, r := k.LeaseDuration, k.LeaseRenewInterval
	if d == 0 {
		d = stream.DefaultLeaseDuration
	}
	if r != 0 && 2*r >= d {
		return fmt.Errorf("%s %v: expected less than half of consumer.lease_duration %v", c.from("consumer.lease_renew_interval"), r, d)
	}
	return nil
}

// SharedStores names the checkpoint stores that several workers sharing a
// stream can all reach, for messages.
const SharedStores = "file:///DIR on a directory they all reach, dynamodb://TABLE, or postgres://USER@HOST/DB"

// Leases returns the stream.WithLeases option that consumer.leases asks
// for, keeping the leases in store with the worker id and lease timing the
// configuration sets, or nil when consumer.leases is off. A store that
// keeps no leases (no checkpoint.Leaser) is an error naming the checkpoint
// URL and the stores that do. extra lease options (a logger, say) come
// before the configuration's.
func (c *Config) Leases(store checkpoint.Store, extra ...stream.LeaseOption) (stream.ConsumerOption, error) {
	if err := c.checkSharing(); err != nil {
		return nil, err
	}
	k := c.Consumer
	if !k.Leases {
		return nil, nil
	}
	l, ok := store.(checkpoint.Leaser)
	if !ok {
		name := checkpoint.RedactURL(c.Checkpoint)
		return nil, fmt.Errorf("%s: the checkpoint store %s (%T) keeps no leases: expected a store with leases that every worker reaches, %s", c.from("consumer.leases"), name, store, SharedStores)
	}
	lopts := append([]stream.LeaseOption(nil), extra...)
	if k.WorkerID != "" {
		lopts = append(lopts, stream.WithWorkerID(k.WorkerID))
	}
	if k.LeaseDuration > 0 {
		lopts = append(lopts, stream.WithLeaseDuration(k.LeaseDuration))
	}
	if k.LeaseRenewInterval > 0 {
		lopts = append(lopts, stream.WithLeaseRenewInterval(k.LeaseRenewInterval))
	}
	return stream.WithLeases(l, lopts...), nil
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
	opts = append(opts, stream.WithSendRetry(p.Retry.RetryPolicy(stream.DefaultSendRetry)))
	return opts, nil
}
