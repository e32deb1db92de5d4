package kafka

// This file holds every option of the adapter and its URL parsing, so that
// the adapter generator (gen/) can replace it with generated code.

import (
	"fmt"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Defaults and bounds of the options.
const (
	// DefaultPort is the broker port used when a seed broker has none.
	DefaultPort = 9092
	// DefaultClientID is the client id sent to the brokers.
	DefaultClientID = "unistream"
	// DefaultCompression is the producer's batch compression, as franz-go's.
	DefaultCompression = "snappy"
	// DefaultMaxRecordBytes bounds one record (driver.Record.Size): 1,000,000
	// bytes, so that a record and its Kafka framing fit the broker's default
	// max.message.bytes (1,048,588) with room to spare.
	DefaultMaxRecordBytes = 1_000_000
	// DefaultMaxBatchRecords bounds the records of one Write call.
	DefaultMaxBatchRecords = 10_000
	// DefaultMaxBatchBytes bounds the summed record sizes of one Write: 16 MiB.
	DefaultMaxBatchBytes = 16 << 20
	// DefaultFetchMaxBytes bounds one fetch response of a reader: 4 MiB.
	DefaultFetchMaxBytes = 4 << 20
	// DefaultDialTimeout bounds connecting to a broker.
	DefaultDialTimeout = 10 * time.Second
	// DefaultRequestTimeout bounds one admin request (metadata, offsets,
	// topic creation) and is the read overhead of every broker request.
	DefaultRequestTimeout = 30 * time.Second
	// DefaultDeliveryTimeout bounds how long a written record may wait for
	// the broker before it fails (Kafka's delivery.timeout.ms).
	DefaultDeliveryTimeout = 30 * time.Second
	// DefaultMetadataMinAge is the least time between two metadata
	// refreshes of a client, as franz-go's: after a broker error the client
	// waits up to this long to learn where partitions moved.
	DefaultMetadataMinAge = 5 * time.Second
	// DefaultFetchWait is the longest Reader.Fetch waits for records when
	// none are buffered.
	DefaultFetchWait = 100 * time.Millisecond
	// DefaultPartitions is the partition count of a topic made by
	// create_topic=true.
	DefaultPartitions = 1
	// MaxPartitions bounds the partition count of a created topic.
	MaxPartitions = 10_000
	// MaxTopicLen bounds the length of a topic name, as Kafka does.
	MaxTopicLen = 249
	// maxBytesOption bounds the byte-size options (kgo caps a record batch
	// at 1 GiB; recordOverhead is kept free for Kafka's framing).
	maxBytesOption = 1<<30 - recordOverhead
)

// SASL mechanisms.
const (
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
)

// Options configure a Kafka stream. Open fills unset fields (zero values)
// with the defaults.
type Options struct {
	// Brokers are the seed brokers, "host:port".
	Brokers []string
	// Topic is the stream: a Kafka topic name.
	Topic string
	// ClientID is sent to the brokers (DefaultClientID if empty).
	ClientID string

	// TLS enables TLS; it is implied by any TLS file or name below.
	TLS bool
	// TLSCAFile is a PEM file of the CAs that sign the brokers' certificates
	// (the system pool if empty).
	TLSCAFile string
	// TLSCertFile and TLSKeyFile are the client's PEM certificate and key
	// for mutual TLS; both or neither.
	TLSCertFile string
	TLSKeyFile  string
	// TLSServerName overrides the name checked in the brokers' certificates.
	TLSServerName string
	// TLSInsecure skips verifying the brokers' certificates (tests only).
	TLSInsecure bool

	// SASLMechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; empty means
	// no SASL. SASLUser and SASLPassword are its credentials.
	SASLMechanism string
	SASLUser      string
	SASLPassword  string // secret: String() redacts it

	// Compression of produced batches: none, gzip, snappy, lz4 or zstd
	// (DefaultCompression if empty).
	Compression string
	// MaxRecordBytes bounds one record's driver.Record.Size
	// (DefaultMaxRecordBytes if 0).
	MaxRecordBytes int
	// FetchMaxBytes bounds one fetch response of a reader
	// (DefaultFetchMaxBytes if 0).
	FetchMaxBytes int
	// DialTimeout bounds connecting to a broker (DefaultDialTimeout if 0).
	DialTimeout time.Duration
	// RequestTimeout bounds admin requests (DefaultRequestTimeout if 0).
	RequestTimeout time.Duration
	// DeliveryTimeout bounds how long a written record waits for the broker
	// before it fails (DefaultDeliveryTimeout if 0).
	DeliveryTimeout time.Duration
	// MetadataMinAge is the least time between two metadata refreshes of a
	// client (DefaultMetadataMinAge if 0); tests lower it to recover from
	// injected broker faults quickly.
	MetadataMinAge time.Duration
	// FetchWait is the longest Reader.Fetch waits when no record is buffered
	// (DefaultFetchWait if 0).
	FetchWait time.Duration

	// CreateTopic creates the topic with Partitions partitions if it does
	// not exist (for tests and demos); an existing topic must then have
	// that many partitions.
	CreateTopic bool
	// Partitions is the partition count of a created topic
	// (DefaultPartitions if 0); it requires CreateTopic.
	Partitions int
}

// urlKeys are the query keys of a kafka:// URL with the expected value form.
var urlKeys = map[string]string{
	"client_id":        "a client id of printable ASCII characters",
	"tls":              "true or false",
	"tls_ca":           "a path to a PEM file of CA certificates",
	"tls_cert":         "a path to a PEM client certificate file",
	"tls_key":          "a path to a PEM client key file",
	"tls_server_name":  "a host name",
	"tls_insecure":     "true or false",
	"sasl_mechanism":   "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512",
	"sasl_user":        "a user name",
	"sasl_password":    "a password",
	"compression":      "none, gzip, snappy, lz4 or zstd",
	"max_record_bytes": fmt.Sprintf("an integer from 1 to %d (bytes)", maxBytesOption),
	"fetch_max_bytes":  fmt.Sprintf("an integer from 1 to %d (bytes)", maxBytesOption),
	"dial_timeout":     "a positive duration such as 10s",
	"request_timeout":  "a positive duration such as 30s",
	"delivery_timeout": "a positive duration such as 30s",
	"fetch_wait":       "a positive duration such as 100ms",
	"metadata_min_age": "a positive duration such as 5s",
	"create_topic":     "true or false",
	"partitions":       fmt.Sprintf("an integer from 1 to %d", MaxPartitions),
}

// secretKeys are the query keys whose values are redacted.
var secretKeys = map[string]bool{"sasl_password": true}

func validURLKeys() string {
	keys := make([]string, 0, len(urlKeys))
	for k := range urlKeys {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return strings.Join(keys, ", ")
}

const urlForm = "kafka://HOST:PORT[,HOST:PORT...]/TOPIC?key=value&..."

// parseURL reads the options of a kafka URL:
//
//	kafka://HOST:PORT[,HOST:PORT...]/TOPIC?key=value&...
//
// The host part lists the seed brokers (the port defaults to 9092); the path
// is the topic. User information, if present, gives the SASL user and
// password (then sasl_user and sasl_password must not be repeated in the
// query). The query keys are listed in urlKeys; an unknown or repeated key,
// a bad value or a fragment is an error that names the key and the expected
// form. Secrets never appear in an error.
func parseURL(u *url.URL) (Options, error) {
	var o Options
	if u == nil {
		return o, fmt.Errorf("kafka: URL is nil")
	}
	if u.Scheme != "kafka" {
		return o, fmt.Errorf("kafka: URL scheme %q: expected \"kafka\" (%s)", u.Scheme, urlForm)
	}
	if u.Opaque != "" {
		return o, fmt.Errorf("kafka: URL without '//': expected %s", urlForm)
	}
	if u.Fragment != "" || u.RawFragment != "" {
		return o, fmt.Errorf("kafka: URL has a fragment: expected none (%s)", urlForm)
	}
	brokers, err := parseBrokers(u.Host)
	if err != nil {
		return o, err
	}
	o.Brokers = brokers
	topic := strings.TrimPrefix(u.Path, "/")
	if strings.Contains(topic, "/") {
		return o, fmt.Errorf("kafka: URL path %q: expected one topic name (%s)", u.Path, urlForm)
	}
	if err := validateTopic(topic); err != nil {
		return o, fmt.Errorf("%w (URL form %s)", err, urlForm)
	}
	o.Topic = topic

	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return o, fmt.Errorf("kafka: URL query: %v (expected key=value pairs joined by '&')", redactQueryError(err))
	}
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	tlsSet := false
	for _, k := range keys {
		vs := q[k]
		expected, ok := urlKeys[k]
		if !ok {
			return o, fmt.Errorf("kafka: URL query key %q is unknown (valid keys: %s)", k, validURLKeys())
		}
		if len(vs) != 1 {
			return o, fmt.Errorf("kafka: URL query key %q is given %d times, expected once", k, len(vs))
		}
		v := vs[0]
		bad := func() error {
			if secretKeys[k] {
				return fmt.Errorf("kafka: URL option %s: bad value: expected %s", k, expected)
			}
			return fmt.Errorf("kafka: URL option %s=%q: expected %s", k, v, expected)
		}
		switch k {
		case "client_id":
			if v == "" || !printableASCII(v) {
				return o, bad()
			}
			o.ClientID = v
		case "tls", "tls_insecure", "create_topic":
			b, err := strconv.ParseBool(v)
			if err != nil || (v != "true" && v != "false") {
				return o, bad()
			}
			switch k {
			case "tls":
				o.TLS, tlsSet = b, true
			case "tls_insecure":
				o.TLSInsecure = b
			case "create_topic":
				o.CreateTopic = b
			}
		case "tls_ca", "tls_cert", "tls_key", "tls_server_name", "sasl_user", "sasl_password":
			if v == "" {
				return o, bad()
			}
			switch k {
			case "tls_ca":
				o.TLSCAFile = v
			case "tls_cert":
				o.TLSCertFile = v
			case "tls_key":
				o.TLSKeyFile = v
			case "tls_server_name":
				o.TLSServerName = v
			case "sasl_user":
				o.SASLUser = v
			case "sasl_password":
				o.SASLPassword = v
			}
		case "sasl_mechanism":
			m := strings.ToUpper(v)
			if m != SASLPlain && m != SASLScramSHA256 && m != SASLScramSHA512 {
				return o, bad()
			}
			o.SASLMechanism = m
		case "compression":
			c := strings.ToLower(v)
			if !validCompression(c) {
				return o, bad()
			}
			o.Compression = c
		case "max_record_bytes", "fetch_max_bytes":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > maxBytesOption {
				return o, bad()
			}
			if k == "max_record_bytes" {
				o.MaxRecordBytes = n
			} else {
				o.FetchMaxBytes = n
			}
		case "partitions":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > MaxPartitions {
				return o, bad()
			}
			o.Partitions = n
		case "dial_timeout", "request_timeout", "delivery_timeout", "fetch_wait", "metadata_min_age":
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return o, bad()
			}
			switch k {
			case "dial_timeout":
				o.DialTimeout = d
			case "request_timeout":
				o.RequestTimeout = d
			case "delivery_timeout":
				o.DeliveryTimeout = d
			case "fetch_wait":
				o.FetchWait = d
			case "metadata_min_age":
				o.MetadataMinAge = d
			}
		}
	}
	if u.User != nil {
		if o.SASLUser != "" {
			return o, fmt.Errorf("kafka: URL gives the SASL user both as user information and as sasl_user: give it once")
		}
		pass, hasPass := u.User.Password()
		if hasPass && o.SASLPassword != "" {
			return o, fmt.Errorf("kafka: URL gives the SASL password both as user information and as sasl_password: give it once")
		}
		o.SASLUser = u.User.Username()
		if hasPass {
			o.SASLPassword = pass
		}
	}
	if tlsSet && !o.TLS && o.tlsDetails() {
		return o, fmt.Errorf("kafka: URL option tls=false contradicts tls_ca, tls_cert, tls_key, tls_server_name or tls_insecure: drop tls=false")
	}
	if err := o.validate(); err != nil {
		return o, err
	}
	return o, nil
}

