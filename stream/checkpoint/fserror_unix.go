//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package checkpoint

import (
	"errors"
	"syscall"
)

// permanentFS reports whether err, from a file operation of FileStore, is
// one that retrying cannot cure: the operator must change the directory
// (its permissions, its mount, a file or directory in the wrong place)
// before the store can work again. The file system being full (ENOSPC,
// EDQUOT), I/O errors (EIO), a resource briefly exhausted (EAGAIN, EMFILE,
// ENFILE, ENOMEM, ENOLCK) or a stale NFS handle are transient: they clear
// without a change to the store's directory.
func permanentFS(err error) bool {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return false
	}
	switch errno {
	case syscall.EACCES, syscall.EPERM, // permissions, an immutable file
		syscall.EROFS,        // the file system is mounted read-only
		syscall.ENOENT,       // the store's directory was removed
		syscall.ENOTDIR,      // a file where a directory must be
		syscall.EISDIR,       // a directory where a file must be
		syscall.ENAMETOOLONG, // the directory's path is too long for the key's file
		syscall.ELOOP,        // a symbolic link loop
		syscall.EINVAL,       // a name or operation the file system refuses
		syscall.EFBIG,        // a file larger than the process may write
		syscall.EOPNOTSUPP:   // flock(2) or fsync(2) unsupported here
		return true
	}
	return false
}
