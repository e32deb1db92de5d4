// Package config is the model of the unistream configuration file: one YAML
// file holding the stream, checkpoint and DLQ URLs and the consumer and
// producer options, which every `unistream` command takes with --config.
// Environment variables (UNISTREAM_*) override the file, and command-line
// flags override both.
//
// Every key has one dotted name ("consumer.retry.max_attempts"), one
// environment variable (UNISTREAM_CONSUMER_RETRY_MAX_ATTEMPTS) and one
// expected form; an error names the file, line and key, or the variable,
// and that form.
//
//	stream: kafka://127.0.0.1:9092/orders
//	checkpoint: file:///var/lib/billing/checkpoints
//	dlq: file:///var/lib/billing/orders.dlq.jsonl
//	consumer:
//	  name: billing
//	  batch_size: 100
//	  retry: {max_attempts: 5, initial: 1s, max_interval: 1m}
//	producer:
//	  wal: /var/lib/billing/producer.wal
//
// Load it, apply the environment, then the flags, and build the options:
//
//	cfg, err := config.Load("unistream.yaml")
//	err = cfg.ApplyEnv(os.LookupEnv)
//	err = cfg.Set("consumer.batch_size", "500", "flag --batch-size")
//	opts, err := cfg.ConsumerOptions()
package config

import (
	"fmt"
	"os"
	"time"

	"github.com/unistream-go/unistream/stream/checkpoint"
)

// EnvPrefix starts every environment variable the configuration reads.
const EnvPrefix = "UNISTREAM_"

// Config is the whole configuration. Zero fields mean "not set": the
// library's default applies.
type Config struct {
	// Stream is the stream URL (kafka://…, pulsar://…, kinesis://…, mem://…).
	Stream string
	// Checkpoint is the checkpoint store URL (file:///DIR, mem://, dynamodb://…).
	Checkpoint string
	// DLQ is the dead-letter sink URL (file:///PATH.jsonl or a stream URL).
	DLQ string
	// ConnectTimeout bounds opening a stream (connecting to its brokers).
	ConnectTimeout time.Duration
	// MetricsAddr, HOST:PORT, makes consume and produce serve their
	// metrics in the Prometheus text format on http://HOST:PORT/metrics
	// (port 0: a free port); empty: no metrics endpoint.
	MetricsAddr string
	// OTLPEndpoint, an http:// or https:// base URL, makes consume and
	// produce push their traces and metrics over OTLP/HTTP to its
	// /v1/traces and /v1/metrics; empty: no OTLP export.
	OTLPEndpoint string
	// Consumer holds the consumer options.
	Consumer Consumer
	// Producer holds the producer options.
	Producer Producer

	// sources says where each set key came from, for messages.
	sources map[string]string
}

// Consumer holds the consumer engine's options (see stream.With*).
type Consumer struct {
	Name             string
	BatchSize        int
	PollInterval     time.Duration
	Concurrency      int
	OrderKey         string // "", "key" or "none"
	OnExhausted      string // "", "dead_letter" or "halt"
	Start            string // "", "earliest", "latest" or an RFC 3339 time
	Partitions       []string
	DrainTimeout     time.Duration
	AttemptTimeout   time.Duration
	PartitionRefresh time.Duration
	// CommitRecords and CommitInterval are stream.CommitPolicy; either set
	// (see Source) replaces stream.DefaultCommit.
	CommitRecords  int
	CommitInterval time.Duration
	Retry          Retry
	// Group makes the consumer a member of the backend's consumer group of
	// this name (stream.WithGroup): Kafka consumer groups, Pulsar Failover
	// subscriptions.
	Group string
	// Leases shares the stream's partitions with other workers through
	// leases kept in the checkpoint store (stream.WithLeases); the store
	// must implement checkpoint.Leaser.
	Leases bool
	// WorkerID names this worker in its leases (stream.WithWorkerID);
	// empty: the library's default, host name, process id and a random
	// suffix.
	WorkerID string
	// LeaseDuration and LeaseRenewInterval are stream.WithLeaseDuration
	// and stream.WithLeaseRenewInterval; zero: the library's defaults.
	LeaseDuration      time.Duration
	LeaseRenewInterval time.Duration
}

// Retry is a retry policy; zero fields take the engine's default.
type Retry struct {
	MaxAttempts int
	Initial     time.Duration
	Multiplier  float64
	MaxInterval time.Duration
	Jitter      *bool
}

// Producer holds the producer engine's options.
type Producer struct {
	WAL           string
	WALStrict     bool   // refuse to repair a torn WAL tail
	Fsync         string // "", "always", "batch" or an interval such as "100ms"
	MaxRecords    int
	MaxBytes      int
	MaxAge        time.Duration
	BufferRecords int
	BufferBytes   int
	SendLanes     int // 0: the engine's default (stream.DefaultSendLanes)
	Retry         Retry
	// DLQ is the URL of the sink of the records the stream refuses for
	// good (stream.WithProducerDLQ); empty: such records are dropped and
	// reported.
	DLQ string
}

// Source returns where key was last set ("file x.yaml line 3", "env
// UNISTREAM_STREAM", "flag --stream"), or "" if it was not set.
func (c *Config) Source(key string) string { return c.sources[key] }

// Load reads the YAML file at path. A missing file, bad YAML, an unknown
// key or a bad value is an error naming the file, the line, the key and the
// expected form.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	return Parse(path, data)
}

// Parse reads a configuration from YAML data; name names it in errors.
func Parse(name string, data []byte) (*Config, error) {
	c := &Config{}
	if err := c.parseYAML(name, data); err != nil {
		return nil, err
	}
	// Keys that contradict each other within the file are its error; those
	// set later by the environment or flags are ConsumerOptions'.
	if err := c.checkSharing(); err != nil {
		return nil, err
	}
	return c, nil
}

// ApplyEnv sets every key whose environment variable lookup finds, such as
// UNISTREAM_STREAM or UNISTREAM_CONSUMER_BATCH_SIZE (see Keys). Pass
// os.LookupEnv. An empty value is ignored.
func (c *Config) ApplyEnv(lookup func(string) (string, bool)) error {
	for _, k := range keys {
		v, ok := lookup(k.Env())
		if !ok || v == "" {
			continue
		}
		if err := c.Set(k.Name, v, "environment variable "+k.Env()); err != nil {
			return err
		}
	}
	return nil
}

// Set sets key from its text form; source names where the value came from
// in an error ("flag --batch-size").
func (c *Config) Set(key, value, source string) error {
	k, ok := keyIndex[key]
	if !ok {
		return fmt.Errorf("%s: unknown key %q (expected one of %s)", source, key, keyNames())
	}
	if err := k.set(c, value); err != nil {
		if k.url {
			value = checkpoint.RedactURL(value)
		}
		return &ValueError{Source: source, Key: key, Value: value, Expected: k.Expected, Err: err}
	}
	if c.sources == nil {
		c.sources = map[string]string{}
	}
	c.sources[key] = source
	return nil
}

// ValueError is a bad value of one key.
type ValueError struct {
	Source   string // "config file x.yaml line 4", "environment variable UNISTREAM_…", "flag --…"
	Key      string
	Value    string
	Expected string
	Err      error
}

func (e *ValueError) Error() string {
	return fmt.Sprintf("%s: %s: got %q, expected %s", e.Source, e.Key, e.Value, e.Expected)
}

// Unwrap returns the parse error.
func (e *ValueError) Unwrap() error { return e.Err }
