package redis

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/unistream-go/unistream/stream/checkpoint"
)

func init() {
	checkpoint.Register("redis", urlOpener{})
	checkpoint.Register("rediss", urlOpener{})
}

// urlOpener is the registered opener of the redis and rediss schemes.
type urlOpener struct{}

// Open opens the store of u (see ParseURL).
func (urlOpener) Open(ctx context.Context, u *url.URL) (checkpoint.Store, error) {
	opts, err := ParseURL(u)
	if err != nil {
		return nil, err
	}
	return New(ctx, opts...)
}

// CheckURL reads u with ParseURL and checks the options as New does before
// it connects, without connecting (the method of driver.URLChecker, for
// checkpoint.CheckURL).
func (urlOpener) CheckURL(u *url.URL) error {
	opts, err := ParseURL(u)
	if err != nil {
		return err
	}
	_, err = newConfig(opts)
	return err
}

// urlForm describes the store URL in errors.
const urlForm = "redis://[USER:PASSWORD@]HOST[:PORT][/DB]?prefix=PREFIX&dial_timeout=DURATION&timeout=DURATION (rediss:// for TLS; all but the host optional)"

// ParseURL reads a redis:// or rediss:// store URL into options:
//
//	redis://127.0.0.1:6379
//	redis://:PASSWORD@cache.internal:6379/2?prefix=billing:
//	rediss://worker:PASSWORD@redis.example.internal:6380/0?timeout=1s
//
// The port defaults to 6379 and the database (the path) to 0; rediss
// connects over TLS with the system roots. Query parameters: prefix (the
// key prefix, default DefaultKeyPrefix), dial_timeout and timeout (Go
// durations, see WithDialTimeout and WithTimeout). Anything else (a
// fragment, an unknown or repeated parameter, a path that is not a
// database number) is an error naming what was expected. Errors never
// contain the password.
func ParseURL(u *url.URL) ([]Option, error) {
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return nil, fmt.Errorf("store URL scheme %q: expected %s", u.Scheme, urlForm)
	}
	if u.Opaque != "" || u.Fragment != "" {
		return nil, fmt.Errorf("a redis store URL takes no fragment and needs //HOST: expected %s", urlForm)
	}
	opts, err := parseServer(u)
	if err != nil {
		return nil, err
	}
	if u.Scheme == "rediss" {
		opts = append(opts, WithTLS(nil))
	}
	more, err := parseQuery(u.RawQuery)
	if err != nil {
		return nil, err
	}
	return append(opts, more...), nil
}

// parseServer reads the host, port, database and credentials of a store
// URL.
func parseServer(u *url.URL) ([]Option, error) {
	if u.Hostname() == "" {
		return nil, fmt.Errorf("a redis store URL needs a host: expected %s", urlForm)
	}
	port := u.Port()
	if port == "" {
		if strings.HasSuffix(u.Host, ":") {
			return nil, fmt.Errorf("redis store URL host %q has an empty port: expected %s", u.Host, urlForm)
		}
		port = "6379"
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return nil, fmt.Errorf("redis store URL port %q: expected a number from 1 to 65535", port)
	}
	opts := []Option{WithAddr(net.JoinHostPort(u.Hostname(), port))}
	if path := strings.TrimPrefix(u.Path, "/"); path != "" {
		db, err := strconv.Atoi(path)
		if err != nil || db < 0 || strconv.Itoa(db) != path {
			return nil, fmt.Errorf("redis store URL path %q: expected a database number such as /0 (%s)", u.Path, urlForm)
		}
		opts = append(opts, WithDB(db))
	}
	if u.User != nil {
		pw, ok := u.User.Password()
		if !ok || pw == "" {
			return nil, fmt.Errorf("redis store URL user %q without a password: expected USER:PASSWORD@ or :PASSWORD@", u.User.Username())
		}
		opts = append(opts, WithAuth(u.User.Username(), pw))
	}
	return opts, nil
}

// parseQuery reads the query parameters of a store URL.
func parseQuery(raw string) ([]Option, error) {
	q, err := url.ParseQuery(raw)
	if err != nil {
		return nil, fmt.Errorf("redis store URL query: %w (expected %s)", err, urlForm)
	}
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var opts []Option
	for _, k := range keys {
		vs := q[k]
		if len(vs) != 1 {
			return nil, fmt.Errorf("redis store URL parameter %q given %d times: expected it once", k, len(vs))
		}
		v := vs[0]
		switch k {
		case "prefix":
			opts = append(opts, WithKeyPrefix(v))
		case "dial_timeout", "timeout":
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return nil, fmt.Errorf("redis store URL parameter %s=%q: expected a positive duration such as 2s", k, v)
			}
			if k == "timeout" {
				opts = append(opts, WithTimeout(d))
			} else {
				opts = append(opts, WithDialTimeout(d))
			}
		default:
			return nil, fmt.Errorf("redis store URL parameter %q is unknown: expected prefix, dial_timeout or timeout (%s)", k, urlForm)
		}
	}
	return opts, nil
}
