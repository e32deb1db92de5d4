package memstream

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/unistream-go/unistream/stream/driver"
)

// env is a fake environment for ParseURLEnv and FromEnv.
type env map[string]string

func (e env) lookup(k string) (string, bool) {
	v, ok := e[k]
	return v, ok
}

// settings is what the tests compare of Options: the values and which are set.
type settings struct {
	name                                                       string
	partitions, maxRecordBytes, maxBatchRecords, maxBatchBytes int
	set                                                        string // the set options' fields, space-separated
}

func settingsOf(o Options) settings {
	var set []string
	for _, f := range []string{"Partitions", "MaxRecordBytes", "MaxBatchRecords", "MaxBatchBytes", "Now"} {
		if o.IsSet(f) {
			set = append(set, f)
		}
	}
	return settings{o.Name, o.Partitions, o.MaxRecordBytes, o.MaxBatchRecords, o.MaxBatchBytes, strings.Join(set, " ")}
}

func mustURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("url.Parse(%q): %v", raw, err)
	}
	return u
}

func TestDefaultOptions(t *testing.T) {
	o := DefaultOptions()
	want := settings{"", 1, 1 << 20, 500, 5 << 20, ""}
	if got := settingsOf(o); got != want {
		t.Errorf("DefaultOptions() = %+v, want %+v", got, want)
	}
	if o.Partitions != DefaultPartitions || o.MaxRecordBytes != DefaultMaxRecordBytes ||
		o.MaxBatchRecords != DefaultMaxBatchRecords || o.MaxBatchBytes != DefaultMaxBatchBytes || MaxPartitions != 4096 {
		t.Errorf("the Default constants disagree with DefaultOptions: %v", o)
	}
	if o.Now != nil {
		t.Error("DefaultOptions().Now is set")
	}
	// Everything but the name is valid.
	o.Name = "x"
	if err := o.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
	caps := o.Capabilities()
	if caps != (driver.Capabilities{MaxBatchRecords: 500, MaxBatchBytes: 5 << 20, MaxRecordBytes: 1 << 20, PerKeyOrder: true, Resharding: true, ConsumerGroups: true}) {
		t.Errorf("Capabilities() = %+v", caps)
	}
}

