package pulsar

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

// The options (Options, Option, With*, ParseURL and the Default* constants)
// are generated from adapter.yaml into zz_generated_options.go; this file
// holds what is specific to Pulsar: the hosts and topic of a URL, the checks
// between options, the defaults of an Options built in code, and the opener.

// Constants that are not options.
const (
	// DefaultPort is the broker port used when a host of a binary-lookup URL
	// has none.
	DefaultPort = 6650
	// DefaultHTTPPort is the port used when a host of an http-lookup URL has
	// none.
	DefaultHTTPPort = 8080
	// DefaultMaxBatchRecords bounds the records of one Write call.
	DefaultMaxBatchRecords = 10_000
	// DefaultMaxBatchBytes bounds the summed record sizes of one Write: 64 MiB.
	DefaultMaxBatchBytes = 64 << 20
	// MaxNameLen bounds the length of a tenant, namespace or topic name.
	MaxNameLen = 255
)

// Lookup modes (the lookup option).
const (
	LookupBinary = "binary"
	LookupHTTP   = "http"
)

// Target is where a pulsar URL points: the hosts and the topic. It is
// embedded in Options, so o.Hosts and o.Topic are the hosts and the topic.
type Target struct {
	// Hosts are the brokers (binary lookup) or the HTTP service (http
	// lookup), "host:port".
	Hosts []string
	// Topic is the stream: a short topic name ("orders"), in the tenant and
	// namespace of the options, or "TENANT/NAMESPACE/TOPIC".
	Topic string
}

// Validate checks the hosts and the topic.
func (t Target) Validate() error {
	if len(t.Hosts) == 0 {
		return fmt.Errorf("pulsar: options: no host: expected at least one HOST:PORT")
	}
	for _, h := range t.Hosts {
		if _, _, err := net.SplitHostPort(h); err != nil {
			return fmt.Errorf("pulsar: options: host %q: expected HOST:PORT", h)
		}
	}
	_, _, _, err := splitTopic(t.Topic)
	return err
}

// String shows the target as Options.String prints it.
func (t Target) String() string {
	return "Hosts:" + strconv.Quote(strings.Join(t.Hosts, ",")) + " Topic:" + strconv.Quote(t.Topic)
}

// parseTarget reads the hosts and the topic of a pulsar URL:
//
//	pulsar://HOST:PORT[,HOST:PORT...]/TOPIC
//	pulsar://HOST:PORT[,HOST:PORT...]/TENANT/NAMESPACE/TOPIC
//
// The port defaults to 6650 (8080 with lookup=http in the query). The
// generated ParseURL has checked the scheme and the fragment and reads the
// query.
func parseTarget(u *url.URL) (Target, error) {
	var t Target
	if u.Opaque != "" {
		return t, fmt.Errorf("pulsar: URL without '//': expected %s", optForm)
	}
	if u.User != nil {
		return t, fmt.Errorf("pulsar: URL has user information: expected none (give credentials with auth_token, auth_token_file or the oauth2_* options)")
	}
	port := DefaultPort
	if q, err := url.ParseQuery(u.RawQuery); err == nil && q.Get("lookup") == LookupHTTP {
		port = DefaultHTTPPort
	}
	hosts, err := parseHosts(u.Host, port)
	if err != nil {
		return t, err
	}
	t.Hosts = hosts
	topic := strings.TrimPrefix(u.Path, "/")
	if _, _, _, err := splitTopic(topic); err != nil {
		return t, fmt.Errorf("%w (URL form %s)", err, optForm)
	}
	t.Topic = topic
	return t, nil
}

// parseHosts reads "host:port,host:port" (the port defaults to port).
func parseHosts(hosts string, defPort int) ([]string, error) {
	if hosts == "" {
		return nil, fmt.Errorf("pulsar: URL has no host: expected %s", optForm)
	}
	return optvalue.ParseHostPorts("pulsar: URL host", hosts, defPort)
}

// splitTopic splits a topic given as "TOPIC" or "TENANT/NAMESPACE/TOPIC";
// tenant and namespace are empty for a short name.
func splitTopic(s string) (tenant, namespace, topic string, err error) {
	parts := strings.Split(s, "/")
	switch len(parts) {
	case 1:
		topic = parts[0]
	case 3:
		tenant, namespace, topic = parts[0], parts[1], parts[2]
		if err := validateName("tenant", tenant); err != nil {
			return "", "", "", err
		}
		if err := validateName("namespace", namespace); err != nil {
			return "", "", "", err
		}
	default:
		return "", "", "", fmt.Errorf("pulsar: topic %q: expected TOPIC or TENANT/NAMESPACE/TOPIC", s)
	}
	if err := validateName("topic", topic); err != nil {
		return "", "", "", err
	}
	if i := strings.LastIndex(topic, partitionSuffix); i >= 0 {
		if _, err := strconv.Atoi(topic[i+len(partitionSuffix):]); err == nil {
			return "", "", "", fmt.Errorf("pulsar: topic %q names a partition: expected the topic's own name (the adapter reads every partition)", topic)
		}
	}
	return tenant, namespace, topic, nil
}

// partitionSuffix separates a partitioned topic's name from a partition's
// index in the partition's topic name.
const partitionSuffix = "-partition-"

