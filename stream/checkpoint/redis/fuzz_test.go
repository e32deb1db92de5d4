package redis

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/checkpoint/storetest"
)

// FuzzDecodeHash feeds arbitrary hashes to the decoders: they must never
// panic, every error must match checkpoint.ErrCorrupt and name the key,
// and what they accept must be consistent with the hash (schema, key,
// version, counter).
func FuzzDecodeHash(f *testing.F) {
	key := checkpoint.Key{Consumer: "c", Stream: "s", Partition: "0"}
	full := storetest.Full(key)
	full.Version = 3
	doc, err := checkpoint.EncodeDocument(full)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(uint8(0xff), "1", "3", string(doc), "5", "worker-1", "2025-01-02T03:04:05.123456789Z", "")
	f.Add(uint8(0x07), "1", "1", `{"format":1,"checkpoint":{"consumer":"c","stream":"s","partition":"0","version":1,"counts":{"succeeded":0,"dead_lettered":0,"skipped":0,"retries":0}}}`, "", "", "", "")
	f.Add(uint8(0x09), "1", "", "", "2", "", "", "")
	f.Add(uint8(0x3f), "2", "18446744073709551616", "{}", "x", "w", "yesterday", "")
	f.Add(uint8(0xbf), "1", "02", `{"format":1,"checkpoint":{"consumer":"c","stream":"s","partition":"1","version":2}}`, "0", "", "0001-01-01T00:00:00Z", "extra")
	f.Add(uint8(0x00), "", "", "", "", "", "", "")
	f.Fuzz(func(t *testing.T, mask uint8, schema, version, document, counter, owner, expires, extra string) {
		h := map[string]string{}
		for i, v := range []struct{ name, value string }{
			{fieldSchema, schema}, {fieldVersion, version}, {fieldCheckpoint, document}, {fieldCounter, counter},
			{fieldOwner, owner}, {fieldExpires, expires}, {fieldWriter, extra}, {extra, "x"},
		} {
			if mask&(1<<i) != 0 {
				h[v.name] = v.value
			}
		}
		const where = "redis test, key \"k\""
		st, err := decodeCheckpoint(where, key, h)
		if err != nil {
			if !errors.Is(err, checkpoint.ErrCorrupt) || !checkpoint.IsPermanent(err) {
				t.Fatalf("decodeCheckpoint error does not match ErrCorrupt: %v", err)
			}
			if !strings.Contains(err.Error(), where) {
				t.Fatalf("decodeCheckpoint error does not name the key: %v", err)
			}
		} else if st.cp != nil {
			if h[fieldSchema] != Schema || st.cp.Key != key || st.cp.Version == 0 || version != strconv.FormatUint(st.cp.Version, 10) || st.digest != digest(document) {
				t.Fatalf("decodeCheckpoint accepted %+v from the hash %q of %s", st.cp, h, key)
			}
			if err := st.cp.Validate(); err != nil {
				t.Fatalf("decodeCheckpoint accepted an invalid checkpoint: %v", err)
			}
		} else if len(h) > 0 && h[fieldSchema] != Schema {
			t.Fatalf("decodeCheckpoint accepted a hash of schema %q", h[fieldSchema])
		}
		l, raw, err := decodeLease(where, key, h)
		if err != nil {
			if !errors.Is(err, checkpoint.ErrCorrupt) || !strings.Contains(err.Error(), where) {
				t.Fatalf("decodeLease error does not match ErrCorrupt naming the key: %v", err)
			}
			return
		}
		if l == nil {
			return
		}
		if l.Key != key || l.Counter == 0 || counter != strconv.FormatUint(l.Counter, 10) || raw.counter != l.Counter || raw.owner != l.Owner {
			t.Fatalf("decodeLease accepted %v (%+v) from the hash %q", l, raw, h)
		}
		if err := checkpoint.CheckLease(l); err != nil {
			t.Fatalf("decodeLease accepted an invalid lease: %v", err)
		}
	})
}
