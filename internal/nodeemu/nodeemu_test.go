package nodeemu

import (
	"context"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

func TestStartListensAndStops(t *testing.T) {
	p, err := Start(context.Background(), "echo", `require('net').createServer(s => s.pipe(s)).listen(PORT, '127.0.0.1')`)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := c.Read(buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo = %q, %v", buf, err)
	}
	c.Close()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := net.Dial("tcp", p.Addr); err == nil {
		t.Fatal("still listening after Close")
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestStartReportsEarlyExit(t *testing.T) {
	_, err := Start(context.Background(), "broken", `console.error('boom'); process.exit(3)`)
	if err == nil || !strings.Contains(err.Error(), "boom") || !strings.Contains(err.Error(), "broken") {
		t.Fatalf("err = %v, want the name and the output", err)
	}
}

func TestModulesDirNamesTheFix(t *testing.T) {
	t.Setenv(EnvModules, "/nonexistent/unistream")
	_, err := ModulesDir()
	if err == nil || !strings.Contains(err.Error(), EnvModules) {
		t.Fatalf("err = %v", err)
	}
}

func TestEmulatorsInstalled(t *testing.T) {
	d, err := ModulesDir()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"kinesalite", "dynalite", "pulsar-flex"} {
		if _, err := os.Stat(d + "/" + m + "/package.json"); err != nil {
			t.Errorf("%s is not installed in %s: run make tools", m, d)
		}
	}
}

// TestEmulatorsSurviveAbortedRequests closes a connection in the middle of
// a request, as a client cancelling a call does, and checks that kinesalite
// and dynalite still answer: without SurviveAbortedRequests both end their
// process on it.
func TestEmulatorsSurviveAbortedRequests(t *testing.T) {
	for _, tc := range []struct{ name, script, target string }{
		{"dynalite", Dynalite, "DynamoDB_20120810.ListTables"},
		{"kinesalite", Kinesalite, "Kinesis_20131202.ListStreams"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Start(context.Background(), tc.name, tc.script)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			head := "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.1\r\nX-Amz-Target: " + tc.target + "\r\n"
			c, err := net.Dial("tcp", p.Addr)
			if err != nil {
				t.Fatal(err)
			}
			// A body shorter than its Content-Length: the request is in
			// flight when the connection resets.
			if _, err := c.Write([]byte(head + "Content-Length: 100\r\n\r\n{}")); err != nil {
				t.Fatal(err)
			}
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
			// The emulator reports the reset asynchronously: ask until it
			// answers a whole request, or has exited.
			deadline := time.Now().Add(10 * time.Second)
			for answered := 0; answered < 3; {
				if err := p.exitErr(); err != nil {
					t.Fatalf("%s exited after an aborted request: %v\n%s", tc.name, err, p.Output())
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s answered no request after an aborted one\n%s", tc.name, p.Output())
				}
				c, err := net.Dial("tcp", p.Addr)
				if err != nil {
					time.Sleep(50 * time.Millisecond)
					continue
				}
				c.SetDeadline(time.Now().Add(5 * time.Second))
				_, err = c.Write([]byte(head + "Content-Length: 2\r\nConnection: close\r\n\r\n{}"))
				buf := make([]byte, 12)
				if err == nil {
					_, err = io.ReadFull(c, buf)
				}
				c.Close()
				if err == nil && strings.HasPrefix(string(buf), "HTTP/1.1 ") {
					answered++
				}
			}
		})
	}
}
