// Package optvalue parses and shows the values of adapter options: byte
// sizes, lists, secrets. The options code that gen writes for every
// adapter calls it, and gen itself reads spec defaults with it, so a value
// means the same in a spec, a URL and an environment variable.
//
//	n, err := optvalue.ParseSize("64KiB") // 65536
//	optvalue.FormatSize(n)               // "64KiB"
package optvalue

import (
	"errors"
	"fmt"
	"math"
	"net"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// Cause shortens a strconv error to its reason ("invalid syntax"); other
// errors are returned as they are.
func Cause(err error) error {
	var ne *strconv.NumError
	if errors.As(err, &ne) {
		return ne.Err
	}
	return err
}

// ParseInt64 reads a decimal int64.
func ParseInt64(s string) (int64, error) { return strconv.ParseInt(s, 10, 64) }

// sizeUnits are the units of a size, lower case, with their multiplier.
var sizeUnits = map[string]uint64{
	"": 1, "b": 1,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
}

// ParseSize reads a byte size: decimal digits and an optional unit, B, KB,
// MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024), in
// any case. A size over math.MaxInt is an error.
func ParseSize(s string) (int, error) {
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
	if n > uint64(math.MaxInt)/mult {
		return 0, errors.New("too large")
	}
	return int(n * mult), nil
}

// FormatSize shows a size in the largest binary unit that divides it:
// 65536 is "64KiB", 1000 is "1000B".
func FormatSize(v int64) string {
	if v == 0 {
		return "0B"
	}
	for _, u := range [...]struct {
		name string
		mult int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if v%u.mult == 0 {
			return strconv.FormatInt(v/u.mult, 10) + u.name
		}
	}
	return strconv.FormatInt(v, 10) + "B"
}

// ParseList reads a comma-separated list; "" is the empty list and an
// empty item is an error.
func ParseList(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	items := strings.Split(s, ",")
	for i, it := range items {
		if it == "" {
			return nil, fmt.Errorf("item %d is empty", i+1)
		}
	}
	return items, nil
}

// FormatList shows a list as its quoted comma-separated form.
func FormatList(v []string) string { return strconv.Quote(strings.Join(v, ",")) }

// OneOf reports whether v is one of valid.
func OneOf(v string, valid ...string) bool { return slices.Contains(valid, v) }

// AllOf reports whether every item of v is one of valid.
func AllOf(v []string, valid ...string) bool {
	for _, it := range v {
		if !slices.Contains(valid, it) {
			return false
		}
	}
	return true
}

// Redact shows a secret: *** when set, "" when empty.
func Redact(set bool) string {
	if set {
		return "***"
	}
	return `""`
}

// ShowCustom shows a value that is set only in code: set or unset.
func ShowCustom(v any) string {
	if rv := reflect.ValueOf(v); rv.IsValid() && !rv.IsZero() {
		return "set"
	}
	return "unset"
}

// ParseHostPorts reads the host list of a URL, "host:port,host:port", where
// a missing port is defPort and an IPv6 address goes in brackets
// ("[::1]:9092"). It returns the entries as host:port. Errors start with
// prefix ("kafka: URL broker") and name the bad entry and the expected form.
func ParseHostPorts(prefix, hosts string, defPort int) ([]string, error) {
	var out []string
	for _, h := range strings.Split(hosts, ",") {
		if h == "" {
			return nil, fmt.Errorf("%s list %q: empty entry: expected HOST:PORT[,HOST:PORT...]", prefix, hosts)
		}
		host, port := h, strconv.Itoa(defPort)
		if strings.HasPrefix(h, "[") || strings.Count(h, ":") == 1 {
			hh, pp, err := net.SplitHostPort(h)
			if err != nil {
				if !strings.HasPrefix(h, "[") || !strings.HasSuffix(h, "]") {
					return nil, fmt.Errorf("%s %q: expected HOST:PORT", prefix, h)
				}
				hh, pp = h[1:len(h)-1], port
			}
			host, port = hh, pp
		} else if strings.Contains(h, ":") {
			return nil, fmt.Errorf("%s %q: expected HOST:PORT (an IPv6 address goes in brackets: [::1]:%d)", prefix, h, defPort)
		}
		if host == "" {
			return nil, fmt.Errorf("%s %q: empty host: expected HOST:PORT", prefix, h)
		}
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
			return nil, fmt.Errorf("%s %q: port %q: expected a number from 1 to 65535", prefix, h, port)
		}
		out = append(out, net.JoinHostPort(host, port))
	}
	return out, nil
}
