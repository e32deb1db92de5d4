package containers_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/unistream-go/unistream/containers"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// testcontainers-go keeps one connection to its reaper (Ryuk)
		// container per test process, on purpose: when the process
		// ends, the reaper removes every container it started.
		goleak.IgnoreAnyFunction("github.com/testcontainers/testcontainers-go.(*Reaper).connect.func1"),
		// The Docker client's keep-alive connections to the engine.
		goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"),
	)
}

// requireDocker skips t, printing why, when no Docker engine answers: the
// one skip this package's tests make.
func requireDocker(t *testing.T) {
	t.Helper()
	if err := containers.Available(t.Context()); err != nil {
		t.Skipf("skipping: %v", err)
	}
}

func TestAvailable(t *testing.T) {
	err := containers.Available(t.Context())
	if err == nil {
		t.Log("a Docker engine answers")
		return
	}
	if !errors.Is(err, containers.ErrNoDocker) {
		t.Fatalf("Available = %v, want an error matching ErrNoDocker", err)
	}
	if !strings.HasPrefix(err.Error(), "no Docker engine: ") || len(err.Error()) <= len("no Docker engine: ") {
		t.Fatalf("Available = %q, want \"no Docker engine: <why>\"", err)
	}
	t.Logf("Available: %v", err)
}

func TestAvailableCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := containers.Available(ctx)
	if err == nil {
		// An engine that answers before the context is looked at is fine.
		return
	}
	if !errors.Is(err, containers.ErrNoDocker) {
		t.Fatalf("Available(cancelled) = %v, want an error matching ErrNoDocker", err)
	}
}

// TestStartWithoutDocker checks that every Start function fails cleanly,
// with ErrNoDocker and no panic, where no engine answers. (Where one
// does, the round-trip tests start them for real.)
func TestStartWithoutDocker(t *testing.T) {
	if containers.Available(t.Context()) == nil {
		t.Log("a Docker engine answers: the round-trip tests start the containers")
		return
	}
	tests := []struct {
		name  string
		start func(context.Context) (io.Closer, error)
	}{
		{"kafka", func(ctx context.Context) (io.Closer, error) { return containers.StartKafka(ctx) }},
		{"pulsar", func(ctx context.Context) (io.Closer, error) { return containers.StartPulsar(ctx) }},
		{"localstack", func(ctx context.Context) (io.Closer, error) { return containers.StartLocalStack(ctx) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tt.start(t.Context())
			if !errors.Is(err, containers.ErrNoDocker) {
				t.Fatalf("Start = %v, want an error matching ErrNoDocker", err)
			}
			if !strings.Contains(err.Error(), tt.name) {
				t.Errorf("error %q does not name %s", err, tt.name)
			}
			if c != nil && !isNilCloser(c) {
				t.Errorf("Start returned %v with its error, want nil", c)
			}
		})
	}
}

// isNilCloser reports whether c holds a nil pointer.
func isNilCloser(c io.Closer) bool {
	switch v := c.(type) {
	case *containers.Kafka:
		return v == nil
	case *containers.Pulsar:
		return v == nil
	case *containers.LocalStack:
		return v == nil
	}
	return false
}

func TestKafkaCreateTopicBadInput(t *testing.T) {
	k := &containers.Kafka{Brokers: []string{"127.0.0.1:1"}}
	for _, tt := range []struct {
		topic      string
		partitions int
	}{{"", 1}, {"t", 0}, {"t", -2}} {
		err := k.CreateTopic(t.Context(), tt.topic, tt.partitions)
		if err == nil || !strings.Contains(err.Error(), "expected a name and at least one partition") {
			t.Errorf("CreateTopic(%q, %d) = %v, want a bad input error", tt.topic, tt.partitions, err)
		}
	}
}

