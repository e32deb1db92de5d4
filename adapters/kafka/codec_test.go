package kafka

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/unistream-go/unistream/stream/driver"
)

func TestCodecRoundTripAndOrder(t *testing.T) {
	c := Codec{}
	offs := []int64{0, 1, 9, 10, 255, 256, 65535, 1 << 32, math.MaxInt64 - 1, math.MaxInt64}
	for i, off := range offs {
		p := PointerAt(off)
		text := c.Format("orders.v2", "3", p)
		if want := "kafka:orders.v2/3@" + strconv.FormatInt(off, 10); text != want {
			t.Errorf("Format = %q, want %q", text, want)
		}
		topic, part, q, err := c.Parse(text)
		if err != nil || topic != "orders.v2" || part != "3" || c.Compare(p, q) != 0 {
			t.Errorf("Parse(%q) = %q %q %v %v", text, topic, part, q, err)
		}
		d, err := c.Decode(p)
		if err != nil || c.Compare(d, p) != 0 {
			t.Errorf("Decode(%d): %v %v", off, d, err)
		}
		if got, err := Offset(p); err != nil || got != off {
			t.Errorf("Offset(PointerAt(%d)) = %d, %v", off, got, err)
		}
		if c.Compare(p, p) != 0 {
			t.Errorf("Compare(%d, %d) != 0", off, off)
		}
		if i > 0 {
			prev := PointerAt(offs[i-1])
			if c.Compare(prev, p) != -1 || c.Compare(p, prev) != 1 {
				t.Errorf("Compare(%d, %d) does not order", offs[i-1], off)
			}
		}
	}
	// Decode copies.
	p := PointerAt(7)
	d, _ := c.Decode(p)
	p[7] = 9
	if off, _ := Offset(d); off != 7 {
		t.Errorf("Decode shares its input: offset %d", off)
	}
}

func TestCodecDecodeErrors(t *testing.T) {
	c := Codec{}
	for _, n := range []int{0, 1, 7, 9, 16} {
		_, err := c.Decode(make([]byte, n))
		want := fmt.Sprintf("kafka: pointer: got %d bytes, expected 8 (big-endian offset)", n)
		if err == nil || err.Error() != want {
			t.Errorf("Decode(%d bytes) error = %v, want %q", n, err, want)
		}
	}
	neg := driver.Pointer{0x80, 0, 0, 0, 0, 0, 0, 1}
	if _, err := c.Decode(neg); err == nil || !strings.Contains(err.Error(), "over the largest Kafka offset") {
		t.Errorf("Decode(negative offset) error = %v", err)
	}
	if got := c.Format("s", "0", driver.Pointer{0xab}); got != "kafka:s/0@invalid(ab)" {
		t.Errorf("Format(invalid) = %q", got)
	}
	if got := c.Format("s", "0", neg); !strings.HasPrefix(got, "kafka:s/0@invalid(") {
		t.Errorf("Format(negative) = %q", got)
	}
	defer func() {
		if recover() == nil {
			t.Error("PointerAt(-1) did not panic")
		}
	}()
	PointerAt(-1)
}

func TestCodecParseErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", `missing the "kafka:" prefix`},
		{"mem:orders/0@1", `missing the "kafka:" prefix`},
		{"kafka:orders/0", "missing '@OFFSET'"},
		{"kafka:orders@1", "missing '/PARTITION'"},
		{"kafka:/0@1", "topic name is empty"},
		{"kafka:or ders/0@1", `topic name "or ders"`},
		{"kafka:../0@1", `topic name ".."`},
		{"kafka:a/b/0@1", `topic name "a/b"`},
		{"kafka:" + strings.Repeat("t", 250) + "/0@1", "topic name of 250 bytes"},
		{"kafka:orders/@1", `partition ""`},
		{"kafka:orders/01@1", `partition "01"`},
		{"kafka:orders/-1@1", `partition "-1"`},
		{"kafka:orders/2147483648@1", "partition id up to 2147483647"},
		{"kafka:orders/0@", `offset ""`},
		{"kafka:orders/0@-3", `offset "-3"`},
		{"kafka:orders/0@007", `offset "007"`},
		{"kafka:orders/0@1x", `offset "1x"`},
		{"kafka:orders/0@9223372036854775808", "expected a decimal offset up to 9223372036854775807"},
	}
	for _, tt := range tests {
		_, _, _, err := Codec{}.Parse(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) error = %v, want it to contain %q", tt.in, err, tt.want)
		}
	}
	// The largest partition id parses.
	if _, part, _, err := (Codec{}).Parse("kafka:t/2147483647@0"); err != nil || part != "2147483647" {
		t.Errorf("Parse(max partition) = %q, %v", part, err)
	}
}

func TestRecordID(t *testing.T) {
	if got := RecordID("orders", 3, 1042); got != "kafka:orders/3@1042" {
		t.Errorf("RecordID = %q", got)
	}
}

func FuzzPointerParse(f *testing.F) {
	for _, s := range []string{"kafka:orders/0@42", "kafka:a.b_c-d/12@0", "kafka:/@", "kafka:x/01@1", "kafka:x/0@9223372036854775808", "mem:x/0@1", "kafka:a/b/c@d@e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := Codec{}
		topic, part, p, err := c.Parse(s)
		if err != nil {
			return
		}
		// What parses formats back to the same text, and decodes.
		if got := c.Format(topic, part, p); got != s {
			t.Errorf("Parse(%q) then Format = %q", s, got)
		}
		if _, err := c.Decode(p); err != nil {
			t.Errorf("Parse(%q) gave an undecodable pointer: %v", s, err)
		}
	})
}

func FuzzPointerDecode(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 1})
	f.Add([]byte{0xff, 0, 0, 0, 0, 0, 0, 1})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		c := Codec{}
		p, err := c.Decode(b)
		text := c.Format("t", "0", b)
		if err != nil {
			if !strings.Contains(text, "invalid(") {
				t.Errorf("Format of an invalid pointer = %q", text)
			}
			return
		}
		_, _, q, err := c.Parse(text)
		if err != nil || c.Compare(p, q) != 0 {
			t.Errorf("Format/Parse of %x: %q %v", b, text, err)
		}
	})
}