// redactQueryError describes a query parse error without the query text,
// which may hold a password.
func redactQueryError(err error) string {
	if strings.Contains(err.Error(), "semicolon") {
		return "invalid semicolon separator"
	}
	return "malformed escape or separator"
}

// parseBrokers reads "host:port,host:port" (the port defaults to 9092).
func parseBrokers(hosts string) ([]string, error) {
	if hosts == "" {
		return nil, fmt.Errorf("kafka: URL has no broker: expected %s", urlForm)
	}
	var out []string
	for _, h := range strings.Split(hosts, ",") {
		if h == "" {
			return nil, fmt.Errorf("kafka: URL brokers %q: empty entry: expected HOST:PORT[,HOST:PORT...]", hosts)
		}
		host, port := h, strconv.Itoa(DefaultPort)
		if strings.HasPrefix(h, "[") || strings.Count(h, ":") == 1 {
			hh, pp, err := net.SplitHostPort(h)
			if err != nil {
				if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
					hh, pp = h[1:len(h)-1], port
				} else {
					return nil, fmt.Errorf("kafka: URL broker %q: expected HOST:PORT", h)
				}
			}
			host, port = hh, pp
		} else if strings.Contains(h, ":") {
			return nil, fmt.Errorf("kafka: URL broker %q: expected HOST:PORT (an IPv6 address goes in brackets: [::1]:9092)", h)
		}
		if host == "" {
			return nil, fmt.Errorf("kafka: URL broker %q: empty host: expected HOST:PORT", h)
		}
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || !isCanonicalUint(port) {
			return nil, fmt.Errorf("kafka: URL broker %q: port %q: expected a number from 1 to 65535", h, port)
		}
		out = append(out, net.JoinHostPort(host, port))
	}
	return out, nil
}

