package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/unistream-go/unistream/adapters/kafka/kafkatest"
	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/wal"
)

// TestProduceTornWAL checks that produce says what it cut from a WAL whose
// last record is torn, and that --wal-strict refuses to cut it.
func TestProduceTornWAL(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic("torn", 1))
	url := c.URL("torn", "fetch_wait", "50ms")
	path := filepath.Join(t.TempDir(), "p.wal")

	// Two records left unsent by a crash, the second one torn.
	l, _, err := wal.Open(path, wal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"whole", "torn"} {
		if _, err := l.Append(&stream.Record{ID: v, Value: []byte(v), Time: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	torn := data[:len(data)-3]
	if err := os.WriteFile(path, torn, 0o600); err != nil {
		t.Fatal(err)
	}

	r := cli(t, "", nil, "produce", url, "--wal", path, "--wal-strict")
	wantErr(t, r, exitError, path, "torn tail", "1 record(s)", "not repaired")
	if got, _ := os.ReadFile(path); !bytes.Equal(got, torn) {
		t.Fatalf("produce --wal-strict changed the WAL")
	}

	r = mustCLI(t, "", "produce", url, "--wal", path, "--max-age", "20ms")
	for _, want := range []string{"repaired the WAL", path, "torn tail of", "holding 1 record(s)", "re-sending 1 records"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("produce on a torn WAL: stderr lacks %q\n%s", want, r)
		}
	}
	r = mustCLI(t, "", "tail", url, "--from", "earliest", "--follow=false")
	if got := strings.Fields(r.stdout); len(got) != 1 || got[0] != "whole" {
		t.Errorf("the stream holds %q, want the whole record only\n%s", got, r)
	}
}
