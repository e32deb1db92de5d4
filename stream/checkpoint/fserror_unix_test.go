//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestFSErrorClasses lists every file system error FileStore tells apart
// and its class, as the os package returns them (a *fs.PathError around
// the errno) and wrapped the way the store reports them.
func TestFSErrorClasses(t *testing.T) {
	cases := []struct {
		errno     syscall.Errno
		permanent bool
	}{
		{syscall.EACCES, true},
		{syscall.EPERM, true},
		{syscall.EROFS, true},
		{syscall.ENOENT, true},
		{syscall.ENOTDIR, true},
		{syscall.EISDIR, true},
		{syscall.ENAMETOOLONG, true},
		{syscall.ELOOP, true},
		{syscall.EINVAL, true},
		{syscall.EFBIG, true},
		{syscall.EOPNOTSUPP, true},

		{syscall.ENOSPC, false},
		{syscall.EDQUOT, false},
		{syscall.EIO, false},
		{syscall.EAGAIN, false},
		{syscall.EINTR, false},
		{syscall.EMFILE, false},
		{syscall.ENFILE, false},
		{syscall.ENOMEM, false},
		{syscall.ENOLCK, false},
		{syscall.ESTALE, false},
		{syscall.EBUSY, false},
		{syscall.ETIMEDOUT, false},
	}
	for _, tc := range cases {
		t.Run(tc.errno.Error(), func(t *testing.T) {
			path := "/var/lib/app/checkpoints/billing,orders,0.json"
			err := fsError(fmt.Errorf("checkpoint: save billing/orders/0: %w", &fs.PathError{Op: "open", Path: path, Err: tc.errno}))
			if got := IsPermanent(err); got != tc.permanent {
				t.Fatalf("IsPermanent(%v) = %v, want %v", err, got, tc.permanent)
			}
			if !errors.Is(err, tc.errno) {
				t.Errorf("the classified error %v no longer matches %v", err, tc.errno)
			}
			if want := "checkpoint: save billing/orders/0: open " + path + ": " + tc.errno.Error(); err.Error() != want {
				t.Errorf("message = %q, want %q (the key, the path and the cause, unchanged)", err, want)
			}
			if errors.Is(err, ErrConflict) || errors.Is(err, ErrCorrupt) || errors.Is(err, ErrTooLarge) {
				t.Errorf("%v matches a store sentinel it is not", err)
			}
		})
	}
	for _, err := range []error{nil, context.Canceled, os.ErrDeadlineExceeded, errors.New("something else")} {
		if IsPermanent(fsError(err)) {
			t.Errorf("fsError(%v) is permanent, want transient", err)
		}
	}
	if fsError(nil) != nil {
		t.Error("fsError(nil) != nil")
	}
}

// TestCreateTempNamesAreTempTargets ties the names createTemp gives to the
// names NewFileStore removes.
func TestCreateTempNamesAreTempTargets(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"billing,orders,0.json", fileName(Key{Consumer: strings.Repeat("x", 150), Stream: "s", Partition: "p"})} {
		for range 20 {
			f, err := createTemp(dir, name)
			if err != nil {
				t.Fatal(err)
			}
			f.Close()
			base := filepath.Base(f.Name())
			if target, ok := tempTarget(base); !ok || target != name {
				t.Fatalf("tempTarget(%q) = %q, %v; want %q, true", base, target, ok, name)
			}
		}
	}
}
