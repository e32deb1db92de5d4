//go:build darwin || dragonfly || freebsd || netbsd || openbsd

package checkpoint_test

import (
	"os"
	"testing"
)

// denyWrites makes dir refuse new entries until the test ends (mode
// 0500). Root is not stopped by modes: the test is skipped.
func denyWrites(t *testing.T, dir string) {
	t.Helper()
	if os.Geteuid() == 0 {
		t.Skip("running as root: a directory's mode does not stop root")
	}
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o700) })
}
