package main

import (
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// TestCheckpointRedisURL: --checkpoint takes a redis:// URL; the command
// reads the server (under a prefix nothing else uses, so it writes and
// finds nothing), and a refused connection names the host and hides the
// password.
func TestCheckpointRedisURL(t *testing.T) {
	const addr = "127.0.0.1:6379"
	if c, err := net.DialTimeout("tcp", addr, time.Second); err != nil {
		t.Skipf("no Redis server answers at %s (%v); start one with: redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save \"\" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log", addr, err)
	} else {
		c.Close()
	}
	url := fmt.Sprintf("redis://%s/0?prefix=unistream-clitest-%d-%d:", addr, os.Getpid(), time.Now().UnixNano())
	r := mustCLI(t, "", "checkpoint", "show", "mem://orders", "--checkpoint", url)
	if !strings.Contains(r.stdout, "no checkpoints of consumer") {
		t.Fatalf("checkpoint show on an empty Redis prefix:\n%s", r)
	}
	r = cli(t, "", nil, "checkpoint", "show", "mem://orders", "--checkpoint", "redis://:pw-never-shown@127.0.0.1:1/0?dial_timeout=100ms")
	wantErr(t, r, exitError, "redis checkpoint store 127.0.0.1:1", "connection refused")
	if strings.Contains(r.stdout+r.stderr, "pw-never-shown") {
		t.Fatalf("the password was shown:\n%s", r)
	}
}
