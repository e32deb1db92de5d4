package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/unistream-go/unistream/adapters/kafka/kafkatest"
)

// TestCrashExhaustedReasons checks the reasons a record that kills its
// consumer is given once its crashes use its attempts: in the DLQ
// (dlq show) and in a halt (checkpoint show). Neither may be empty or
// start with a blank.
func TestCrashExhaustedReasons(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic("poison", 1))
	url := c.URL("poison", "fetch_wait", "50ms")
	mustCLI(t, "boom\n", "produce", url, "--max-age", "20ms")
	dir := t.TempDir()
	dlqURL := fileURL(filepath.Join(dir, "d.jsonl"))
	// The handler kills its consumer: per-record mode charges each crash to
	// the record, and the third run finds its 2 attempts used.
	const kill = "cat >/dev/null; kill -9 $PPID; exec sleep 60"
	crash := func(t *testing.T, args ...string) {
		t.Helper()
		for run := 1; run <= 2; run++ {
			if r := cli(t, "", nil, args...); r.code == 0 {
				t.Fatalf("run %d of the consumer that the record kills exited 0: %s", run, r)
			}
		}
	}
	base := func(name, cp string) []string {
		return []string{"consume", url, "--name", name, "--checkpoint", fileURL(filepath.Join(dir, cp)), "--exec", kill,
			"--commit-records", "1", "--max-attempts", "2", "--retry-initial", "10ms", "--poll-interval", "20ms"}
	}
	const crashed = "crashed: 2 of the last 2 attempt(s) were interrupted by a crash of the consumer"

	t.Run("dead letter", func(t *testing.T) {
		args := append(base("dl", "cp-dl"), "--dlq", dlqURL)
		crash(t, args...)
		mustCLI(t, "", append(args, "--max-records", "1")...)
		r := mustCLI(t, "", "dlq", "show", dlqURL)
		if !strings.Contains(r.stdout, "after 2 attempts ("+crashed+")") {
			t.Errorf("dlq show: no crash reason\n%s", r)
		}
	})
	t.Run("halt", func(t *testing.T) {
		args := append(base("halt", "cp-halt"), "--on-exhausted", "halt")
		crash(t, args...)
		b := start(t, "", args...)
		b.waitOutput(t, "halted at")
		b.signal(t)
		if r := b.wait(t); r.code != 0 {
			t.Fatalf("halted consume after SIGINT: %s", r)
		}
		r := mustCLI(t, "", "checkpoint", "show", url, "--name", "halt", "--checkpoint", fileURL(filepath.Join(dir, "cp-halt")))
		// The crash reason counts the attempts itself: the halt does not
		// repeat them ("… after 2 attempt(s): attempt interrupted …").
		if !strings.Contains(r.stdout, "after 2 attempts: "+crashed+"; last error") {
			t.Errorf("checkpoint show: no crash reason in the halt\n%s", r)
		}
	})
}
