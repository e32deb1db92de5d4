//go:build unix

package main

import (
	"context"
	"os/exec"
	"syscall"
)

// shellCommand runs line through sh -c in its own process group, so that
// Ctrl-C in the terminal stops the consumer gracefully and lets the
// in-flight command finish instead of killing it with the consumer.
func shellCommand(ctx context.Context, line string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", line)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}
