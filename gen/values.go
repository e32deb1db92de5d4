package main

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// parseNumber reads a number of an int, int64, size or duration option in
// URL syntax, as the generated code does; durations are in nanoseconds.
func parseNumber(typ, s string) (int64, error) {
	switch typ {
	case typeInt, typeInt64:
		return strconv.ParseInt(s, 10, 64)
	case typeSize:
		return parseSize(s)
	case typeDuration:
		d, err := time.ParseDuration(s)
		return int64(d), err
	}
	return 0, fmt.Errorf("type %s is not a number", typ)
}

// sizeUnits are the units of a size, lower case, with their multiplier.
var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
}

// parseSize reads a byte size: decimal digits and an optional unit (B, KB,
// MB, GB, TB, KiB, MiB, GiB, TiB, in any case). The generated optParseSize
// is the same function.
func parseSize(s string) (int64, error) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, errors.New("not a number of bytes")
	}
	n, err := strconv.ParseUint(s[:i], 10, 64)
	if err != nil {
		return 0, err
	}
	mult, ok := sizeUnits[strings.ToLower(s[i:])]
	if !ok {
		return 0, fmt.Errorf("unknown unit %q", s[i:])
	}
	if n > uint64(math.MaxInt64)/uint64(mult) {
		return 0, errors.New("too large")
	}
	return int64(n) * mult, nil
}

// formatSize shows a size in the largest binary unit that divides it.
func formatSize(v int64) string {
	if v == 0 {
		return "0B"
	}
	for _, u := range []struct {
		name string
		mult int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if v%u.mult == 0 {
			return strconv.FormatInt(v/u.mult, 10) + u.name
		}
	}
	return strconv.FormatInt(v, 10) + "B"
}

// formatNumber shows a number of an option type as a user writes it.
func formatNumber(typ string, v int64) string {
	switch typ {
	case typeSize:
		return formatSize(v)
	case typeDuration:
		return formatDuration(time.Duration(v))
	}
	return strconv.FormatInt(v, 10)
}

// formatDuration is time.Duration.String without zero minutes and
// seconds: 1h, 1h30m, 2m, 1m30s.
func formatDuration(d time.Duration) string {
	s := d.String()
	if t, ok := strings.CutSuffix(s, "m0s"); ok {
		s = t + "m"
	}
	if t, ok := strings.CutSuffix(s, "h0m"); ok {
		s = t + "h"
	}
	return s
}

// kindForm is what a value of a type looks like.
func kindForm(typ string) string {
	switch typ {
	case typeInt, typeInt64:
		return "an integer"
	case typeSize:
		return "a size (such as 512, 64KiB or 5MiB)"
	case typeDuration:
		return "a duration (such as 500ms, 10s or 2m)"
	case typeBool:
		return "true or false"
	case typeStrings:
		return "a comma-separated list"
	case typeCustom:
		return "set in code only"
	}
	return "a string"
}

// expected is the form of a valid value of o, with its constraints, as
// errors and the docs state it.
func expected(o *OptionSpec) string {
	switch o.Type {
	case typeInt, typeInt64, typeSize, typeDuration:
		s := kindForm(o.Type)
		switch {
		case o.minV != nil && o.maxV != nil:
			s += " from " + formatNumber(o.Type, *o.minV) + " to " + formatNumber(o.Type, *o.maxV)
		case o.minV != nil:
			s += " of at least " + formatNumber(o.Type, *o.minV)
		case o.maxV != nil:
			s += " of at most " + formatNumber(o.Type, *o.maxV)
		}
		return s
	case typeString, typeEnum:
		if len(o.OneOf) > 0 {
			return "one of " + orList(o.OneOf)
		}
		if o.Required {
			return "a non-empty string"
		}
	case typeStrings:
		s := "a comma-separated list"
		if o.Required {
			s = "a non-empty comma-separated list"
		}
		if len(o.OneOf) > 0 {
			s += " of " + orList(o.OneOf)
		}
		return s
	}
	return kindForm(o.Type)
}

func orList(vs []string) string {
	if len(vs) == 1 {
		return vs[0]
	}
	return strings.Join(vs[:len(vs)-1], ", ") + " or " + vs[len(vs)-1]
}

func sortedKeys[M ~map[string]V, V any](m M) []string {
	return slices.Sorted(maps.Keys(m))
}
