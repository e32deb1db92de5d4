package kinesis_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/unistream-go/unistream/adapters/kinesis"
	"github.com/unistream-go/unistream/stream/driver"
)

const seqA = "49590338271490256608559692538361571095921575989136588898"

func TestCodecCompare(t *testing.T) {
	c := kinesis.Codec{}
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"1", "2", -1},
		{"9", "10", -1}, // numeric, not lexical
		{seqA, seqA, 0},
		{seqA, "49590338271490256608559692538361571095921575989136588899", -1},
		{"1" + strings.Repeat("0", 60), seqA, 1}, // longer than 128 bits
		{seqA, seqA + ":0", -1},
		{seqA + ":2", seqA + ":10", -1},
		{seqA + ":3", seqA + ":3", 0},
		{"0", "1", -1},
	} {
		if got := c.Compare(driver.Pointer(tc.a), driver.Pointer(tc.b)); got != tc.want {
			t.Errorf("Compare(%s, %s) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if got := c.Compare(driver.Pointer(tc.b), driver.Pointer(tc.a)); got != -tc.want {
			t.Errorf("Compare(%s, %s) = %d, want %d", tc.b, tc.a, got, -tc.want)
		}
	}
	// Invalid pointers order after valid ones, without panicking.
	if c.Compare(driver.Pointer("x"), driver.Pointer("1")) != 1 || c.Compare(nil, driver.Pointer("1")) != 1 {
		t.Errorf("an invalid pointer does not order after a valid one")
	}
}

func TestCodecDecodeAndParse(t *testing.T) {
	c := kinesis.Codec{}
	for _, bad := range []string{"", "01", "1:", "1:01", "1:-1", "a", "1:2:3", " 1", strings.Repeat("9", 130), "1:18446744073709551616"} {
		if _, err := c.Decode([]byte(bad)); err == nil {
			t.Errorf("Decode(%q) accepted a bad pointer", bad)
		}
	}
	for _, good := range []string{"0", seqA, seqA + ":0", seqA + ":18446744073709551615", strings.Repeat("9", 129)} {
		p, err := c.Decode([]byte(good))
		if err != nil || string(p) != good {
			t.Errorf("Decode(%q) = %q, %v", good, p, err)
		}
		text := c.Format("orders", "shardId-000000000001", p)
		if want := "kinesis:orders/shardId-000000000001@" + good; text != want {
			t.Errorf("Format = %q, want %q", text, want)
		}
		s, sh, q, err := c.Parse(text)
		if err != nil || s != "orders" || sh != "shardId-000000000001" || !bytes.Equal(q, p) {
			t.Errorf("Parse(%q) = %q %q %q %v", text, s, sh, q, err)
		}
	}
	for _, bad := range []string{"", "kafka:orders/0@1", "kinesis:", "kinesis:orders", "kinesis:orders/shard", "kinesis:or ders/s@1", "kinesis:orders/s@x", "kinesis:orders/@1", "kinesis:orders/s@01"} {
		if _, _, _, err := c.Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted a malformed pointer", bad)
		} else if !strings.Contains(err.Error(), "kinesis") {
			t.Errorf("Parse(%q) error %q does not name the backend", bad, err)
		}
	}
	if got := c.Format("o", "s", driver.Pointer("zz")); !strings.Contains(got, "invalid(") {
		t.Errorf("Format of an invalid pointer = %q", got)
	}
}

func FuzzCodecParse(f *testing.F) {
	f.Add("kinesis:orders/shardId-000000000001@" + seqA)
	f.Add("kinesis:orders/shardId-000000000001@" + seqA + ":3")
	f.Add("kinesis:a/b@0")
	f.Fuzz(func(t *testing.T, s string) {
		c := kinesis.Codec{}
		st, sh, p, err := c.Parse(s)
		if err != nil {
			return
		}
		if back := c.Format(st, sh, p); back != s {
			t.Fatalf("Parse(%q) then Format = %q", s, back)
		}
		if c.Compare(p, p) != 0 {
			t.Fatalf("Compare(p, p) != 0 for %q", p)
		}
	})
}

func FuzzCodecCompare(f *testing.F) {
	f.Add([]byte("1"), []byte("2"))
	f.Add([]byte(seqA+":1"), []byte(seqA))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		c := kinesis.Codec{}
		x, y := c.Compare(a, b), c.Compare(b, a)
		if x != -y {
			t.Fatalf("Compare(%q, %q) = %d but Compare(%q, %q) = %d", a, b, x, b, a, y)
		}
		if _, err := c.Decode(a); err == nil && c.Compare(a, a) != 0 {
			t.Fatalf("Compare(a, a) != 0 for %q", a)
		}
	})
}
