package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/unistream-go/unistream/adapters/kafka/kafkatest"
	"github.com/unistream-go/unistream/stream/checkpoint"
)

// TestConsumeUnloadableCheckpoint checks that consume exits non-zero,
// naming the read or the corruption, when a partition's checkpoint cannot
// be loaded, instead of retrying it for ever.
func TestConsumeUnloadableCheckpoint(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic("unread", 1))
	url := c.URL("unread", "fetch_wait", "50ms")
	mustCLI(t, "x\n", "produce", url, "--max-age", "20ms")
	for _, tt := range []struct {
		name  string
		spoil func(path string) error
		want  []string
	}{
		// A directory where the file must be: reading it fails for root too.
		{"read fails", func(p string) error { return os.Mkdir(p, 0o700) }, []string{"read", "is a directory"}},
		{"bad content", func(p string) error { return os.WriteFile(p, []byte("{not json"), 0o600) }, []string{"corrupt"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "cp")
			fs, err := checkpoint.NewFileStore(dir)
			if err != nil {
				t.Fatal(err)
			}
			path, err := fs.Path(checkpoint.Key{Consumer: "billing", Stream: "unread", Partition: "0"})
			if err != nil {
				t.Fatal(err)
			}
			if err := tt.spoil(path); err != nil {
				t.Fatal(err)
			}
			r := cli(t, "", nil, "consume", url, "--name", "billing", "--checkpoint", fileURL(dir),
				"--dlq", fileURL(filepath.Join(t.TempDir(), "d.jsonl")), "--poll-interval", "20ms")
			wantErr(t, r, exitError, append([]string{"load checkpoint billing/unread/0", "file store " + dir}, tt.want...)...)
		})
	}
}
