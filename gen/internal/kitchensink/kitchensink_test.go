package kitchensink

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/unistream-go/unistream/stream/driver"
)

type env map[string]string

func (e env) lookup(k string) (string, bool) {
	v, ok := e[k]
	return v, ok
}

func parse(t *testing.T, raw string, e env) (Options, error) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("url.Parse(%q): %v", raw, err)
	}
	return ParseURLEnv(u, e.lookup)
}

const base = "kitchensink://h/t?region=r"

func TestDefaults(t *testing.T) {
	o := DefaultOptions()
	if !slices.Equal(o.Brokers, []string{"localhost:9092", "localhost:9093"}) || o.Timeout != 10*time.Second ||
		o.Retries != 3 || o.StartOffset != -1 || o.Compression != "none" || o.TLS || o.Password != "" ||
		o.Tokens != nil || o.Region != "" || o.ClientID != "unistream" || o.Buffer != 5<<20 || o.Features != nil ||
		o.Logger != nil || o.Dialer != nil {
		t.Errorf("DefaultOptions() = %v", o)
	}
	if DefaultTimeout != 10*time.Second || DefaultStartOffset != int64(-1) || MaxBuffer != 1<<30 || DefaultClientID != "unistream" {
		t.Error("the constants disagree with the spec")
	}
	// Defaults with a target and the required option validate.
	o.Target = Target{Topic: "t"}
	o.Apply(WithRegion("r"))
	if err := o.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	want := driver.Capabilities{MaxBatchRecords: 500, MaxBatchBytes: 5 << 20, MaxRecordBytes: 1 << 20, PerKeyOrder: true, ConsumerGroups: true}
	if c := o.Capabilities(); c != want {
		t.Errorf("Capabilities() = %+v, want %+v", c, want)
	}
}

// TestEveryType sets each option from the URL at its bounds.
func TestEveryType(t *testing.T) {
	tests := []struct {
		query string
		check func(o Options) bool
	}{
		{"brokers=a:1,b:2,c:3", func(o Options) bool { return slices.Equal(o.Brokers, []string{"a:1", "b:2", "c:3"}) }},
		{"brokers=", func(o Options) bool { return o.Brokers == nil && o.IsSet("Brokers") }},
		{"timeout=1ms", func(o Options) bool { return o.Timeout == time.Millisecond }},
		{"timeout=1h", func(o Options) bool { return o.Timeout == time.Hour }},
		{"timeout=1m30s", func(o Options) bool { return o.Timeout == 90*time.Second }},
		{"retries=0", func(o Options) bool { return o.Retries == 0 && o.IsSet("Retries") }},
		{"retries=10", func(o Options) bool { return o.Retries == 10 }},
		{"start_offset=-2", func(o Options) bool { return o.StartOffset == -2 }},
		{"start_offset=9223372036854775807", func(o Options) bool { return o.StartOffset == 1<<63-1 }},
		{"compression=zstd", func(o Options) bool { return o.Compression == "zstd" }},
		{"tls=true", func(o Options) bool { return o.TLS }},
		{"tls=1", func(o Options) bool { return o.TLS }},
		{"tls=FALSE", func(o Options) bool { return !o.TLS && o.IsSet("TLS") }},
		{"password=p%26ss", func(o Options) bool { return o.Password == "p&ss" }},
		{"client_id=", func(o Options) bool { return o.ClientID == "" && o.IsSet("ClientID") }},
		{"buffer=1KiB", func(o Options) bool { return o.Buffer == 1024 }},
		{"buffer=1GiB", func(o Options) bool { return o.Buffer == MaxBuffer }},
		{"buffer=2000", func(o Options) bool { return o.Buffer == 2000 }},
		{"features=c,a", func(o Options) bool { return slices.Equal(o.Features, []string{"c", "a"}) }},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			o, err := parse(t, base+"&"+tt.query, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(o) {
				t.Errorf("got %v", o)
			}
		})
	}
}

