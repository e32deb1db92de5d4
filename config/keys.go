package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Key describes one configuration key.
type Key struct {
	// Name is the dotted name, such as "consumer.retry.max_attempts".
	Name string
	// Expected describes the accepted values.
	Expected string
	// Doc is a one-line description.
	Doc string

	set func(c *Config, v string) error
	// list marks a key that takes a YAML sequence (or a comma-separated string).
	list bool
	// url marks a URL key, whose value errors show with its password
	// hidden (checkpoint.RedactURL).
	url bool
}

// Env returns the key's environment variable: UNISTREAM_ and the name in
// upper case with dots as underscores.
func (k Key) Env() string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(k.Name, ".", "_"))
}

// Keys returns every key, sorted by name.
func Keys() []Key {
	out := append([]Key(nil), keys...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

var keys = []Key{
	urlKey("stream", "the stream URL", func(c *Config) *string { return &c.Stream }),
	urlKey("checkpoint", "the checkpoint store URL (file:///DIR, mem://, dynamodb://…, postgres://…)", func(c *Config) *string { return &c.Checkpoint }),
	urlKey("dlq", "the DLQ URL (file:///PATH.jsonl or a stream URL)", func(c *Config) *string { return &c.DLQ }),
	durKey("connect_timeout", "bounds opening a stream", false, func(c *Config) *time.Duration { return &c.ConnectTimeout }),
	{Name: "metrics_addr", Expected: "HOST:PORT, such as 127.0.0.1:9464 (port 0: a free port)", Doc: "consume and produce serve their metrics in the Prometheus text format on http://HOST:PORT/metrics (empty: none)",
		set: func(c *Config, v string) error {
			if v != "" {
				if err := checkHostPort(v); err != nil {
					return err
				}
			}
			c.MetricsAddr = v
			return nil
		}},
	{Name: "otlp_endpoint", Expected: "http://HOST:PORT or https://HOST[:PORT][/PATH], the base URL of an OTLP/HTTP receiver such as http://127.0.0.1:4318 (/v1/traces and /v1/metrics are added to its path)", Doc: "consume and produce push their traces and metrics over OTLP/HTTP to this URL (empty: none)",
		set: func(c *Config, v string) error {
			if v != "" {
				if _, err := ParseOTLPEndpoint(v); err != nil {
					return err
				}
			}
			c.OTLPEndpoint = v
			return nil
		}},

	nameKey("consumer.name", "the consumer name; checkpoints are kept per name", func(c *Config) *string { return &c.Consumer.Name }),
	intKey("consumer.batch_size", "records fetched per batch", 1, func(c *Config) *int { return &c.Consumer.BatchSize }),
	durKey("consumer.poll_interval", "the wait after an empty fetch", false, func(c *Config) *time.Duration { return &c.Consumer.PollInterval }),
	intKey("consumer.concurrency", "records of a batch run in parallel", 1, func(c *Config) *int { return &c.Consumer.Concurrency }),
	intKey("consumer.commit_records", "commit after this many records are final (0: at the end of each batch; 1: save around every attempt, for handlers whose side effects are expensive to repeat)", 0, func(c *Config) *int { return &c.Consumer.CommitRecords }),
	durKey("consumer.commit_interval", "commit at least this often while records become final (default 1s)", true, func(c *Config) *time.Duration { return &c.Consumer.CommitInterval }),
	enumKey("consumer.order_key", "with concurrency, keep records of one key sequential (key) or not (none)", []string{"key", "none"}, func(c *Config) *string { return &c.Consumer.OrderKey }),
	enumKey("consumer.on_exhausted", "what happens to a record out of attempts", []string{"dead_letter", "halt"}, func(c *Config) *string { return &c.Consumer.OnExhausted }),
	{Name: "consumer.start", Expected: "earliest, latest or an RFC 3339 time such as 2026-01-02T15:04:05Z", Doc: "where a partition without a checkpoint starts",
		set: func(c *Config, v string) error {
			if v != "earliest" && v != "latest" {
				if _, err := time.Parse(time.RFC3339Nano, v); err != nil {
					return err
				}
			}
			c.Consumer.Start = v
			return nil
		}},
	{Name: "consumer.partitions", Expected: "a list of partition ids (a YAML sequence, or comma-separated)", Doc: "consume only these partitions", list: true,
		set: func(c *Config, v string) error {
			var ps []string
			for _, p := range strings.Split(v, ",") {
				p = strings.TrimSpace(p)
				if p == "" {
					return errors.New("empty partition id")
				}
				ps = append(ps, p)
			}
			c.Consumer.Partitions = ps
			return nil
		}},
	durKey("consumer.drain_timeout", "bounds the wait for in-flight handlers on stop", false, func(c *Config) *time.Duration { return &c.Consumer.DrainTimeout }),
	durKey("consumer.attempt_timeout", "bounds one handler attempt (0: none)", true, func(c *Config) *time.Duration { return &c.Consumer.AttemptTimeout }),
	durKey("consumer.partition_refresh", "how often the partition list is re-read", false, func(c *Config) *time.Duration { return &c.Consumer.PartitionRefresh }),
	nameKey("consumer.group", "share the stream as a member of the backend's consumer group of this name (Kafka consumer group, Pulsar Failover subscription); the consumer name defaults to it", func(c *Config) *string { return &c.Consumer.Group }),
	boolKey("consumer.leases", "share the stream with other workers through leases kept in the checkpoint store (any backend; a store with leases: file, dynamodb)", func(c *Config) *bool { return &c.Consumer.Leases }),
	nameKey("consumer.worker_id", "with leases, this worker's name in its leases, unique among the running workers (default: host name, process id and a random suffix)", func(c *Config) *string { return &c.Consumer.WorkerID }),
	durKey("consumer.lease_duration", "with leases, how long a lease lasts unrenewed: a dead worker's partitions are taken over after about this long (default 10s)", false, func(c *Config) *time.Duration { return &c.Consumer.LeaseDuration }),
	durKey("consumer.lease_renew_interval", "with leases, how often leases are renewed and partitions rebalanced, under half the lease duration (default a third of it)", false, func(c *Config) *time.Duration { return &c.Consumer.LeaseRenewInterval }),

	{Name: "producer.wal", Expected: "a file path", Doc: "the producer's write-ahead log (empty: none, records buffered in memory only)",
		set: func(c *Config, v string) error { c.Producer.WAL = v; return nil }},
	{Name: "producer.wal_strict", Expected: "true or false", Doc: "refuse to start on a WAL whose last write was torn, instead of cutting it",
		set: func(c *Config, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return err
			}
			c.Producer.WALStrict = b
			return nil
		}},
	{Name: "producer.fsync", Expected: "always, batch or an interval such as 100ms", Doc: "when the WAL is synced to disk",
		set: func(c *Config, v string) error {
			if v != "always" && v != "batch" {
				d, err := time.ParseDuration(v)
				if err != nil || d <= 0 {
					return errors.New("bad fsync policy")
				}
			}
			c.Producer.Fsync = v
			return nil
		}},
	intKey("producer.max_records", "records per batch", 1, func(c *Config) *int { return &c.Producer.MaxRecords }),
	sizeKey("producer.max_bytes", "bytes per batch", func(c *Config) *int { return &c.Producer.MaxBytes }),
	durKey("producer.max_age", "the longest a record waits for its batch", false, func(c *Config) *time.Duration { return &c.Producer.MaxAge }),
	intKey("producer.buffer_records", "records buffered before Put blocks", 1, func(c *Config) *int { return &c.Producer.BufferRecords }),
	sizeKey("producer.buffer_bytes", "bytes buffered before Put blocks", func(c *Config) *int { return &c.Producer.BufferBytes }),
	urlKey("producer.dlq", "the DLQ URL of the records the stream refuses for good (empty: they are dropped and reported)", func(c *Config) *string { return &c.Producer.DLQ }),
	intKey("producer.send_lanes", "batches in flight at once, records of one key in one lane (1 to 64)", 1, func(c *Config) *int { return &c.Producer.SendLanes }),
}

func init() {
	keys = append(keys, retryKeys("consumer.retry", func(c *Config) *Retry { return &c.Consumer.Retry })...)
	keys = append(keys, retryKeys("producer.retry", func(c *Config) *Retry { return &c.Producer.Retry })...)
	for _, k := range keys {
		keyIndex[k.Name] = k
	}
}

var keyIndex = map[string]Key{}

func keyNames() string {
	var names []string
	for _, k := range Keys() {
		names = append(names, k.Name)
	}
	return strings.Join(names, ", ")
}

func retryKeys(prefix string, r func(c *Config) *Retry) []Key {
	return []Key{
		intKey(prefix+".max_attempts", "attempts in all, the first included", 1, func(c *Config) *int { return &r(c).MaxAttempts }),
		durKey(prefix+".initial", "the wait before the first retry", false, func(c *Config) *time.Duration { return &r(c).Initial }),
		{Name: prefix + ".multiplier", Expected: "a number ≥ 1", Doc: "how much the wait grows per retry",
			set: func(c *Config, v string) error {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil || f < 1 || math.IsInf(f, 0) || math.IsNaN(f) {
					return errors.New("bad multiplier")
				}
				r(c).Multiplier = f
				return nil
			}},
		durKey(prefix+".max_interval", "the longest wait", false, func(c *Config) *time.Duration { return &r(c).MaxInterval }),
		{Name: prefix + ".jitter", Expected: "true or false", Doc: "full jitter: a random part of each wait",
			set: func(c *Config, v string) error {
				b, err := strconv.ParseBool(v)
				if err != nil {
					return err
				}
				r(c).Jitter = &b
				return nil
			}},
	}
}

func urlKey(name, doc string, f func(c *Config) *string) Key {
	return Key{Name: name, Expected: "a URL with a scheme (scheme://…, such as kafka://HOST:PORT/TOPIC or file:///PATH)", Doc: doc, url: true,
		set: func(c *Config, v string) error {
			i := strings.Index(v, ":")
			if i < 1 {
				return errors.New("no scheme")
			}
			for j := 0; j < i; j++ {
				b := v[j]
				if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || j > 0 && (b >= '0' && b <= '9' || b == '+' || b == '-' || b == '.')) {
					return errors.New("bad scheme")
				}
			}
			if !strings.HasPrefix(v[i:], "://") && v[:i] != "file" && v[:i] != "mem" {
				return errors.New("no //")
			}
			*f(c) = v
			return nil
		}}
}

