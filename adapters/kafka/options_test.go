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

func TestParseURL(t *testing.T) {
	tests := []struct {
		raw  string
		want Options
	}{
		{"kafka://localhost:9092/orders", Options{Brokers: []string{"localhost:9092"}, Topic: "orders"}},
		{"kafka://k1,k2:9093/orders.v2", Options{Brokers: []string{"k1:9092", "k2:9093"}, Topic: "orders.v2"}},
		{"kafka://[::1]:9094,[::2]/t", Options{Brokers: []string{"[::1]:9094"}, Topic: "t"}}, // see below: url.Parse rejects it
		{"kafka://127.0.0.1:1/t?client_id=billing&compression=ZSTD&max_record_bytes=2048&fetch_max_bytes=65536",
			Options{Brokers: []string{"127.0.0.1:1"}, Topic: "t", ClientID: "billing", Compression: "zstd", MaxRecordBytes: 2048, FetchMaxBytes: 65536}},
		{"kafka://h/t?dial_timeout=3s&request_timeout=1m&delivery_timeout=45s&fetch_wait=5ms&metadata_min_age=250ms",
			Options{Brokers: []string{"h:9092"}, Topic: "t", DialTimeout: 3 * time.Second, RequestTimeout: time.Minute, DeliveryTimeout: 45 * time.Second,
				FetchWait: 5 * time.Millisecond, MetadataMinAge: 250 * time.Millisecond}},
		{"kafka://h/t?tls=true", Options{Brokers: []string{"h:9092"}, Topic: "t", TLS: true}},
		{"kafka://h/t?tls_ca=/ca.pem&tls_cert=/c.pem&tls_key=/k.pem&tls_server_name=kafka.internal&tls_insecure=true",
			Options{Brokers: []string{"h:9092"}, Topic: "t", TLSCAFile: "/ca.pem", TLSCertFile: "/c.pem", TLSKeyFile: "/k.pem", TLSServerName: "kafka.internal", TLSInsecure: true}},
		{"kafka://h/t?sasl_mechanism=scram-sha-512&sasl_user=bob&sasl_password=s%26cret",
			Options{Brokers: []string{"h:9092"}, Topic: "t", SASLMechanism: SASLScramSHA512, SASLUser: "bob", SASLPassword: "s&cret"}},
		{"kafka://bob:pw@h/t?sasl_mechanism=PLAIN", Options{Brokers: []string{"h:9092"}, Topic: "t", SASLMechanism: SASLPlain, SASLUser: "bob", SASLPassword: "pw"}},
		{"kafka://h/t?create_topic=true&partitions=4", Options{Brokers: []string{"h:9092"}, Topic: "t", CreateTopic: true, Partitions: 4}},
		{"kafka://h/t?create_topic=false", Options{Brokers: []string{"h:9092"}, Topic: "t"}},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.raw)
		if err != nil {
			if strings.Contains(tt.raw, "[::2]") {
				continue // net/url cannot hold two bracketed hosts; one works
			}
			t.Fatalf("url.Parse(%q): %v", tt.raw, err)
		}
		got, err := parseURL(u)
		if err != nil {
			t.Errorf("parseURL(%q): %v", tt.raw, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseURL(%q) =\n  %+v\nwant\n  %+v", tt.raw, got, tt.want)
		}
	}
	if got, err := parseURL(mustParse(t, "kafka://[::1]:9094/t")); err != nil || got.Brokers[0] != "[::1]:9094" {
		t.Errorf("IPv6 broker: %v %v", got.Brokers, err)
	}
	if got, err := parseURL(mustParse(t, "kafka://[::1]/t")); err != nil || got.Brokers[0] != "[::1]:9092" {
		t.Errorf("IPv6 broker without port: %v %v", got.Brokers, err)
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
		{"kafka://h/t?bogus=1", `URL query key "bogus" is unknown (valid keys: client_id, compression, create_topic, delivery_timeout, dial_timeout, fetch_max_bytes, fetch_wait, max_record_bytes, metadata_min_age, partitions, request_timeout, sasl_mechanism, sasl_password, sasl_user, tls, tls_ca, tls_cert, tls_insecure, tls_key, tls_server_name)`},
		{"kafka://h/t?client_id=a&client_id=b", `"client_id" is given 2 times, expected once`},
		{"kafka://h/t?client_id=", `client_id="": expected a client id`},
		{"kafka://h/t?client_id=%07", `client_id="\a": expected a client id of printable ASCII`},
		{"kafka://h/t?tls=yes", `tls="yes": expected true or false`},
		{"kafka://h/t?tls=1", `tls="1": expected true or false`},
		{"kafka://h/t?tls_insecure=maybe", `tls_insecure="maybe"`},
		{"kafka://h/t?tls=false&tls_ca=/ca.pem", "tls=false contradicts"},
		{"kafka://h/t?tls_cert=/c.pem", "tls_cert and tls_key: expected both"},
		{"kafka://h/t?tls_key=/k.pem", "tls_cert and tls_key: expected both"},
		{"kafka://h/t?tls_ca=", `tls_ca="": expected a path`},
		{"kafka://h/t?sasl_mechanism=GSSAPI", `sasl_mechanism="GSSAPI": expected PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512`},
		{"kafka://h/t?sasl_user=bob&sasl_password=x", "without sasl_mechanism"},
		{"kafka://h/t?sasl_mechanism=PLAIN&sasl_user=bob", "needs sasl_user and sasl_password"},
		{"kafka://h/t?sasl_mechanism=PLAIN", "needs sasl_user and sasl_password"},
		{"kafka://bob@h/t?sasl_mechanism=PLAIN&sasl_user=al&sasl_password=x", "both as user information and as sasl_user"},
		{"kafka://bob:pw@h/t?sasl_mechanism=PLAIN&sasl_password=x", "both as user information and as sasl_password"},
		{"kafka://h/t?compression=brotli", `compression="brotli": expected none, gzip, snappy, lz4 or zstd`},
		{"kafka://h/t?max_record_bytes=0", `max_record_bytes="0": expected an integer from 1 to`},
		{"kafka://h/t?max_record_bytes=-5", `max_record_bytes="-5"`},
		{"kafka://h/t?max_record_bytes=1e6", `max_record_bytes="1e6"`},
		{"kafka://h/t?max_record_bytes=2000000000", `max_record_bytes="2000000000"`},
		{"kafka://h/t?fetch_max_bytes=x", `fetch_max_bytes="x"`},
		{"kafka://h/t?dial_timeout=10", `dial_timeout="10": expected a positive duration such as 10s`},
		{"kafka://h/t?request_timeout=-1s", `request_timeout="-1s"`},
		{"kafka://h/t?delivery_timeout=0s", `delivery_timeout="0s"`},
		{"kafka://h/t?fetch_wait=soon", `fetch_wait="soon"`},
		{"kafka://h/t?metadata_min_age=0", `metadata_min_age="0"`},
		{"kafka://h/t?create_topic=on", `create_topic="on"`},
		{"kafka://h/t?partitions=4", "partitions=4 needs create_topic=true"},
		{"kafka://h/t?create_topic=true&partitions=0", `partitions="0": expected an integer from 1 to 10000`},
		{"kafka://h/t?create_topic=true&partitions=10001", `partitions="10001"`},
		{"kafka://h/t?a=%zz", "URL query: malformed escape"},
		{"kafka://h/t?a=1;b=2", "URL query: invalid semicolon"},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.raw)
		if err != nil {
			t.Fatalf("url.Parse(%q): %v", tt.raw, err)
		}
		_, err = parseURL(u)
		if err == nil {
			t.Errorf("parseURL(%q) succeeded, want an error containing %q", tt.raw, tt.want)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parseURL(%q) error:\n  %v\nwant it to contain\n  %s", tt.raw, err, tt.want)
		}
	}
	if _, err := parseURL(nil); err == nil {
		t.Error("parseURL(nil) succeeded")
	}
}

