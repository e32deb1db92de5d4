package dynamodb

import (
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/checkpoint/storetest"
)

// FuzzDecodeItem feeds arbitrary attribute values to the item decoders: they
// must never panic, every error must match checkpoint.ErrCorrupt, and what
// they accept must be consistent with the item (key, version, counter).
func FuzzDecodeItem(f *testing.F) {
	key := checkpoint.Key{Consumer: "c", Stream: "s", Partition: "0"}
	full := storetest.Full(key)
	full.Version = 3
	doc, err := checkpoint.EncodeDocument(full)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(uint8(0xff), "3", string(doc), "5", "worker-1", "2025-01-02T03:04:05.123456789Z")
	f.Add(uint8(0x03), "1", `{"format":1,"checkpoint":{"consumer":"c","stream":"s","partition":"0","version":1,"counts":{"succeeded":0,"dead_lettered":0,"skipped":0,"retries":0}}}`, "", "", "")
	f.Add(uint8(0x1c), "", "", "2", "", "")
	f.Add(uint8(0x13), "18446744073709551616", "{}", "x", "w", "yesterday")
	f.Add(uint8(0x7f), "2", `{"format":1,"checkpoint":{"consumer":"c","stream":"s","partition":"1","version":2}}`, "0", "", "0001-01-01T00:00:00Z")
	f.Fuzz(func(t *testing.T, mask uint8, version, document, counter, owner, expires string) {
		item := map[string]types.AttributeValue{}
		put := func(bit uint8, name, v string) {
			if mask&bit == 0 {
				return
			}
			if mask&0x80 != 0 && (name == attrVersion || name == attrCounter) {
				item[name] = str(v) // a number stored as a string
			} else if mask&0x40 != 0 && name == attrCheckpoint {
				item[name] = &types.AttributeValueMemberB{Value: []byte(v)}
			} else if name == attrVersion || name == attrCounter {
				item[name] = &types.AttributeValueMemberN{Value: v}
			} else {
				item[name] = str(v)
			}
		}
		put(0x01, attrVersion, version)
		put(0x02, attrCheckpoint, document)
		put(0x04, attrCounter, counter)
		put(0x08, attrOwner, owner)
		put(0x10, attrExpires, expires)

		st, err := decodeCheckpoint("t", key, item)
		if err != nil {
			if !errors.Is(err, checkpoint.ErrCorrupt) {
				t.Fatalf("decodeCheckpoint error does not match ErrCorrupt: %v", err)
			}
		} else if st.cp != nil {
			if st.cp.Key != key || st.cp.Version == 0 || st.doc != document {
				t.Fatalf("decodeCheckpoint accepted %+v from an item of %s", st.cp, key)
			}
			if err := st.cp.Validate(); err != nil {
				t.Fatalf("decodeCheckpoint accepted an invalid checkpoint: %v", err)
			}
			// What was accepted survives a round trip.
			again, err := checkpoint.EncodeDocument(st.cp)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := checkpoint.DecodeDocument("t", again); err != nil {
				t.Fatalf("re-encoded checkpoint does not decode: %v", err)
			}
		} else if len(item) > 0 && (item[attrVersion] != nil || item[attrCheckpoint] != nil) {
			t.Fatalf("decodeCheckpoint ignored checkpoint attributes")
		}

		l, err := decodeLease("t", key, item)
		if err != nil {
			if !errors.Is(err, checkpoint.ErrCorrupt) {
				t.Fatalf("decodeLease error does not match ErrCorrupt: %v", err)
			}
			return
		}
		if l == nil {
			if item[attrCounter] != nil || item[attrOwner] != nil || item[attrExpires] != nil {
				t.Fatalf("decodeLease ignored lease attributes")
			}
			return
		}
		if l.Key != key || l.Counter == 0 || (l.Owner == "") != l.Expires.IsZero() {
			t.Fatalf("decodeLease accepted an inconsistent lease %v", l)
		}
		if l.Owner != "" {
			back, err := time.Parse(time.RFC3339Nano, formatTime(l.Expires))
			if err != nil || !back.Equal(l.Expires) {
				t.Fatalf("lease expiry %v does not round-trip: %v %v", l.Expires, back, err)
			}
		}
	})
}
