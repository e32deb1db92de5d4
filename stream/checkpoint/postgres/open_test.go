package postgres

import (
	"bytes"
	"context"
	"log/slog"
	"net/url"
	"strings"
	"testing"

	"github.com/unistream-go/unistream/stream/checkpoint"
)

func TestOpenURL(t *testing.T) {
	admin(t)
	ctx := context.Background()
	table := tableName(t)
	u, err := url.Parse(server.url)
	if err != nil {
		t.Fatal(err)
	}
	for i, scheme := range []string{"postgres", "postgresql"} {
		u.Scheme = scheme
		q := url.Values{"table": {table}, "application_name": {"unistream-test"}}
		if i == 1 {
			q.Set("create", "false") // the first opened it
		}
		u.RawQuery = q.Encode()
		if err := checkpoint.CheckURL(u.String()); err != nil {
			t.Fatalf("CheckURL(%s): %v", u.Redacted(), err)
		}
		s, err := checkpoint.Open(ctx, u.String())
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := s.(checkpoint.Leaser); !ok {
			t.Fatal("the store opened by URL does not keep leases")
		}
		if got := s.(*Store).Table(); got != table {
			t.Fatalf("table %q, want %q", got, table)
		}
		k := checkpoint.Key{Consumer: "c", Stream: "s", Partition: "0"}
		cp, err := s.Load(ctx, k)
		if err != nil || cp.Version != uint64(i) {
			t.Fatalf("Load through URL store %d = %v, %v; want version %d", i, cp, err, i)
		}
		if err := s.Save(ctx, cp); err != nil {
			t.Fatal(err)
		}
		if err := checkpoint.CloseStore(s); err != nil {
			t.Fatal(err)
		}
	}
}

func TestParseURL(t *testing.T) {
	cases := []struct {
		url, conn string
		table     string
		create    bool
	}{
		{"postgres://u@h:5432/db", "postgres://u@h:5432/db", DefaultTable, true},
		{"postgresql://u@h/db?table=cp&create=false&sslmode=disable", "postgresql://u@h/db?sslmode=disable", "cp", false},
		{"postgres://u:p%40ss@h/db?table=app.cp&pool_max_conns=4", "postgres://u:p%40ss@h/db?pool_max_conns=4", "app.cp", true},
		{"postgres:///db?host=/var/run/postgresql", "postgres:///db?host=%2Fvar%2Frun%2Fpostgresql", DefaultTable, true},
	}
	for _, tc := range cases {
		t.Run(tc.url, func(t *testing.T) {
			u, err := url.Parse(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			conn, opts, err := ParseURL(u)
			if err != nil {
				t.Fatal(err)
			}
			c, err := newConfig(opts)
			if err != nil {
				t.Fatal(err)
			}
			if conn != tc.conn || c.table != tc.table || c.create != tc.create {
				t.Fatalf("ParseURL = %q, table %q, create %v; want %q, %q, %v", conn, c.table, c.create, tc.conn, tc.table, tc.create)
			}
		})
	}
}

// TestURLErrors: what ParseURL and CheckURL refuse, each error naming
// what was expected, none showing the password.
func TestURLErrors(t *testing.T) {
	const secret = "s3cr3t-pw"
	cases := []struct{ url, want string }{
		{"postgres://u:" + secret + "@h/db?table=a&table=b", "given 2 times"},
		{"postgres://u:" + secret + "@h/db?table=Bad-Name", "lower-case letters"},
		{"postgres://u:" + secret + "@h/db?table=", "expected a table name"},
		{"postgres://u:" + secret + "@h/db?create=maybe", "expected true or false"},
		{"postgres://u:" + secret + "@h/db#frag", "no fragment"},
		{"postgres:u:" + secret + "@h/db", "needs //"},
		{"postgres://u:" + secret + "@h/db?a=%zz", "query"},
		{"postgres://u:" + secret + "@h:99999999/db", "invalid port"},
		{"postgres://u:" + secret + "@h/db?sslmode=sometimes", "sslmode"},
		{"postgres://u@h/db?password=" + secret + "&sslmode=sometimes", "sslmode"},
		{"postgres://u@h/db?password=" + secret + "&connect_timeout=x", "connect_timeout"},
	}
	for _, tc := range cases {
		t.Run(tc.want, func(t *testing.T) {
			err := checkpoint.CheckURL(tc.url)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("CheckURL(%q): err = %v, want one containing %q", tc.url, err, tc.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("CheckURL's error shows the password: %v", err)
			}
			_, err = checkpoint.Open(context.Background(), tc.url)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open(%q): err = %v, want one containing %q", tc.url, err, tc.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("Open's error shows the password: %v", err)
			}
		})
	}
}

// TestCheckURLConnectsToNothing: CheckURL accepts a good URL whose server
// does not answer: it only parses.
func TestCheckURLConnectsToNothing(t *testing.T) {
	for _, raw := range []string{
		"postgres://u:pw@" + closedAddr(t) + "/db?table=app.cp&create=false&sslmode=disable&pool_max_conns=2",
		"postgresql:///db?host=/nonexistent/socket",
	} {
		if err := checkpoint.CheckURL(raw); err != nil {
			t.Errorf("CheckURL(%s): %v", raw, err)
		}
	}
}

// TestPasswordNeverShown: a connection that fails names the host and the
// user but never the password, written in the URL's user info or as a
// parameter, plain or escaped, in errors and in what the store logs.
func TestPasswordNeverShown(t *testing.T) {
	const secret = "pa ss/w@rd:s3cr3t"
	addr := closedAddr(t)
	var logs bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	defer slog.SetDefault(prev)
	escaped := url.UserPassword("app", secret).String()
	for _, raw := range []string{
		"postgres://" + escaped + "@" + addr + "/orders?connect_timeout=5",
		"postgresql://app@" + addr + "/orders?connect_timeout=5&password=" + url.QueryEscape(secret),
	} {
		_, err := checkpoint.Open(context.Background(), raw)
		if err == nil {
			t.Fatalf("Open of a closed port succeeded")
		}
		for _, leak := range []string{secret, url.QueryEscape(secret), url.PathEscape(secret), "s3cr3t"} {
			if strings.Contains(err.Error(), leak) || strings.Contains(logs.String(), leak) {
				t.Fatalf("the error or the log shows the password (%q): %v\n%s", leak, err, logs.String())
			}
		}
		host, _, _ := strings.Cut(addr, ":")
		if !strings.Contains(err.Error(), host) || !strings.Contains(err.Error(), `user "app"`) {
			t.Fatalf("the error does not name the host %s and the user: %v", host, err)
		}
	}
	// A connection string that is not a URL: key=value pairs.
	_, err := Connect(context.Background(), "host=127.0.0.1 port=bad password='"+secret+"'")
	if err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Fatalf("Connect with key=value pairs: err = %v, want an error without the password", err)
	}
}

// FuzzParseURL: ParseURL never panics, and a URL it accepts gives options
// that apply and a connection string that keeps the URL's scheme.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"postgres://u@h/db", "postgres://h/db?table=a.b&create=1", "postgresql://@/?%", "postgres://u:p@h:1/d?table=x&sslmode=disable"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := url.Parse(raw)
		if err != nil {
			return
		}
		conn, opts, err := ParseURL(u)
		if err != nil {
			return
		}
		if _, err := newConfig(opts); err != nil {
			t.Fatalf("ParseURL(%q) gave options that do not apply: %v", raw, err)
		}
		if !strings.HasPrefix(conn, u.Scheme+":") {
			t.Fatalf("ParseURL(%q) gave connection string %q", raw, conn)
		}
	})
}
