//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package checkpoint_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/checkpoint/storetest"
)

// TestFileStoreErrorClasses brings about, on a real directory, each
// condition the file store classifies, and checks the error's class
// (checkpoint.IsPermanent), what it matches and that it names the key or
// path. The errno table itself is TestFSErrorClasses; a full and a
// read-only file system are TestFileStoreDiskFull and
// TestFileStoreReadOnlyFileSystem.
func TestFileStoreErrorClasses(t *testing.T) {
	ctx := context.Background()
	k := checkpoint.Key{Consumer: "billing", Stream: "orders", Partition: "0"}
	path := func(t *testing.T, s *checkpoint.FileStore) string { return mustPath(t, s, k) }
	cases := []struct {
		name      string
		run       func(t *testing.T, dir string, s *checkpoint.FileStore) error
		permanent bool
		is        error  // the error must also match it; nil for none
		says      string // the message must contain it ("{dir}" is the store's directory)
	}{
		{"invalid key: Load", func(t *testing.T, _ string, s *checkpoint.FileStore) error {
			_, err := s.Load(ctx, checkpoint.Key{Consumer: "billing"})
			return err
		}, true, nil, "must all be non-empty"},
		{"invalid key: Save", func(t *testing.T, _ string, s *checkpoint.FileStore) error {
			return s.Save(ctx, &checkpoint.Checkpoint{Key: checkpoint.Key{Consumer: "billing", Stream: "orders", Partition: "\xff"}})
		}, true, nil, "valid UTF-8"},
		{"invalid group: List", func(t *testing.T, _ string, s *checkpoint.FileStore) error {
			_, err := s.List(ctx, "", "orders")
			return err
		}, true, nil, "must both be non-empty"},
		{"nil checkpoint", func(t *testing.T, _ string, s *checkpoint.FileStore) error {
			return s.Save(ctx, nil)
		}, true, nil, "nil checkpoint"},
		{"unknown record status", func(t *testing.T, _ string, s *checkpoint.FileStore) error {
			cp := storetest.Full(k)
			cp.Batch.Records[0].Status = 99
			return s.Save(ctx, cp)
		}, true, nil, "unknown status 99"},
		{"negative attempts", func(t *testing.T, _ string, s *checkpoint.FileStore) error {
			cp := storetest.Full(k)
			cp.Batch.Records[0].Attempts = -1
			return s.Save(ctx, cp)
		}, true, nil, "negative attempts"},
		{"version conflict", func(t *testing.T, _ string, s *checkpoint.FileStore) error {
			if err := s.Save(ctx, &checkpoint.Checkpoint{Key: k}); err != nil {
				t.Fatal(err)
			}
			return s.Save(ctx, &checkpoint.Checkpoint{Key: k})
		}, true, checkpoint.ErrConflict, k.String()},
		{"corrupt file", func(t *testing.T, _ string, s *checkpoint.FileStore) error {
			if err := os.WriteFile(path(t, s), []byte("{"), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := s.Load(ctx, k)
			return err
		}, true, checkpoint.ErrCorrupt, "billing,orders,0.json"},
		{"checkpoint file is a directory (EISDIR)", func(t *testing.T, _ string, s *checkpoint.FileStore) error {
			if err := os.Mkdir(path(t, s), 0o700); err != nil {
				t.Fatal(err)
			}
			return s.Save(ctx, &checkpoint.Checkpoint{Key: k})
		}, true, syscall.EISDIR, "billing,orders,0.json"},
		{"lock file is a directory (EISDIR)", func(t *testing.T, _ string, s *checkpoint.FileStore) error {
			if err := os.Mkdir(path(t, s)+".lock", 0o700); err != nil {
				t.Fatal(err)
			}
			return s.Save(ctx, &checkpoint.Checkpoint{Key: k})
		}, true, syscall.EISDIR, "billing,orders,0.json.lock"},
		{"leases is a file (ENOTDIR)", func(t *testing.T, dir string, s *checkpoint.FileStore) error {
			if err := os.WriteFile(filepath.Join(dir, "leases"), nil, 0o600); err != nil {
				t.Fatal(err)
			}
			return s.AcquireLease(ctx, &checkpoint.Lease{Key: k}, "worker-1", time.Now().Add(time.Minute))
		}, true, syscall.ENOTDIR, "{dir}/leases"},
		{"directory removed: Save (ENOENT)", func(t *testing.T, dir string, s *checkpoint.FileStore) error {
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
			return s.Save(ctx, &checkpoint.Checkpoint{Key: k})
		}, true, fs.ErrNotExist, "{dir}/billing,orders,0.json"},
		{"directory removed: List (ENOENT)", func(t *testing.T, dir string, s *checkpoint.FileStore) error {
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
			_, err := s.List(ctx, "billing", "orders")
			return err
		}, true, fs.ErrNotExist, "{dir}"},
		{"symbolic link loop (ELOOP)", func(t *testing.T, _ string, s *checkpoint.FileStore) error {
			if err := os.Symlink(filepath.Base(path(t, s)), path(t, s)); err != nil {
				t.Fatal(err)
			}
			_, err := s.Load(ctx, k)
			return err
		}, true, syscall.ELOOP, "billing,orders,0.json"},
		{"path too long (ENAMETOOLONG)", func(t *testing.T, dir string, _ *checkpoint.FileStore) error {
			// A directory path near PATH_MAX: the key's files in it are
			// longer.
			deep := dir
			for len(deep) < 3900 {
				deep = filepath.Join(deep, strings.Repeat("d", 200))
			}
			s := newFileStore(t, deep)
			long := checkpoint.Key{Consumer: "billing", Stream: "orders", Partition: strings.Repeat("p", 180)}
			return s.Save(ctx, &checkpoint.Checkpoint{Key: long})
		}, true, syscall.ENAMETOOLONG, "billing,orders,ppp"},
		{"NewFileStore: path too long (ENAMETOOLONG)", func(t *testing.T, dir string, _ *checkpoint.FileStore) error {
			_, err := checkpoint.NewFileStore(filepath.Join(dir, strings.Repeat("d", 300))) // NAME_MAX is 255
			return err
		}, true, syscall.ENAMETOOLONG, "{dir}/ddd"},
		{"NewFileStore: a file (ENOTDIR)", func(t *testing.T, dir string, _ *checkpoint.FileStore) error {
			file := filepath.Join(dir, "file")
			if err := os.WriteFile(file, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := checkpoint.NewFileStore(file)
			return err
		}, true, syscall.ENOTDIR, "{dir}/file"},
		{"NewFileStore: under a file (ENOTDIR)", func(t *testing.T, dir string, _ *checkpoint.FileStore) error {
			file := filepath.Join(dir, "file")
			if err := os.WriteFile(file, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := checkpoint.NewFileStore(filepath.Join(file, "sub"))
			return err
		}, true, syscall.ENOTDIR, "{dir}/file/sub"},
		{"NewFileStore: empty name", func(t *testing.T, _ string, _ *checkpoint.FileStore) error {
			_, err := checkpoint.NewFileStore("")
			return err
		}, true, nil, "empty directory name"},
		{"permission denied (EACCES, EPERM)", func(t *testing.T, dir string, s *checkpoint.FileStore) error {
			denyWrites(t, dir)
			return s.Save(ctx, &checkpoint.Checkpoint{Key: k})
		}, true, fs.ErrPermission, "{dir}/billing,orders,0.json"},
		{"context cancelled", func(t *testing.T, _ string, s *checkpoint.FileStore) error {
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			return s.Save(cctx, &checkpoint.Checkpoint{Key: k})
		}, false, context.Canceled, k.String()},
		{"lock held by another process past the deadline", func(t *testing.T, _ string, s *checkpoint.FileStore) error {
			f, err := os.OpenFile(path(t, s)+".lock", os.O_RDWR|os.O_CREATE, 0o600)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
				t.Fatal(err)
			}
			dctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
			defer cancel()
			return s.Save(dctx, &checkpoint.Checkpoint{Key: k})
		}, false, context.DeadlineExceeded, "billing,orders,0.json.lock"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			err := tc.run(t, dir, newFileStore(t, dir))
			if err == nil {
				t.Fatalf("no error, want a %s one", class(tc.permanent))
			}
			if got := checkpoint.IsPermanent(err); got != tc.permanent {
				t.Errorf("IsPermanent(%v) = %v, want %v (%s)", err, got, tc.permanent, class(tc.permanent))
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v does not match %v", err, tc.is)
			}
			if says := strings.ReplaceAll(tc.says, "{dir}", dir); !strings.Contains(err.Error(), says) {
				t.Errorf("error %q does not say %q", err, says)
			}
		})
	}
}

func class(permanent bool) string {
	if permanent {
		return "permanent"
	}
	return "transient"
}
