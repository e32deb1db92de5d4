package main

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/unistream-go/unistream/stream/driver/optvalue"
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

// parseSize reads a byte size as the generated code does (optvalue.ParseSize).
func parseSize(s string) (int64, error) {
	n, err := optvalue.ParseSize(s)
	return int64(n), err
}

// formatNumber shows a number of an option type as a user writes it.
func formatNumber(typ string, v int64) string {
	switch typ {
	case typeSize:
		return optvalue.FormatSize(v)
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
