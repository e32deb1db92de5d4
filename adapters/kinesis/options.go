package kinesis

//go:generate go run ../../gen

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/unistream-go/unistream/stream/driver"
)

// The options (Options, Option, With*, ParseURL, the Default* constants of
// the options and MaxShards) are generated from adapter.yaml into
// zz_generated_options.go; this file holds what is specific to Kinesis:
// the stream name or ARN of a URL, the checks between options, the
// defaults of an Options built in code, and the opener.

// Limits of the Kinesis API that are not options.
const (
	// PutRecordsMaxEntries bounds the records of one PutRecords call.
	PutRecordsMaxEntries = 500
	// PutRecordsMaxBytes bounds the data and partition keys of one
	// PutRecords call: 5 MiB.
	PutRecordsMaxBytes = 5 << 20
	// RecordMaxBytes bounds one record's data and partition key: 1 MiB.
	RecordMaxBytes = 1 << 20
	// MaxPartitionKeyChars bounds a partition key, in Unicode characters.
	MaxPartitionKeyChars = 256
	// DefaultRegion is the region used with an endpoint when nothing else
	// names one.
	DefaultRegion = "us-east-1"
)

// Target is where a kinesis URL points: a stream, by name or by ARN. It is
// embedded in Options, so o.Stream is the stream name.
type Target struct {
	// Stream is the stream name. With ARN set it is the ARN's stream name.
	Stream string
	// ARN is the stream's ARN, arn:PARTITION:kinesis:REGION:ACCOUNT:stream/NAME,
	// or empty when the stream is named by Stream alone. Requests then name
	// the stream by ARN (cross-account access).
	ARN string
}

// Validate checks the stream name and the ARN.
func (t Target) Validate() error {
	if t.ARN != "" {
		a, err := parseARN(t.ARN)
		if err != nil {
			return err
		}
		if t.Stream != "" && t.Stream != a.stream {
			return fmt.Errorf("kinesis: options: Stream %q and ARN %q name different streams: give one", t.Stream, t.ARN)
		}
		return nil
	}
	if err := validateStreamName(t.Stream); err != nil {
		return fmt.Errorf("kinesis: options: %w", err)
	}
	return nil
}

// String shows the target as Options.String prints it.
func (t Target) String() string {
	s := "Stream:" + strconv.Quote(t.Stream)
	if t.ARN != "" {
		s += " ARN:" + strconv.Quote(t.ARN)
	}
	return s
}

// name returns the stream name, from the ARN if needed.
func (t Target) name() string {
	if t.Stream == "" && t.ARN != "" {
		if a, err := parseARN(t.ARN); err == nil {
			return a.stream
		}
	}
	return t.Stream
}

// arnParts are the fields of a stream ARN.
type arnParts struct {
	partition, region, account, stream string
}

// parseARN reads arn:PARTITION:kinesis:REGION:ACCOUNT:stream/NAME.
func parseARN(s string) (arnParts, error) {
	const form = "arn:aws:kinesis:REGION:ACCOUNT:stream/NAME"
	p := strings.SplitN(s, ":", 6)
	if len(p) != 6 || p[0] != "arn" || p[1] == "" || p[2] != "kinesis" || p[3] == "" || p[4] == "" {
		return arnParts{}, fmt.Errorf("kinesis: stream ARN %q: expected %s", truncate(s), form)
	}
	name, ok := strings.CutPrefix(p[5], "stream/")
	if !ok {
		return arnParts{}, fmt.Errorf("kinesis: stream ARN %q: the resource is not stream/NAME: expected %s", truncate(s), form)
	}
	if err := validateStreamName(name); err != nil {
		return arnParts{}, fmt.Errorf("kinesis: stream ARN %q: %w", truncate(s), err)
	}
	for i := 0; i < len(p[4]); i++ {
		if p[4][i] < '0' || p[4][i] > '9' {
			return arnParts{}, fmt.Errorf("kinesis: stream ARN %q: account %q: expected digits", truncate(s), p[4])
		}
	}
	return arnParts{partition: p[1], region: p[3], account: p[4], stream: name}, nil
}