func TestParseURLValid(t *testing.T) {
	def := func(name string) settings { return settings{name, 1, 1 << 20, 500, 5 << 20, ""} }
	tests := []struct {
		in   string
		want settings
	}{
		{"mem://orders", def("orders")},
		{"mem://orders/", def("orders")},
		{"mem:orders", def("orders")},
		{"mem://orders?", def("orders")},
		{"mem:orders%2Dv2", def("orders-v2")},
		{"mem://Orders.v2_x-1?partitions=4", settings{"Orders.v2_x-1", 4, 1 << 20, 500, 5 << 20, "Partitions"}},
		{"mem://o?partitions=1", settings{"o", 1, 1 << 20, 500, 5 << 20, "Partitions"}},
		{"mem://o?partitions=4096", settings{"o", 4096, 1 << 20, 500, 5 << 20, "Partitions"}},
		{"mem:orders?partitions=3&max_record_bytes=100&max_batch_records=7&max_batch_bytes=1000",
			settings{"orders", 3, 100, 7, 1000, "Partitions MaxRecordBytes MaxBatchRecords MaxBatchBytes"}},
		// Sizes take units, in any case; decimal and binary.
		{"mem://o?max_record_bytes=64KiB", settings{"o", 1, 64 << 10, 500, 5 << 20, "MaxRecordBytes"}},
		{"mem://o?max_record_bytes=2kb", settings{"o", 1, 2000, 500, 5 << 20, "MaxRecordBytes"}},
		{"mem://o?max_batch_bytes=1GiB", settings{"o", 1, 1 << 20, 500, 1 << 30, "MaxBatchBytes"}},
		{"mem://o?max_batch_bytes=3MB", settings{"o", 1, 1 << 20, 500, 3e6, "MaxBatchBytes"}},
		{"mem://o?max_batch_bytes=12B", settings{"o", 1, 1 << 20, 500, 12, "MaxBatchBytes"}},
		{"mem://o?max_batch_bytes=1tib", settings{"o", 1, 1 << 20, 500, 1 << 40, "MaxBatchBytes"}},
		// An option equal to its default is still set (it must match a reopened stream).
		{"mem://o?max_batch_records=500", settings{"o", 1, 1 << 20, 500, 5 << 20, "MaxBatchRecords"}},
		{"mem://o?max_batch_records=%35", settings{"o", 1, 1 << 20, 5, 5 << 20, "MaxBatchRecords"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			o, err := ParseURLEnv(mustURL(t, tt.in), nil)
			if err != nil {
				t.Fatalf("ParseURLEnv(%q): %v", tt.in, err)
			}
			if got := settingsOf(o); got != tt.want {
				t.Errorf("ParseURLEnv(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			// What ParseURL accepts opens a stream.
			if _, err := NewBroker().open(o); err != nil {
				t.Errorf("accepted %q but cannot open it: %v", tt.in, err)
			}
		})
	}
}

func TestParseURLInvalid(t *testing.T) {
	tests := []struct {
		kind, in, want string
	}{
		{"unknown key", "mem://orders?partition=2",
			`memstream: URL query key "partition" is unknown (valid keys: max_batch_bytes, max_batch_records, max_record_bytes, partitions)`},
		{"unknown key, wrong case", "mem://orders?Partitions=2", `URL query key "Partitions" is unknown`},
		{"repeated key", "mem://orders?partitions=1&partitions=2", `URL query key "partitions" is given 2 times: expected it once`},
		{"below min", "mem://orders?partitions=0", `memstream: URL option partitions="0": expected an integer from 1 to 4096`},
		{"above max", "mem://orders?partitions=4097", `URL option partitions="4097": expected an integer from 1 to 4096`},
		{"negative", "mem://orders?max_batch_records=-1", `URL option max_batch_records="-1": expected an integer of at least 1`},
		{"not a number", "mem://orders?partitions=two", `URL option partitions="two": expected an integer from 1 to 4096: invalid syntax`},
		{"empty value", "mem://orders?partitions=", `URL option partitions="": expected an integer from 1 to 4096: invalid syntax`},
		{"fraction", "mem://orders?max_batch_records=1.5", `URL option max_batch_records="1.5": expected an integer of at least 1`},
		{"int overflow", "mem://orders?max_batch_records=99999999999999999999", `max_batch_records="99999999999999999999": expected an integer of at least 1: value out of range`},
		{"size zero", "mem://orders?max_record_bytes=0", `URL option max_record_bytes="0": expected a size (such as 512, 64KiB or 5MiB) of at least 1B`},
		{"size unit", "mem://orders?max_record_bytes=5MiBs", `URL option max_record_bytes="5MiBs": expected a size (such as 512, 64KiB or 5MiB) of at least 1B: unknown unit "MiBs"`},
		{"size negative", "mem://orders?max_batch_bytes=-1", `max_batch_bytes="-1": expected a size (such as 512, 64KiB or 5MiB) of at least 1B: not a number of bytes`},
		{"size space", "mem://orders?max_batch_bytes=5+MiB", `max_batch_bytes="5 MiB"`},
		{"size overflow", "mem://orders?max_batch_bytes=99999999TiB", `max_batch_bytes="99999999TiB": expected a size (such as 512, 64KiB or 5MiB) of at least 1B: too large`},
		{"size digits overflow", "mem://orders?max_batch_bytes=99999999999999999999", `value out of range`},
		{"bad escape", "mem://orders?%zz", `memstream: URL query: invalid URL escape "%zz"`},
		{"semicolon", "mem://orders?partitions=1;max_batch_records=2", `memstream: URL query: invalid semicolon separator in query`},
		{"empty name", "mem://", "stream name is empty"},
		{"empty opaque name", "mem:", "stream name is empty"},
		{"port", "mem://orders:9092", `stream name "orders:9092"`},
		{"user", "mem://u:p@orders", "URL must not carry user information"},
		{"path", "mem://orders/extra", `URL path "/extra"`},
		{"opaque path", "mem:orders/extra", "contains '/'"},
		{"fragment", "mem://orders#frag", "URL has a fragment"},
		{"wrong scheme", "kafka://orders", `memstream: URL scheme "kafka": expected "mem" (mem://NAME?OPTIONS)`},
		{"long name", "mem://" + strings.Repeat("a", 250), "stream name of 250 bytes"},
		{"bad name byte", "mem:or%20ders", `stream name "or ders": byte 2 (' ') is not allowed`},
		// An error in the target is found before the query is read.
		{"name before query", "mem://?bogus=1", "stream name is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			o, err := ParseURLEnv(mustURL(t, tt.in), nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ParseURLEnv(%q) error = %v, want it to contain %q", tt.in, err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "memstream: ") {
				t.Errorf("error %q does not start with memstream:", err)
			}
			if settingsOf(o) != (settings{}) {
				t.Errorf("ParseURLEnv(%q) returned options %v with its error", tt.in, o)
			}
		})
	}
	if _, err := ParseURLEnv(nil, nil); err == nil || !strings.Contains(err.Error(), "memstream: URL is nil") {
		t.Errorf("ParseURLEnv(nil) error = %v", err)
	}
	// strconv errors are wrapped, so callers can match them.
	_, err := ParseURLEnv(mustURL(t, "mem://o?partitions=x"), nil)
	if !errors.Is(err, strconv.ErrSyntax) {
		t.Errorf("error %v does not wrap strconv.ErrSyntax", err)
	}
}

