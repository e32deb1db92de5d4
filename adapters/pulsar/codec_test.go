package pulsar_test

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/unistream-go/unistream/adapters/pulsar"
	"github.com/unistream-go/unistream/stream/driver"
)

func TestCodecFormatParse(t *testing.T) {
	c := pulsar.Codec{}
	for _, tc := range []struct {
		topic, part string
		id          pulsar.MessageID
		human       string
	}{
		{"orders", "2", pulsar.MessageID{Ledger: 123, Entry: 45, Batch: -1, Partition: 2}, "pulsar:orders/2@123:45:-1"},
		{"orders", "0", pulsar.MessageID{Ledger: 0, Entry: 0, Batch: 0}, "pulsar:orders/0@0:0:0"},
		{"acme/billing/orders", "7", pulsar.MessageID{Ledger: math.MaxInt64, Entry: math.MaxInt64, Batch: math.MaxInt32, Partition: 7}, "pulsar:acme/billing/orders/7@9223372036854775807:9223372036854775807:2147483647"},
	} {
		p := tc.id.Pointer()
		if got := c.Format(tc.topic, tc.part, p); got != tc.human {
			t.Errorf("Format = %q, want %q", got, tc.human)
		}
		topic, part, back, err := c.Parse(tc.human)
		if err != nil || topic != tc.topic || part != tc.part || !bytes.Equal(back, p) {
			t.Errorf("Parse(%q) = %q, %q, %x, %v; want %q, %q, %x", tc.human, topic, part, back, err, tc.topic, tc.part, p)
		}
		if _, err := c.Decode(p); err != nil {
			t.Errorf("Decode(%x): %v", p, err)
		}
	}
}

func TestCodecCompare(t *testing.T) {
	c := pulsar.Codec{}
	ids := []pulsar.MessageID{{Ledger: 1, Entry: 0, Batch: -1}, {Ledger: 1, Entry: 1, Batch: 0}, {Ledger: 1, Entry: 1, Batch: 1}, {Ledger: 1, Entry: 200, Batch: -1}, {Ledger: 2, Entry: 0, Batch: 5}}
	for i := range ids {
		for j := range ids {
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got := c.Compare(ids[i].Pointer(), ids[j].Pointer()); got != want {
				t.Errorf("Compare(%s, %s) = %d, want %d", ids[i], ids[j], got, want)
			}
		}
	}
	if c.Compare([]byte{9}, ids[0].Pointer()) != -1 || c.Compare(ids[0].Pointer(), nil) != 1 {
		t.Errorf("an invalid pointer must sort before valid ones")
	}
}

func TestCodecRejects(t *testing.T) {
	c := pulsar.Codec{}
	for _, b := range [][]byte{nil, {}, {2, 0, 0, 0, 0}, {1, 0, 0, 0}, {1, 0, 0, 0, 0, 0}, {1, 0x80, 0, 0, 0, 0}, {1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f, 0}} {
		if _, err := c.Decode(b); err == nil || !strings.Contains(err.Error(), "pulsar: pointer") {
			t.Errorf("Decode(%x): %v, want an error naming the pointer", b, err)
		}
	}
	for _, s := range []string{
		"", "kafka:orders/0@1:2:-1", "pulsar:orders/0@1:2", "pulsar:orders@1:2:3", "pulsar:orders/01@1:2:3",
		"pulsar:orders/0@-1:2:3", "pulsar:orders/0@1:2:-2", "pulsar:orders/0@+1:2:3", "pulsar:orders/0@01:2:3",
		"pulsar:a/b/orders/0@1:2:3x", "pulsar:a/orders/0@1:2:3", "pulsar:or ders/0@1:2:3", "pulsar:orders/0@1:2:-0",
		"pulsar:orders/0@1:2:2147483648", "pulsar:orders/2147483648@1:2:3",
	} {
		if _, _, _, err := c.Parse(s); err == nil {
			t.Errorf("Parse(%q): no error", s)
		}
	}
}

func TestMessageIDPointerPanicsOnNegative(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Errorf("Pointer of a negative ledger did not panic")
		}
	}()
	pulsar.MessageID{Ledger: -1}.Pointer()
}

// FuzzCodecDecode checks that Decode never panics, accepts only canonical
// pointers (they encode back to the same bytes) and that Format and Parse
// round-trip what it accepts.
func FuzzCodecDecode(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0, 0})
	f.Add([]byte(pulsar.MessageID{Ledger: 123, Entry: 45, Batch: -1, Partition: 2}.Pointer()))
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		c := pulsar.Codec{}
		p, err := c.Decode(b)
		if err != nil {
			return
		}
		id, err := pulsar.ParsePointer(p)
		if err != nil {
			t.Fatalf("Decode accepted %x, ParsePointer refuses it: %v", b, err)
		}
		if !bytes.Equal(id.Pointer(), b) {
			t.Fatalf("Decode accepted %x, which encodes back as %x", b, id.Pointer())
		}
		part := itoa(id.Partition)
		_, gotPart, back, err := c.Parse(c.Format("t", part, p))
		if err != nil || gotPart != part || !bytes.Equal(back, p) || c.Compare(back, p) != 0 {
			t.Fatalf("Parse(Format(%x)) = %s, %x, %v", b, gotPart, back, err)
		}
	})
}

// FuzzCodecParse checks that Parse never panics and that what it accepts
// formats back to the same text.
func FuzzCodecParse(f *testing.F) {
	f.Add("pulsar:orders/2@123:45:-1")
	f.Add("pulsar:a/b/c/0@0:0:0")
	f.Add("pulsar:orders/0@9223372036854775807:1:2147483647")
	f.Fuzz(func(t *testing.T, s string) {
		c := pulsar.Codec{}
		topic, part, p, err := c.Parse(s)
		if err != nil {
			return
		}
		if _, err := c.Decode(p); err != nil {
			t.Fatalf("Parse(%q) returned an invalid pointer %x: %v", s, p, err)
		}
		if got := c.Format(topic, part, p); got != s {
			t.Fatalf("Format(Parse(%q)) = %q", s, got)
		}
	})
}

func itoa(n int32) string {
	var b []byte
	if n == 0 {
		return "0"
	}
	for n > 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}

var _ driver.PointerCodec = pulsar.Codec{}