// nameKey takes a non-empty name of printable characters.
func nameKey(name, doc string, f func(c *Config) *string) Key {
	return Key{Name: name, Expected: "a non-empty name of printable characters", Doc: doc,
		set: func(c *Config, v string) error {
			if v == "" || !utf8.ValidString(v) || strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
				return errors.New("bad name")
			}
			*f(c) = v
			return nil
		}}
}

// boolKey takes true or false.
func boolKey(name, doc string, f func(c *Config) *bool) Key {
	return Key{Name: name, Expected: "true or false", Doc: doc,
		set: func(c *Config, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return err
			}
			*f(c) = b
			return nil
		}}
}

func intKey(name, doc string, min int, f func(c *Config) *int) Key {
	return Key{Name: name, Expected: fmt.Sprintf("an integer ≥ %d", min), Doc: doc,
		set: func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil {
				return err
			}
			if n < min {
				return errors.New("too small")
			}
			*f(c) = n
			return nil
		}}
}

func durKey(name, doc string, zero bool, f func(c *Config) *time.Duration) Key {
	exp := "a positive duration such as 500ms, 10s or 2m"
	if zero {
		exp = "a duration such as 500ms, 10s or 2m (0 for none)"
	}
	return Key{Name: name, Expected: exp, Doc: doc,
		set: func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil {
				return err
			}
			if d < 0 || d == 0 && !zero {
				return errors.New("out of range")
			}
			*f(c) = d
			return nil
		}}
}