// validate checks options given to Open (and, at the end of parseURL, those
// read from a URL).
func (o *Options) validate() error {
	if len(o.Brokers) == 0 {
		return fmt.Errorf("kafka: options: no broker: expected at least one HOST:PORT")
	}
	for _, b := range o.Brokers {
		if _, _, err := net.SplitHostPort(b); err != nil {
			return fmt.Errorf("kafka: options: broker %q: expected HOST:PORT", b)
		}
	}
	if err := validateTopic(o.Topic); err != nil {
		return err
	}
	if o.ClientID != "" && !printableASCII(o.ClientID) {
		return fmt.Errorf("kafka: option client_id %q: expected printable ASCII characters", o.ClientID)
	}
	if (o.TLSCertFile == "") != (o.TLSKeyFile == "") {
		return fmt.Errorf("kafka: options tls_cert and tls_key: expected both (mutual TLS) or neither")
	}
	switch o.SASLMechanism {
	case "":
		if o.SASLUser != "" || o.SASLPassword != "" {
			return fmt.Errorf("kafka: SASL user or password given without sasl_mechanism: expected sasl_mechanism=%s, %s or %s", SASLPlain, SASLScramSHA256, SASLScramSHA512)
		}
	case SASLPlain, SASLScramSHA256, SASLScramSHA512:
		if o.SASLUser == "" || o.SASLPassword == "" {
			return fmt.Errorf("kafka: sasl_mechanism=%s needs sasl_user and sasl_password", o.SASLMechanism)
		}
	default:
		return fmt.Errorf("kafka: option sasl_mechanism %q: expected %s, %s or %s", o.SASLMechanism, SASLPlain, SASLScramSHA256, SASLScramSHA512)
	}
	if o.Compression != "" && !validCompression(o.Compression) {
		return fmt.Errorf("kafka: option compression %q: expected %s", o.Compression, urlKeys["compression"])
	}
	for _, f := range []struct {
		key string
		v   int
		max int
	}{
		{"max_record_bytes", o.MaxRecordBytes, maxBytesOption},
		{"fetch_max_bytes", o.FetchMaxBytes, maxBytesOption},
		{"partitions", o.Partitions, MaxPartitions},
	} {
		if f.v < 0 || f.v > f.max {
			return fmt.Errorf("kafka: option %s=%d: expected %s", f.key, f.v, urlKeys[f.key])
		}
	}
	for _, f := range []struct {
		key string
		v   time.Duration
	}{
		{"dial_timeout", o.DialTimeout},
		{"request_timeout", o.RequestTimeout},
		{"delivery_timeout", o.DeliveryTimeout},
		{"fetch_wait", o.FetchWait},
		{"metadata_min_age", o.MetadataMinAge},
	} {
		if f.v < 0 {
			return fmt.Errorf("kafka: option %s=%s: expected %s", f.key, f.v, urlKeys[f.key])
		}
	}
	if o.Partitions != 0 && !o.CreateTopic {
		return fmt.Errorf("kafka: option partitions=%d needs create_topic=true (it is the partition count of a topic the adapter creates)", o.Partitions)
	}
	return nil
}

