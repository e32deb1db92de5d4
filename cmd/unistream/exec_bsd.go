//go:build unix && !linux

package main

import "syscall"

// setDeathSignal does nothing: only Linux has a parent-death signal here.
func setDeathSignal(*syscall.SysProcAttr) {}

// lockThread does nothing where there is no parent-death signal.
func lockThread() func() { return func() {} }
