//go:build unix

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/unistream-go/unistream/adapters/kafka/kafkatest"
)

// goneTimeout bounds the wait for a killed process to disappear.
const goneTimeout = 30 * time.Second

// alive reports whether pid is a live process: it exists and, where /proc
// tells, is not a zombie waiting for a reaper.
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return !os.IsNotExist(err)
	}
	// pid (comm) S ...: the state follows the last ')'.
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) {
		return stat[i+2] != 'Z'
	}
	return true
}

// readPID waits for the file a handler writes its process id to (written
// to p+".tmp" and renamed, so it is whole) and returns the id; the process
// is killed when the test ends, if it is still there.
func readPID(t *testing.T, p string) int {
	t.Helper()
	waitFile(t, p)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		t.Fatalf("%s holds %q: expected a process id", p, b)
	}
	t.Cleanup(func() {
		if alive(pid) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	return pid
}

// waitGone waits until pid is no longer a live process.
func waitGone(t *testing.T, pid int, what string) {
	t.Helper()
	deadline := time.Now().Add(goneTimeout)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("%s (pid %d) still runs %s after it should have been killed", what, pid, goneTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// writePID is shell text that writes the process id in $1 to the file p
// atomically.
func writePID(pid, p string) string {
	return "echo " + pid + " > " + p + ".tmp && mv " + p + ".tmp " + p
}

// TestExecProcessGroupKilled checks that the processes an --exec attempt
// leaves behind in its process group (here a background sleep, a
// grandchild of consume) are killed when the attempt ends: when the
// command exits, when --attempt-timeout passes, and when a graceful stop's
// drain timeout passes.
func TestExecProcessGroupKilled(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic("group", 1))
	url := c.URL("group", "fetch_wait", "50ms")
	mustCLI(t, "x\n", "produce", url, "--max-age", "20ms")
	tests := []struct {
		name string
		// script gets the pid file as $P; it starts the grandchild.
		script string
		args   []string
		stop   bool // SIGINT once the grandchild runs, then check it is gone
	}{
		{"command exits", `sleep 600 >/dev/null 2>&1 & ` + writePID("$!", "$P") + `; exit 0`, nil, false},
		{"attempt timeout", `sleep 600 & ` + writePID("$!", "$P") + `; wait`, []string{"--attempt-timeout", "1s", "--max-attempts", "1", "--on-exhausted", "halt"}, false},
		{"graceful stop", `sleep 600 & ` + writePID("$!", "$P") + `; wait`, []string{"--drain-timeout", "1s"}, true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			pidfile := filepath.Join(dir, "pid")
			args := append([]string{"consume", url, "--name", "group" + strconv.Itoa(i), "--dlq", fileURL(filepath.Join(dir, "d.jsonl")),
				"--exec", "P=" + pidfile + "; " + tt.script, "--poll-interval", "20ms"}, tt.args...)
			b := start(t, "", args...)
			pid := readPID(t, pidfile)
			if tt.stop {
				b.signal(t)
				if r := b.wait(t); r.code != 0 {
					t.Fatalf("consume after SIGINT: %s", r)
				}
			}
			waitGone(t, pid, "the --exec command's background process")
			if !tt.stop {
				b.signal(t)
				if r := b.wait(t); r.code != 0 {
					t.Fatalf("consume after SIGINT: %s", r)
				}
			}
		})
	}
}
