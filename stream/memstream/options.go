package memstream

//go:generate go run ../../gen

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/unistream-go/unistream/stream/driver"
)

// The options (Options, Option, With*, ParseURL, the Default* constants and
// MaxPartitions) are generated from adapter.yaml into
// zz_generated_options.go; this file holds what is specific to memstream:
// the stream name of a URL, and the opener.

// MaxNameLen bounds the length of a stream name.
const MaxNameLen = 249

// Target is the stream a mem URL names: mem://NAME or mem:NAME. It is
// embedded in Options, so o.Name is the stream name.
type Target struct {
	// Name is the stream name: 1 to MaxNameLen letters, digits, '.', '_'
	// or '-' (the characters of a Kafka topic name).
	Name string
}

// Validate checks the stream name.
func (t Target) Validate() error { return validateName(t.Name) }

// String shows the target as Options.String prints it.
func (t Target) String() string { return "Name:" + strconv.Quote(t.Name) }

// parseTarget reads the stream name of a mem URL: the host of
// mem://NAME (a trailing "/" is allowed) or the opaque part of mem:NAME.
// A user, port or path is an error; the generated ParseURL has checked the
// scheme and the fragment and reads the query.
func parseTarget(u *url.URL) (Target, error) {
	var t Target
	switch {
	case u.Opaque != "":
		if strings.Contains(u.Opaque, "/") {
			return t, fmt.Errorf("memstream: URL stream name %q contains '/': expected %s", u.Opaque, optForm)
		}
		name, err := url.PathUnescape(u.Opaque)
		if err != nil {
			return t, fmt.Errorf("memstream: URL stream name %q: %w", u.Opaque, err)
		}
		t.Name = name
	default:
		if u.User != nil {
			return t, fmt.Errorf("memstream: URL must not carry user information: expected %s", optForm)
		}
		if u.Path != "" && u.Path != "/" {
			return t, fmt.Errorf("memstream: URL path %q: the stream name is the host; expected %s", u.Path, optForm)
		}
		t.Name = u.Host
	}
	if err := validateName(t.Name); err != nil {
		return t, fmt.Errorf("%w (URL form %s)", err, optForm)
	}
	return t, nil
}

// validateName checks a stream name.
func validateName(name string) error {
	if name == "" {
		return fmt.Errorf("memstream: stream name is empty: expected 1 to %d letters, digits, '.', '_' or '-'", MaxNameLen)
	}
	if len(name) > MaxNameLen {
		return fmt.Errorf("memstream: stream name of %d bytes: expected 1 to %d letters, digits, '.', '_' or '-'", len(name), MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("memstream: stream name %q: byte %d (%q) is not allowed: expected 1 to %d letters, digits, '.', '_' or '-'", name, i, c, MaxNameLen)
		}
	}
	return nil
}

// openOptions is the opener the generated registration calls with the
// options of a mem URL: it opens the stream of the Default broker.
func openOptions(_ context.Context, o Options) (driver.Stream, error) {
	return defaultBroker.open(o)
}
