package kafka

import (
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

func mustParse(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("url.Parse(%q): %v", raw, err)
	}
	return u
}

// parseNoEnv is ParseURL without the environment of the process.
func parseNoEnv(u *url.URL) (Options, error) { return ParseURLEnv(u, nil) }

// opts returns the default options with target t, changed by mod.
func opts(t Target, mod func(*Options)) Options {
	o := DefaultOptions()
	o.Target = t
	if mod != nil {
		mod(&o)
	}
	return o
}

// values drops where the options came from, to compare values only.
func values(o Options) Options {
	clear(o.optOrigin[:])
	return o
}

func TestParseURL(t *testing.T) {
	h := Target{Brokers: []string{"h:9092"}, Topic: "t"}
	tests := []struct {
		raw  string
		want Options
	}{
		{"kafka://localhost:9092/orders", opts(Target{Brokers: []string{"localhost:9092"}, Topic: "orders"}, nil)},
		{"kafka://k1,k2:9093/orders.v2", opts(Target{Brokers: []string{"k1:9092", "k2:9093"}, Topic: "orders.v2"}, nil)},
		{"kafka://[::1]:9094,[::2]/t", opts(Target{Brokers: []string{"[::1]:9094"}, Topic: "t"}, nil)}, // see below: url.Parse rejects it
		{"kafka://127.0.0.1:1/t?client_id=billing&compression=zstd&max_record_bytes=2048&fetch_max_bytes=64KiB",
			opts(Target{Brokers: []string{"127.0.0.1:1"}, Topic: "t"}, func(o *Options) {
				o.ClientID, o.Compression, o.MaxRecordBytes, o.FetchMaxBytes = "billing", "zstd", 2048, 65536
			})},
		{"kafka://h/t?dial_timeout=3s&request_timeout=1m&delivery_timeout=45s&fetch_wait=5ms&metadata_min_age=250ms",
			opts(h, func(o *Options) {
				o.DialTimeout, o.RequestTimeout, o.DeliveryTimeout = 3*time.Second, time.Minute, 45*time.Second
				o.FetchWait, o.MetadataMinAge = 5*time.Millisecond, 250*time.Millisecond
			})},
		{"kafka://h/t?tls=true", opts(h, func(o *Options) { o.TLS = true })},
		{"kafka://h/t?tls_ca=/ca.pem&tls_cert=/c.pem&tls_key=/k.pem&tls_server_name=kafka.internal&tls_insecure=true",
			opts(h, func(o *Options) {
				o.TLSCAFile, o.TLSCertFile, o.TLSKeyFile, o.TLSServerName, o.TLSInsecure = "/ca.pem", "/c.pem", "/k.pem", "kafka.internal", true
			})},
		{"kafka://h/t?sasl_mechanism=scram-sha-512&sasl_user=bob&sasl_password=s%26cret",
			opts(h, func(o *Options) { o.SASLMechanism, o.SASLUser, o.SASLPassword = "scram-sha-512", "bob", "s&cret" })},
		{"kafka://bob:pw@h/t?sasl_mechanism=PLAIN",
			opts(Target{Brokers: []string{"h:9092"}, Topic: "t", User: "bob", Password: "pw"}, func(o *Options) { o.SASLMechanism = SASLPlain })},
		{"kafka://h/t?create_topic=true&partitions=4", opts(h, func(o *Options) { o.CreateTopic, o.Partitions = true, 4 })},
		{"kafka://h/t?create_topic=false", opts(h, nil)},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.raw)
		if err != nil {
			if strings.Contains(tt.raw, "[::2]") {
				continue // net/url cannot hold two bracketed hosts; one works
			}
			t.Fatalf("url.Parse(%q): %v", tt.raw, err)
		}
		got, err := parseNoEnv(u)
		if err != nil {
			t.Errorf("ParseURLEnv(%q): %v", tt.raw, err)
			continue
		}
		if !reflect.DeepEqual(values(got), values(tt.want)) {
			t.Errorf("ParseURLEnv(%q) =\n  %v\nwant\n  %v", tt.raw, got, tt.want)
		}
	}
	if got, err := parseNoEnv(mustParse(t, "kafka://[::1]:9094/t")); err != nil || got.Brokers[0] != "[::1]:9094" {
		t.Errorf("IPv6 broker: %v %v", got.Brokers, err)
	}
	if got, err := parseNoEnv(mustParse(t, "kafka://[::1]/t")); err != nil || got.Brokers[0] != "[::1]:9092" {
		t.Errorf("IPv6 broker without port: %v %v", got.Brokers, err)
	}
	// The URL's user information becomes the SASL credentials the clients use.
	o, err := parseNoEnv(mustParse(t, "kafka://bob:pw@h/t?sasl_mechanism=plain"))
	if err != nil {
		t.Fatal(err)
	}
	if r := o.withDefaults().resolved(); r.SASLUser != "bob" || r.SASLPassword != "pw" || r.SASLMechanism != SASLPlain {
		t.Errorf("resolved() = %v", r)
	}
}

