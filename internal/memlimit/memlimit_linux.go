package memlimit

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

// system returns the cgroup v2 memory.max of the process, or the machine's
// memory.
func system() (int64, string) {
	if b, err := os.ReadFile("/sys/fs/cgroup/memory.max"); err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && n > 0 {
			return n, "the cgroup's memory.max"
		}
	}
	var si syscall.Sysinfo_t
	if err := syscall.Sysinfo(&si); err == nil && si.Totalram > 0 {
		return int64(si.Totalram) * int64(si.Unit), "the machine's memory"
	}
	return 0, ""
}
