package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/unistream-go/unistream/stream/checkpoint"
)

func init() {
	checkpoint.Register("postgres", urlOpener{})
	checkpoint.Register("postgresql", urlOpener{})
}

// urlOpener is the registered opener of the postgres and postgresql
// schemes.
type urlOpener struct{}

// Open opens the store of u (see ParseURL).
func (urlOpener) Open(ctx context.Context, u *url.URL) (checkpoint.Store, error) {
	conn, opts, err := ParseURL(u)
	if err != nil {
		return nil, err
	}
	return Connect(ctx, conn, opts...)
}

// CheckURL reads u with ParseURL, checks the table name and options, and
// parses the connection string as Connect does, without connecting to
// the server (the method of driver.URLChecker, for checkpoint.CheckURL).
func (urlOpener) CheckURL(u *url.URL) error {
	conn, opts, err := ParseURL(u)
	if err != nil {
		return err
	}
	if _, err := newConfig(opts); err != nil {
		return err
	}
	if _, err := pgxpool.ParseConfig(conn); err != nil {
		return redact(fmt.Errorf("postgres store URL: %w", err), secretsOf(conn))
	}
	return nil
}

// urlForm describes the store URL in errors.
const urlForm = "postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE?table=NAME&create=true|false (table and create optional; other parameters go to the PostgreSQL driver: sslmode, connect_timeout, pool_max_conns, application_name, …)"

// ParseURL reads a postgres:// or postgresql:// store URL into the
// connection string for Connect and the options:
//
//	postgres://app@db.internal:5432/orders?table=billing_checkpoints&sslmode=verify-full
//	postgresql:///test?host=/var/run/postgresql
//
// It takes the query parameters table (WithTable, default
// unistream_checkpoints) and create (WithCreateTable: true or false,
// default true) and leaves every other part of the URL to pgx: host,
// port, user, password, database and its parameters (sslmode,
// connect_timeout, pool_max_conns, …). A parameter of the store given
// twice, or a fragment, is an error naming what was expected; errors
// never show the password.
func ParseURL(u *url.URL) (connString string, opts []Option, err error) {
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return "", nil, fmt.Errorf("store URL scheme %q: expected %s", u.Scheme, urlForm)
	}
	if u.Opaque != "" || u.Fragment != "" {
		return "", nil, fmt.Errorf("a postgres store URL takes no fragment and needs // after the scheme: expected %s", urlForm)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return "", nil, fmt.Errorf("postgres store URL query: %w (expected %s)", errors.Unwrap(err), urlForm)
	}
	for _, k := range []string{"table", "create"} {
		vs, ok := q[k]
		if !ok {
			continue
		}
		if len(vs) != 1 {
			return "", nil, fmt.Errorf("postgres store URL parameter %q given %d times: expected it once", k, len(vs))
		}
		v := vs[0]
		switch k {
		case "table":
			if !validTable(v) {
				return "", nil, fmt.Errorf("postgres store URL parameter table=%q: expected %s", v, tableExpected)
			}
			opts = append(opts, WithTable(v))
		case "create":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return "", nil, fmt.Errorf("postgres store URL parameter create=%q: expected true or false", v)
			}
			opts = append(opts, WithCreateTable(b))
		}
		delete(q, k)
	}
	c := *u
	c.RawQuery = q.Encode()
	return c.String(), opts, nil
}

// secretsOf returns the passwords written in a connection string, a URL
// (user info or the password parameter) or key=value pairs, best effort:
// redact removes them from error messages.
func secretsOf(connString string) []string {
	var out []string
	if u, err := url.Parse(connString); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		if p, ok := u.User.Password(); ok {
			out = append(out, p, url.PathEscape(p), url.QueryEscape(p))
		}
		if q, err := url.ParseQuery(u.RawQuery); err == nil {
			for _, p := range q["password"] {
				out = append(out, p, url.QueryEscape(p))
			}
		}
	}
	for _, m := range kvPassword.FindAllStringSubmatch(connString, -1) {
		out = append(out, strings.Trim(m[1], "'"))
	}
	if i := strings.Index(connString, "://"); i >= 0 {
		// user:password@ even where the URL does not parse.
		rest := connString[i+3:]
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if colon := strings.Index(rest[:at], ":"); colon >= 0 {
				out = append(out, rest[colon+1:at])
			}
		}
	}
	return out
}

var kvPassword = regexp.MustCompile(`password\s*=\s*('[^']*'|[^\s&]+)`)

// configSecrets returns the password of a parsed configuration (from
// the connection string, PGPASSWORD or a password file).
func configSecrets(c *pgx.ConnConfig) []string {
	return []string{c.Password} // fallbacks share it
}

// redactedError is an error whose message has the secrets replaced; it
// still matches what it wraps (errors.Is, errors.As).
type redactedError struct {
	err error
	msg string
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redact returns err with every non-empty secret replaced by "xxxxx" in
// its message.
func redact(err error, secrets []string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	for _, s := range secrets {
		if len(s) > 0 {
			msg = strings.ReplaceAll(msg, s, "xxxxx")
		}
	}
	return &redactedError{err: err, msg: msg}
}
