//go:build race

package main

// raceEnabled reports whether the race detector is on: the tests then
// build the binary with -race too.
const raceEnabled = true
