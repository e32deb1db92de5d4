package kinesistest_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"go.uber.org/goleak"

	_ "github.com/unistream-go/unistream/adapters/kinesis"
	"github.com/unistream-go/unistream/adapters/kinesis/kinesistest"
	"github.com/unistream-go/unistream/stream"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestURL opens the URL a Broker makes, creating the stream through it.
func TestURL(t *testing.T) {
	b := kinesistest.Start(t)
	raw := b.URL("demo", "create_stream", "true", "shards", "2")
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "kinesis" || u.Host != "demo" || u.Query().Get("endpoint") != b.Endpoint() || !strings.HasPrefix(b.Endpoint(), "http://127.0.0.1:") {
		t.Fatalf("URL %s, endpoint %s: want kinesis://demo with the endpoint", raw, b.Endpoint())
	}
	s, err := stream.Open(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ps, err := s.Partitions(context.Background())
	if err != nil || len(ps) != 2 {
		t.Fatalf("Partitions = %v, %v; want 2 shards", ps, err)
	}
	if err := b.CreateStream("demo", 1); err == nil {
		t.Errorf("CreateStream of an existing stream succeeded")
	}
}

// TestClose closes a broker twice; requests fail afterwards.
func TestClose(t *testing.T) {
	b, err := kinesistest.New()
	if err != nil {
		t.Fatal(err)
	}
	raw := b.URL("x", "create_stream", "true", "request_timeout", "2s")
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if s, err := stream.Open(context.Background(), raw); err == nil {
		s.Close()
		t.Errorf("Open against a closed broker succeeded")
	}
}
