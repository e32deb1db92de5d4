//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd)

package checkpoint

import (
	"errors"
	"io/fs"
)

// permanentFS reports whether err, from a file operation of FileStore, is
// one that retrying cannot cure. NewFileStore fails on these systems (no
// flock(2)), so only permissions are told apart.
func permanentFS(err error) bool { return errors.Is(err, fs.ErrPermission) }