// TestPulsarCreateTopicRequests checks the admin API requests CreateTopic
// makes, and that it reports a refusal, against a recording HTTP server
// standing in for the broker's admin port.
func TestPulsarCreateTopicRequests(t *testing.T) {
	type req struct{ method, path, body, ctype string }
	var (
		mu     sync.Mutex
		got    []req
		status = http.StatusNoContent
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		got = append(got, req{r.Method, r.URL.EscapedPath(), string(b), r.Header.Get("Content-Type")})
		w.WriteHeader(status)
		if status != http.StatusNoContent {
			io.WriteString(w, `{"reason":"This topic already exists"}`)
		}
	}))
	defer srv.Close()
	p := &containers.Pulsar{HTTPURL: srv.URL}
	defer p.Close()

	tests := []struct {
		topic      string
		partitions int
		want       req
	}{
		{"orders", 3, req{"PUT", "/admin/v2/persistent/public/default/orders/partitions", "3", "application/json"}},
		{"persistent://acme/ns1/audit", 1, req{"PUT", "/admin/v2/persistent/acme/ns1/audit/partitions", "1", "application/json"}},
		{"acme/ns1/plain", 0, req{"PUT", "/admin/v2/persistent/acme/ns1/plain", "", ""}},
		{"a b", 2, req{"PUT", "/admin/v2/persistent/public/default/a%20b/partitions", "2", "application/json"}},
	}
	reset := func() []req {
		mu.Lock()
		defer mu.Unlock()
		r := got
		got = nil
		return r
	}
	for _, tt := range tests {
		reset()
		if err := p.CreateTopic(t.Context(), tt.topic, tt.partitions); err != nil {
			t.Fatalf("CreateTopic(%q, %d): %v", tt.topic, tt.partitions, err)
		}
		if sent := reset(); len(sent) != 1 || sent[0] != tt.want {
			t.Errorf("CreateTopic(%q, %d) sent %+v, want %+v", tt.topic, tt.partitions, sent, tt.want)
		}
	}

	mu.Lock()
	status = http.StatusConflict
	mu.Unlock()
	err := p.CreateTopic(t.Context(), "orders", 3)
	if err == nil || !strings.Contains(err.Error(), "409") || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("CreateTopic on a 409 = %v, want an error with the status and the broker's reason", err)
	}

	for _, tt := range []struct {
		topic      string
		partitions int
		want       string
	}{
		{"", 1, "expected a name"},
		{"a/b", 1, "expected a name"},
		{"persistent://a//c", 1, "expected a name"},
		{"x", -1, "expected 0 (non-partitioned) or more"},
	} {
		reset()
		err := p.CreateTopic(t.Context(), tt.topic, tt.partitions)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("CreateTopic(%q, %d) = %v, want an error with %q", tt.topic, tt.partitions, err, tt.want)
		}
		if sent := reset(); len(sent) != 0 {
			t.Errorf("CreateTopic(%q, %d) sent %+v for bad input", tt.topic, tt.partitions, sent)
		}
	}
}

func TestCloseNilContainerIsIdempotent(t *testing.T) {
	for _, c := range []io.Closer{&containers.Kafka{}, &containers.Pulsar{}, &containers.LocalStack{}} {
		for range 2 {
			if err := c.Close(); err != nil {
				t.Errorf("%T.Close without a container = %v, want nil", c, err)
			}
		}
	}
}

// startTimeout bounds a round trip, image pulls included.
const startTimeout = 10 * time.Minute

func TestLocalStackBadInputAndConfig(t *testing.T) {
	l := &containers.LocalStack{Endpoint: "http://127.0.0.1:1", Region: containers.LocalStackRegion,
		AccessKeyID: containers.LocalStackAccessKeyID, SecretAccessKey: containers.LocalStackSecretAccessKey}
	for _, tt := range []struct {
		name   string
		shards int
	}{{"", 1}, {"s", 0}} {
		err := l.CreateStream(t.Context(), tt.name, tt.shards)
		if err == nil || !strings.Contains(err.Error(), "expected a name and at least one shard") {
			t.Errorf("CreateStream(%q, %d) = %v, want a bad input error", tt.name, tt.shards, err)
		}
	}
	cfg := l.Config()
	creds, err := cfg.Credentials.Retrieve(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Region != "us-east-1" || creds.AccessKeyID != "test" || creds.SecretAccessKey != "test" {
		t.Errorf("Config: region %q keys %q/%q, want us-east-1 and test/test", cfg.Region, creds.AccessKeyID, creds.SecretAccessKey)
	}
}

// TestAvailableUnreachableEngine points DOCKER_HOST at a closed port, in
// a child process (testcontainers-go caches the Docker host once per
// process), and checks that Available says no engine answers there.
func TestAvailableUnreachableEngine(t *testing.T) {
	if os.Getenv("CONTAINERS_TEST_CHILD") == "1" {
		err := containers.Available(t.Context())
		if !errors.Is(err, containers.ErrNoDocker) || !strings.Contains(err.Error(), "no Docker engine: none answers") ||
			!strings.Contains(err.Error(), os.Getenv("DOCKER_HOST")) {
			t.Fatalf("Available with DOCKER_HOST=%s = %v, want ErrNoDocker saying no engine answers there", os.Getenv("DOCKER_HOST"), err)
		}
		fmt.Println("CHILD-OK:", err)
		return
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // now refused
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestAvailableUnreachableEngine$", "-test.v")
	cmd.Env = append(os.Environ(), "CONTAINERS_TEST_CHILD=1", "DOCKER_HOST=tcp://"+addr)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "CHILD-OK:") {
		t.Fatalf("child: %v\n%s", err, out)
	}
	t.Logf("%s", bytes.TrimSpace(out))
}
