//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd)

package checkpoint

import (
	"errors"
	"os"
	"runtime"
)

// flockSupported reports whether FileStore can lock across processes.
const flockSupported = false

// errNoFlock explains why NewFileStore fails on this system.
var errNoFlock = errors.New("the file store needs flock(2) to lock across processes, which is not available on " + runtime.GOOS)

// tryFlock is never called: NewFileStore fails first.
func tryFlock(*os.File) (bool, error) { return false, errNoFlock }