// TestBadValues checks one bad value of each kind, from the URL and from
// the environment.
func TestBadValues(t *testing.T) {
	tests := []struct {
		query string
		env   env
		want  string
	}{
		{"timeout=0s", nil, `kitchensink: URL option timeout="0s": expected a duration (such as 500ms, 10s or 2m) from 1ms to 1h`},
		{"timeout=2h", nil, `URL option timeout="2h": expected a duration`},
		{"timeout=5", nil, `URL option timeout="5": expected a duration (such as 500ms, 10s or 2m) from 1ms to 1h: time: missing unit in duration "5"`},
		{"retries=11", nil, `URL option retries="11": expected an integer from 0 to 10`},
		{"start_offset=-3", nil, `URL option start_offset="-3": expected an integer of at least -2`},
		{"start_offset=9223372036854775808", nil, `expected an integer of at least -2: value out of range`},
		{"compression=lz4", nil, `URL option compression="lz4": expected one of none, gzip or zstd`},
		{"tls=yes", nil, `URL option tls="yes": expected true or false: invalid syntax`},
		{"buffer=1023", nil, `URL option buffer="1023": expected a size (such as 512, 64KiB or 5MiB) from 1KiB to 1GiB`},
		{"buffer=2GiB", nil, `URL option buffer="2GiB"`},
		{"features=a,d", nil, `URL option features="a,d": expected a comma-separated list of a, b or c`},
		{"features=a,,b", nil, `URL option features="a,,b": expected a comma-separated list of a, b or c: item 2 is empty`},
		{"brokers=a,", nil, `item 2 is empty`},
		{"tokens=x", nil, `URL query key "tokens" is unknown (valid keys: brokers, buffer, client_id, compression, features, password, region, retries, start_offset, timeout, tls)`},
		{"", env{"KS_TIMEOUT": "soon"}, `environment variable KS_TIMEOUT="soon": expected a duration`},
		{"", env{"KS_COMPRESSION": "lz4"}, `environment variable KS_COMPRESSION="lz4": expected one of none, gzip or zstd`},
		{"", env{"KS_TLS": "on"}, `environment variable KS_TLS="on": expected true or false`},
		{"", env{"KS_BUFFER": "1"}, `environment variable KS_BUFFER="1": expected a size`},
	}
	for _, tt := range tests {
		t.Run(tt.query+fmt.Sprint(tt.env), func(t *testing.T) {
			_, err := parse(t, base+"&"+tt.query, tt.env)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestRequired(t *testing.T) {
	want := "kitchensink: option Region is required: set URL query key region, environment variable KS_REGION or WithRegion"
	if _, err := parse(t, "kitchensink://h/t", nil); err == nil || err.Error() != want {
		t.Errorf("without region: %v, want %q", err, want)
	}
	if o, err := parse(t, "kitchensink://h/t", env{"KS_REGION": "eu"}); err != nil || o.Region != "eu" {
		t.Errorf("region from the environment: %v, %v", o, err)
	}
	if _, err := parse(t, "kitchensink://h/t?region=", nil); err == nil || !strings.Contains(err.Error(), `URL option region="": expected a non-empty string`) {
		t.Errorf("empty region: %v", err)
	}
	o := NewOptions(WithRegion(""))
	o.Target = Target{Topic: "t"}
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), `option WithRegion(""): expected a non-empty string`) {
		t.Errorf("WithRegion(\"\"): %v", err)
	}
	// FromEnv checks values, not the required options nor the target.
	if o, err := FromEnv(env{"KS_RETRIES": "x", "KS_TIMEOUT": "3s"}.lookup); err != nil || o.Timeout != 3*time.Second {
		t.Errorf("FromEnv: %v, %v", o, err)
	}
	// A target error comes first.
	if _, err := parse(t, "kitchensink://h/", nil); err == nil || !strings.Contains(err.Error(), "topic is empty") {
		t.Errorf("no topic: %v", err)
	}
}

// TestValidateHook checks that Validate calls the spec's validate function
// after the per-option checks.
func TestValidateHook(t *testing.T) {
	want := "kitchensink: retries 0 with timeout 500ms: expected a timeout of at least 1s when there are no retries"
	if _, err := parse(t, base+"&retries=0&timeout=500ms", nil); err == nil || err.Error() != want {
		t.Errorf("retries=0&timeout=500ms: %v, want %q", err, want)
	}
	if _, err := parse(t, base+"&retries=1&timeout=500ms", nil); err != nil {
		t.Errorf("retries=1&timeout=500ms: %v", err)
	}
	// A bad option is reported before the hook runs.
	if _, err := parse(t, base+"&retries=0&timeout=1us", nil); err == nil || !strings.Contains(err.Error(), `URL option timeout="1us"`) {
		t.Errorf("timeout=1us: %v", err)
	}
	// Options built in code go through the hook too.
	o := NewOptions(WithRegion("r"), WithRetries(0), WithTimeout(time.Millisecond))
	o.Target = Target{Topic: "t"}
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "when there are no retries") {
		t.Errorf("Validate: %v", err)
	}
}

func TestPrecedence(t *testing.T) {
	e := env{"KS_TIMEOUT": "3s", "KS_COMPRESSION": "gzip", "KS_BROKERS": "e:1", "KS_TOKENS": "t1,t2", "KS_REGION": "env"}
	o, err := parse(t, base+"&timeout=4s", e)
	if err != nil {
		t.Fatal(err)
	}
	if o.Timeout != 4*time.Second || o.Compression != "gzip" || !slices.Equal(o.Brokers, []string{"e:1"}) ||
		!slices.Equal(o.Tokens, []string{"t1", "t2"}) || o.Region != "r" {
		t.Errorf("got %v", o)
	}
	o.Apply(WithTimeout(time.Second), WithBrokers("c:1"))
	if o.Timeout != time.Second || !slices.Equal(o.Brokers, []string{"c:1"}) {
		t.Errorf("Option functions after the URL: %v", o)
	}
}

func TestSecrets(t *testing.T) {
	o, err := parse(t, base+"&password=hunter2", env{"KS_TOKENS": "tok-one,tok-two"})
	if err != nil {
		t.Fatal(err)
	}
	if o.Password != "hunter2" || len(o.Tokens) != 2 {
		t.Fatalf("got %+v", o.Password)
	}
	for _, s := range []string{o.String(), fmt.Sprint(o), fmt.Sprintf("%+v", o), fmt.Sprintf("%#v", o), fmt.Sprint(&o)} {
		if strings.Contains(s, "hunter2") || strings.Contains(s, "tok-") {
			t.Errorf("a secret is shown: %s", s)
		}
		if !strings.Contains(s, "Password:*** Tokens:***") {
			t.Errorf("secrets not redacted as ***: %s", s)
		}
	}
	if s := DefaultOptions().String(); !strings.Contains(s, `Password:"" Tokens:""`) {
		t.Errorf("empty secrets: %s", s)
	}
	// A bad secret value is not quoted in the error.
	_, err = parse(t, base, env{"KS_TOKENS": "sec,,ret"})
	if err == nil || strings.Contains(err.Error(), "sec") || !strings.Contains(err.Error(), `environment variable KS_TOKENS="***": expected a comma-separated list: item 2 is empty`) {
		t.Errorf("bad secret: %v", err)
	}
}

func TestCustomOptions(t *testing.T) {
	var lines []string
	d := &net.Dialer{Timeout: time.Second}
	o := NewOptions(WithLogger(func(m string) { lines = append(lines, m) }), WithNetDialer(d), WithCompression("lz4"))
	o.Logger("hi")
	if len(lines) != 1 || o.Dialer != d || !o.IsSet("Logger") || !o.IsSet("Dialer") {
		t.Errorf("custom options not set: %v", o)
	}
	if s := o.String(); !strings.Contains(s, "Logger:set Dialer:set") {
		t.Errorf("String() = %s", s)
	}
	if s := DefaultOptions().String(); !strings.Contains(s, "Logger:unset Dialer:unset") {
		t.Errorf("String() = %s", s)
	}
	o.Target, o.Region = Target{Topic: "t"}, "r"
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), `option WithCompression("lz4"): expected one of none, gzip or zstd`) {
		t.Errorf("Validate: %v", err)
	}
}