// validateName checks a tenant, namespace or topic name: 1 to 255 letters,
// digits, '.', '_', '=' or '-'.
func validateName(what, name string) error {
	const expected = "1 to 255 letters, digits, '.', '_', '=' or '-'"
	if name == "" {
		return fmt.Errorf("pulsar: %s name is empty: expected %s", what, expected)
	}
	if len(name) > MaxNameLen {
		return fmt.Errorf("pulsar: %s name of %d bytes: expected %s", what, len(name), expected)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '=' || c == '-') {
			return fmt.Errorf("pulsar: %s name %q: byte %d (%q) is not allowed: expected %s", what, name, i, c, expected)
		}
	}
	return nil
}

// validateCombination is the check between options that the generated
// Validate calls last.
func validateCombination(o Options) error {
	if err := validateName("tenant", o.Tenant); err != nil {
		return fmt.Errorf("%w (%s)", err, o.where(optionTenant))
	}
	if err := validateName("namespace", o.Namespace); err != nil {
		return fmt.Errorf("%w (%s)", err, o.where(optionNamespace))
	}
	if tenant, _, _, _ := splitTopic(o.Topic); tenant != "" && (o.IsSet("Tenant") || o.IsSet("Namespace")) {
		return fmt.Errorf("pulsar: topic %q names its tenant and namespace, and the tenant or namespace option is set too: give them once", o.Topic)
	}
	if (o.TLSCertFile == "") != (o.TLSKeyFile == "") {
		return fmt.Errorf("pulsar: options tls_cert and tls_key: expected both (TLS authentication) or neither")
	}
	if o.IsSet("TLS") && !o.TLS && o.tlsDetails() {
		return fmt.Errorf("pulsar: %s contradicts tls_ca, tls_cert, tls_key, tls_insecure or tls_verify_hostname: drop it", o.where(optionTLS))
	}
	auths := 0
	if o.AuthToken != "" {
		auths++
	}
	if o.AuthTokenFile != "" {
		auths++
	}
	oauth := o.OAuth2IssuerURL != "" || o.OAuth2Audience != "" || o.OAuth2KeyFile != "" || o.OAuth2Scope != ""
	if oauth {
		auths++
		if o.OAuth2IssuerURL == "" || o.OAuth2KeyFile == "" {
			return fmt.Errorf("pulsar: OAuth2 authentication needs oauth2_issuer_url and oauth2_key_file (oauth2_audience and oauth2_scope are optional)")
		}
		if u, err := url.Parse(o.OAuth2IssuerURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("pulsar: %s: expected an http(s) URL", o.where(optionOAuth2IssuerURL))
		}
	}
	if o.TLSCertFile != "" {
		auths++
	}
	if auths > 1 {
		return fmt.Errorf("pulsar: more than one authentication is given (auth_token, auth_token_file, oauth2_*, tls_cert/tls_key): expected at most one")
	}
	return nil
}

// withDefaults returns o with its zero fields set to the defaults, so that
// an Options built in code as a struct literal names only what it sets.
func (o Options) withDefaults() Options {
	if o.Tenant == "" {
		o.Tenant = DefaultTenant
	}
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if o.Lookup == "" {
		o.Lookup = DefaultLookup
	}
	if o.ConnectionTimeout == 0 {
		o.ConnectionTimeout = DefaultConnectionTimeout
	}
	if o.OperationTimeout == 0 {
		o.OperationTimeout = DefaultOperationTimeout
	}
	if o.SendTimeout == 0 {
		o.SendTimeout = DefaultSendTimeout
	}
	if o.BatchingDelay == 0 {
		o.BatchingDelay = DefaultBatchingDelay
	}
	if o.ReceiverQueueSize == 0 {
		o.ReceiverQueueSize = DefaultReceiverQueueSize
	}
	if o.FetchWait == 0 {
		o.FetchWait = DefaultFetchWait
	}
	if o.MaxRecordBytes == 0 {
		o.MaxRecordBytes = DefaultMaxRecordBytes
	}
	return o
}

// tlsDetails reports whether a TLS file or flag other than TLS is set.
func (o *Options) tlsDetails() bool {
	return o.TLSCAFile != "" || o.TLSCertFile != "" || o.TLSKeyFile != "" || o.TLSInsecure || o.TLSVerifyHostname
}

// ServiceURL returns the service URL the client connects to:
// pulsar://, pulsar+ssl://, http:// or https:// and the hosts.
func (o Options) ServiceURL() string {
	scheme := "pulsar"
	switch {
	case o.Lookup == LookupHTTP && (o.TLS || o.tlsDetails()):
		scheme = "https"
	case o.Lookup == LookupHTTP:
		scheme = "http"
	case o.TLS || o.tlsDetails():
		scheme = "pulsar+ssl"
	}
	return scheme + "://" + strings.Join(o.Hosts, ",")
}

// FullTopic returns the topic's full name,
// persistent://TENANT/NAMESPACE/TOPIC.
func (o Options) FullTopic() string {
	tenant, ns, topic, err := splitTopic(o.Topic)
	if err != nil || tenant == "" {
		tenant, ns = o.Tenant, o.Namespace
	}
	return "persistent://" + tenant + "/" + ns + "/" + topic
}

// openOptions is the opener the generated registration calls with the
// options of a pulsar URL.
func openOptions(ctx context.Context, o Options) (driver.Stream, error) {
	return Open(ctx, o)
}
