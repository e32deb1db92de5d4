package kafka

//go:generate go run ../../gen

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/unistream-go/unistream/stream/driver"
	"github.com/unistream-go/unistream/stream/driver/optvalue"
)

// The options (Options, Option, With*, ParseURL, the Default* constants of
// the options and MaxPartitions) are generated from adapter.yaml into
// zz_generated_options.go; this file holds what is specific to Kafka: the
// brokers, topic and credentials of a URL, the checks between options, the
// defaults of an Options built in code, and the opener.

// Constants that are not options.
const (
	// DefaultPort is the broker port used when a seed broker has none.
	DefaultPort = 9092
	// DefaultMaxBatchRecords bounds the records of one Write call.
	DefaultMaxBatchRecords = 10_000
	// DefaultMaxBatchBytes bounds the summed record sizes of one Write: 16 MiB.
	DefaultMaxBatchBytes = 16 << 20
	// MaxTopicLen bounds the length of a topic name, as Kafka does.
	MaxTopicLen = 249
)

// SASL mechanisms.
const (
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
)

// The values of the reader_client option (Options.ReaderClient).
const (
	// ReaderClientShared makes the readers of a stream share one
	// consuming client (the default).
	ReaderClientShared = "shared"
	// ReaderClientPartition gives each reader a client of its own.
	ReaderClientPartition = "partition"
)

// Target is where a kafka URL points: the seed brokers and the topic, and
// the SASL credentials of the URL's user information. It is embedded in
// Options, so o.Brokers and o.Topic are the brokers and the topic.
type Target struct {
	// Brokers are the seed brokers, "host:port".
	Brokers []string
	// Topic is the stream: a Kafka topic name.
	Topic string
	// User and Password are the SASL credentials given as the URL's user
	// information (kafka://USER:PASSWORD@HOST/TOPIC); Open uses them when
	// SASLUser and SASLPassword are empty. String redacts Password.
	User     string
	Password string
}

// Validate checks the brokers and the topic.
func (t Target) Validate() error {
	if len(t.Brokers) == 0 {
		return fmt.Errorf("kafka: options: no broker: expected at least one HOST:PORT")
	}
	for _, b := range t.Brokers {
		if _, _, err := net.SplitHostPort(b); err != nil {
			return fmt.Errorf("kafka: options: broker %q: expected HOST:PORT", b)
		}
	}
	return validateTopic(t.Topic)
}

// String shows the target as Options.String prints it, the password
// redacted.
func (t Target) String() string {
	s := "Brokers:" + strconv.Quote(strings.Join(t.Brokers, ",")) + " Topic:" + strconv.Quote(t.Topic)
	if t.User != "" {
		s += " User:" + strconv.Quote(t.User)
	}
	if t.Password != "" {
		s += " Password:***"
	}
	return s
}

// parseTarget reads the brokers, the topic and the user information of a
// kafka URL:
//
//	kafka://[USER[:PASSWORD]@]HOST:PORT[,HOST:PORT...]/TOPIC
//
// The port defaults to 9092. The generated ParseURL has checked the scheme
// and the fragment and reads the query. Secrets never appear in an error.
func parseTarget(u *url.URL) (Target, error) {
	var t Target
	if u.Opaque != "" {
		return t, fmt.Errorf("kafka: URL without '//': expected %s", optForm)
	}
	brokers, err := parseBrokers(u.Host)
	if err != nil {
		return t, err
	}
	t.Brokers = brokers
	topic := strings.TrimPrefix(u.Path, "/")
	if strings.Contains(topic, "/") {
		return t, fmt.Errorf("kafka: URL path %q: expected one topic name (%s)", u.Path, optForm)
	}
	if err := validateTopic(topic); err != nil {
		return t, fmt.Errorf("%w (URL form %s)", err, optForm)
	}
	t.Topic = topic
	if u.User != nil {
		t.User = u.User.Username()
		t.Password, _ = u.User.Password()
		if t.User == "" {
			return t, fmt.Errorf("kafka: URL user information has no user: expected USER:PASSWORD@ before the brokers")
		}
	}
	return t, nil
}

// parseBrokers reads "host:port,host:port" (the port defaults to 9092).
func parseBrokers(hosts string) ([]string, error) {
	if hosts == "" {
		return nil, fmt.Errorf("kafka: URL has no broker: expected %s", optForm)
	}
	return optvalue.ParseHostPorts("kafka: URL broker", hosts, DefaultPort)
}

