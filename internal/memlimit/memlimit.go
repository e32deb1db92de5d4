// Package memlimit tells how much memory the process may use, so that an
// adapter can refuse at open a configuration whose buffers cannot fit:
//
//	if lim, src := memlimit.Limit(); lim > 0 && need > lim/2 {
//		return fmt.Errorf("… %d bytes, more than half of %s (%d bytes)", need, src, lim)
//	}
package memlimit

import (
	"math"
	"runtime/debug"
)

// Limit returns the process's memory limit in bytes and where it comes
// from: the Go runtime's soft limit (GOMEMLIMIT or debug.SetMemoryLimit)
// when one is set, else the cgroup's memory.max (a container's limit),
// else the machine's memory; 0 and "" when none is known.
func Limit() (bytes int64, source string) {
	if l := debug.SetMemoryLimit(-1); l > 0 && l < math.MaxInt64 {
		return l, "the Go memory limit (GOMEMLIMIT)"
	}
	return system()
}
