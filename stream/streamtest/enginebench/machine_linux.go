package enginebench

import (
	"bytes"
	"os"
	"strconv"
	"time"
)

// machineCPU returns the CPU time the whole machine has spent busy so far
// (every CPU's user, nice, system, irq, softirq and steal time, from
// /proc/stat): beside the process's own, the kernel threads' work for it
// (writeback of the files it wrote, the journal's commits) that its own
// CPU time does not count. It reports whether it could be read.
func machineCPU() (time.Duration, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := bytes.Fields(line)
	if len(f) < 9 || string(f[0]) != "cpu" {
		return 0, false
	}
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} { // user nice system irq softirq steal
		v, err := strconv.ParseInt(string(f[i]), 10, 64)
		if err != nil {
			return 0, false
		}
		ticks += v
	}
	return time.Duration(ticks) * (time.Second / 100), true // USER_HZ
}
