//go:build !linux

package enginebench

import "time"

// machineCPU reports that the machine's CPU time cannot be read here.
func machineCPU() (time.Duration, bool) { return 0, false }
