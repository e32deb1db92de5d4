package redis

import (
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Option configures a Store.
type Option func(*config) error

type config struct {
	addr         string
	db           int
	username     string
	password     string
	tls          *tls.Config
	prefix       string
	client       goredis.UniversalClient
	maxDoc       int
	dialTimeout  time.Duration
	timeout      time.Duration
	addrExplicit bool
}

// Defaults.
const (
	// DefaultAddr is the server New connects to without WithAddr.
	DefaultAddr = "127.0.0.1:6379"
	// DefaultKeyPrefix starts every key the store writes without
	// WithKeyPrefix.
	DefaultKeyPrefix = "unistream:"
	// DefaultMaxDocumentBytes is the largest encoded checkpoint Save writes
	// without WithMaxDocumentBytes.
	DefaultMaxDocumentBytes = 4 << 20
	// DefaultDialTimeout bounds a connection attempt.
	DefaultDialTimeout = 5 * time.Second
	// DefaultTimeout bounds a command's read and write on the socket; a
	// context deadline bounds it further.
	DefaultTimeout = 3 * time.Second
	// maxPrefix bounds the key prefix.
	maxPrefix = 1024
)

// OptionError reports an invalid option value and what was expected.
type OptionError struct {
	Option   string
	Value    any
	Expected string
}

func (e *OptionError) Error() string {
	return fmt.Sprintf("redis checkpoint store: option %s: got %v, expected %s", e.Option, e.Value, e.Expected)
}

// WithAddr sets the server address, host:port (default DefaultAddr).
func WithAddr(addr string) Option {
	return func(c *config) error {
		host, port, err := net.SplitHostPort(addr)
		if err != nil || host == "" || port == "" {
			return &OptionError{Option: "WithAddr", Value: fmt.Sprintf("%q", addr), Expected: "host:port, such as 127.0.0.1:6379"}
		}
		c.addr, c.addrExplicit = addr, true
		return nil
	}
}

// WithDB selects the logical database (default 0).
func WithDB(db int) Option {
	return func(c *config) error {
		if db < 0 {
			return &OptionError{Option: "WithDB", Value: db, Expected: "a database number, 0 or more"}
		}
		c.db = db
		return nil
	}
}

// WithAuth authenticates as username (empty: the default user) with
// password. The password never appears in an error.
func WithAuth(username, password string) Option {
	return func(c *config) error {
		if password == "" {
			return &OptionError{Option: "WithAuth", Value: fmt.Sprintf("user %q, empty password", username), Expected: "a non-empty password"}
		}
		c.username, c.password = username, password
		return nil
	}
}

// WithTLS connects over TLS with cfg (nil: the system roots, TLS 1.2 or
// later, the server name from the address).
func WithTLS(cfg *tls.Config) Option {
	return func(c *config) error {
		if cfg == nil {
			cfg = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		c.tls = cfg
		return nil
	}
}

// WithKeyPrefix sets the prefix of every key the store reads and writes
// (default DefaultKeyPrefix), so that several applications or
// environments can share a database. It must not contain '{' or '}',
// which would break the hash tags that keep a group's keys in one Redis
// Cluster slot.
func WithKeyPrefix(prefix string) Option {
	return func(c *config) error {
		if prefix == "" || len(prefix) > maxPrefix || strings.ContainsAny(prefix, "{}") {
			return &OptionError{Option: "WithKeyPrefix", Value: fmt.Sprintf("%q", prefix), Expected: fmt.Sprintf("a non-empty prefix of at most %d bytes without '{' or '}'", maxPrefix)}
		}
		c.prefix = prefix
		return nil
	}
}

// WithMaxDocumentBytes sets the largest encoded checkpoint Save writes
// (default DefaultMaxDocumentBytes); a larger one is refused with an error
// matching checkpoint.ErrTooLarge before it is sent.
func WithMaxDocumentBytes(n int) Option {
	return func(c *config) error {
		if n < 1024 {
			return &OptionError{Option: "WithMaxDocumentBytes", Value: n, Expected: "1024 bytes or more"}
		}
		c.maxDoc = n
		return nil
	}
}

// WithDialTimeout bounds a connection attempt (default DefaultDialTimeout).
func WithDialTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return &OptionError{Option: "WithDialTimeout", Value: d, Expected: "a positive duration"}
		}
		c.dialTimeout = d
		return nil
	}
}

// WithTimeout bounds the read and the write of a command on the socket
// (default DefaultTimeout).
func WithTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return &OptionError{Option: "WithTimeout", Value: d, Expected: "a positive duration"}
		}
		c.timeout = d
		return nil
	}
}

// WithClient uses an existing client (a *redis.Client, a
// *redis.ClusterClient: every key of a group shares a hash slot, or a
// failover client); the connection options (WithAddr, WithDB, WithAuth,
// WithTLS and the timeouts) are then refused, and Close does not close
// the client.
func WithClient(client goredis.UniversalClient) Option {
	return func(c *config) error {
		if client == nil {
			return &OptionError{Option: "WithClient", Value: nil, Expected: "a non-nil redis.UniversalClient"}
		}
		c.client = client
		return nil
	}
}

// newConfig applies the options over the defaults: everything New checks
// before it connects.
func newConfig(opts []Option) (config, error) {
	c := config{addr: DefaultAddr, prefix: DefaultKeyPrefix, maxDoc: DefaultMaxDocumentBytes}
	for _, o := range opts {
		if err := o(&c); err != nil {
			return c, err
		}
	}
	if c.client != nil && (c.addrExplicit || c.db != 0 || c.password != "" || c.tls != nil || c.dialTimeout != 0 || c.timeout != 0) {
		return c, &OptionError{Option: "WithClient", Value: "with connection options", Expected: "either WithClient or the connection options (WithAddr, WithDB, WithAuth, WithTLS, WithDialTimeout, WithTimeout), not both"}
	}
	if c.dialTimeout == 0 {
		c.dialTimeout = DefaultDialTimeout
	}
	if c.timeout == 0 {
		c.timeout = DefaultTimeout
	}
	return c, nil
}
