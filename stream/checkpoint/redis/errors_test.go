package redis

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/checkpoint/storetest"
)

// replyError is an error reply of the server as the client returns it: an
// error with the RedisError method (redis.Error).
type replyError string

func (e replyError) Error() string { return string(e) }
func (replyError) RedisError()     {}

// TestClassifyReplies lists every Redis error the store tells apart and
// its class.
func TestClassifyReplies(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want storetest.Class
	}{
		{"NOAUTH", replyError("NOAUTH Authentication required."), storetest.Permanent},
		{"WRONGPASS", replyError("WRONGPASS invalid username-password pair or user is disabled."), storetest.Permanent},
		{"NOPERM", replyError("NOPERM User worker has no permissions to run the 'evalsha' command"), storetest.Permanent},
		{"NOPERM key", replyError("NOPERM No permissions to access a key"), storetest.Permanent},
		{"WRONGTYPE", replyError("WRONGTYPE Operation against a key holding the wrong kind of value"), storetest.Permanent},
		{"AUTH without requirepass", replyError("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"), storetest.Permanent},
		{"old invalid password", replyError("ERR invalid password"), storetest.Permanent},
		{"old AUTH without requirepass", replyError("ERR Client sent AUTH, but no password is set"), storetest.Permanent},
		{"unknown command", replyError("ERR unknown command 'EVALSHA', with args beginning with: "), storetest.Permanent},
		{"database out of range", replyError("ERR DB index is out of range"), storetest.Permanent},
		{"SELECT in cluster", replyError("ERR SELECT is not allowed in cluster mode"), storetest.Permanent},
		{"TLS certificate", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}, storetest.Permanent},

		{"OOM (maxmemory, noeviction)", replyError("OOM command not allowed when used memory > 'maxmemory'."), storetest.Transient},
		{"LOADING", replyError("LOADING Redis is loading the dataset in memory"), storetest.Transient},
		{"BUSY", replyError("BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSCRIPT."), storetest.Transient},
		{"TRYAGAIN", replyError("TRYAGAIN Multiple keys request during rehashing of slot"), storetest.Transient},
		{"MASTERDOWN", replyError("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."), storetest.Transient},
		{"CLUSTERDOWN", replyError("CLUSTERDOWN The cluster is down"), storetest.Transient},
		{"READONLY", replyError("READONLY You can't write against a read only replica."), storetest.Transient},
		{"MISCONF", replyError("MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk."), storetest.Transient},
		{"max clients", replyError("ERR max number of clients reached"), storetest.Transient},
		{"NOREPLICAS", replyError("NOREPLICAS Not enough good replicas to write."), storetest.Transient},
		{"an unknown reply", replyError("SOMETHINGNEW the server says no"), storetest.Transient},
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, storetest.Transient},
		{"connection reset", &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, storetest.Transient},
		{"i/o timeout", &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}, storetest.Transient},
		{"pool timeout", goredis.ErrPoolTimeout, storetest.Transient},
		{"closed client", goredis.ErrClosed, storetest.Transient},
		{"deadline", context.DeadlineExceeded, storetest.Transient},
		{"cancelled", context.Canceled, storetest.Transient},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wrapped := fmt.Errorf("evalsha: %w", tc.err)
			err := classify(wrapped)
			storetest.CheckClass(t, err, tc.want)
			if !errors.Is(err, tc.err) || err.Error() != wrapped.Error() {
				t.Errorf("classify(%v) = %v: lost the client's error or its message", wrapped, err)
			}
		})
	}
	if classify(nil) != nil {
		t.Error("classify(nil) is not nil")
	}
}

// TestServerErrors classifies errors the real server returns.
func TestServerErrors(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	k := checkpoint.Key{Consumer: "c", Stream: "s", Partition: "0"}
	if err := s.client.Set(ctx, partitionKey(s.prefix, k), "x", 0).Err(); err != nil {
		t.Fatal(err)
	}
	err := s.client.HGetAll(ctx, partitionKey(s.prefix, k)).Err()
	storetest.CheckClass(t, classify(err), storetest.Permanent)
	if !goredis.HasErrorPrefix(err, "WRONGTYPE") {
		t.Fatalf("HGETALL of a string: %v, want WRONGTYPE", err)
	}
	// The store reads it as a corrupt key.
	_, err = s.Load(ctx, k)
	storetest.CheckClass(t, err, storetest.Corrupt)

	// A user the server does not have.
	_, err = New(ctx, WithAddr(testAddr), WithAuth("no-such-user-"+run, "s3cret-pw"))
	storetest.CheckClass(t, err, storetest.Permanent)

	// Nothing listens on port 1.
	_, err = New(ctx, WithAddr("127.0.0.1:1"), WithDialTimeout(time.Second))
	storetest.CheckClass(t, err, storetest.Transient)

	// A closed store.
	c := newStore(t)
	c.Close()
	_, err = c.Load(ctx, k)
	storetest.CheckClass(t, err, storetest.Transient)
	if !errors.Is(err, goredis.ErrClosed) {
		t.Errorf("Load on a closed store: %v, want redis.ErrClosed", err)
	}
}

// TestPasswordNeverShown: connection and authentication errors name the
// server and never the password, through New and checkpoint.Open, and the
// client logs nothing that holds it.
func TestPasswordNeverShown(t *testing.T) {
	needServer(t)
	const pw = "s3cret-pw-4242"
	logs := &captureLog{}
	goredis.SetLogger(logs)
	ctx := context.Background()
	cases := []struct{ name, url, host string }{
		{"refused", "redis://worker:" + pw + "@127.0.0.1:1/0?dial_timeout=200ms", "127.0.0.1:1"},
		{"wrong user", "redis://no-such-user-" + run + ":" + pw + "@" + testAddr + "/0", testAddr},
		{"TLS to a plain server", "rediss://:" + pw + "@" + testAddr + "/0?dial_timeout=200ms&timeout=200ms", testAddr},
		{"no such host", "redis://:" + pw + "@no-such-host.invalid:6379?dial_timeout=200ms", "no-such-host.invalid:6379"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := checkpoint.Open(ctx, tc.url)
			if err == nil {
				checkpoint.CloseStore(s)
				t.Fatal("Open succeeded")
			}
			if strings.Contains(err.Error(), pw) || !strings.Contains(err.Error(), tc.host) {
				t.Fatalf("Open(%s): err = %v, want one naming %s without the password", tc.name, err, tc.host)
			}
			opts, perr := ParseURL(mustURL(t, tc.url))
			if perr != nil {
				t.Fatal(perr)
			}
			_, err = New(ctx, opts...)
			if err == nil || strings.Contains(err.Error(), pw) || strings.Contains(fmt.Sprintf("%+v %#v", err, err), pw) {
				t.Fatalf("New: err = %v, want one without the password", err)
			}
		})
	}
	if got := logs.String(); strings.Contains(got, pw) {
		t.Fatalf("the client logged the password: %s", got)
	}
	// A reply that quotes the password is scrubbed.
	err := scrub(fmt.Errorf("redis checkpoint store x: %w", replyError("ERR bad password "+pw)), pw)
	if strings.Contains(err.Error(), pw) || !strings.Contains(err.Error(), "xxxxx") {
		t.Fatalf("scrub: %v", err)
	}
	var re goredis.Error
	if !errors.As(err, &re) {
		t.Fatal("a scrubbed error no longer matches the client's error")
	}
}
