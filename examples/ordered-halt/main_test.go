package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	t.Setenv("UNISTREAM_STREAM", "")
	var out bytes.Buffer
	order, err := run(t.Context(), &out, t.TempDir())
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	want := `["open account" "deposit 100" "deposit 5" "close month"]`
	if got := fmt.Sprintf("%q", order); got != want {
		t.Errorf("applied %s, want %s", got, want)
	}
	text := out.String()
	halt := strings.Index(text, "🛑 partition 0 halted at kafka:ledger/0@2 after 2 attempts")
	if halt < 0 || strings.Index(text, `applied "deposit 5"`) < halt {
		t.Errorf("want a halt before deposit 5 was applied:\n%s", text)
	}
}
