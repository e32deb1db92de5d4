package dlq

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"sort"
	"strings"

	"github.com/unistream-go/unistream/internal/schemes"
	"github.com/unistream-go/unistream/stream/driver"
)

// Opener opens a sink from a URL of its scheme.
type Opener interface {
	Open(ctx context.Context, u *url.URL) (Sink, error)
}

// OpenerFunc adapts a function to Opener.
type OpenerFunc func(ctx context.Context, u *url.URL) (Sink, error)

// Open calls f.
func (f OpenerFunc) Open(ctx context.Context, u *url.URL) (Sink, error) { return f(ctx, u) }

var openers = schemes.New[Opener]("dlq")

func init() {
	Register("file", fileOpener{})
}

// fileOpener is the registered opener of file DLQ URLs.
type fileOpener struct{}

// Open opens the FileSink of u.
func (fileOpener) Open(ctx context.Context, u *url.URL) (Sink, error) { return openFileURL(ctx, u) }

// CheckURL checks the file URL's form, without opening or creating the
// file (the method of driver.URLChecker, for CheckURL).
func (fileOpener) CheckURL(u *url.URL) error {
	_, err := filePath(u)
	return err
}

// Register makes a sink available to Open under a URL scheme (for a sink
// that is not a stream, such as a queue service); a sink package calls it
// from an init function. It panics if the scheme is empty or registered
// twice, or o is nil. Stream schemes need no registration: Open falls back
// to the stream registry (driver.Register).
func Register(scheme string, o Opener) { openers.Register(scheme, o) }

// Schemes lists the schemes Open accepts: the sinks registered here and
// every stream scheme, sorted.
func Schemes() []string {
	out := append(openers.Schemes(), driver.Schemes()...)
	sort.Strings(out)
	return out
}

// Open opens a DLQ sink by URL:
//
//	file:///var/lib/app/orders.dlq.jsonl   a FileSink (OpenFile), JSON lines, mode 0600
//	file:relative/orders.dlq.jsonl         the same, relative to the working directory
//	kafka://broker:9092/orders.dlq         any stream URL: a StreamSink that owns the stream
//
// A stream URL's scheme must be registered (import the adapter). Closing a
// sink opened from a stream URL closes its stream too.
func Open(ctx context.Context, rawURL string) (Sink, error) {
	u, o, so, err := lookupURL(rawURL)
	if err != nil {
		return nil, err
	}
	shown := redact(u)
	if o != nil {
		s, err := o.Open(ctx, u)
		if err != nil {
			return nil, fmt.Errorf("dlq: open %s: %w", shown, err)
		}
		return s, nil
	}
	st, err := so.Open(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("dlq: open stream %s: %w", shown, err)
	}
	sink, err := NewStreamSink(st)
	if err != nil {
		st.Close()
		return nil, err
	}
	return &owningSink{StreamSink: sink, s: st}, nil
}

// CheckURL reports what Open would refuse in rawURL without opening the
// sink: a malformed URL, an unknown scheme, a bad file URL, and what a
// stream URL's backend finds in its target and options (see
// stream.CheckURL). It connects to nothing and creates nothing. For a
// scheme whose opener cannot check (it does not implement CheckURL, the
// method of driver.URLChecker), the error wraps driver.ErrURLNotChecked.
func CheckURL(rawURL string) error {
	u, o, so, err := lookupURL(rawURL)
	if err != nil {
		return err
	}
	var opener any = so
	if o != nil {
		opener = o
	}
	if err := schemes.Check(opener, u); err != nil {
		return fmt.Errorf("dlq: DLQ URL %s: %w", redact(u), err)
	}
	return nil
}

// lookupURL parses rawURL and finds the opener of its scheme: a sink's
// (o) or else a stream's (so).
func lookupURL(rawURL string) (u *url.URL, o Opener, so driver.Opener, err error) {
	u, err = url.Parse(rawURL)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, nil, nil, fmt.Errorf("dlq: malformed DLQ URL (%w): expected file:///PATH.jsonl or a stream URL (%s)", err, strings.Join(Schemes(), ", "))
	}
	if u.Scheme == "" {
		return nil, nil, nil, fmt.Errorf("dlq: DLQ URL %q has no scheme: expected file:///PATH.jsonl or a stream URL (%s)", redact(u), strings.Join(Schemes(), ", "))
	}
	if o, ok := openers.Lookup(u.Scheme); ok {
		return u, o, nil, nil
	}
	so, ok := driver.Lookup(u.Scheme)
	if !ok {
		return nil, nil, nil, fmt.Errorf("dlq: DLQ URL %q: unknown scheme %q (known: %s; import the adapter package)", redact(u), u.Scheme, strings.Join(Schemes(), ", "))
	}
	return u, nil, so, nil
}

// owningSink is a StreamSink that also closes its stream.
type owningSink struct {
	*StreamSink
	s driver.Stream
}

func (o *owningSink) Close() error {
	return errors.Join(o.StreamSink.Close(), o.s.Close())
}

func openFileURL(_ context.Context, u *url.URL) (Sink, error) {
	p, err := filePath(u)
	if err != nil {
		return nil, err
	}
	return OpenFile(p)
}

// FileURLPath returns the local path of a file DLQ URL (file:///ABSOLUTE/PATH
// or file:RELATIVE/PATH), for tools that read the file back (ReadFile).
func FileURLPath(rawURL string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("dlq: malformed file URL: %w", err)
	}
	if u.Scheme != "file" {
		return "", fmt.Errorf("dlq: URL %q is not a file URL: expected file:///ABSOLUTE/PATH or file:RELATIVE/PATH", redact(u))
	}
	p, err := filePath(u)
	if err != nil {
		return "", fmt.Errorf("dlq: %w", err)
	}
	return p, nil
}

// filePath returns the local path of a file URL: file:///ABSOLUTE/PATH,
// file://localhost/ABSOLUTE/PATH or file:RELATIVE/PATH.
func filePath(u *url.URL) (string, error) {
	const form = "file:///ABSOLUTE/PATH or file:RELATIVE/PATH"
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("file URL takes no user, query or fragment: expected %s", form)
	}
	if u.Opaque != "" {
		p, err := url.PathUnescape(u.Opaque)
		if err != nil {
			return "", fmt.Errorf("file URL path %q: %w", u.Opaque, err)
		}
		return filepath.FromSlash(p), nil
	}
	if u.Host != "" && u.Host != "localhost" {
		return "", fmt.Errorf("file URL host %q: expected %s (file://NAME reads NAME as a host; use three slashes)", u.Host, form)
	}
	if u.Path == "" || u.Path == "/" {
		return "", fmt.Errorf("file URL has no path: expected %s", form)
	}
	return filepath.FromSlash(u.Path), nil
}

// redact shows u without its password and with secret-looking query values
// hidden, for error messages.
func redact(u *url.URL) string {
	c := *u
	if c.RawQuery != "" {
		q := c.Query()
		for k, vs := range q {
			lk := strings.ToLower(k)
			for _, w := range []string{"pass", "secret", "token", "credential", "key"} {
				if strings.Contains(lk, w) {
					for i := range vs {
						vs[i] = "xxx"
					}
					break
				}
			}
		}
		c.RawQuery = q.Encode()
	}
	return c.Redacted()
}