func TestParseURLEnvironment(t *testing.T) {
	env := map[string]string{
		"UNISTREAM_KAFKA_CLIENT_ID":     "from-env",
		"UNISTREAM_KAFKA_COMPRESSION":   "gzip",
		"UNISTREAM_KAFKA_SASL_PASSWORD": "env-secret",
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	o, err := ParseURLEnv(mustParse(t, "kafka://h/t?client_id=from-url&sasl_mechanism=PLAIN&sasl_user=bob"), lookup)
	if err != nil {
		t.Fatal(err)
	}
	if o.ClientID != "from-url" || o.Compression != "gzip" || o.SASLPassword != "env-secret" || !o.IsSet("Compression") || o.IsSet("FetchWait") {
		t.Errorf("ParseURLEnv = %v", o)
	}
	if strings.Contains(o.String(), "env-secret") {
		t.Errorf("String() shows the password: %s", o)
	}
}

func TestParseURLErrors(t *testing.T) {
	tests := []struct{ raw, want string }{
		{"mem://orders", `URL scheme "mem": expected "kafka"`},
		{"kafka:orders", "URL without '//'"},
		{"kafka:///orders", "URL has no broker"},
		{"kafka://h", "topic name is empty"},
		{"kafka://h/", "topic name is empty"},
		{"kafka://h/a/b", `URL path "/a/b": expected one topic name`},
		{"kafka://h/bad%20topic", `topic name "bad topic"`},
		{"kafka://h/..", `topic name ".."`},
		{"kafka://h/t#frag", "URL has a fragment"},
		{"kafka://h,/t", "empty entry"},
		{"kafka://h:0/t", `port "0": expected a number from 1 to 65535`},
		{"kafka://h:99999/t", `port "99999"`},
		{"kafka://:9092/t", "empty host"},
		{"kafka://:pw@h/t", "user information has no user"},
		{"kafka://h/t?bogus=1", `URL query key "bogus" is unknown (valid keys: client_id, compression, conn_idle_timeout, create_topic, delivery_timeout, dial_timeout, fetch_max_bytes, fetch_wait, max_record_bytes, metadata_min_age, partitions, reader_client, reader_clients, rebalance_timeout, request_timeout, sasl_mechanism, sasl_password, sasl_user, session_timeout, tls, tls_ca, tls_cert, tls_insecure, tls_key, tls_server_name)`},
		{"kafka://h/t?conn_idle_timeout=50ms", `conn_idle_timeout="50ms": expected a duration (such as 500ms, 10s or 2m) from 100ms to 15m`},
		{"kafka://h/t?conn_idle_timeout=1h", `conn_idle_timeout="1h": expected a duration (such as 500ms, 10s or 2m) from 100ms to 15m`},
		{"kafka://h/t?client_id=a&client_id=b", `"client_id" is given 2 times: expected it once`},
		{"kafka://h/t?client_id=%07", `client_id="\a": expected printable ASCII`},
		{"kafka://h/t?tls=yes", `tls="yes": expected true or false`},
		{"kafka://h/t?tls_insecure=maybe", `tls_insecure="maybe"`},
		{"kafka://h/t?tls=false&tls_ca=/ca.pem", `tls="false" contradicts`},
		{"kafka://h/t?tls_cert=/c.pem", "tls_cert and tls_key: expected both"},
		{"kafka://h/t?tls_key=/k.pem", "tls_cert and tls_key: expected both"},
		{"kafka://h/t?sasl_mechanism=GSSAPI", `sasl_mechanism="GSSAPI": expected PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512`},
		{"kafka://h/t?sasl_user=bob&sasl_password=x", "without sasl_mechanism"},
		{"kafka://bob:pw@h/t", "without sasl_mechanism"},
		{"kafka://h/t?sasl_mechanism=PLAIN&sasl_user=bob", "needs sasl_user and sasl_password"},
		{"kafka://h/t?sasl_mechanism=PLAIN", "needs sasl_user and sasl_password"},
		{"kafka://bob@h/t?sasl_mechanism=PLAIN&sasl_user=al&sasl_password=x", "both as user information and as sasl_user"},
		{"kafka://bob:pw@h/t?sasl_mechanism=PLAIN&sasl_password=x", "both as user information and as sasl_password"},
		{"kafka://h/t?compression=brotli", `compression="brotli": expected one of none, gzip, snappy, lz4 or zstd`},
		{"kafka://h/t?compression=ZSTD", `compression="ZSTD"`},
		{"kafka://h/t?max_record_bytes=0", `max_record_bytes="0": expected a size`},
		{"kafka://h/t?max_record_bytes=-5", `max_record_bytes="-5"`},
		{"kafka://h/t?max_record_bytes=1e6", `max_record_bytes="1e6"`},
		{"kafka://h/t?max_record_bytes=2000000000", `max_record_bytes="2000000000"`},
		{"kafka://h/t?fetch_max_bytes=x", `fetch_max_bytes="x"`},
		{"kafka://h/t?dial_timeout=10", `dial_timeout="10": expected a duration`},
		{"kafka://h/t?request_timeout=-1s", `request_timeout="-1s"`},
		{"kafka://h/t?delivery_timeout=0s", `delivery_timeout="0s"`},
		{"kafka://h/t?fetch_wait=soon", `fetch_wait="soon"`},
		{"kafka://h/t?metadata_min_age=0", `metadata_min_age="0"`},
		{"kafka://h/t?create_topic=on", `create_topic="on"`},
		{"kafka://h/t?partitions=4", `partitions="4" needs create_topic=true`},
		{"kafka://h/t?create_topic=true&partitions=0", `partitions="0": expected an integer from 1 to 10000`},
		{"kafka://h/t?create_topic=true&partitions=10001", `partitions="10001"`},
		{"kafka://h/t?a=%zz", "URL query: invalid URL escape"},
		{"kafka://h/t?a=1;b=2", "URL query: invalid semicolon"},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.raw)
		if err != nil {
			t.Fatalf("url.Parse(%q): %v", tt.raw, err)
		}
		_, err = parseNoEnv(u)
		if err == nil {
			t.Errorf("ParseURLEnv(%q) succeeded, want an error containing %q", tt.raw, tt.want)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseURLEnv(%q) error:\n  %v\nwant it to contain\n  %s", tt.raw, err, tt.want)
		}
	}
	if _, err := parseNoEnv(nil); err == nil {
		t.Error("ParseURLEnv(nil) succeeded")
	}
}

