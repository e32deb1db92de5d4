package opttable

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"
)

// opts is a small options struct with one option of each kind.
type opts struct {
	Name     string
	N        int
	Off      int64
	Buf      int
	Wait     time.Duration
	On       bool
	Key      string
	Hosts    []string
	Tokens   []string
	Hook     func()
	Required string
	origin   [11]Origin
}

var table = &Table[opts]{
	Scheme: "t", Form: "t://NAME?OPTIONS", Prefix: "tt: ",
	Origins: func(o *opts) []Origin { return o.origin[:] },
	Options: []Option[opts]{
		{Field: "N", Query: "n", Env: "T_N", With: "WithN", Expected: "an integer from 1 to 9",
			Value: Int(func(o *opts) *int { return &o.N }), Check: func(o *opts) bool { return o.N >= 1 && o.N <= 9 }},
		{Field: "Off", Query: "off", Expected: "an integer", Value: Int64(func(o *opts) *int64 { return &o.Off })},
		{Field: "Buf", Query: "buf", Expected: "a size", Value: Size(func(o *opts) *int { return &o.Buf })},
		{Field: "Wait", Query: "wait", Env: "T_WAIT", Expected: "a duration", Value: Duration(func(o *opts) *time.Duration { return &o.Wait })},
		{Field: "On", Query: "on", Expected: "true or false", Value: Bool(func(o *opts) *bool { return &o.On })},
		{Field: "Key", Query: "key", Env: "T_KEY", With: "WithKey", Secret: true, Expected: "a string of 3 bytes",
			Value: SecretString(func(o *opts) *string { return &o.Key }), Check: func(o *opts) bool { return o.Key == "" || len(o.Key) == 3 }},
		{Field: "Hosts", Query: "hosts", Expected: "a comma-separated list", Value: List(func(o *opts) *[]string { return &o.Hosts })},
		{Field: "Tokens", Env: "T_TOKENS", Secret: true, Expected: "a comma-separated list", Value: SecretList(func(o *opts) *[]string { return &o.Tokens })},
		{Field: "Hook", With: "WithHook", Expected: "set in code only", Value: Custom(func(o *opts) *func() { return &o.Hook })},
		{Field: "Name", Query: "name", Expected: "a string", Value: String(func(o *opts) *string { return &o.Name })},
		{Field: "Required", Query: "req", Env: "T_REQ", Required: true, Expected: "a non-empty string", How: "URL query key req or environment variable T_REQ",
			Value: String(func(o *opts) *string { return &o.Required }), Check: func(o *opts) bool { return o.Required != "" }},
	},
}

type env map[string]string

func (e env) lookup(k string) (string, bool) { v, ok := e[k]; return v, ok }

// parse reads raw with the environment e into the defaults (N is 5) and
// checks the result with required options.
func parse(raw string, e env) (opts, error) {
	o := opts{N: 5}
	u, err := url.Parse(raw)
	if err != nil {
		return o, err
	}
	if raw == "nil" {
		u = nil
	}
	target := func(u *url.URL) error {
		if u.Opaque == "bad" {
			return errors.New("tt: bad target")
		}
		return nil
	}
	if err := table.ParseURL(&o, u, e.lookup, target); err != nil {
		return o, err
	}
	return o, table.Check(&o, true)
}

func TestParseValues(t *testing.T) {
	o, err := parse("t:x?n=7&off=-3&buf=2KiB&wait=1m30s&on=true&key=abc&hosts=a,b&name=n&req=r", env{"T_TOKENS": "p,q"})
	if err != nil {
		t.Fatal(err)
	}
	if o.N != 7 || o.Off != -3 || o.Buf != 2048 || o.Wait != 90*time.Second || !o.On || o.Key != "abc" ||
		strings.Join(o.Hosts, "|") != "a|b" || strings.Join(o.Tokens, "|") != "p|q" || o.Name != "n" || o.Required != "r" {
		t.Errorf("parsed %+v", o)
	}
	want := `T{ N:7 Off:-3 Buf:2KiB Wait:1m30s On:true Key:*** Hosts:"a,b" Tokens:*** Hook:unset Name:"n" Required:"r"}`
	if got := table.String(&o, "T{"); got != want {
		t.Errorf("String =\n  %s\nwant\n  %s", got, want)
	}
	o.Key, o.Tokens, o.Hook = "", nil, func() {}
	if got := table.String(&o, "T{"); !strings.Contains(got, `Key:"" Hosts:"a,b" Tokens:"" Hook:set`) {
		t.Errorf("String of empty secrets and a set hook = %s", got)
	}
}

