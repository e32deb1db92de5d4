package nodeemu

import (
	"context"
	"net"
	"os"
	"strings"
	"testing"
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
