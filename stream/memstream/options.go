package memstream

import (
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Defaults of the options.
const (
	// DefaultPartitions is the partition count of a new stream.
	DefaultPartitions = 1
	// DefaultMaxRecordBytes bounds one record (driver.Record.Size): 1 MiB.
	DefaultMaxRecordBytes = 1 << 20
	// DefaultMaxBatchRecords bounds the records of one Write call.
	DefaultMaxBatchRecords = 500
	// DefaultMaxBatchBytes bounds the summed record sizes of one Write call: 5 MiB.
	DefaultMaxBatchBytes = 5 << 20
	// MaxPartitions bounds the partition count given to a new stream (by URL
	// or WithPartitions), so that a typo cannot allocate millions of logs.
	MaxPartitions = 4096
	// MaxNameLen bounds the length of a stream name.
	MaxNameLen = 249
)

// Options configure a stream. The zero value of a numeric field means "not
// set": a new stream uses the default, and opening an existing stream by
// name uses the existing stream's value. A set value that differs from an
// existing stream's value is an error.
type Options struct {
	// Name is the stream name: 1 to MaxNameLen letters, digits, '.', '_' or
	// '-' (the characters of a Kafka topic name).
	Name string
	// Partitions is the partition count of a new stream (1..MaxPartitions).
	Partitions int
	// MaxRecordBytes bounds one record's driver.Record.Size.
	MaxRecordBytes int
	// MaxBatchRecords bounds the records of one Write call.
	MaxBatchRecords int
	// MaxBatchBytes bounds the summed record sizes of one Write call.
	MaxBatchBytes int
	// Now is the clock that stamps records written with a zero Time;
	// time.Now when nil. It belongs to the handle, not to the shared stream.
	Now func() time.Time
}

// Option sets one option of New or Broker.Stream.
type Option func(*Options)

// WithPartitions sets the partition count of a new stream (1..MaxPartitions).
// Opening an existing stream with a different count is an error.
func WithPartitions(n int) Option { return func(o *Options) { o.Partitions = n } }

// WithMaxRecordBytes sets the largest driver.Record.Size a write accepts;
// larger records fail with an error wrapping driver.ErrRecordTooLarge.
func WithMaxRecordBytes(n int) Option { return func(o *Options) { o.MaxRecordBytes = n } }

// WithMaxBatchRecords sets the most records one Write call accepts; a larger
// call fails whole.
func WithMaxBatchRecords(n int) Option { return func(o *Options) { o.MaxBatchRecords = n } }

// WithMaxBatchBytes sets the largest summed record size one Write call
// accepts; a larger call fails whole.
func WithMaxBatchBytes(n int) Option { return func(o *Options) { o.MaxBatchBytes = n } }

// WithClock sets the clock that stamps records written with a zero Time.
func WithClock(now func() time.Time) Option { return func(o *Options) { o.Now = now } }

// urlKeys are the query keys of a mem:// URL, with the expected value form.
var urlKeys = map[string]string{
	"partitions":        "an integer from 1 to 4096",
	"max_record_bytes":  "a positive integer (bytes)",
	"max_batch_records": "a positive integer",
	"max_batch_bytes":   "a positive integer (bytes)",
}

func validURLKeys() string {
	keys := make([]string, 0, len(urlKeys))
	for k := range urlKeys {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return strings.Join(keys, ", ")
}

// parseURL reads the options of a mem URL.
//
// The forms are mem://NAME?key=value&... (NAME is the URL host) and
// mem:NAME?key=value&... (NAME is the opaque part). The query keys are
// partitions, max_record_bytes, max_batch_records and max_batch_bytes; an
// unknown or repeated key is an error, as is a user, port, path or fragment.
func parseURL(u *url.URL) (Options, error) {
	var o Options
	if u == nil {
		return o, fmt.Errorf("memstream: URL is nil")
	}
	if u.Scheme != "mem" {
		return o, fmt.Errorf("memstream: URL scheme %q: expected \"mem\"", u.Scheme)
	}
	const form = "mem://NAME?partitions=N&max_record_bytes=B&max_batch_records=R&max_batch_bytes=B"
	switch {
	case u.Opaque != "":
		if strings.Contains(u.Opaque, "/") {
			return o, fmt.Errorf("memstream: URL stream name %q contains '/': expected %s", u.Opaque, form)
		}
		name, err := url.PathUnescape(u.Opaque)
		if err != nil {
			return o, fmt.Errorf("memstream: URL stream name %q: %w", u.Opaque, err)
		}
		o.Name = name
	default:
		if u.User != nil {
			return o, fmt.Errorf("memstream: URL must not carry user information: expected %s", form)
		}
		if u.Path != "" && u.Path != "/" {
			return o, fmt.Errorf("memstream: URL path %q: the stream name is the host; expected %s", u.Path, form)
		}
		o.Name = u.Host
	}
	if u.Fragment != "" || u.RawFragment != "" {
		return o, fmt.Errorf("memstream: URL fragment %q: expected none (%s)", u.Fragment, form)
	}
	if err := validateName(o.Name); err != nil {
		return o, fmt.Errorf("%w (URL form %s)", err, form)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return o, fmt.Errorf("memstream: URL query %q: %w", u.RawQuery, err)
	}
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		vs := q[k]
		expected, ok := urlKeys[k]
		if !ok {
			return o, fmt.Errorf("memstream: URL query key %q is unknown (valid keys: %s)", k, validURLKeys())
		}
		if len(vs) != 1 {
			return o, fmt.Errorf("memstream: URL query key %q is given %d times, expected once", k, len(vs))
		}
		n, err := strconv.Atoi(vs[0])
		if err != nil || n < 1 {
			return o, fmt.Errorf("memstream: URL option %s=%q: expected %s", k, vs[0], expected)
		}
		switch k {
		case "partitions":
			if n > MaxPartitions {
				return o, fmt.Errorf("memstream: URL option %s=%q: expected %s", k, vs[0], expected)
			}
			o.Partitions = n
		case "max_record_bytes":
			o.MaxRecordBytes = n
		case "max_batch_records":
			o.MaxBatchRecords = n
		case "max_batch_bytes":
			o.MaxBatchBytes = n
		}
	}
	return o, nil
}

// validate checks the options given programmatically.
func (o *Options) validate() error {
	if err := validateName(o.Name); err != nil {
		return err
	}
	if o.Partitions < 0 || o.Partitions > MaxPartitions {
		return fmt.Errorf("memstream: option WithPartitions(%d): expected 1 to %d", o.Partitions, MaxPartitions)
	}
	for _, f := range []struct {
		name string
		v    int
	}{
		{"WithMaxRecordBytes", o.MaxRecordBytes},
		{"WithMaxBatchRecords", o.MaxBatchRecords},
		{"WithMaxBatchBytes", o.MaxBatchBytes},
	} {
		if f.v < 0 {
			return fmt.Errorf("memstream: option %s(%d): expected a positive integer", f.name, f.v)
		}
	}
	return nil
}

// validateName checks a stream name.
func validateName(name string) error {
	if name == "" {
		return fmt.Errorf("memstream: stream name is empty: expected 1 to %d letters, digits, '.', '_' or '-'", MaxNameLen)
	}
	if len(name) > MaxNameLen {
		return fmt.Errorf("memstream: stream name of %d bytes: expected 1 to %d letters, digits, '.', '_' or '-'", len(name), MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("memstream: stream name %q: byte %d (%q) is not allowed: expected 1 to %d letters, digits, '.', '_' or '-'", name, i, c, MaxNameLen)
		}
	}
	return nil
}
