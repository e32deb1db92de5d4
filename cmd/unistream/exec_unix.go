//go:build unix

package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"syscall"
)

// shellCommand runs line through sh -c in its own process group, so that
// Ctrl-C in the terminal stops the consumer gracefully and lets the
// in-flight command finish instead of killing it with the consumer. When
// ctx is done (a handler timeout, or a stop's drain timeout) the whole group
// is killed, not only the shell; on Linux the shell also gets SIGKILL when
// the consumer dies (see setDeathSignal). Run it with runCommand.
func shellCommand(ctx context.Context, line string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", line)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	setDeathSignal(cmd.SysProcAttr)
	cmd.Cancel = func() error { return killGroup(cmd) }
	return cmd
}

// runCommand runs cmd, made by shellCommand, and then kills whatever it
// left running in its process group: an attempt's processes end with it.
// The OS thread that starts the child stays locked to this goroutine until
// the child is reaped, because the parent-death signal fires when that
// thread exits, not the process (see lockThread).
func runCommand(cmd *exec.Cmd) error {
	unlock := lockThread()
	defer unlock()
	err := cmd.Run()
	if cmd.Process != nil {
		killGroup(cmd) // the shell is reaped; its group may live on
	}
	return err
}

// killGroup sends SIGKILL to the process group of cmd, whose leader is the
// shell.
func killGroup(cmd *exec.Cmd) error {
	err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return os.ErrProcessDone
	}
	return err
}
