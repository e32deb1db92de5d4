package main

import (
	"path/filepath"
	"testing"

	"github.com/unistream-go/unistream/adapters/kafka/kafkatest"
)

// TestExecDiesWithKilledConsume checks that an --exec command does not
// outlive a consume killed with SIGKILL: nothing in consume runs then, the
// kernel's parent-death signal must end it.
func TestExecDiesWithKilledConsume(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic("killed", 1))
	url := c.URL("killed", "fetch_wait", "50ms")
	mustCLI(t, "x\n", "produce", url, "--max-age", "20ms")
	dir := t.TempDir()
	pidfile := filepath.Join(dir, "pid")
	b := start(t, "", "consume", url, "--dlq", fileURL(filepath.Join(dir, "d.jsonl")), "--poll-interval", "20ms",
		"--exec", writePID("$$", pidfile)+"; exec sleep 600")
	pid := readPID(t, pidfile)
	if err := b.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-b.done
	waitGone(t, pid, "the --exec command of the killed consume")
}
