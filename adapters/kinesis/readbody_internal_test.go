package kinesis

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// TestReadBody: the request body is read whole whatever length the
// request announced, and a read error is returned.
func TestReadBody(t *testing.T) {
	boom := errors.New("boom")
	for _, tc := range []struct {
		name string
		body string
		n    int64
	}{
		{"exact", "hello world", 11},
		{"unknown length", "hello world", -1},
		{"zero length", "", 0},
		{"announced shorter", "hello world", 5},
		{"announced longer", "hello", 11},
		{"huge announced", "hello", 1 << 40},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readBody(strings.NewReader(tc.body), tc.n)
			if err != nil || string(got) != tc.body {
				t.Fatalf("readBody = %q, %v; want %q", got, err, tc.body)
			}
		})
	}
	t.Run("read error", func(t *testing.T) {
		r := io.MultiReader(bytes.NewReader([]byte("hel")), iotest.ErrReader(boom))
		if _, err := readBody(r, 11); !errors.Is(err, boom) {
			t.Fatalf("readBody error = %v, want %v", err, boom)
		}
	})
}