func enumKey(name, doc string, oneOf []string, f func(c *Config) *string) Key {
	return Key{Name: name, Expected: "one of " + strings.Join(oneOf, ", "), Doc: doc,
		set: func(c *Config, v string) error {
			for _, o := range oneOf {
				if v == o {
					*f(c) = v
					return nil
				}
			}
			return errors.New("not allowed")
		}}
}

// sizeKey takes a byte count: an integer, or with a unit KiB, MiB, GiB, KB, MB, GB.
func sizeKey(name, doc string, f func(c *Config) *int) Key {
	return Key{Name: name, Expected: "a byte size ≥ 1 such as 1048576, 512KiB or 1MiB", Doc: doc,
		set: func(c *Config, v string) error {
			n, err := ParseSize(v)
			if err != nil {
				return err
			}
			*f(c) = n
			return nil
		}}
}

// ParseSize reads a byte size ≥ 1: an integer with an optional unit B, KB,
// MB, GB (powers of 1000) or KiB, MiB, GiB (powers of 1024).
func ParseSize(v string) (int, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	mult := int64(1)
	num := v
	for _, u := range units {
		if strings.HasSuffix(v, u.suffix) {
			num, mult = strings.TrimSpace(strings.TrimSuffix(v, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("size %q: %w", v, err)
	}
	if n < 1 || n > math.MaxInt32/mult {
		return 0, fmt.Errorf("size %q out of range", v)
	}
	return int(n * mult), nil
}

// ParseOTLPEndpoint parses v, an otlp_endpoint value: the base URL of an
// OTLP/HTTP receiver, http or https, with a host, a port from 0 to 65535
// if any, and no user information, query or fragment.
func ParseOTLPEndpoint(v string) (*url.URL, error) {
	u, err := url.Parse(v)
	if err != nil {
		return nil, err
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("scheme %q is not http or https", u.Scheme)
	case u.Hostname() == "":
		return nil, errors.New("no host")
	case u.User != nil:
		return nil, errors.New("user information in the URL: give credentials in OTEL_EXPORTER_OTLP_HEADERS")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return nil, errors.New("a query or fragment")
	}
	if p := u.Port(); p != "" {
		if _, err := strconv.ParseUint(p, 10, 16); err != nil {
			return nil, fmt.Errorf("port %q is not a number from 0 to 65535", p)
		}
	}
	return u, nil
}

// checkHostPort checks that addr is HOST:PORT with a port from 0 to 65535
// (HOST may be empty: every interface).
func checkHostPort(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	return nil
}
