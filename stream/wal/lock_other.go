//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd)

package wal

// flock is a no-op where flock(2) does not exist: only the in-process
// registry guards the log there, so run one producer per log file.
func flock(string) (func(), error) { return func() {}, nil }