func TestPrecedenceAndIsSet(t *testing.T) {
	e := env{"T_N": "3", "T_WAIT": "2s", "T_KEY": "", "T_REQ": "r"}
	o, err := parse("t:x?n=4", e)
	if err != nil {
		t.Fatal(err)
	}
	if o.N != 4 || o.Wait != 2*time.Second || o.Key != "" {
		t.Errorf("URL beats environment beats default: %+v", o)
	}
	for field, want := range map[string]bool{"N": true, "Wait": true, "Key": false, "Off": false, "Required": true, "NoSuch": false} {
		if got := table.IsSet(&o, field); got != want {
			t.Errorf("IsSet(%s) = %v, want %v", field, got, want)
		}
	}
	// A copy keeps its own origins.
	c := o
	c.origin[5].SetByCode()
	if table.IsSet(&o, "Key") || !table.IsSet(&c, "Key") {
		t.Error("SetByCode on a copy changed the original")
	}
	if got := table.Where(&c, 5); got != "option WithKey(\"\")" {
		t.Errorf("Where of a secret set in code = %s", got)
	}
	if got := table.Where(&o, 1); got != "option Off 0" {
		t.Errorf("Where of a default = %s", got)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		raw  string
		env  env
		want string
	}{
		{"nil", nil, "tt: URL is nil: expected t://NAME?OPTIONS"},
		{"u:x", nil, `tt: URL scheme "u": expected "t" (t://NAME?OPTIONS)`},
		{"t:x#f", nil, "tt: URL has a fragment (#...): expected none (t://NAME?OPTIONS)"},
		{"t:bad", nil, "tt: bad target"},
		{"t:x?%zz", nil, "tt: URL query: invalid URL escape"},
		{"t:x?nope=1", nil, `tt: URL query key "nope" is unknown (valid keys: buf, hosts, key, n, name, off, on, req, wait)`},
		{"t:x?n=1&n=2", nil, `tt: URL query key "n" is given 2 times: expected it once`},
		{"t:x?n=x", nil, `tt: URL option n="x": expected an integer from 1 to 9: invalid syntax`},
		{"t:x?n=10&req=r", nil, `tt: URL option n="10": expected an integer from 1 to 9`},
		{"t:x?req=r", env{"T_N": "0"}, `tt: environment variable T_N="0": expected an integer from 1 to 9`},
		{"t:x?req=r", env{"T_WAIT": "soon"}, `tt: environment variable T_WAIT="soon": expected a duration: time: invalid duration "soon"`},
		{"t:x?req=r&key=secret", nil, `tt: URL option key="***": expected a string of 3 bytes`},
		{"t:x?buf=1PiB", nil, `tt: URL option buf="1PiB": expected a size: unknown unit "PiB"`},
		{"t:x?hosts=a,,b", nil, `tt: URL option hosts="a,,b": expected a comma-separated list: item 2 is empty`},
		{"t:x", nil, "tt: option Required is required: set URL query key req or environment variable T_REQ"},
	}
	for _, tt := range tests {
		_, err := parse(tt.raw, tt.env)
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("parse(%q, %v) error:\n  %v\nwant it to start with\n  %s", tt.raw, tt.env, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("parse(%q) error shows a secret: %v", tt.raw, err)
		}
	}
}

func TestFromEnv(t *testing.T) {
	o := opts{N: 5}
	if err := table.FromEnv(&o, env{"T_N": "2"}.lookup); err != nil || o.N != 2 {
		t.Errorf("FromEnv without the required option: %v, N=%d", err, o.N)
	}
	o = opts{N: 5}
	err := table.FromEnv(&o, env{"T_N": "20"}.lookup)
	if err == nil || err.Error() != `tt: environment variable T_N="20": expected an integer from 1 to 9` {
		t.Errorf("FromEnv of a bad value: %v", err)
	}
	// A field assigned directly is named by its field.
	o = opts{N: 0}
	if err := table.Check(&o, false); err == nil || err.Error() != "tt: option N 0: expected an integer from 1 to 9" {
		t.Errorf("Check of a field assigned directly: %v", err)
	}
}

func TestValidKeysNone(t *testing.T) {
	empty := &Table[opts]{Scheme: "t", Prefix: "tt: ", Origins: table.Origins}
	o := opts{}
	err := empty.ApplyQuery(&o, "x=1")
	if err == nil || !strings.Contains(err.Error(), "(valid keys: none)") {
		t.Errorf("unknown key with no keys: %v", err)
	}
	if got := empty.String(&o, "T{"); got != "T{}" {
		t.Errorf("String with no options = %q", got)
	}
}
