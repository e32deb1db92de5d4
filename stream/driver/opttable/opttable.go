// Package opttable runs an adapter's option table: it reads a URL's query
// and the environment into an options struct, checks the values, tells
// whether an option was set and shows the options with secrets redacted.
//
// The options code that gen writes for every adapter declares the struct,
// its defaults and its With functions, and one Table that describes every
// option; the code that reads and checks the options is here, once.
//
//	var optTable = &opttable.Table[Options]{
//		Scheme: "mem", Prefix: "memstream: ", Form: "mem://NAME?OPTIONS",
//		Origins: func(o *Options) []opttable.Origin { return o.optOrigin[:] },
//		Options: []opttable.Option[Options]{{
//			Field: "Partitions", Query: "partitions", Expected: "an integer of at least 1",
//			Value: opttable.Int(func(o *Options) *int { return &o.Partitions }),
//			Check: func(o *Options) bool { return o.Partitions >= 1 },
//		}},
//	}
//
// Precedence, lowest first: the default, the environment variable, the URL
// query key, then Option functions applied in code. Errors start with the
// table's Prefix and name where the value came from (URL option k="v",
// environment variable E="v", option WithX(v)) and what was expected.
package opttable

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/unistream-go/unistream/stream/driver/optvalue"
)

// source says where an option's value came from.
type source uint8

const (
	fromDefault source = iota
	fromEnv
	fromURL
	fromCode
)

// Origin records where one option's value came from and the text it was
// read from. The zero Origin is the default. An options struct holds one
// per option, so that copies of the struct keep their own.
type Origin struct {
	src source
	raw string // the URL or environment text; "" for a default or code
}

// IsSet reports whether the value came from the environment, the URL or an
// Option function rather than the default.
func (g Origin) IsSet() bool { return g.src != fromDefault }

// SetByCode records that an Option function set the value.
func (g *Origin) SetByCode() { *g = Origin{src: fromCode} }

// Value reads and shows the field of one option; the constructors below
// make one per option type.
type Value[T any] struct {
	// Set parses the URL or environment text s into the field; nil for an
	// option set only in code.
	Set func(o *T, s string) error
	// Show formats the field, a secret redacted.
	Show func(o *T) string
}

// Option describes one option of the options struct T.
type Option[T any] struct {
	// Field is the Go field name; Query the URL query key, Env the
	// environment variable and With the Option function, each "" for none.
	Field, Query, Env, With string
	// Expected is the form of a valid value ("an integer from 1 to 10"),
	// How the ways to set it ("URL query key k or WithK"); errors quote them.
	Expected, How string
	// Secret options show as *** in String and in errors; Required ones
	// must be set by the URL, the environment or code.
	Secret, Required bool
	Value[T]
	// Check reports whether the field's value is valid; nil when any is.
	Check func(o *T) bool
}

// Table describes the options of an adapter, in spec order; the index of
// an option in Options is its index in what Origins returns.
type Table[T any] struct {
	// Scheme is the URL scheme ("kafka"), Form the URL form quoted in
	// errors ("kafka://BROKERS/TOPIC?OPTIONS") and Prefix the start of
	// every error ("kafka: ").
	Scheme, Form, Prefix string
	// Origins returns the options struct's Origin of every option.
	Origins func(o *T) []Origin
	Options []Option[T]
}

// ParseURL checks the URL's scheme and that it has no fragment, reads the
// part before the query with target, then sets o from the environment
// (read through lookup; nil reads none) and from the URL's query. It does
// not validate: the caller runs its Validate, which calls Check.
func (t *Table[T]) ParseURL(o *T, u *url.URL, lookup func(string) (string, bool), target func(*url.URL) error) error {
	if u == nil {
		return errors.New(t.Prefix + "URL is nil: expected " + t.Form)
	}
	if u.Scheme != t.Scheme {
		return fmt.Errorf("%sURL scheme %q: expected %q (%s)", t.Prefix, u.Scheme, t.Scheme, t.Form)
	}
	if u.Fragment != "" || u.RawFragment != "" {
		return errors.New(t.Prefix + "URL has a fragment (#...): expected none (" + t.Form + ")")
	}
	if err := target(u); err != nil {
		return err
	}
	if lookup != nil {
		if err := t.ApplyEnv(o, lookup); err != nil {
			return err
		}
	}
	return t.ApplyQuery(o, u.RawQuery)
}

