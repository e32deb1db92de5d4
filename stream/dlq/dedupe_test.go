package dlq_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/unistream-go/unistream/stream/dlq"
)

// TestDuplicates: a record dead-lettered twice (a crash between the DLQ
// write and the checkpoint save) is found by consumer, source and pointer,
// whatever else differs; other records, and envelopes without a pointer,
// are not.
func TestDuplicates(t *testing.T) {
	env := func(consumer, stream, partition, pointer, id string) dlq.Envelope {
		var p []byte
		if pointer != "" {
			p = []byte(pointer)
		}
		return dlq.Envelope{ID: id, Consumer: consumer, Value: []byte("v"), Reason: "exhausted",
			Source: dlq.Source{Scheme: "kafka", Stream: stream, Partition: partition, Pointer: p}}
	}
	envs := []dlq.Envelope{
		env("billing", "orders", "0", "\x00\x01", "r1"), // 0
		env("billing", "orders", "0", "\x00\x02", "r2"), // 1
		env("billing", "orders", "0", "\x00\x01", "r1"), // 2: again 0
		env("audit", "orders", "0", "\x00\x01", "r1"),   // 3: another consumer
		env("billing", "orders", "1", "\x00\x01", "r9"), // 4: another partition
		env("billing", "refunds", "0", "\x00\x01", "x"), // 5: another stream
		env("billing", "orders", "0", "", "n1"),         // 6: no pointer
		env("billing", "orders", "0", "", "n1"),         // 7: no pointer
		env("billing", "orders", "0", "\x00\x01", "r1"), // 8: again 0
		env("billing", "orders", "0", "\x00\x02", "r2"), // 9: again 1
	}
	envs[2].Attempts, envs[2].Errors = 4, nil // a later envelope of the record may differ
	// Round trip through a DLQ file, as the CLI reads it.
	path := filepath.Join(t.TempDir(), "dlq.jsonl")
	sink, err := dlq.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range envs {
		if err := sink.Put(context.Background(), &envs[i]); err != nil {
			t.Fatal(err)
		}
	}
	sink.Close()
	read, err := dlq.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []int{-1, -1, 0, -1, -1, -1, -1, -1, 0, 1}
	if got := dlq.Duplicates(read); !slices.Equal(got, want) {
		t.Errorf("Duplicates = %v, want %v", got, want)
	}
	unique, dups := dlq.Unique(read)
	var ids []string
	for _, e := range unique {
		ids = append(ids, e.ID)
	}
	if dups != 3 || !slices.Equal(ids, []string{"r1", "r2", "r1", "r9", "x", "n1", "n1"}) {
		t.Errorf("Unique = %v, %d duplicates; want r1 r2 r1 r9 x n1 n1 and 3", ids, dups)
	}
	if len(dlq.Duplicates(nil)) != 0 {
		t.Error("Duplicates(nil) is not empty")
	}
}