// validateCombination is the check between options that the generated
// Validate calls last.
func validateCombination(o Options) error {
	if !printableASCII(o.ClientID) {
		return fmt.Errorf("kafka: %s: expected printable ASCII characters", o.where(optionClientID))
	}
	if (o.TLSCertFile == "") != (o.TLSKeyFile == "") {
		return fmt.Errorf("kafka: options tls_cert and tls_key: expected both (mutual TLS) or neither")
	}
	if o.IsSet("TLS") && !o.TLS && o.tlsDetails() {
		return fmt.Errorf("kafka: %s contradicts tls_ca, tls_cert, tls_key, tls_server_name or tls_insecure: drop it", o.where(optionTLS))
	}
	if o.User != "" && o.SASLUser != "" {
		return fmt.Errorf("kafka: URL gives the SASL user both as user information and as sasl_user: give it once")
	}
	if o.Password != "" && o.SASLPassword != "" {
		return fmt.Errorf("kafka: URL gives the SASL password both as user information and as sasl_password: give it once")
	}
	user, pass := o.saslCredentials()
	switch strings.ToUpper(o.SASLMechanism) {
	case "":
		if user != "" || pass != "" {
			return fmt.Errorf("kafka: SASL user or password given without sasl_mechanism: expected sasl_mechanism=%s, %s or %s", SASLPlain, SASLScramSHA256, SASLScramSHA512)
		}
	case SASLPlain, SASLScramSHA256, SASLScramSHA512:
		if user == "" || pass == "" {
			return fmt.Errorf("kafka: sasl_mechanism=%s needs sasl_user and sasl_password", strings.ToUpper(o.SASLMechanism))
		}
	default:
		return fmt.Errorf("kafka: %s: expected %s, %s or %s", o.where(optionSASLMechanism), SASLPlain, SASLScramSHA256, SASLScramSHA512)
	}
	if o.Partitions > 1 && !o.CreateTopic {
		return fmt.Errorf("kafka: %s needs create_topic=true (it is the partition count of a topic the adapter creates)", o.where(optionPartitions))
	}
	return nil
}

// saslCredentials returns the SASL user and password: the options', or
// else the URL's user information.
func (o *Options) saslCredentials() (user, pass string) {
	user, pass = o.SASLUser, o.SASLPassword
	if user == "" {
		user = o.User
	}
	if pass == "" {
		pass = o.Password
	}
	return user, pass
}

// withDefaults returns o with its zero fields set to the defaults, so that
// an Options built in code as a struct literal names only what it sets.
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
	if o.ReaderClient == "" {
		o.ReaderClient = DefaultReaderClient
	}
	if o.ReaderClients == 0 {
		o.ReaderClients = DefaultReaderClients
	}
	if o.SessionTimeout == 0 {
		o.SessionTimeout = DefaultSessionTimeout
	}
	if o.RebalanceTimeout == 0 {
		o.RebalanceTimeout = DefaultRebalanceTimeout
	}
	if o.MetadataMinAge == 0 {
		o.MetadataMinAge = DefaultMetadataMinAge
	}
	if o.ConnIdleTimeout == 0 {
		o.ConnIdleTimeout = DefaultConnIdleTimeout
	}
	if o.Partitions == 0 {
		o.Partitions = DefaultPartitions
	}
	return o
}

// resolved returns valid options as the clients use them: TLS on when a TLS
// detail is set, the SASL mechanism upper-cased and the credentials of the
// URL's user information moved to SASLUser and SASLPassword.
func (o Options) resolved() Options {
	if o.tlsDetails() {
		o.TLS = true
	}
	o.SASLMechanism = strings.ToUpper(o.SASLMechanism)
	o.SASLUser, o.SASLPassword = o.saslCredentials()
	return o
}

// tlsDetails reports whether a TLS file, name or flag other than TLS is set.
func (o *Options) tlsDetails() bool {
	return o.TLSCAFile != "" || o.TLSCertFile != "" || o.TLSKeyFile != "" || o.TLSServerName != "" || o.TLSInsecure
}

// openOptions is the opener the generated registration calls with the
// options of a kafka URL.
func openOptions(ctx context.Context, o Options) (driver.Stream, error) {
	return Open(ctx, o)
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

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