func TestEnvAndURLPrecedence(t *testing.T) {
	all := env{
		"UNISTREAM_MEM_PARTITIONS":        "3",
		"UNISTREAM_MEM_MAX_RECORD_BYTES":  "2KiB",
		"UNISTREAM_MEM_MAX_BATCH_RECORDS": "9",
		"UNISTREAM_MEM_MAX_BATCH_BYTES":   "1MiB",
	}
	tests := []struct {
		name string
		env  env
		url  string
		want settings
	}{
		{"no environment: defaults", nil, "mem://o", settings{"o", 1, 1 << 20, 500, 5 << 20, ""}},
		{"environment beats the defaults", all, "mem://o",
			settings{"o", 3, 2 << 10, 9, 1 << 20, "Partitions MaxRecordBytes MaxBatchRecords MaxBatchBytes"}},
		{"the URL beats the environment", all, "mem://o?partitions=5&max_batch_bytes=7",
			settings{"o", 5, 2 << 10, 9, 7, "Partitions MaxRecordBytes MaxBatchRecords MaxBatchBytes"}},
		{"an empty variable is unset", env{"UNISTREAM_MEM_PARTITIONS": ""}, "mem://o", settings{"o", 1, 1 << 20, 500, 5 << 20, ""}},
		{"other variables are ignored", env{"UNISTREAM_MEM_PARTITION": "x", "PARTITIONS": "7"}, "mem://o", settings{"o", 1, 1 << 20, 500, 5 << 20, ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := ParseURLEnv(mustURL(t, tt.url), tt.env.lookup)
			if err != nil {
				t.Fatal(err)
			}
			if got := settingsOf(o); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}

	bad := []struct {
		name string
		env  env
		url  string
		want string
	}{
		{"bad syntax", env{"UNISTREAM_MEM_PARTITIONS": "four"}, "mem://o",
			`memstream: environment variable UNISTREAM_MEM_PARTITIONS="four": expected an integer from 1 to 4096: invalid syntax`},
		{"out of range", env{"UNISTREAM_MEM_PARTITIONS": "5000"}, "mem://o",
			`memstream: environment variable UNISTREAM_MEM_PARTITIONS="5000": expected an integer from 1 to 4096`},
		{"bad size", env{"UNISTREAM_MEM_MAX_BATCH_BYTES": "lots"}, "mem://o",
			`environment variable UNISTREAM_MEM_MAX_BATCH_BYTES="lots": expected a size`},
		// A malformed variable is an error even where the URL overrides
		// it: bad configuration is never silently ignored.
		{"bad and overridden", env{"UNISTREAM_MEM_PARTITIONS": "four"}, "mem://o?partitions=2",
			`environment variable UNISTREAM_MEM_PARTITIONS="four"`},
		// A valid but out-of-range variable overridden by the URL is fine
		// only if the URL's value is valid; the URL's value is reported.
		{"url out of range over env", env{"UNISTREAM_MEM_PARTITIONS": "2"}, "mem://o?partitions=0",
			`URL option partitions="0"`},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseURLEnv(mustURL(t, tt.url), tt.env.lookup)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want it to contain %q", err, tt.want)
			}
		})
	}

	// ParseURL reads the process environment.
	t.Setenv("UNISTREAM_MEM_MAX_BATCH_RECORDS", "11")
	o, err := ParseURL(mustURL(t, "mem://o"))
	if err != nil || o.MaxBatchRecords != 11 {
		t.Errorf("ParseURL with UNISTREAM_MEM_MAX_BATCH_RECORDS=11: %v, %v", o, err)
	}
}

