//go:build !unix

package main

import (
	"context"
	"os/exec"
)

// shellCommand runs line through cmd /C.
func shellCommand(ctx context.Context, line string) *exec.Cmd {
	return exec.CommandContext(ctx, "cmd", "/C", line)
}

// runCommand runs cmd.
func runCommand(cmd *exec.Cmd) error { return cmd.Run() }