// FromEnv sets o from the environment, read through lookup
// (os.LookupEnv when nil), and checks the values but not that required
// options are set.
func (t *Table[T]) FromEnv(o *T, lookup func(string) (string, bool)) error {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	if err := t.ApplyEnv(o, lookup); err != nil {
		return err
	}
	return t.Check(o, false)
}

// ApplyEnv sets the options whose environment variable is set and not
// empty.
func (t *Table[T]) ApplyEnv(o *T, lookup func(string) (string, bool)) error {
	for i := range t.Options {
		opt := &t.Options[i]
		if opt.Env == "" || opt.Set == nil {
			continue
		}
		s, ok := lookup(opt.Env)
		if !ok || s == "" {
			continue
		}
		if err := t.setFrom(o, i, fromEnv, s); err != nil {
			return err
		}
	}
	return nil
}

// ApplyQuery sets the options of a raw URL query, in key order. An unknown
// key is an error that lists the valid ones; so is a key given twice.
func (t *Table[T]) ApplyQuery(o *T, rawQuery string) error {
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return fmt.Errorf("%sURL query: %w", t.Prefix, err)
	}
	for _, k := range slices.Sorted(maps.Keys(q)) {
		i := t.queryIndex(k)
		if i < 0 {
			return fmt.Errorf("%sURL query key %q is unknown (valid keys: %s)", t.Prefix, k, t.ValidKeys())
		}
		if n := len(q[k]); n != 1 {
			return fmt.Errorf("%sURL query key %q is given %d times: expected it once", t.Prefix, k, n)
		}
		if err := t.setFrom(o, i, fromURL, q[k][0]); err != nil {
			return err
		}
	}
	return nil
}

// queryIndex is the index of the option with query key k, or -1.
func (t *Table[T]) queryIndex(k string) int {
	for i := range t.Options {
		if t.Options[i].Query != "" && t.Options[i].Query == k {
			return i
		}
	}
	return -1
}

// ValidKeys lists the URL query keys, sorted and comma-separated; "none"
// when there are none.
func (t *Table[T]) ValidKeys() string {
	var keys []string
	for i := range t.Options {
		if t.Options[i].Query != "" {
			keys = append(keys, t.Options[i].Query)
		}
	}
	if len(keys) == 0 {
		return "none"
	}
	slices.Sort(keys)
	return strings.Join(slices.Compact(keys), ", ")
}

// setFrom parses s into option i and records where it came from.
func (t *Table[T]) setFrom(o *T, i int, src source, s string) error {
	t.Origins(o)[i] = Origin{src: src, raw: s}
	opt := &t.Options[i]
	if err := opt.Set(o, s); err != nil {
		return fmt.Errorf("%s%s: expected %s: %w", t.Prefix, t.Where(o, i), opt.Expected, optvalue.Cause(err))
	}
	return nil
}

// Where names option i and its value the way the user gave it: URL option
// k="v", environment variable E="v", option WithX(v), or option X v for a
// default or a field assigned directly. A secret shows as ***.
func (t *Table[T]) Where(o *T, i int) string {
	opt := &t.Options[i]
	g := t.Origins(o)[i]
	raw := g.raw
	if opt.Secret {
		raw = "***"
	}
	switch g.src {
	case fromURL:
		return "URL option " + opt.Query + "=" + strconv.Quote(raw)
	case fromEnv:
		return "environment variable " + opt.Env + "=" + strconv.Quote(raw)
	case fromCode:
		return "option " + opt.With + "(" + opt.Show(o) + ")"
	}
	return "option " + opt.Field + " " + opt.Show(o)
}

// IsSet reports whether the option whose Go field name is field was set by
// the environment, the URL or an Option function; false for an unknown
// field.
func (t *Table[T]) IsSet(o *T, field string) bool {
	for i := range t.Options {
		if t.Options[i].Field == field {
			return t.Origins(o)[i].IsSet()
		}
	}
	return false
}

