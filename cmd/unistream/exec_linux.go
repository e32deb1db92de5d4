package main

import (
	"runtime"
	"syscall"
)

// setDeathSignal makes the kernel send SIGKILL to the shell when the
// consumer dies, even by SIGKILL. Its own children do not get it: a handler
// that runs a long command should exec it (sh -c 'exec cmd') so that the
// command is the shell.
func setDeathSignal(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }

// lockThread pins the calling goroutine to its OS thread and returns the
// unpin. Linux sends the parent-death signal when the thread that forked
// the child exits; the Go runtime ends a thread when a goroutine locked to
// it exits locked, so a child started from an unpinned goroutine could be
// killed when some other goroutine later locks and leaves that thread.
// Pinned for the child's life, the thread cannot be taken over.
func lockThread() func() {
	runtime.LockOSThread()
	return runtime.UnlockOSThread
}
