package stream_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
)

// TestUnloadableCheckpointEndsRun checks that a checkpoint the store cannot
// read, or reads and cannot decode, ends Run with an error that names the
// partition, the store and the cause: no handler runs on a partition whose
// progress is unknown, and nothing is reset.
func TestUnloadableCheckpointEndsRun(t *testing.T) {
	tests := []struct {
		name  string
		spoil func(path string) error
		want  []string
	}{
		// A directory where the file must be: reading it fails for root too.
		{"read fails", func(p string) error { return os.Mkdir(p, 0o700) }, []string{"read", "is a directory"}},
		{"bad content", func(p string) error { return os.WriteFile(p, []byte("{not json"), 0o600) }, []string{"corrupt"}},
	}
	if os.Geteuid() != 0 { // mode 000 does not keep root out
		tests = append(tests, struct {
			name  string
			spoil func(path string) error
			want  []string
		}{"mode 000", func(p string) error {
			if err := os.WriteFile(p, []byte("{}"), 0o600); err != nil {
				return err
			}
			return os.Chmod(p, 0)
		}, []string{"read", "permission denied"}})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, 1)
			id := e.write("a")[0]
			dir := t.TempDir()
			fs, err := checkpoint.NewFileStore(dir)
			if err != nil {
				t.Fatal(err)
			}
			e.store = fs
			key := checkpoint.Key{Consumer: "test", Stream: "orders", Partition: e.parts[id]}
			path, err := fs.Path(key)
			if err != nil {
				t.Fatal(err)
			}
			if err := tt.spoil(path); err != nil {
				t.Fatal(err)
			}
			var calls atomic.Int64
			c := e.consumer(func(context.Context, *stream.Record) error { calls.Add(1); return nil })
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a hang detector
			defer cancel()
			err = c.Run(ctx)
			if err == nil || errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Run returned %v, want the load error", err)
			}
			for _, want := range append([]string{"load checkpoint " + key.String(), "file store " + dir}, tt.want...) {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Run's error %q does not contain %q", err, want)
				}
			}
			if n := calls.Load(); n != 0 {
				t.Errorf("the handler ran %d times on a partition whose checkpoint could not be loaded", n)
			}
		})
	}
}
