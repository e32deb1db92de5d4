//go:build unix

package killtest_test

import (
	"os"
	"syscall"
	"time"
)

// sigkillUnsupported is empty: unix has SIGKILL.
const sigkillUnsupported = ""

// sigkillSelf sends SIGKILL to the calling process, which dies at once:
// no deferred call, no flush, no graceful stop, as under the OOM killer.
func sigkillSelf() {
	if err := syscall.Kill(os.Getpid(), syscall.SIGKILL); err != nil {
		panic("killtest: SIGKILL self: " + err.Error())
	}
	// The signal is delivered asynchronously: block this handler until the
	// kernel ends the process. (Not a wait for an event of the test; the
	// process never returns from here.)
	for {
		time.Sleep(time.Hour)
	}
}

// killedBySIGKILL reports whether a child ended by SIGKILL.
func killedBySIGKILL(ps *os.ProcessState) bool {
	ws, ok := ps.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}
