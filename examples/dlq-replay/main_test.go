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
	handled, err := run(t.Context(), &out, t.TempDir())
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	want := `["10 EUR" "20 USD" "7 EUR" "5 CHF" "3 CHF"]`
	if got := fmt.Sprintf("%q", handled); got != want {
		t.Errorf("handled %s, want %s\n%s", got, want, out.String())
	}
	text := out.String()
	for _, w := range []string{"✅ DLQ: 5 CHF (pay-3)", "✅ DLQ: 3 CHF (pay-5)", "envelope pay-3 from kafka:payments/0@2: permanent", "✅ paid 5 CHF (pay-3)"} {
		if !strings.Contains(text, w) {
			t.Errorf("output lacks %q\n%s", w, text)
		}
	}
}