// withDefaults returns o with the defaults filled in.
func (o Options) withDefaults() Options {
	if o.ClientID == "" {
		o.ClientID = DefaultClientID
	}
	if o.Compression == "" {
		o.Compression = DefaultCompression
	}
	if o.MaxRecordBytes == 0 {
		o.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if o.FetchMaxBytes == 0 {
		o.FetchMaxBytes = DefaultFetchMaxBytes
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	if o.RequestTimeout == 0 {
		o.RequestTimeout = DefaultRequestTimeout
	}
	if o.DeliveryTimeout == 0 {
		o.DeliveryTimeout = DefaultDeliveryTimeout
	}
	if o.FetchWait == 0 {
		o.FetchWait = DefaultFetchWait
	}
	if o.MetadataMinAge == 0 {
		o.MetadataMinAge = DefaultMetadataMinAge
	}
	if o.CreateTopic && o.Partitions == 0 {
		o.Partitions = DefaultPartitions
	}
	if o.tlsDetails() {
		o.TLS = true
	}
	return o
}

// tlsDetails reports whether a TLS file, name or flag other than TLS is set.
func (o *Options) tlsDetails() bool {
	return o.TLSCAFile != "" || o.TLSCertFile != "" || o.TLSKeyFile != "" || o.TLSServerName != "" || o.TLSInsecure
}

// String returns the options in URL form with the SASL password redacted,
// fit for logs.
func (o Options) String() string {
	u := url.URL{Scheme: "kafka", Host: strings.Join(o.Brokers, ","), Path: "/" + o.Topic}
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	setInt := func(k string, v int) {
		if v != 0 {
			q.Set(k, strconv.Itoa(v))
		}
	}
	setDur := func(k string, v time.Duration) {
		if v != 0 {
			q.Set(k, v.String())
		}
	}
	set("client_id", o.ClientID)
	if o.TLS {
		q.Set("tls", "true")
	}
	set("tls_ca", o.TLSCAFile)
	set("tls_cert", o.TLSCertFile)
	set("tls_key", o.TLSKeyFile)
	set("tls_server_name", o.TLSServerName)
	if o.TLSInsecure {
		q.Set("tls_insecure", "true")
	}
	set("sasl_mechanism", o.SASLMechanism)
	set("sasl_user", o.SASLUser)
	if o.SASLPassword != "" {
		q.Set("sasl_password", "REDACTED")
	}
	set("compression", o.Compression)
	setInt("max_record_bytes", o.MaxRecordBytes)
	setInt("fetch_max_bytes", o.FetchMaxBytes)
	setDur("dial_timeout", o.DialTimeout)
	setDur("request_timeout", o.RequestTimeout)
	setDur("delivery_timeout", o.DeliveryTimeout)
	setDur("fetch_wait", o.FetchWait)
	setDur("metadata_min_age", o.MetadataMinAge)
	if o.CreateTopic {
		q.Set("create_topic", "true")
	}
	setInt("partitions", o.Partitions)
	u.RawQuery = q.Encode()
	return u.String()
}

// validateTopic checks a Kafka topic name: 1 to 249 letters, digits, '.',
// '_' or '-', and not "." or "..".
func validateTopic(name string) error {
	const expected = "1 to 249 letters, digits, '.', '_' or '-' (not \".\" or \"..\")"
	if name == "" {
		return fmt.Errorf("kafka: topic name is empty: expected %s", expected)
	}
	if len(name) > MaxTopicLen {
		return fmt.Errorf("kafka: topic name of %d bytes: expected %s", len(name), expected)
	}
	if name == "." || name == ".." {
		return fmt.Errorf("kafka: topic name %q: expected %s", name, expected)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("kafka: topic name %q: byte %d (%q) is not allowed: expected %s", name, i, c, expected)
		}
	}
	return nil
}

func validCompression(c string) bool {
	switch c {
	case "none", "gzip", "snappy", "lz4", "zstd":
		return true
	}
	return false
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