// TestSecretsNeverShown checks that the SASL password appears neither in
// String nor in any parse error.
func TestSecretsNeverShown(t *testing.T) {
	const secret = "hunter2-s3cret"
	good, err := parseURL(mustParse(t, "kafka://h/t?sasl_mechanism=PLAIN&sasl_user=bob&sasl_password="+secret))
	if err != nil {
		t.Fatal(err)
	}
	s := good.String()
	if strings.Contains(s, secret) || !strings.Contains(s, "sasl_password=REDACTED") {
		t.Errorf("String() = %q: the password must be redacted", s)
	}
	if s2 := good.withDefaults().String(); strings.Contains(s2, secret) {
		t.Errorf("String() with defaults shows the password: %q", s2)
	}
	for _, raw := range []string{
		"kafka://h/t?sasl_password=" + secret,                              // no mechanism
		"kafka://h/t?sasl_password=" + secret + "&sasl_password=" + secret, // repeated
		"kafka://h/t?sasl_password=" + secret + "%zz",                      // malformed escape
		"kafka://h/t?sasl_password=" + secret + ";x=1",                     // semicolon
		"kafka://h/t?sasl_mechanism=PLAIN&sasl_user=u&sasl_password=" + secret + "&bogus=1",
		"kafka://u:" + secret + "@h/t",
	} {
		_, err := parseURL(mustParse(t, raw))
		if err == nil {
			t.Errorf("parseURL(%q) succeeded", raw)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("parseURL error shows the password: %v", err)
		}
	}
}

