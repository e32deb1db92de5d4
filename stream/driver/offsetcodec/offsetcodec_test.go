package offsetcodec

import (
	"errors"
	"math"
	"strings"
	"testing"
)

var bounded = Codec{Scheme: "x", Pkg: "xpkg", Stream: "S", Example: "x:s/0@1", ExampleOffset: "1",
	MaxOffset: math.MaxInt64, OffsetName: "x offset", MaxPartition: 7,
	ValidateStream: func(s string) error {
		if s == "" {
			return errors.New("empty stream")
		}
		return nil
	}}

func TestParseFormatRoundTrip(t *testing.T) {
	for _, off := range []uint64{0, 1, 42, math.MaxInt64} {
		p := Pointer(off)
		text := bounded.Format("s", "7", p)
		s, part, back, err := bounded.Parse(text)
		if err != nil || s != "s" || part != "7" || bounded.Compare(p, back) != 0 {
			t.Fatalf("Parse(%q) = %q %q %x %v", text, s, part, back, err)
		}
		if got, err := bounded.Offset(back); err != nil || got != off {
			t.Fatalf("Offset = %d, %v; want %d", got, err, off)
		}
	}
	if bounded.Compare(Pointer(1), Pointer(256)) != -1 {
		t.Fatal("pointers do not compare like offsets")
	}
}

func TestBadInput(t *testing.T) {
	tests := []struct{ in, want string }{
		{"y:s/0@1", `missing the "x:" prefix`},
		{"x:s/0", "missing '@OFFSET'"},
		{"x:s@1", "missing '/PARTITION'"},
		{"x:/0@1", "empty stream"},
		{"x:s/8@1", "partition id up to 7"},
		{"x:s/01@1", "partition id such as 0"},
		{"x:s/0@-1", "decimal offset such as 1"},
		{"x:s/0@9223372036854775808", "offset up to 9223372036854775807"},
	}
	for _, tt := range tests {
		_, _, _, err := bounded.Parse(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "xpkg: ") {
			t.Errorf("Parse(%q) = %v, want an error with %q", tt.in, err, tt.want)
		}
	}
	if _, err := bounded.Decode([]byte{1, 2}); err == nil || !strings.Contains(err.Error(), "got 2 bytes") {
		t.Errorf("Decode(2 bytes) = %v", err)
	}
	if _, err := bounded.Decode(Pointer(math.MaxUint64)); err == nil || !strings.Contains(err.Error(), "largest x offset") {
		t.Errorf("Decode(over max) = %v", err)
	}
	if got := bounded.Format("s", "0", []byte{9}); got != "x:s/0@invalid(09)" {
		t.Errorf("Format(invalid) = %q", got)
	}
	unbounded := Codec{Scheme: "x", Pkg: "xpkg", MaxOffset: math.MaxUint64}
	if _, err := unbounded.ParsePartition("99999999999999999999999"); err != nil {
		t.Errorf("an unbounded codec refused a long partition id: %v", err)
	}
}
