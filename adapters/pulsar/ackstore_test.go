//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package pulsar_test

import (
	"context"
	"errors"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/unistream-go/unistream/adapters/pulsar"
	"github.com/unistream-go/unistream/adapters/pulsar/pulsartest"
	"github.com/unistream-go/unistream/stream/checkpoint"
)

// TestAckStoreErrorClasses: the AckStore adds no error of its own (the
// acknowledgement is best effort), and the wrapped store's errors reach
// the caller with their class and sentinels unchanged. The conditions are
// brought about on a real FileStore, whose own table is
// checkpoint.TestFileStoreErrorClasses.
func TestAckStoreErrorClasses(t *testing.T) {
	b := pulsartest.Start(t, pulsartest.Topic("acked", 1))
	s := openStream(t, b.URL("acked"))
	ctx := context.Background()
	k := checkpoint.Key{Consumer: "billing", Stream: "acked", Partition: "0"}
	cases := []struct {
		name      string
		run       func(t *testing.T, dir string, a *pulsar.AckStore) error
		permanent bool
		is        error
	}{
		{"version conflict", func(t *testing.T, _ string, a *pulsar.AckStore) error {
			if err := a.Save(ctx, &checkpoint.Checkpoint{Key: k}); err != nil {
				t.Fatal(err)
			}
			return a.Save(ctx, &checkpoint.Checkpoint{Key: k})
		}, true, checkpoint.ErrConflict},
		{"corrupt checkpoint", func(t *testing.T, dir string, a *pulsar.AckStore) error {
			if err := a.Save(ctx, &checkpoint.Checkpoint{Key: k}); err != nil {
				t.Fatal(err)
			}
			fs, _ := checkpoint.NewFileStore(dir)
			path, _ := fs.Path(k)
			if err := os.WriteFile(path, []byte("{"), 0o600); err != nil {
				t.Fatal(err)
			}
			return a.Save(ctx, &checkpoint.Checkpoint{Key: k, Version: 1})
		}, true, checkpoint.ErrCorrupt},
		{"invalid key", func(t *testing.T, _ string, a *pulsar.AckStore) error {
			return a.Save(ctx, &checkpoint.Checkpoint{Key: checkpoint.Key{Consumer: "billing"}})
		}, true, nil},
		{"directory removed (ENOENT)", func(t *testing.T, dir string, a *pulsar.AckStore) error {
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
			return a.Save(ctx, &checkpoint.Checkpoint{Key: k})
		}, true, syscall.ENOENT},
		{"context cancelled", func(t *testing.T, _ string, a *pulsar.AckStore) error {
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			return a.Save(cctx, &checkpoint.Checkpoint{Key: k})
		}, false, context.Canceled},
		{"lock held past the deadline", func(t *testing.T, dir string, a *pulsar.AckStore) error {
			fs, _ := checkpoint.NewFileStore(dir)
			path, _ := fs.Path(k)
			f, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
				t.Fatal(err)
			}
			dctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
			defer cancel()
			return a.Save(dctx, &checkpoint.Checkpoint{Key: k})
		}, false, context.DeadlineExceeded},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			inner, err := checkpoint.NewFileStore(dir)
			if err != nil {
				t.Fatal(err)
			}
			err = tc.run(t, dir, pulsar.NewAckStore(inner, s))
			if err == nil {
				t.Fatal("no error")
			}
			if got := checkpoint.IsPermanent(err); got != tc.permanent {
				t.Errorf("IsPermanent(%v) = %v, want %v", err, got, tc.permanent)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("%v does not match %v", err, tc.is)
			}
		})
	}
}
