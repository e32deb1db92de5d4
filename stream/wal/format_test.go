package wal

import (
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/unistream-go/unistream/stream/driver"
)

func randRecord(r *rand.Rand) driver.Record {
	bs := func() []byte {
		switch r.IntN(4) {
		case 0:
			return nil
		case 1:
			return []byte{}
		}
		b := make([]byte, r.IntN(40))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	rec := driver.Record{ID: strings.Repeat("x", r.IntN(5)) + string(rune('a'+r.IntN(26))), Key: bs(), Value: bs()}
	for range r.IntN(4) {
		rec.Headers = append(rec.Headers, driver.Header{Key: string(bs()), Value: bs()})
	}
	switch r.IntN(4) {
	case 0:
	case 1:
		rec.Time = time.Unix(r.Int64N(math.MaxInt32)-math.MaxInt32/2, r.Int64N(1e9)).UTC()
	case 2:
		rec.Time = time.Date(-3000, 1, 1, 0, 0, 0, 1, time.UTC)
	case 3:
		rec.Time = time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)
	}
	return rec
}

func TestWALRecordEncodingRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		want := randRecord(r)
		seq := r.Uint64N(math.MaxUint64) + 1
		buf, err := appendRecordFrame([]byte("prefix"), seq, &want, DefaultMaxFrameBytes)
		if err != nil {
			t.Fatal(err)
		}
		frame := buf[len("prefix"):]
		if got := int(leU32(frame)); got != len(frame)-FrameHeaderSize {
			t.Fatalf("#%d: length field %d, frame %d", i, got, len(frame))
		}
		if crcOf(frame[8:]) != leU32(frame[4:]) {
			t.Fatalf("#%d: bad checksum", i)
		}
		gotSeq, got, why := decodeRecord(frame[FrameHeaderSize:])
		if why != "" {
			t.Fatalf("#%d: %s", i, why)
		}
		if gotSeq != seq || !got.Time.Equal(want.Time) {
			t.Fatalf("#%d: seq %d time %v, want %d %v", i, gotSeq, got.Time, seq, want.Time)
		}
		got.Time, want.Time = time.Time{}, time.Time{}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("#%d: got %#v\nwant %#v", i, got, want)
		}
		// Every strict prefix of the payload is undecodable, never a panic.
		p := frame[FrameHeaderSize:]
		for n := range len(p) {
			if _, _, why := decodeRecord(p[:n]); why == "" {
				t.Fatalf("#%d: prefix of %d/%d bytes decoded", i, n, len(p))
			}
		}
	}
}

func TestWALAckEncodingRoundTrip(t *testing.T) {
	seqs := []uint64{1, 2, 3, 7, 9, 10, math.MaxUint64 - 1, math.MaxUint64}
	buf := appendAckFrame(nil, seqs)
	ranges, why := decodeAck(buf[FrameHeaderSize:])
	if why != "" {
		t.Fatal(why)
	}
	want := []ackRange{{1, 3}, {7, 1}, {9, 2}, {math.MaxUint64 - 1, 2}}
	if !reflect.DeepEqual(ranges, want) {
		t.Fatalf("got %v, want %v", ranges, want)
	}
	for _, bad := range [][]byte{nil, {0}, {1, 0, 1}, {1, 1, 0}, {1, 1, 1, 5}, {200, 1, 1}, {1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 2}} {
		if _, why := decodeAck(bad); why == "" {
			t.Errorf("ack payload %v decoded", bad)
		}
	}
}

func TestWALRecordTooLargeForFrame(t *testing.T) {
	rec := driver.Record{ID: "big", Value: make([]byte, 100)}
	buf, err := appendRecordFrame([]byte("keep"), 1, &rec, 64)
	if !errors.Is(err, driver.ErrRecordTooLarge) || string(buf) != "keep" {
		t.Fatalf("err %v, buf %q", err, buf)
	}
}

func TestWALHeaderSize(t *testing.T) {
	if len(header()) != HeaderSize {
		t.Fatalf("header %q is not %d bytes", header(), HeaderSize)
	}
}
