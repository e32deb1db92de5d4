package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/unistream-go/unistream/adapters/kafka"
	"github.com/unistream-go/unistream/adapters/kafka/kafkatest"
	"github.com/unistream-go/unistream/stream/dlq"
)

// TestDLQDuplicateEnvelopes: a record dead-lettered twice (a crash between
// the DLQ write and the checkpoint save) is marked by show and replayed
// once by replay.
func TestDLQDuplicateEnvelopes(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic("orders", 1))
	url := c.URL("orders", "fetch_wait", "50ms")
	path := filepath.Join(t.TempDir(), "orders.dlq.jsonl")
	dlqURL := fileURL(path)
	env := func(id string, off int64) *dlq.Envelope {
		return &dlq.Envelope{ID: id, Value: []byte("v-" + id), Consumer: "billing", Attempts: 3, Reason: "exhausted",
			Source: dlq.Source{Scheme: "kafka", Stream: "orders", Partition: "0", Pointer: kafka.PointerAt(off),
				PointerText: "kafka:orders/0@" + string(rune('0'+off))}}
	}
	sink, err := dlq.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []*dlq.Envelope{env("r1", 1), env("r2", 2), env("r1", 1), env("r3", 3), env("r1", 1)} {
		if err := sink.Put(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	sink.Close()

	r := mustCLI(t, "", "dlq", "show", dlqURL)
	for _, want := range []string{
		"✅ DLQ #3: r1 from kafka:orders/0@1 after 3 attempts (exhausted) by \"billing\"",
		"(duplicate of #1)",
		"3 dead-lettered records in " + dlqURL + " (5 envelopes: 2 duplicates",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("dlq show lacks %q\n%s", want, r)
		}
	}
	if n := strings.Count(r.stdout, "(duplicate of #1)"); n != 2 {
		t.Errorf("dlq show marks %d envelopes as duplicates of #1, want 2 (#3 and #5)\n%s", n, r)
	}
	for _, l := range strings.Split(r.stdout, "\n") {
		for _, first := range []string{"✅ DLQ #1: r1", "✅ DLQ #2: r2", "✅ DLQ #4: r3"} {
			if strings.HasPrefix(l, first) && strings.Contains(l, "duplicate") {
				t.Errorf("dlq show marks a first envelope: %s", l)
			}
		}
	}
	r = mustCLI(t, "", "dlq", "show", dlqURL, "-o", "json")
	if n := strings.Count(r.stdout, `"duplicate_of":1`); n != 2 {
		t.Errorf("dlq show -o json: %d envelopes with duplicate_of 1, want 2\n%s", n, r)
	}

	r = mustCLI(t, "", "dlq", "replay", dlqURL, "--stream", url, "--dry-run")
	if !strings.Contains(r.stdout, "dry run: 3 to replay, 0 already replayed, 0 from other streams, 2 duplicates skipped") {
		t.Errorf("dlq replay --dry-run: %s", r)
	}
	r = mustCLI(t, "", "dlq", "replay", dlqURL, "--stream", url, "--force")
	if !strings.Contains(r.stdout, "replayed 3 records to orders (0 already replayed, 0 from other streams, 2 duplicates skipped, 0 failed)") {
		t.Errorf("dlq replay: %s", r)
	}
	r = mustCLI(t, "", "tail", url, "--from", "earliest", "--follow=false", "-o", "json")
	ids := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var rec struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("tail line %q: %v", l, err)
		}
		ids[rec.ID]++
	}
	if ids["r1"] != 1 || ids["r2"] != 1 || ids["r3"] != 1 || len(ids) != 3 {
		t.Errorf("the stream after replay holds %v, want r1, r2 and r3 once each", ids)
	}
	r = mustCLI(t, "", "dlq", "replay", dlqURL, "--stream", url)
	if !strings.Contains(r.stdout, "replayed 0 records to orders (3 already replayed, 0 from other streams, 2 duplicates skipped") {
		t.Errorf("second dlq replay: %s", r)
	}
}
