package postgres

import (
	"errors"
	"testing"
	"time"

	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/checkpoint/storetest"
)

// FuzzDecodeRow feeds arbitrary column values to the row decoders: they
// must never panic, every error must match checkpoint.ErrCorrupt, and what
// they accept must be consistent with the row (key, version, counter).
func FuzzDecodeRow(f *testing.F) {
	key := checkpoint.Key{Consumer: "c", Stream: "s", Partition: "0"}
	full := storetest.Full(key)
	full.Version = 3
	doc, err := checkpoint.EncodeDocument(full)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(uint8(0x1f), int64(3), string(doc), int64(5), "worker-1", int64(1735787045123456789))
	f.Add(uint8(0x03), int64(1), `{"format":1,"checkpoint":{"consumer":"c","stream":"s","partition":"0","version":1,"counts":{"succeeded":0,"dead_lettered":0,"skipped":0,"retries":0}}}`, int64(0), "", int64(0))
	f.Add(uint8(0x04), int64(0), "", int64(2), "", int64(0))
	f.Add(uint8(0x0b), int64(-1), "{}", int64(0), "w", int64(0))
	f.Add(uint8(0x1d), int64(2), `{"format":1,"checkpoint":{"consumer":"c","stream":"s","partition":"1","version":2}}`, int64(-9), "", int64(-1))
	f.Fuzz(func(t *testing.T, mask uint8, version int64, document string, counter int64, owner string, expires int64) {
		var r row
		if mask&0x01 != 0 {
			r.version = &version
		}
		if mask&0x02 != 0 {
			r.doc = &document
		}
		if mask&0x04 != 0 {
			r.counter = &counter
		}
		if mask&0x08 != 0 {
			r.owner = &owner
		}
		if mask&0x10 != 0 {
			r.expires = &expires
		}

		checkDecodedCheckpoint(t, key, r)
		checkDecodedLease(t, key, r)
	})
}

// checkDecodedCheckpoint checks what decodeCheckpoint makes of r: an error
// matching ErrCorrupt, nothing for a row without checkpoint columns, or a
// valid checkpoint of key at the row's version that survives a round trip.
func checkDecodedCheckpoint(t *testing.T, key checkpoint.Key, r row) {
	t.Helper()
	st, err := decodeCheckpoint("t", key, r)
	if err != nil {
		if !errors.Is(err, checkpoint.ErrCorrupt) {
			t.Fatalf("decodeCheckpoint error does not match ErrCorrupt: %v", err)
		}
	} else if st.cp != nil {
		if st.cp.Key != key || st.cp.Version == 0 || st.cp.Version != uint64(*r.version) || st.doc != *r.doc {
			t.Fatalf("decodeCheckpoint accepted %+v from a row of %s", st.cp, key)
		}
		if err := st.cp.Validate(); err != nil {
			t.Fatalf("decodeCheckpoint accepted an invalid checkpoint: %v", err)
		}
		again, err := checkpoint.EncodeDocument(st.cp)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := checkpoint.DecodeDocument("t", again); err != nil {
			t.Fatalf("re-encoded checkpoint does not decode: %v", err)
		}
	} else if r.version != nil || r.doc != nil {
		t.Fatalf("decodeCheckpoint ignored checkpoint columns")
	}
}

// checkDecodedLease checks what decodeLease makes of r: an error matching
// ErrCorrupt, nil for a row without lease columns, or a consistent lease
// of key whose expiry round-trips.
func checkDecodedLease(t *testing.T, key checkpoint.Key, r row) {
	t.Helper()
	l, err := decodeLease("t", key, r)
	if err != nil {
		if !errors.Is(err, checkpoint.ErrCorrupt) {
			t.Fatalf("decodeLease error does not match ErrCorrupt: %v", err)
		}
		return
	}
	if l == nil {
		if r.counter != nil || r.owner != nil || r.expires != nil {
			t.Fatalf("decodeLease ignored lease columns")
		}
		return
	}
	if l.Key != key || l.Counter == 0 || l.Counter != uint64(*r.counter) || (l.Owner == "") != l.Expires.IsZero() {
		t.Fatalf("decodeLease accepted an inconsistent lease %v", l)
	}
	if l.Owner != "" {
		back, ok := expiresNanos(l.Expires)
		if !ok || back != *r.expires || !time.Unix(0, back).Equal(l.Expires) {
			t.Fatalf("lease expiry %v does not round-trip: %d %v", l.Expires, back, ok)
		}
	}
}

// FuzzEscape: escape and unescape are inverse, and an escaped part never
// holds NUL.
func FuzzEscape(f *testing.F) {
	for _, s := range []string{"", "a", "%", "%25", "\x00", "a%00b", "%zz", "100%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e := escape(s)
		back, ok := unescape(e)
		if !ok || back != s {
			t.Fatalf("unescape(escape(%q)) = %q, %v", s, back, ok)
		}
		for i := 0; i < len(e); i++ {
			if e[i] == 0 {
				t.Fatalf("escape(%q) = %q holds NUL", s, e)
			}
		}
		if u, ok := unescape(s); ok && escape(u) != s {
			t.Fatalf("unescape(%q) = %q, which escapes to %q", s, u, escape(u))
		}
	})
}
