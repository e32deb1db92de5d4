//go:build !unix

package killtest_test

import (
	"os"
	"runtime"
)

// sigkillUnsupported says why the sigkill mode is skipped here.
const sigkillUnsupported = "a process cannot send itself SIGKILL on " + runtime.GOOS + " (no syscall.Kill / SIGKILL)"

// sigkillSelf is never called: the sigkill subtests are skipped first.
func sigkillSelf() { panic("killtest: " + sigkillUnsupported) }

// killedBySIGKILL is never true here.
func killedBySIGKILL(*os.ProcessState) bool { return false }
