package main

import (
	"bytes"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/unistream-go/unistream/examples/internal/original"
	"github.com/unistream-go/unistream/stream/dlq"
)

func TestConsume(t *testing.T) {
	t.Setenv("UNISTREAM_STREAM", "")
	dir := t.TempDir()
	var out bytes.Buffer
	res, err := original.Consume(t.Context(), &out, "pulsar", dir, 10, 0.6, rand.New(rand.NewPCG(3, 4)))
	if err != nil {
		t.Fatalf("Consume: %v\n%s", err, out.String())
	}
	if res.Succeeded+res.DeadLettered != 10 {
		t.Fatalf("%+v: want 10 records processed\n%s", res, out.String())
	}
	if res.Retries == 0 || !strings.Contains(out.String(), "❌ ") {
		t.Errorf("fail rate 0.6 retried nothing\n%s", out.String())
	}
	envs, err := dlq.ReadFile(filepath.Join(dir, "dlq.jsonl"))
	if err != nil || len(envs) != res.DeadLettered {
		t.Errorf("DLQ file holds %d envelopes (%v), the run dead-lettered %d", len(envs), err, res.DeadLettered)
	}
	if got := strings.Count(out.String(), "✅ DLQ: "); got != res.DeadLettered {
		t.Errorf("%d DLQ lines, %d dead-lettered", got, res.DeadLettered)
	}
}
