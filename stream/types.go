package stream

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/unistream-go/unistream/stream/driver"
)

// Record is one record of a stream. See driver.Record.
type Record = driver.Record

// Header is one record header.
type Header = driver.Header

// Pointer is a record's position in its partition, in the backend's binary
// form. Format it with the stream's codec (Stream.FormatPointer).
type Pointer = driver.Pointer

// Start is a start position for reading a partition that has no checkpoint.
type Start = driver.Start

// Earliest starts at the oldest retained record.
func Earliest() Start { return Start{Kind: driver.StartEarliest} }

// Latest starts with the records written after the consumer starts.
func Latest() Start { return Start{Kind: driver.StartLatest} }

// AtTime starts at the first record whose time is at or after t.
func AtTime(t time.Time) Start { return Start{Kind: driver.StartAtTime, Time: t} }

// After starts right after the record at p.
func After(p Pointer) Start { return Start{Kind: driver.StartAfter, Pointer: p} }

// Handler processes one record. It returns nil on success, an error to have
// the record retried, Permanent(err) to dead-letter it at once, or
// Skip(reason) to drop it deliberately.
type Handler func(ctx context.Context, r *Record) error

// Open opens a stream by URL through the scheme registry. The scheme's
// adapter must be imported (for example stream/memstream for mem://).
func Open(ctx context.Context, rawURL string) (driver.Stream, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("stream: URL %q: %w", rawURL, err)
	}
	if u.Scheme == "" {
		return nil, fmt.Errorf("stream: URL %q has no scheme (expected one of %s)", rawURL, schemeList())
	}
	o, ok := driver.Lookup(u.Scheme)
	if !ok {
		return nil, fmt.Errorf("stream: URL %q: unknown scheme %q (registered: %s; import the adapter package)", rawURL, u.Scheme, schemeList())
	}
	s, err := o.Open(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("stream: open %s: %w", redact(u), err)
	}
	return s, nil
}

func schemeList() string {
	s := driver.Schemes()
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

func redact(u *url.URL) string { return u.Redacted() }

// FormatPointer returns the human form of p, such as "mem:orders/0@42".
func FormatPointer(s driver.Stream, partition string, p Pointer) string {
	if p == nil {
		return "(none)"
	}
	return s.Codec().Format(s.Name(), partition, p)
}