func TestOptionsStringRoundTrip(t *testing.T) {
	raw := "kafka://a:1,b:2/orders?client_id=x&compression=lz4&create_topic=true&delivery_timeout=5s&dial_timeout=1s&fetch_max_bytes=100&fetch_wait=7ms" +
		"&max_record_bytes=10&metadata_min_age=1s&partitions=3&request_timeout=2s&tls_ca=%2Fca.pem&tls_insecure=true&tls_server_name=k"
	o, err := parseURL(mustParse(t, raw))
	if err != nil {
		t.Fatal(err)
	}
	back, err := parseURL(mustParse(t, o.String()))
	if err != nil {
		t.Fatalf("String() %q does not parse: %v", o.String(), err)
	}
	if !reflect.DeepEqual(back, o) {
		t.Errorf("round trip through String:\n  %+v\n  %+v", o, back)
	}
}

func TestValidateProgrammaticOptions(t *testing.T) {
	base := Options{Brokers: []string{"h:1"}, Topic: "t"}
	tests := []struct {
		name string
		mod  func(*Options)
		want string
	}{
		{"no broker", func(o *Options) { o.Brokers = nil }, "no broker"},
		{"bad broker", func(o *Options) { o.Brokers = []string{"h"} }, `broker "h": expected HOST:PORT`},
		{"bad topic", func(o *Options) { o.Topic = "a b" }, `topic name "a b"`},
		{"negative bytes", func(o *Options) { o.MaxRecordBytes = -1 }, "max_record_bytes=-1"},
		{"negative duration", func(o *Options) { o.FetchWait = -time.Second }, "fetch_wait=-1s"},
		{"bad mechanism", func(o *Options) { o.SASLMechanism = "plain" }, `sasl_mechanism "plain"`},
		{"bad compression", func(o *Options) { o.Compression = "rar" }, `compression "rar"`},
		{"partitions without create", func(o *Options) { o.Partitions = 2 }, "needs create_topic=true"},
	}
	for _, tt := range tests {
		o := base
		tt.mod(&o)
		err := o.validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: validate() = %v, want %q", tt.name, err, tt.want)
		}
	}
	d := base.withDefaults()
	if d.ClientID != DefaultClientID || d.Compression != DefaultCompression || d.MaxRecordBytes != DefaultMaxRecordBytes ||
		d.FetchMaxBytes != DefaultFetchMaxBytes || d.DialTimeout != DefaultDialTimeout || d.RequestTimeout != DefaultRequestTimeout ||
		d.DeliveryTimeout != DefaultDeliveryTimeout || d.FetchWait != DefaultFetchWait || d.MetadataMinAge != DefaultMetadataMinAge || d.Partitions != 0 {
		t.Errorf("withDefaults() = %+v", d)
	}
	if d := (Options{Brokers: []string{"h:1"}, Topic: "t", CreateTopic: true, TLSServerName: "x"}).withDefaults(); d.Partitions != DefaultPartitions || !d.TLS {
		t.Errorf("withDefaults() with create_topic and a TLS name = %+v", d)
	}
}

func FuzzParseURL(f *testing.F) {
	for _, s := range []string{
		"kafka://localhost:9092/orders",
		"kafka://a:1,b:2/t?client_id=x&compression=zstd&max_record_bytes=10",
		"kafka://u:p@h/t?sasl_mechanism=PLAIN",
		"kafka://h/t?tls_ca=/x&tls_cert=/c&tls_key=/k",
		"kafka://[::1]:9092/t?create_topic=true&partitions=3",
		"kafka://h/t?fetch_wait=1ms&bogus",
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
		o, err := parseURL(u)
		if err != nil {
			if pw, ok := u.User.Password(); ok && len(pw) > 3 && strings.Contains(err.Error(), pw) {
				t.Errorf("error shows the user-info password: %v", err)
			}
			return
		}
		// What parses is valid, has a topic and brokers, and its String
		// form parses to the same options (the password redacted).
		if err := o.validate(); err != nil {
			t.Errorf("parseURL(%q) returned invalid options: %v", raw, err)
		}
		if len(o.Brokers) == 0 || o.Topic == "" {
			t.Errorf("parseURL(%q) = %+v", raw, o)
		}
		if o.SASLPassword != "" && len(o.SASLPassword) > 3 && strings.Contains(o.String(), o.SASLPassword) && o.SASLPassword != "REDACTED" {
			t.Errorf("String() shows the password: %q", o.String())
		}
		back, err := url.Parse(o.String())
		if err != nil {
			t.Fatalf("String() %q does not parse as a URL: %v", o.String(), err)
		}
		if len(o.Brokers) == 1 || !strings.Contains(o.String(), "[") { // net/url cannot hold two bracketed hosts
			if _, err := parseURL(back); err != nil {
				t.Errorf("String() %q of parsed %q does not parse: %v", o.String(), raw, err)
			}
		}
	})
}