func TestFromEnv(t *testing.T) {
	o, err := FromEnv(env{"UNISTREAM_MEM_PARTITIONS": "8"}.lookup)
	if err != nil {
		t.Fatal(err)
	}
	if want := (settings{"", 8, 1 << 20, 500, 5 << 20, "Partitions"}); settingsOf(o) != want {
		t.Errorf("FromEnv = %+v, want %+v", settingsOf(o), want)
	}
	if _, err := FromEnv(env{"UNISTREAM_MEM_MAX_RECORD_BYTES": "0"}.lookup); err == nil ||
		!strings.Contains(err.Error(), `environment variable UNISTREAM_MEM_MAX_RECORD_BYTES="0": expected a size`) {
		t.Errorf("FromEnv with a bad value: %v", err)
	}
	t.Setenv("UNISTREAM_MEM_MAX_BATCH_BYTES", "2MiB")
	if o, err := FromEnv(nil); err != nil || o.MaxBatchBytes != 2<<20 {
		t.Errorf("FromEnv(nil) reads the process environment: %v, %v", o, err)
	}
}

func TestOptionFunctions(t *testing.T) {
	fixed := func() time.Time { return time.Unix(1, 0) }
	o := NewOptions(WithPartitions(7), WithMaxRecordBytes(10), WithMaxBatchRecords(3), WithMaxBatchBytes(30), WithClock(fixed), nil)
	if want := (settings{"", 7, 10, 3, 30, "Partitions MaxRecordBytes MaxBatchRecords MaxBatchBytes Now"}); settingsOf(o) != want {
		t.Errorf("NewOptions = %+v, want %+v", settingsOf(o), want)
	}
	if o.Now == nil || !o.Now().Equal(time.Unix(1, 0)) {
		t.Error("WithClock did not set Now")
	}
	// Options applied after ParseURL beat the URL.
	u, err := ParseURLEnv(mustURL(t, "mem://o?partitions=2"), nil)
	if err != nil {
		t.Fatal(err)
	}
	u.Apply(WithPartitions(9))
	if u.Partitions != 9 {
		t.Errorf("Apply after ParseURL: partitions %d, want 9", u.Partitions)
	}
	if o.IsSet("NoSuchField") {
		t.Error(`IsSet("NoSuchField")`)
	}
}

func TestOptionValidation(t *testing.T) {
	b := NewBroker()
	tests := []struct {
		name string
		opts []Option
		want string
	}{
		{"", nil, "memstream: stream name is empty"},
		{"a b", nil, `stream name "a b"`},
		{strings.Repeat("n", MaxNameLen+1), nil, "stream name of 250 bytes"},
		{"x", []Option{WithPartitions(0)}, "memstream: option WithPartitions(0): expected an integer from 1 to 4096"},
		{"x", []Option{WithPartitions(-1)}, "option WithPartitions(-1): expected an integer from 1 to 4096"},
		{"x", []Option{WithPartitions(MaxPartitions + 1)}, "option WithPartitions(4097)"},
		{"x", []Option{WithMaxRecordBytes(-1)}, "option WithMaxRecordBytes(-1B): expected a size"},
		{"x", []Option{WithMaxRecordBytes(0)}, "option WithMaxRecordBytes(0B)"},
		{"x", []Option{WithMaxBatchRecords(-1)}, "option WithMaxBatchRecords(-1): expected an integer of at least 1"},
		{"x", []Option{WithMaxBatchBytes(-1)}, "option WithMaxBatchBytes(-1B)"},
		// The last Option wins.
		{"x", []Option{WithPartitions(2), WithPartitions(0)}, "option WithPartitions(0)"},
	}
	for _, tt := range tests {
		_, err := b.Stream(tt.name, tt.opts...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Stream(%q) error = %v, want %q", tt.name, err, tt.want)
		}
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), tt.want) {
					t.Errorf("New(%q) panic = %v, want %q", tt.name, r, tt.want)
				}
			}()
			New(tt.name, tt.opts...)
		}()
	}
	// A field assigned directly is named by its field.
	o := DefaultOptions()
	o.Name, o.MaxBatchRecords = "x", 0
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "memstream: option MaxBatchRecords 0: expected an integer of at least 1") {
		t.Errorf("Validate of an assigned field: %v", err)
	}
}

