package checkpoint_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/checkpoint/storetest"
)

// denyWrites makes dir refuse new entries until the test ends: mode 0500,
// or, for root (whom modes do not stop), the immutable attribute (chattr
// +i). It skips the test where neither works.
func denyWrites(t *testing.T, dir string) {
	t.Helper()
	if os.Geteuid() != 0 {
		if err := os.Chmod(dir, 0o500); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(dir, 0o700) })
		return
	}
	if err := setImmutable(dir, true); err != nil {
		t.Skipf("running as root, and the immutable attribute cannot be set on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := setImmutable(dir, false); err != nil {
			t.Errorf("clear the immutable attribute of %s: %v", dir, err)
		}
	})
}

// setImmutable sets or clears FS_IMMUTABLE_FL on path, as chattr does.
func setImmutable(path string, on bool) error {
	const immutable = 0x10 // FS_IMMUTABLE_FL
	size := unsafe.Sizeof(uintptr(0))
	getflags := uintptr(2<<30 | size<<16 | 'f'<<8 | 1) // _IOR('f', 1, long)
	setflags := uintptr(1<<30 | size<<16 | 'f'<<8 | 2) // _IOW('f', 2, long)
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var flags int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), getflags, uintptr(unsafe.Pointer(&flags))); e != 0 {
		return e
	}
	if on {
		flags |= immutable
	} else {
		flags &^= immutable
	}
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), setflags, uintptr(unsafe.Pointer(&flags))); e != 0 {
		return e
	}
	return nil
}

// mountTmpfs mounts a tmpfs of size bytes on a new directory, unmounted
// when the test ends. It skips the test where mounting is not allowed.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a small file system needs root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0700"); err != nil {
		t.Skipf("mount a tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// TestFileStoreDiskFull fills a real file system: Save fails with ENOSPC,
// a transient error, leaves nothing behind, and succeeds once space is
// freed, with the same checkpoint.
func TestFileStoreDiskFull(t *testing.T) {
	dir := mountTmpfs(t, "64k")
	s := newFileStore(t, dir)
	ctx := context.Background()
	k := checkpoint.Key{Consumer: "billing", Stream: "orders", Partition: "0"}
	cp := storetest.Full(k)
	if err := s.Save(ctx, cp); err != nil {
		t.Fatal(err)
	}
	filler := filepath.Join(dir, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill %s: %v, want ENOSPC", dir, err)
			}
			break
		}
	}
	f.Close()

	cp.Counts.Succeeded++
	err = s.Save(ctx, cp)
	if !errors.Is(err, syscall.ENOSPC) || checkpoint.IsPermanent(err) {
		t.Fatalf("Save on a full file system: err = %v (permanent %v), want a transient ENOSPC", err, checkpoint.IsPermanent(err))
	}
	if !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), k.String()) {
		t.Errorf("error %q does not name the key %s and the directory %s", err, k, dir)
	}
	if cp.Version != 1 {
		t.Fatalf("a failed Save changed the version to %d", cp.Version)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, cp); err != nil {
		t.Fatalf("Save retried after space was freed: %v", err)
	}
	got, err := s.Load(ctx, k)
	if err != nil || got.Version != 2 || got.Counts.Succeeded != cp.Counts.Succeeded {
		t.Fatalf("Load after the retried Save = %+v, %v; want version 2 with the retried counts", got, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Errorf("the failed Save left %s", e.Name())
		}
	}
}

// TestFileStoreReadOnlyFileSystem remounts the store's file system
// read-only: Save fails with EROFS, a permanent error; Load still reads.
func TestFileStoreReadOnlyFileSystem(t *testing.T) {
	dir := mountTmpfs(t, "1m")
	s := newFileStore(t, dir)
	ctx := context.Background()
	k := checkpoint.Key{Consumer: "billing", Stream: "orders", Partition: "0"}
	cp := storetest.Full(k)
	if err := s.Save(ctx, cp); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("", dir, "", syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
		t.Skipf("remount %s read-only: %v", dir, err)
	}
	err := s.Save(ctx, cp)
	if !errors.Is(err, syscall.EROFS) || !checkpoint.IsPermanent(err) {
		t.Fatalf("Save on a read-only file system: err = %v (permanent %v), want a permanent EROFS", err, checkpoint.IsPermanent(err))
	}
	if !strings.Contains(err.Error(), dir) {
		t.Errorf("error %q does not name the directory %s", err, dir)
	}
	if got, err := s.Load(ctx, k); err != nil || got.Version != 1 {
		t.Fatalf("Load on a read-only file system = %v, %v; want version 1", got, err)
	}
}