// parseTarget reads the stream of a kinesis URL:
//
//	kinesis://STREAM
//	kinesis:///arn:aws:kinesis:REGION:ACCOUNT:stream/STREAM
//
// The generated ParseURL has checked the scheme and the fragment and reads
// the query.
func parseTarget(u *url.URL) (Target, error) {
	var t Target
	if u.Opaque != "" {
		return t, fmt.Errorf("kinesis: URL without '//': expected %s", optForm)
	}
	if u.User != nil {
		return t, fmt.Errorf("kinesis: URL has user information: expected none (give credentials as access_key_id and secret_access_key, or through the AWS credential chain)")
	}
	if u.Host != "" {
		if u.Port() != "" || strings.HasSuffix(u.Host, ":") {
			return t, fmt.Errorf("kinesis: URL host %q has a port: expected the stream name (%s); give an emulator's address as endpoint=http://HOST:PORT", u.Host, optForm)
		}
		if u.Path != "" {
			return t, fmt.Errorf("kinesis: URL path %q after the stream name: expected none (%s)", u.Path, optForm)
		}
		if err := validateStreamName(u.Host); err != nil {
			return t, fmt.Errorf("kinesis: URL: %w (%s)", err, optForm)
		}
		t.Stream = u.Host
		return t, nil
	}
	arn := strings.TrimPrefix(u.Path, "/")
	if arn == "" {
		return t, fmt.Errorf("kinesis: URL names no stream: expected %s", optForm)
	}
	a, err := parseARN(arn)
	if err != nil {
		return t, fmt.Errorf("%w (URL form %s)", err, optForm)
	}
	t.ARN, t.Stream = arn, a.stream
	return t, nil
}

// validateCombination is the check between options that the generated
// Validate calls last.
func validateCombination(o Options) error {
	if (o.AccessKeyID == "") != (o.SecretAccessKey == "") {
		return fmt.Errorf("kinesis: options access_key_id and secret_access_key: expected both (static credentials) or neither (the default credential chain)")
	}
	if o.SessionToken != "" && o.AccessKeyID == "" {
		return fmt.Errorf("kinesis: %s needs access_key_id and secret_access_key", o.where(optionSessionToken))
	}
	if o.Profile != "" && o.AccessKeyID != "" {
		return fmt.Errorf("kinesis: %s and static keys: give one (the profile is read by the default credential chain)", o.where(optionProfile))
	}
	if o.Endpoint != "" {
		u, err := url.Parse(o.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return fmt.Errorf("kinesis: %s: expected http://HOST[:PORT] or https://HOST[:PORT]", o.where(optionEndpoint))
		}
	}
	for _, c := range o.Region {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("kinesis: %s: expected a region name such as eu-west-1", o.where(optionRegion))
		}
	}
	if o.ARN != "" && o.Region != "" {
		if a, err := parseARN(o.ARN); err == nil && a.region != o.Region {
			return fmt.Errorf("kinesis: %s differs from the region %s of the stream ARN", o.where(optionRegion), a.region)
		}
	}
	if o.Shards > 1 && !o.CreateStream {
		return fmt.Errorf("kinesis: %s needs create_stream=true (it is the shard count of a stream the adapter creates)", o.where(optionShards))
	}
	if o.ARN != "" && o.CreateStream {
		return fmt.Errorf("kinesis: create_stream=true with a stream ARN: create a stream by name")
	}
	return nil
}

// withDefaults returns o with its zero fields set to the defaults, so that
// an Options built in code as a struct literal names only what it sets.
func (o Options) withDefaults() Options {
	if o.MaxRecordBytes == 0 {
		o.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if o.MaxBatchRecords == 0 {
		o.MaxBatchRecords = DefaultMaxBatchRecords
	}
	if o.MaxBatchBytes == 0 {
		o.MaxBatchBytes = DefaultMaxBatchBytes
	}
	if o.GetRecordsLimit == 0 {
		o.GetRecordsLimit = DefaultGetRecordsLimit
	}
	if o.PollInterval == 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.MaxPollInterval == 0 {
		o.MaxPollInterval = DefaultMaxPollInterval
	}
	if o.MaxConcurrentReads == 0 {
		o.MaxConcurrentReads = DefaultMaxConcurrentReads
	}
	if o.ThrottleBackoff == 0 {
		o.ThrottleBackoff = DefaultThrottleBackoff
	}
	if o.RequestTimeout == 0 {
		o.RequestTimeout = DefaultRequestTimeout
	}
	if o.Shards == 0 {
		o.Shards = DefaultShards
	}
	if !o.Envelope && !o.IsSet("Envelope") {
		o.Envelope = DefaultEnvelope // false only when set, as a zero field takes the default
	}
	if o.Stream == "" && o.ARN != "" {
		o.Stream = o.Target.name()
	}
	return o
}

// openOptions is the opener the generated registration calls with the
// options of a kinesis URL.
func openOptions(ctx context.Context, o Options) (driver.Stream, error) {
	return Open(ctx, o)
}