func TestOptionsString(t *testing.T) {
	o, err := ParseURLEnv(mustURL(t, "mem://orders?partitions=4&max_record_bytes=64KiB&max_batch_bytes=1000"), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := `memstream.Options{Name:"orders" Partitions:4 MaxRecordBytes:64KiB MaxBatchRecords:500 MaxBatchBytes:1000B Now:unset}`
	for _, got := range []string{o.String(), fmt.Sprint(o), fmt.Sprintf("%v", &o), fmt.Sprintf("%+v", o), fmt.Sprintf("%#v", o)} {
		if got != want {
			t.Errorf("String() = %s, want %s", got, want)
		}
	}
	o.Apply(WithClock(time.Now))
	if !strings.HasSuffix(o.String(), " Now:set}") {
		t.Errorf("String() with a clock = %s", o)
	}
}

// TestReopenByName checks that set options must match an existing stream,
// and that the error names where the mismatching value came from.
func TestReopenByName(t *testing.T) {
	b := NewBroker()
	if _, err := b.Stream("s", WithPartitions(3), WithMaxBatchRecords(500)); err != nil {
		t.Fatal(err)
	}
	open := func(raw string, e env) error {
		o, err := ParseURLEnv(mustURL(t, raw), e.lookup)
		if err != nil {
			return err
		}
		_, err = b.open(o)
		return err
	}
	ok := []struct {
		url string
		env env
	}{
		{"mem://s", nil},
		{"mem://s?partitions=3", nil},
		{"mem://s?max_batch_records=500", nil},
		{"mem://s", env{"UNISTREAM_MEM_PARTITIONS": "3"}},
		{"mem://s?partitions=3", env{"UNISTREAM_MEM_PARTITIONS": "7"}}, // the URL wins, and matches
	}
	for _, tt := range ok {
		if err := open(tt.url, tt.env); err != nil {
			t.Errorf("open %s with %v: %v", tt.url, tt.env, err)
		}
	}
	bad := []struct {
		url  string
		env  env
		want string
	}{
		{"mem://s?partitions=2", nil, `memstream: stream "s" exists with partitions=3, cannot open it with URL option partitions="2" (omit the option to use the existing value)`},
		{"mem://s?max_record_bytes=1KiB", nil, `exists with max_record_bytes=1048576, cannot open it with URL option max_record_bytes="1KiB"`},
		{"mem://s", env{"UNISTREAM_MEM_PARTITIONS": "4"}, `exists with partitions=3, cannot open it with environment variable UNISTREAM_MEM_PARTITIONS="4"`},
	}
	for _, tt := range bad {
		if err := open(tt.url, tt.env); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("open %s with %v: %v, want %q", tt.url, tt.env, err, tt.want)
		}
	}
	if _, err := b.Stream("s", WithMaxBatchBytes(1)); err == nil || !strings.Contains(err.Error(), "cannot open it with option WithMaxBatchBytes(1B)") {
		t.Errorf("Stream with a mismatching option: %v", err)
	}
	// A default-valued option that is not set takes the stream's value.
	s, err := b.Stream("s")
	if err != nil {
		t.Fatal(err)
	}
	if ps, _ := s.Partitions(bg); len(ps) != 3 || s.Capabilities().MaxBatchRecords != 500 {
		t.Errorf("reopened stream: %d partitions, %+v", len(ps), s.Capabilities())
	}
}

func TestCapabilitiesFollowOptions(t *testing.T) {
	s := New("caps", WithMaxRecordBytes(10), WithMaxBatchRecords(2), WithMaxBatchBytes(30))
	want := driver.Capabilities{MaxBatchRecords: 2, MaxBatchBytes: 30, MaxRecordBytes: 10, PerKeyOrder: true, Resharding: true, ConsumerGroups: true}
	if got := s.Capabilities(); got != want {
		t.Errorf("Capabilities() = %+v, want %+v", got, want)
	}
}
