package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/unistream-go/unistream/internal/schemes"
)

// Opener opens a checkpoint store from a URL of its scheme. A store that
// holds connections or files should implement io.Closer; callers of Open
// close it through CloseStore.
type Opener interface {
	Open(ctx context.Context, u *url.URL) (Store, error)
}

// OpenerFunc adapts a function to Opener.
type OpenerFunc func(ctx context.Context, u *url.URL) (Store, error)

// Open calls f.
func (f OpenerFunc) Open(ctx context.Context, u *url.URL) (Store, error) { return f(ctx, u) }

var openers = schemes.New[Opener]("checkpoint")

func init() {
	Register("mem", checkedOpener{OpenerFunc(openMemory), checkMemoryURL})
	Register("file", checkedOpener{OpenerFunc(openFile), func(u *url.URL) error { _, err := filePath(u); return err }})
}

// checkedOpener is an Opener with the CheckURL method (driver.URLChecker).
type checkedOpener struct {
	OpenerFunc
	check func(u *url.URL) error
}

// CheckURL checks u as Open would, without opening the store.
func (o checkedOpener) CheckURL(u *url.URL) error { return o.check(u) }

// Register makes a store available to Open under a URL scheme, as
// database/sql's Register does for drivers; a store package calls it from
// an init function:
//
//	func init() { checkpoint.Register("dynamodb", checkpoint.OpenerFunc(open)) }
//
// It panics if the scheme is empty or registered twice, or o is nil: all
// programming errors found at init.
func Register(scheme string, o Opener) { openers.Register(scheme, o) }

// Schemes lists the registered store schemes, sorted.
func Schemes() []string { return openers.Schemes() }

// Open opens a checkpoint store by URL through the scheme registry:
//
//	mem://                 a new, empty MemoryStore (for tests and demos)
//	file:///var/lib/app    a FileStore over the directory (created if missing)
//	file:relative/dir      a FileStore over a directory relative to the working directory
//
// Other schemes come from store packages that call Register (such as
// dynamodb:// from stream/checkpoint/dynamodb and redis:// from
// stream/checkpoint/redis, once imported). Close the
// store with CloseStore when done.
func Open(ctx context.Context, rawURL string) (Store, error) {
	u, o, err := lookupURL(rawURL)
	if err != nil {
		return nil, err
	}
	s, err := o.Open(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: open store %s: %w", redacted(u), err)
	}
	return s, nil
}

// CheckURL reports what Open would refuse in rawURL without opening the
// store: a malformed URL, an unknown scheme, and what the scheme's opener
// finds in the rest when it implements CheckURL(*url.URL) error (the
// method of driver.URLChecker), as mem, file, dynamodb and redis do. It connects
// to nothing and creates nothing (a file store's directory is not made).
// For a scheme whose opener cannot check, the error matches
// driver.ErrURLNotChecked.
func CheckURL(rawURL string) error {
	u, o, err := lookupURL(rawURL)
	if err != nil {
		return err
	}
	if err := schemes.Check(o, u); err != nil {
		return fmt.Errorf("checkpoint: store URL %s: %w", redacted(u), err)
	}
	return nil
}

// lookupURL parses rawURL and finds the opener of its scheme.
func lookupURL(rawURL string) (*url.URL, Opener, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, nil, fmt.Errorf("checkpoint: malformed store URL (%w): expected scheme://…, one of %s", err, strings.Join(Schemes(), ", "))
	}
	if u.Scheme == "" {
		return nil, nil, fmt.Errorf("checkpoint: store URL %q has no scheme: expected one of %s (a directory is file:///ABSOLUTE/PATH)",
			redacted(u), strings.Join(Schemes(), ", "))
	}
	o, ok := openers.Lookup(u.Scheme)
	if !ok {
		return nil, nil, fmt.Errorf("checkpoint: store URL %q: unknown scheme %q (registered: %s; import the store package)",
			redacted(u), u.Scheme, strings.Join(Schemes(), ", "))
	}
	return u, o, nil
}

// passwordParam matches a password query parameter, which PostgreSQL
// URLs accept next to the user info.
var passwordParam = regexp.MustCompile(`(?i)(^|[?&])(password=)[^&#]*`)

// redacted returns u for messages with its password hidden: the one of
// the user info (as url.URL.Redacted does), a password query parameter,
// and the user info of an opaque URL (scheme:user:password@host).
func redacted(u *url.URL) string {
	c := *u
	c.RawQuery = passwordParam.ReplaceAllString(c.RawQuery, "${1}${2}xxxxx")
	if at := strings.LastIndex(c.Opaque, "@"); at >= 0 {
		if colon := strings.Index(c.Opaque[:at], ":"); colon >= 0 {
			c.Opaque = c.Opaque[:colon+1] + "xxxxx" + c.Opaque[at:]
		}
	}
	return c.Redacted()
}

// userPassword matches the password of a URL's user info, for RedactURL
// on a string url.Parse refuses.
var userPassword = regexp.MustCompile(`(://[^/@:]*:)[^/@]*@`)

// RedactURL returns rawURL for messages with its password hidden, as Open
// and CheckURL show store URLs in their errors: the password of the user
// info and a password query parameter read "xxxxx". A string that is not
// a URL is masked the same way, best effort.
func RedactURL(rawURL string) string {
	if u, err := url.Parse(rawURL); err == nil {
		if r := redacted(u); r != u.String() {
			return r
		}
		return rawURL // nothing hidden: as written (mem:// stays mem://)
	}
	s := userPassword.ReplaceAllString(rawURL, "${1}xxxxx@")
	return passwordParam.ReplaceAllString(s, "${1}${2}xxxxx")
}

// CloseStore closes s if it implements io.Closer, and returns nil otherwise.
func CloseStore(s Store) error {
	if c, ok := s.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

func openMemory(_ context.Context, u *url.URL) (Store, error) {
	if err := checkMemoryURL(u); err != nil {
		return nil, err
	}
	return NewMemoryStore(), nil
}

func checkMemoryURL(u *url.URL) error {
	if u.Host != "" || (u.Path != "" && u.Path != "/") || u.Opaque != "" || u.RawQuery != "" || u.User != nil {
		return errors.New("a memory store URL takes no name, path or query: expected mem://")
	}
	return nil
}

func openFile(_ context.Context, u *url.URL) (Store, error) {
	dir, err := filePath(u)
	if err != nil {
		return nil, err
	}
	return NewFileStore(dir)
}

// filePath returns the local path of a file URL: file:///ABSOLUTE/PATH,
// file://localhost/ABSOLUTE/PATH or file:RELATIVE/PATH. A query, fragment,
// user or other host is an error naming the expected form.
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
		return "", fmt.Errorf("file URL host %q: expected %s (file://DIR reads DIR as a host; use three slashes)", u.Host, form)
	}
	if u.Path == "" || u.Path == "/" {
		return "", fmt.Errorf("file URL has no path: expected %s", form)
	}
	return filepath.FromSlash(u.Path), nil
}
