package main

import (
	"bytes"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"

	"github.com/unistream-go/unistream/examples/internal/original"
)

func TestProduce(t *testing.T) {
	t.Setenv("UNISTREAM_STREAM", "")
	var out bytes.Buffer
	// A fixed seed with a high fail rate: sends fail and are re-sent.
	if err := original.Produce(t.Context(), &out, "pulsar", 9, 0.5, rand.New(rand.NewPCG(1, 1))); err != nil {
		t.Fatalf("Produce: %v\n%s", err, out.String())
	}
	text := out.String()
	m := regexp.MustCompile(`done: (\d+) records sent`).FindStringSubmatch(text)
	if m == nil || m[1] != "9" {
		t.Fatalf("not all 9 records sent:\n%s", text)
	}
	if !strings.Contains(text, "📤 🔴 failed") || !strings.Contains(text, "📤 🟢 succeeded") {
		t.Errorf("want failed and succeeded sends:\n%s", text)
	}
}