// TestSecretsNeverShown checks that the SASL password appears neither in
// String nor in any parse error.
func TestSecretsNeverShown(t *testing.T) {
	const secret = "hunter2-s3cret"
	for _, raw := range []string{
		"kafka://h/t?sasl_mechanism=PLAIN&sasl_user=bob&sasl_password=" + secret,
		"kafka://bob:" + secret + "@h/t?sasl_mechanism=PLAIN",
	} {
		good, err := parseNoEnv(mustParse(t, raw))
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{good.String(), good.withDefaults().resolved().String(), good.GoString()} {
			if strings.Contains(s, secret) || !strings.Contains(s, "***") {
				t.Errorf("String() = %q: the password must be redacted", s)
			}
		}
	}
	for _, raw := range []string{
		"kafka://h/t?sasl_password=" + secret,                              // no mechanism
		"kafka://h/t?sasl_password=" + secret + "&sasl_password=" + secret, // repeated
		"kafka://h/t?sasl_password=" + secret + "%zz",                      // malformed escape
		"kafka://h/t?sasl_password=" + secret + ";x=1",                     // semicolon
		"kafka://h/t?sasl_mechanism=PLAIN&sasl_user=u&sasl_password=" + secret + "&bogus=1",
		"kafka://u:" + secret + "@h/t",
	} {
		_, err := parseNoEnv(mustParse(t, raw))
		if err == nil {
			t.Errorf("ParseURLEnv(%q) succeeded", raw)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("ParseURLEnv error shows the password: %v", err)
		}
	}
}

