package main

import (
	"bytes"
	"context"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/unistream-go/unistream/stream/dlq"
)

var summaryRE = regexp.MustCompile(`summary: produced (\d+) \((\d+) send failures, (\d+) records re-sent\), processed (\d+): (\d+) succeeded, (\d+) dead-lettered; (\d+) retries`)

func TestDemo(t *testing.T) {
	tests := []struct {
		name               string
		failRate, sendFail float64
		wantDLQ, wantFails bool
	}{
		{"no failures", 0, 0, false, false},
		{"mostly failing", 0.9, 0.6, true, true},
		{"default rates", 0.4, 0.3, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			var out bytes.Buffer
			err := runDemo(context.Background(), &out, demoOptions{backend: "mem", records: 12, seed: 7, failRate: tt.failRate, sendFail: tt.sendFail, dir: dir})
			if err != nil {
				t.Fatalf("demo: %v\n%s", err, out.String())
			}
			text := out.String()
			m := summaryRE.FindStringSubmatch(text)
			if m == nil {
				t.Fatalf("no summary line in:\n%s", text)
			}
			n := func(i int) int { v, _ := strconv.Atoi(m[i]); return v }
			produced, failedSends, processed, succeeded, dead, retries := n(1), n(2), n(4), n(5), n(6), n(7)
			if produced != 12 || processed != 12 || succeeded+dead != 12 {
				t.Fatalf("summary %q: want 12 produced and 12 processed", m[0])
			}
			if got := strings.Count(text, "✅ DLQ: "); got != dead {
				t.Errorf("%d DLQ lines, summary says %d", got, dead)
			}
			if got := strings.Count(text, "❌ "); got < retries {
				t.Errorf("%d ❌ lines, fewer than %d retries", got, retries)
			}
			if got := strings.Count(text, "📤 🔴 failed"); got != failedSends {
				t.Errorf("%d failed-send lines, summary says %d", got, failedSends)
			}
			if !strings.Contains(text, "--- 1 th pull ---") || !strings.Contains(text, "End 'process batch', elapsed = ") {
				t.Errorf("pull and batch lines missing:\n%s", text)
			}
			if tt.wantDLQ && dead == 0 {
				t.Errorf("fail rate %.1f dead-lettered nothing", tt.failRate)
			}
			if tt.wantFails && failedSends == 0 {
				t.Errorf("send fail rate %.1f failed no send", tt.sendFail)
			}
			if tt.failRate == 0 && (dead != 0 || retries != 0) {
				t.Errorf("no failures wanted, got %d dead, %d retries", dead, retries)
			}
			envs, err := dlq.ReadFile(filepath.Join(dir, "dlq.jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			if len(envs) != dead {
				t.Errorf("DLQ file holds %d envelopes, summary says %d", len(envs), dead)
			}
		})
	}
}

func TestDemoBadFlags(t *testing.T) {
	for _, args := range [][]string{{"demo", "--backend", "nats"}, {"demo", "--records", "0"}, {"demo", "--fail-rate", "1.5"}} {
		cmd := newRootCmd()
		cmd.SetArgs(args)
		cmd.SetOut(&bytes.Buffer{})
		if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "demo --") {
			t.Errorf("%v: err = %v, want an error naming the flag", args, err)
		}
	}
}
