package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/memstream"
)

func TestMonitorDisplays(t *testing.T) {
	s := stream.NewStream(memstream.New("mon", memstream.WithPartitions(2)))
	defer s.Close()
	rec := &stream.Record{ID: "r1", Partition: "1", Value: []byte("hello\nworld")}
	events := []stream.Event{
		{Kind: stream.EventBatchFetched, Partition: "1", Count: 2, Lag: &stream.Lag{Records: 40, Time: 1500 * time.Millisecond}},
		{Kind: stream.EventAttemptFailed, Partition: "1", Record: rec, Attempt: 1, Err: errors.New("boom")},
		{Kind: stream.EventAttemptFailed, Partition: "1", Record: rec, Attempt: 2, Err: errors.New("boom"), Final: true},
		{Kind: stream.EventDeadLettered, Partition: "1", Record: rec},
		{Kind: stream.EventAttemptSucceeded, Partition: "0", Record: &stream.Record{ID: "r2", Partition: "0", Value: []byte("x")}},
		{Kind: stream.EventHalted, Partition: "0", Record: rec, Err: errors.New("stuck")},
	}
	tests := []struct {
		disp display
		want []string
	}{
		{displayPlain, []string{"✅ DLQ: 1/r1 hello\\nworld", "🛑 partition 0 halted", "partition 1      running processed 1 (ok 0, DLQ 1, skipped 0), retries 1", "lag 40 records / 1.5s,", "summary: processed 2: 1 succeeded, 1 dead-lettered, 0 skipped; 1 retries"}},
		{displayVerbose, []string{"--- partition 1: pulled 2 records ---", "❌ 1/r1 hello\\nworld  (attempt 1: boom; retry in 0s)", "(attempt 2: boom; no attempts left)", "✅ 0/r2 x", "summary: processed 2"}},
		{displayLive, []string{"\x1b[K", "partition 0      HALTED", "summary: processed 2"}},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		m := newMonitor(&buf, tt.disp, s)
		for _, e := range events {
			m.Observe(e)
		}
		m.Close()
		for _, w := range tt.want {
			if !strings.Contains(buf.String(), w) {
				t.Errorf("display %d lacks %q:\n%s", tt.disp, w, buf.String())
			}
		}
	}
	var buf bytes.Buffer
	m := newMonitor(&buf, displayJSON, s)
	for _, e := range events {
		m.Observe(e)
	}
	m.Close()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != len(events)+1 {
		t.Fatalf("%d JSON lines for %d events and a summary:\n%s", len(lines), len(events), buf.String())
	}
	for _, l := range lines {
		var o map[string]any
		if err := json.Unmarshal([]byte(l), &o); err != nil || o["event"] == nil {
			t.Errorf("not a JSON event: %s (%v)", l, err)
		}
	}
	if !strings.Contains(lines[0], `"lag_ms":1500`) || !strings.Contains(lines[0], `"lag_records":40`) {
		t.Errorf("the batch event lacks its lag: %s", lines[0])
	}
}

// TestMonitorStoreOutage: while the checkpoint store fails, the status
// line of the partition says so, with the store's error; it clears when
// the store is back.
func TestMonitorStoreOutage(t *testing.T) {
	s := stream.NewStream(memstream.New("mon", memstream.WithPartitions(1)))
	defer s.Close()
	var buf bytes.Buffer
	m := newMonitor(&buf, displayPlain, s)
	m.Observe(stream.Event{Kind: stream.EventCheckpointError, Partition: "0", Attempt: 2, Delay: 200 * time.Millisecond, Err: errors.New("connection refused")})
	m.mu.Lock()
	during := m.statusLocked(m.parts["0"])
	m.mu.Unlock()
	if !strings.Contains(during, "checkpoint store unavailable: connection refused") {
		t.Errorf("status during the outage: %q, want it to say the checkpoint store is unavailable and why", during)
	}
	if !strings.Contains(buf.String(), "checkpoint store unavailable on partition 0 (attempt 2, retry in 200ms): connection refused") {
		t.Errorf("no outage line:\n%s", buf.String())
	}
	m.Observe(stream.Event{Kind: stream.EventCheckpointRecovered, Partition: "0", Attempt: 2})
	m.mu.Lock()
	after := m.statusLocked(m.parts["0"])
	m.mu.Unlock()
	if strings.Contains(after, "unavailable") {
		t.Errorf("status after the store came back: %q, still unavailable", after)
	}
	m.Close()
	if !strings.Contains(buf.String(), "checkpoint store back on partition 0 after 2 failure(s)") {
		t.Errorf("no recovery line:\n%s", buf.String())
	}
}

