package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/unistream-go/unistream/adapters/kafka"
	"github.com/unistream-go/unistream/adapters/kafka/kafkatest"
	"github.com/unistream-go/unistream/stream/checkpoint"
)

// saveCheckpoint writes cp into the file store at dir, as a consumer would.
func saveCheckpoint(t *testing.T, dir string, cp *checkpoint.Checkpoint) {
	t.Helper()
	store, err := checkpoint.NewFileStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer checkpoint.CloseStore(store)
	if err := store.Save(context.Background(), cp); err != nil {
		t.Fatal(err)
	}
}

// TestCheckpointShowPending: the records of the batch up to the committed
// pointer are final, not pending; pending are the records after it without
// a state.
func TestCheckpointShowPending(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic("orders", 1))
	url := c.URL("orders", "fetch_wait", "50ms")
	mustCLI(t, strings.Repeat("x\n", 40), "produce", url, "--max-age", "20ms")
	dir := t.TempDir()
	at := kafka.PointerAt
	tests := []struct {
		name      string
		committed []byte
		records   []checkpoint.RecordState
		want      string
	}{
		{"nothing committed", nil, nil, "40 pending, 0 in progress"},
		{"nothing committed, two with a state", nil,
			[]checkpoint.RecordState{{Pointer: at(3), Status: checkpoint.Failed, Attempts: 1}, {Pointer: at(4), Status: checkpoint.Succeeded, Attempts: 1}},
			"38 pending, 0 in progress, 1 failed, 1 succeeded"},
		{"24 committed", at(23), nil, "16 pending, 0 in progress"},
		{"24 committed, two with a state", at(23),
			[]checkpoint.RecordState{{Pointer: at(25), Status: checkpoint.InProgress, Attempts: 1}, {Pointer: at(30), Status: checkpoint.Succeeded, Attempts: 1}},
			"14 pending, 1 in progress, 0 failed, 1 succeeded"},
		{"all committed", at(39), nil, "0 pending"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := "c" + string(rune('a'+i))
			saveCheckpoint(t, dir, &checkpoint.Checkpoint{
				Key:       checkpoint.Key{Consumer: name, Stream: "orders", Partition: "0"},
				Committed: tt.committed,
				Batch:     &checkpoint.Batch{Seq: 1, First: at(0), Last: at(39), Size: 40, Records: tt.records},
			})
			r := mustCLI(t, "", "checkpoint", "show", url, "--checkpoint", fileURL(dir), "--name", name)
			if !strings.Contains(r.stdout, "batch 1 of 40 records (kafka:orders/0@0 … kafka:orders/0@39): "+tt.want) {
				t.Errorf("checkpoint show: want %q\n%s", tt.want, r)
			}
		})
	}
}

// TestCheckpointShowInvalidPointer: a checkpoint that consume refuses to
// resume from is an error of checkpoint show too, by the same check.
func TestCheckpointShowInvalidPointer(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic("orders", 2))
	url := c.URL("orders", "fetch_wait", "50ms")
	dir := t.TempDir()
	cp := fileURL(filepath.Join(dir, "cp"))
	saveCheckpoint(t, filepath.Join(dir, "cp"), &checkpoint.Checkpoint{
		Key: checkpoint.Key{Consumer: "billing", Stream: "orders", Partition: "0"}, Committed: kafka.PointerAt(5)})
	saveCheckpoint(t, filepath.Join(dir, "cp"), &checkpoint.Checkpoint{
		Key: checkpoint.Key{Consumer: "billing", Stream: "orders", Partition: "1"}, Committed: []byte{0, 1}})
	want := []string{"partition 1", "committed pointer 0001", "got 2 bytes, expected 8"}

	r := cli(t, "", nil, "checkpoint", "show", url, "--checkpoint", cp, "--name", "billing")
	wantErr(t, r, exitError, want...)
	if !strings.Contains(r.stdout, "partition 0: committed kafka:orders/0@5") || strings.Contains(r.stdout, "invalid") {
		t.Errorf("checkpoint show: the valid partition should be shown, the invalid one not\n%s", r)
	}
	wantErr(t, cli(t, "", nil, "checkpoint", "show", url, "--checkpoint", cp, "--name", "billing", "-o", "json"), exitError, want...)
	wantErr(t, cli(t, "", nil, "checkpoint", "skip", url, "--checkpoint", cp, "--name", "billing", "--partition", "1"), exitError, want...)

	// consume refuses the same checkpoint with the same words.
	r = cli(t, "", nil, "consume", url, "--checkpoint", cp, "--name", "billing", "--dlq", fileURL(filepath.Join(dir, "dlq.jsonl")),
		"--partitions", "1", "--poll-interval", "20ms")
	wantErr(t, r, exitError, want[1:]...)
}