// Check checks every option's value and, if required is true, that every
// required option is set; the error names the first bad option as it was
// given and the expected form.
func (t *Table[T]) Check(o *T, required bool) error {
	origins := t.Origins(o)
	for i := range t.Options {
		opt := &t.Options[i]
		if opt.Required && !origins[i].IsSet() {
			if required {
				return fmt.Errorf("%soption %s is required: set %s", t.Prefix, opt.Field, opt.How)
			}
			continue
		}
		if opt.Check != nil && !opt.Check(o) {
			return fmt.Errorf("%s%s: expected %s", t.Prefix, t.Where(o, i), opt.Expected)
		}
	}
	return nil
}

// String shows head followed by " Field:value" for every option and "}";
// secrets show as ***.
func (t *Table[T]) String(o *T, head string) string {
	var b strings.Builder
	b.WriteString(head)
	for i := range t.Options {
		b.WriteString(" ")
		b.WriteString(t.Options[i].Field)
		b.WriteString(":")
		b.WriteString(t.Options[i].Show(o))
	}
	b.WriteString("}")
	return b.String()
}

// setter returns a Set that parses with parse and stores into field.
func setter[T, V any](parse func(string) (V, error), field func(*T) *V) func(*T, string) error {
	return func(o *T, s string) error {
		v, err := parse(s)
		if err != nil {
			return err
		}
		*field(o) = v
		return nil
	}
}

// Int is an int option: a decimal integer.
func Int[T any](field func(*T) *int) Value[T] {
	return Value[T]{setter(strconv.Atoi, field), func(o *T) string { return strconv.Itoa(*field(o)) }}
}

// Int64 is an int64 option: a decimal integer.
func Int64[T any](field func(*T) *int64) Value[T] {
	return Value[T]{setter(optvalue.ParseInt64, field), func(o *T) string { return strconv.FormatInt(*field(o), 10) }}
}

// Size is a byte size option (optvalue.ParseSize), shown in the largest
// binary unit that divides it.
func Size[T any](field func(*T) *int) Value[T] {
	return Value[T]{setter(optvalue.ParseSize, field), func(o *T) string { return optvalue.FormatSize(int64(*field(o))) }}
}

// Duration is a duration option (time.ParseDuration).
func Duration[T any](field func(*T) *time.Duration) Value[T] {
	return Value[T]{setter(time.ParseDuration, field), func(o *T) string { return field(o).String() }}
}

// Bool is a bool option (strconv.ParseBool).
func Bool[T any](field func(*T) *bool) Value[T] {
	return Value[T]{setter(strconv.ParseBool, field), func(o *T) string { return strconv.FormatBool(*field(o)) }}
}

// String is a string option, taken as it is and shown quoted.
func String[T any](field func(*T) *string) Value[T] {
	return Value[T]{setString(field), func(o *T) string { return strconv.Quote(*field(o)) }}
}

// SecretString is a string option shown as *** when set.
func SecretString[T any](field func(*T) *string) Value[T] {
	return Value[T]{setString(field), func(o *T) string { return optvalue.Redact(*field(o) != "") }}
}

func setString[T any](field func(*T) *string) func(*T, string) error {
	return func(o *T, s string) error { *field(o) = s; return nil }
}

// List is a comma-separated list option (optvalue.ParseList).
func List[T any](field func(*T) *[]string) Value[T] {
	return Value[T]{setter(optvalue.ParseList, field), func(o *T) string { return optvalue.FormatList(*field(o)) }}
}

// SecretList is a list option shown as *** when not empty.
func SecretList[T any](field func(*T) *[]string) Value[T] {
	return Value[T]{setter(optvalue.ParseList, field), func(o *T) string { return optvalue.Redact(len(*field(o)) > 0) }}
}

// Custom is an option set only in code, shown as set or unset.
func Custom[T, V any](field func(*T) *V) Value[T] {
	return Value[T]{nil, func(o *T) string { return optvalue.ShowCustom(*field(o)) }}
}
