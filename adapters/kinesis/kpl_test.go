package kinesis_test

import (
	"bytes"
	"crypto/md5"
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/unistream-go/unistream/adapters/kinesis"
)

// kplRecord is one user record to aggregate.
type kplRecord struct {
	key, ehk string
	data     []byte
}

// aggregate builds a KPL aggregated record by hand, as the KPL writes it:
// the magic, an AggregatedRecord protobuf (key tables, records), and the
// MD5 of the protobuf.
func aggregate(recs ...kplRecord) []byte {
	var keys, hashes []string
	index := func(table *[]string, v string) uint64 {
		for i, x := range *table {
			if x == v {
				return uint64(i)
			}
		}
		*table = append(*table, v)
		return uint64(len(*table) - 1)
	}
	var body []byte
	var records [][]byte
	for _, r := range recs {
		var m []byte
		m = protowire.AppendTag(m, 1, protowire.VarintType)
		m = protowire.AppendVarint(m, index(&keys, r.key))
		if r.ehk != "" {
			m = protowire.AppendTag(m, 2, protowire.VarintType)
			m = protowire.AppendVarint(m, index(&hashes, r.ehk))
		}
		m = protowire.AppendTag(m, 3, protowire.BytesType)
		m = protowire.AppendBytes(m, r.data)
		// A tag (field 4), which readers skip.
		var tag []byte
		tag = protowire.AppendTag(tag, 1, protowire.BytesType)
		tag = protowire.AppendString(tag, "origin")
		m = protowire.AppendTag(m, 4, protowire.BytesType)
		m = protowire.AppendBytes(m, tag)
		records = append(records, m)
	}
	for _, k := range keys {
		body = protowire.AppendTag(body, 1, protowire.BytesType)
		body = protowire.AppendString(body, k)
	}
	for _, h := range hashes {
		body = protowire.AppendTag(body, 2, protowire.BytesType)
		body = protowire.AppendString(body, h)
	}
	for _, m := range records {
		body = protowire.AppendTag(body, 3, protowire.BytesType)
		body = protowire.AppendBytes(body, m)
	}
	sum := md5.Sum(body)
	out := append([]byte{0xF3, 0x89, 0x9A, 0xC2}, body...)
	return append(out, sum[:]...)
}

// withBody wraps a hand-made protobuf body with the magic and its MD5.
func withBody(body []byte) []byte {
	sum := md5.Sum(body)
	return append(append([]byte{0xF3, 0x89, 0x9A, 0xC2}, body...), sum[:]...)
}

func TestDeaggregate(t *testing.T) {
	data := aggregate(kplRecord{key: "a", data: []byte("one")}, kplRecord{key: "b", ehk: "12345", data: []byte("two")}, kplRecord{key: "a", data: nil})
	got, err := kinesis.Deaggregate(data)
	if err != nil {
		t.Fatal(err)
	}
	want := []kinesis.UserRecord{{PartitionKey: "a", Data: []byte("one")}, {PartitionKey: "b", ExplicitHashKey: "12345", Data: []byte("two")}, {PartitionKey: "a"}}
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].PartitionKey != want[i].PartitionKey || got[i].ExplicitHashKey != want[i].ExplicitHashKey || !bytes.Equal(got[i].Data, want[i].Data) {
			t.Errorf("record %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if recs, err := kinesis.Deaggregate([]byte("plain data")); recs != nil || err != nil {
		t.Errorf("Deaggregate of plain data = %v, %v; want nil, nil", recs, err)
	}
}

func TestDeaggregateCorrupt(t *testing.T) {
	good := aggregate(kplRecord{key: "a", data: []byte("one")})
	badMD5 := bytes.Clone(good)
	badMD5[len(badMD5)-1] ^= 0xff
	var pkOut []byte // a record whose key index is out of the table
	pkOut = protowire.AppendTag(pkOut, 1, protowire.VarintType)
	pkOut = protowire.AppendVarint(pkOut, 7)
	pkOut = protowire.AppendTag(pkOut, 3, protowire.BytesType)
	pkOut = protowire.AppendBytes(pkOut, []byte("x"))
	var noData []byte
	noData = protowire.AppendTag(noData, 1, protowire.VarintType)
	noData = protowire.AppendVarint(noData, 0)
	table := protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), "k")
	wrap := func(rec []byte) []byte {
		return withBody(protowire.AppendBytes(protowire.AppendTag(bytes.Clone(table), 3, protowire.BytesType), rec))
	}
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"short", []byte{0xF3, 0x89, 0x9A, 0xC2, 1, 2}, "at least"},
		{"md5", badMD5, "MD5"},
		{"truncated protobuf", withBody([]byte{0x1a, 0x10, 0x01}), "field 3"},
		{"key index", wrap(pkOut), "partition_key_index 7"},
		{"missing data", wrap(noData), "data is missing"},
		{"no records", withBody(table), "no records"},
		{"wrong wire type", withBody(protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 1)), "wire type"},
	} {
		_, err := kinesis.Deaggregate(tc.data)
		if !errors.Is(err, kinesis.ErrCorruptAggregate) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Deaggregate = %v, want ErrCorruptAggregate mentioning %q", tc.name, err, tc.want)
		}
	}
}

func FuzzDeaggregate(f *testing.F) {
	f.Add(aggregate(kplRecord{key: "a", data: []byte("one")}, kplRecord{key: "b", ehk: "1", data: []byte("two")}))
	f.Add([]byte{0xF3, 0x89, 0x9A, 0xC2})
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := kinesis.Deaggregate(data)
		if err != nil && !errors.Is(err, kinesis.ErrCorruptAggregate) {
			t.Fatalf("error %v does not wrap ErrCorruptAggregate", err)
		}
		if err == nil && kinesis.IsAggregated(data) && len(recs) == 0 {
			t.Fatalf("a valid aggregate with no records")
		}
	})
}
