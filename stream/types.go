package stream

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/unistream-go/unistream/internal/schemes"
	"github.com/unistream-go/unistream/stream/driver"
)

// Record is one record of a stream. See driver.Record.
type Record = driver.Record

// Header is one record header.
type Header = driver.Header

// Pointer is a record's position in its partition, in the backend's binary
// form. Format it with the stream's codec (Stream.FormatPointer).
type Pointer = driver.Pointer

// Lag is how far a partition is behind its end (see driver.Lag).
type Lag = driver.Lag

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
// Skip(reason) to drop it deliberately. Its context carries the attempt
// it runs (AttemptOf): the attempt number and how many earlier attempts a
// crash interrupted.
type Handler func(ctx context.Context, r *Record) error

// Open opens a stream by URL through the scheme registry. The scheme's
// adapter must be imported (for example stream/memstream for mem://).
func Open(ctx context.Context, rawURL string) (*Stream, error) {
	u, o, err := lookupURL(rawURL)
	if err != nil {
		return nil, err
	}
	s, err := o.Open(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("stream: open %s: %w", redact(u), err)
	}
	return newStream(s, u.Scheme), nil
}

// CheckURL reports what Open would refuse in rawURL without opening it: a
// malformed URL, an unknown scheme, and what the backend's opener finds
// in the target and the options (an unknown key, a bad value, with what
// was expected) when it implements driver.URLChecker, as every generated
// adapter does. It connects to nothing. For a scheme whose opener cannot
// check, the error wraps driver.ErrURLNotChecked.
func CheckURL(rawURL string) error {
	u, o, err := lookupURL(rawURL)
	if err != nil {
		return err
	}
	if err := schemes.Check(o, u); err != nil {
		return fmt.Errorf("stream: URL %s: %w", redact(u), err)
	}
	return nil
}

// lookupURL parses rawURL and finds the opener of its scheme.
func lookupURL(rawURL string) (*url.URL, driver.Opener, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Error repeats the raw URL, secrets included: report only why.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, nil, fmt.Errorf("stream: malformed URL (%w); expected scheme://…, one of %s", err, schemeList())
	}
	if u.Scheme == "" {
		return nil, nil, fmt.Errorf("stream: URL %q has no scheme (expected one of %s)", redact(u), schemeList())
	}
	o, ok := driver.Lookup(u.Scheme)
	if !ok {
		return nil, nil, fmt.Errorf("stream: URL %q: unknown scheme %q (registered: %s; import the adapter package)", redact(u), u.Scheme, schemeList())
	}
	return u, o, nil
}

func schemeList() string {
	s := driver.Schemes()
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// secretWords mark query keys whose values are hidden in error messages.
var secretWords = []string{"pass", "secret", "token", "credential", "key"}

// redact returns u for error messages, with the user-info password and the
// values of secret-looking query keys (password, secret, token,
// credential, key) replaced by "***". The registry does not know each
// adapter's secrets, so it errs on the side of hiding.
func redact(u *url.URL) string {
	c := *u
	if c.RawQuery != "" {
		q := c.Query()
		for k, vs := range q {
			lk := strings.ToLower(k)
			for _, w := range secretWords {
				if strings.Contains(lk, w) {
					for i := range vs {
						vs[i] = "***"
					}
					break
				}
			}
		}
		c.RawQuery = strings.ReplaceAll(q.Encode(), "%2A%2A%2A", "***")
	}
	return c.Redacted()
}