// TestMonitorJSONSkipsCheckpointSaves: the JSON display leaves out the
// checkpoint saves (one per save: for metrics and debug logs) and shows
// the commit beside them.
func TestMonitorJSONSkipsCheckpointSaves(t *testing.T) {
	s := stream.NewStream(memstream.New("mon", memstream.WithPartitions(1)))
	defer s.Close()
	var buf bytes.Buffer
	m := newMonitor(&buf, displayJSON, s)
	m.Observe(stream.Event{Kind: stream.EventCheckpointSaved, Partition: "0", Elapsed: time.Millisecond})
	m.Observe(stream.Event{Kind: stream.EventCommitted, Partition: "0", Pointer: []byte("0")})
	out := buf.String()
	if strings.Contains(out, "checkpoint_saved") || !strings.Contains(out, `"event":"committed"`) {
		t.Errorf("JSON display:\n%s\nwant the commit and no checkpoint_saved line", out)
	}
}

func TestParseInput(t *testing.T) {
	tests := []struct {
		line          string
		o             produceOptions
		key, id, want string
	}{
		{`plain text`, produceOptions{format: "lines", key: "k"}, "k", "", ""},
		{`{"id":7,"c":"alice"}`, produceOptions{format: "json", keyField: "c", idField: "id"}, "alice", "7", ""},
		{`{"id":"","c":"a"}`, produceOptions{format: "json", idField: "id"}, "", "", `field "id" is empty`},
		{`{"c":{"x":1}}`, produceOptions{format: "json", keyField: "c"}, "", "", "expected a string or a number"},
		{`{"c":1}`, produceOptions{format: "json", keyField: "k"}, "", "", `no field "k"`},
		{`[1,2]`, produceOptions{format: "json", keyField: "k"}, "", "", "not a JSON object"},
		{`{bad`, produceOptions{format: "json"}, "", "", "not a JSON value"},
	}
	for _, tt := range tests {
		rec, err := parseInput([]byte(tt.line), tt.o)
		if tt.want != "" {
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%s: err %v, want %q", tt.line, err, tt.want)
			}
			continue
		}
		if err != nil || string(rec.Key) != tt.key || rec.ID != tt.id || string(rec.Value) != tt.line {
			t.Errorf("%s: got key %q id %q value %q err %v", tt.line, rec.Key, rec.ID, rec.Value, err)
		}
	}
}

func FuzzParseInput(f *testing.F) {
	f.Add([]byte(`{"id":"1","k":"a"}`))
	f.Add([]byte(`{"id":null}`))
	f.Add([]byte(`"x"`))
	f.Fuzz(func(t *testing.T, line []byte) {
		rec, err := parseInput(line, produceOptions{format: "json", keyField: "k", idField: "id"})
		if err == nil && (rec.ID == "" || !json.Valid(rec.Value)) {
			t.Fatalf("accepted %q with id %q", line, rec.ID)
		}
	})
}

func FuzzReplayLog(f *testing.F) {
	f.Add([]byte(`{"identity":"a|b","id":"1","to":"s","at":"2026-01-01T00:00:00Z"}` + "\n"))
	f.Add([]byte("{\"identity\":\"x\"}\n{torn"))
	f.Add([]byte("garbage\n{\"identity\":\"x\"}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "log")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		done, err := loadReplayLog(p)
		if err == nil && done == nil {
			t.Fatal("nil set without an error")
		}
		if err != nil && !strings.Contains(err.Error(), p) {
			t.Fatalf("error does not name the file: %v", err)
		}
	})
}

func TestReplayLogTornLine(t *testing.T) {
	p := filepath.Join(t.TempDir(), "log")
	os.WriteFile(p, []byte(`{"identity":"a","at":"`+time.Now().Format(time.RFC3339)+`"}`+"\n"+`{"identity":"b","at`), 0o600)
	done, err := loadReplayLog(p)
	if err != nil || !done["a"] || done["b"] {
		t.Fatalf("torn last line: %v %v", done, err)
	}
	os.WriteFile(p, []byte("not json\n"+`{"identity":"a"}`+"\n"), 0o600)
	if _, err := loadReplayLog(p); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("a bad line in the middle: %v", err)
	}
}
