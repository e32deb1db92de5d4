package memlimit

import (
	"runtime"
	"runtime/debug"
	"testing"
)

// TestLimit: a Go memory limit, when set, is the limit; otherwise, on
// Linux, the cgroup's or the machine's memory is, and it is more than
// nothing.
func TestLimit(t *testing.T) {
	old := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(old)
	debug.SetMemoryLimit(3 << 30)
	if l, src := Limit(); l != 3<<30 || src == "" {
		t.Fatalf("Limit() = %d, %q with GOMEMLIMIT 3 GiB", l, src)
	}
	debug.SetMemoryLimit(old)
	l, src := Limit()
	if runtime.GOOS == "linux" && (l <= 0 || src == "") {
		t.Fatalf("Limit() = %d, %q on Linux: want the cgroup's or the machine's memory", l, src)
	}
	t.Logf("limit %d bytes (%s)", l, src)
}