func TestString(t *testing.T) {
	o, err := parse(t, base+"&timeout=1h&buffer=1025&features=a", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := `kitchensink.Options{Host:"h" Topic:"t" Brokers:"localhost:9092,localhost:9093" Timeout:1h0m0s Retries:3 StartOffset:-1 Compression:"none" TLS:false Password:"" Tokens:"" Region:"r" ClientID:"unistream" Buffer:1025B Features:"a" Logger:unset Dialer:unset}`
	if got := o.String(); got != want {
		t.Errorf("String() =\n%s, want\n%s", got, want)
	}
}

func TestRegistration(t *testing.T) {
	op, ok := driver.Lookup("kitchensink")
	if !ok {
		t.Fatal("kitchensink is not registered")
	}
	u, _ := url.Parse("kitchensink://h/orders?region=eu")
	if _, err := op.Open(context.Background(), u); !errors.Is(err, ErrNoBackend) {
		t.Errorf("Open: %v", err)
	}
	got := Opened()
	if len(got) == 0 || got[len(got)-1].Topic != "orders" || got[len(got)-1].Region != "eu" {
		t.Errorf("the opener got %v", got)
	}
	if _, err := op.Open(context.Background(), &url.URL{Scheme: "kitchensink", Host: "h", Path: "/t", RawQuery: "bogus=1"}); err == nil ||
		!strings.Contains(err.Error(), `URL query key "bogus" is unknown`) {
		t.Errorf("Open with a bad key: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := op.Open(ctx, u); !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), "kitchensink: open: ") {
		t.Errorf("Open with a cancelled context: %v", err)
	}
}