func TestValidateProgrammaticOptions(t *testing.T) {
	base := Options{Target: Target{Brokers: []string{"h:1"}, Topic: "t"}}
	tests := []struct {
		name string
		mod  func(*Options)
		want string
	}{
		{"no broker", func(o *Options) { o.Brokers = nil }, "no broker"},
		{"bad broker", func(o *Options) { o.Brokers = []string{"h"} }, `broker "h": expected HOST:PORT`},
		{"bad topic", func(o *Options) { o.Topic = "a b" }, `topic name "a b"`},
		{"negative bytes", func(o *Options) { o.MaxRecordBytes = -1 }, "option MaxRecordBytes -1B"},
		{"negative duration", func(o *Options) { o.FetchWait = -time.Second }, "option FetchWait -1s"},
		{"bad mechanism", func(o *Options) { o.SASLMechanism = "gssapi" }, `option SASLMechanism "gssapi"`},
		{"bad compression", func(o *Options) { o.Compression = "rar" }, `option Compression "rar"`},
		{"partitions without create", func(o *Options) { o.Partitions = 2 }, "needs create_topic=true"},
		{"bad code option", func(o *Options) { o.Apply(WithDialTimeout(-time.Second)) }, "option WithDialTimeout(-1s)"},
	}
	for _, tt := range tests {
		o := base
		tt.mod(&o)
		err := o.withDefaults().Validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Validate() = %v, want %q", tt.name, err, tt.want)
		}
	}
	d := base.withDefaults()
	if err := d.Validate(); err != nil {
		t.Errorf("Validate() of the defaults: %v", err)
	}
	want := DefaultOptions()
	want.Target = base.Target
	if !reflect.DeepEqual(d, want) {
		t.Errorf("withDefaults() = %v, want %v", d, want)
	}
	if d := (Options{Target: base.Target, CreateTopic: true, TLSServerName: "x"}).withDefaults().resolved(); d.Partitions != DefaultPartitions || !d.TLS {
		t.Errorf("resolved() with create_topic and a TLS name = %v", d)
	}
}

// FuzzKafkaTarget checks that the target parser never shows the password
// of the URL's user information, and that what parses has brokers and a
// topic. (FuzzParseURL, generated, checks the rest.)
func FuzzKafkaTarget(f *testing.F) {
	for _, s := range []string{
		"kafka://localhost:9092/orders",
		"kafka://a:1,b:2/t?client_id=x&compression=zstd&max_record_bytes=10",
		"kafka://u:p@h/t?sasl_mechanism=PLAIN",
		"kafka://u:secret1@h/bad%20t",
		"kafka://[::1]:9092/t?create_topic=true&partitions=3",
		"kafka:opaque",
		"kafka://h/%zz",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := url.Parse(raw)
		if err != nil {
			return
		}
		o, err := parseNoEnv(u)
		if err != nil {
			if pw, ok := u.User.Password(); ok && len(pw) > 3 && strings.Contains(err.Error(), pw) {
				t.Errorf("error shows the user-info password: %v", err)
			}
			return
		}
		if len(o.Brokers) == 0 || o.Topic == "" {
			t.Errorf("ParseURLEnv(%q) = %v", raw, o)
		}
		if len(o.Password) > 3 && strings.Contains(o.String(), o.Password) {
			t.Errorf("String() shows the password: %q", o.String())
		}
	})
}
