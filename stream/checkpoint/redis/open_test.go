package redis

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/unistream-go/unistream/stream/checkpoint"
)

func mustURL(t testing.TB, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// captureLog keeps what the Redis client logs.
type captureLog struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (l *captureLog) Printf(_ context.Context, format string, v ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(&l.buf, format+"\n", v...)
}

func (l *captureLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func TestOpenURL(t *testing.T) {
	prefix := newPrefix(t)
	ctx := context.Background()
	s, err := checkpoint.Open(ctx, "redis://"+testAddr+"/0?prefix="+url.QueryEscape(prefix)+"&timeout=2s&dial_timeout=2s")
	if err != nil {
		t.Fatal(err)
	}
	defer checkpoint.CloseStore(s)
	if _, ok := s.(checkpoint.Leaser); !ok {
		t.Fatal("the store opened by URL does not keep leases")
	}
	k := checkpoint.Key{Consumer: "c", Stream: "s", Partition: "0"}
	if err := s.Save(ctx, &checkpoint.Checkpoint{Key: k, Committed: []byte{1}}); err != nil {
		t.Fatal(err)
	}
	if got := s.(*Store).client.Exists(ctx, partitionKey(prefix, k)).Val(); got != 1 {
		t.Fatalf("the URL's prefix is not used: key %q not found", partitionKey(prefix, k))
	}
	if err := checkpoint.CheckURL("redis://" + testAddr + "?prefix=" + url.QueryEscape(prefix)); err != nil {
		t.Fatalf("CheckURL: %v", err)
	}
}

// TestParseURL: what each URL sets, checked through the configuration New
// would use.
func TestParseURL(t *testing.T) {
	cases := []struct {
		url  string
		want config
	}{
		{"redis://localhost", config{addr: "localhost:6379", prefix: DefaultKeyPrefix}},
		{"redis://10.0.0.1:6380/3", config{addr: "10.0.0.1:6380", db: 3, prefix: DefaultKeyPrefix}},
		{"redis://[::1]:7000/", config{addr: "[::1]:7000", prefix: DefaultKeyPrefix}},
		{"redis://:pw@h:1/0?prefix=billing:", config{addr: "h:1", password: "pw", prefix: "billing:"}},
		{"redis://user:p%40ss@h?prefix=a%7Cb", config{addr: "h:6379", username: "user", password: "p@ss", prefix: "a|b"}},
		{"rediss://h:6380?timeout=1s&dial_timeout=250ms", config{addr: "h:6380", prefix: DefaultKeyPrefix, timeout: time.Second, dialTimeout: 250 * time.Millisecond}},
	}
	for _, tc := range cases {
		t.Run(tc.url, func(t *testing.T) {
			opts, err := ParseURL(mustURL(t, tc.url))
			if err != nil {
				t.Fatal(err)
			}
			c, err := newConfig(opts)
			if err != nil {
				t.Fatal(err)
			}
			if c.addr != tc.want.addr || c.db != tc.want.db || c.username != tc.want.username || c.password != tc.want.password || c.prefix != tc.want.prefix {
				t.Fatalf("config = addr %q db %d user %q password %q prefix %q, want %q %d %q %q %q",
					c.addr, c.db, c.username, c.password, c.prefix, tc.want.addr, tc.want.db, tc.want.username, tc.want.password, tc.want.prefix)
			}
			if (c.tls != nil) != strings.HasPrefix(tc.url, "rediss:") {
				t.Fatalf("TLS %v for %s", c.tls != nil, tc.url)
			}
			if tc.want.timeout != 0 && (c.timeout != tc.want.timeout || c.dialTimeout != tc.want.dialTimeout) {
				t.Fatalf("timeouts %v, %v; want %v, %v", c.timeout, c.dialTimeout, tc.want.timeout, tc.want.dialTimeout)
			}
			if err := checkpoint.CheckURL(tc.url); err != nil {
				t.Fatalf("CheckURL: %v", err)
			}
		})
	}
}

// TestParseURLErrors: every refused URL names what was expected, through
// checkpoint.CheckURL (which connects to nothing), and never shows the
// password.
func TestParseURLErrors(t *testing.T) {
	const pw = "hunter2-secret"
	cases := []struct{ url, want string }{
		{"redis://", "needs a host"},
		{"redis:///0", "needs a host"},
		{"redis:h", "needs //HOST"},
		{"redis://h#frag", "no fragment"},
		{"redis://h:", "empty port"},
		{"redis://h:0", "from 1 to 65535"},
		{"redis://h:99999", "from 1 to 65535"},
		{"redis://h/db", "expected a database number"},
		{"redis://h/-1", "expected a database number"},
		{"redis://h/01", "expected a database number"},
		{"redis://h/0/x", "expected a database number"},
		{"redis://user@h", "without a password"},
		{"redis://user:" + pw + "@h?prefix=", "non-empty prefix"},
		{"redis://:" + pw + "@h?prefix=a{b}", "without '{' or '}'"},
		{"redis://h?prefix=a&prefix=b", "given 2 times"},
		{"redis://h?timeout=0s", "positive duration"},
		{"redis://h?dial_timeout=soon", "positive duration"},
		{"redis://:" + pw + "@h?pool=3", `"pool" is unknown`},
		{"redis://h?a=%zz", "query"},
	}
	for _, tc := range cases {
		t.Run(tc.url, func(t *testing.T) {
			err := checkpoint.CheckURL(tc.url)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("CheckURL(%s) = %v, want an error containing %q", tc.url, err, tc.want)
			}
			if strings.Contains(err.Error(), pw) {
				t.Fatalf("CheckURL(%s) shows the password: %v", tc.url, err)
			}
			if _, err := checkpoint.Open(context.Background(), tc.url); err == nil || strings.Contains(err.Error(), pw) {
				t.Fatalf("Open(%s) = %v, want an error without the password", tc.url, err)
			}
		})
	}
}

func TestOptionErrors(t *testing.T) {
	cases := []struct {
		name string
		opts []Option
		want string
	}{
		{"bad addr", []Option{WithAddr("localhost")}, "expected host:port"},
		{"negative db", []Option{WithDB(-1)}, "0 or more"},
		{"empty password", []Option{WithAuth("u", "")}, "non-empty password"},
		{"empty prefix", []Option{WithKeyPrefix("")}, "non-empty prefix"},
		{"brace prefix", []Option{WithKeyPrefix("a{")}, "without '{' or '}'"},
		{"long prefix", []Option{WithKeyPrefix(strings.Repeat("p", maxPrefix+1))}, "at most 1024 bytes"},
		{"small max document", []Option{WithMaxDocumentBytes(10)}, "1024 bytes or more"},
		{"dial timeout", []Option{WithDialTimeout(0)}, "positive duration"},
		{"timeout", []Option{WithTimeout(-time.Second)}, "positive duration"},
		{"nil client", []Option{WithClient(nil)}, "non-nil"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(context.Background(), tc.opts...)
			if err == nil {
				s.Close()
				t.Fatal("New succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}
