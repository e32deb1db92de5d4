package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/unistream-go/unistream/adapters/kafka/kafkatest"
	"github.com/unistream-go/unistream/stream/dlq"
)

func fileURL(p string) string { return "file://" + filepath.ToSlash(p) }

func TestHelpEveryCommand(t *testing.T) {
	root := newRootCmd()
	var paths [][]string
	for _, c := range root.Commands() {
		paths = append(paths, []string{c.Name()})
		for _, s := range c.Commands() {
			paths = append(paths, []string{c.Name(), s.Name()})
		}
	}
	paths = append(paths, []string{})
	for _, p := range paths {
		r := mustCLI(t, "", append(p, "--help")...)
		if !strings.Contains(r.stdout, "Usage:") {
			t.Errorf("unistream %v --help: no usage\n%s", p, r)
		}
	}
	for _, want := range []string{"demo", "serve", "produce", "consume", "tail", "checkpoint", "dlq", "conformance", "version", "completion"} {
		if !strings.Contains(mustCLI(t, "", "--help").stdout, want) {
			t.Errorf("root help does not list %s", want)
		}
	}
	if r := mustCLI(t, "", "completion", "bash"); !strings.Contains(r.stdout, "bash completion") {
		t.Errorf("completion bash: %s", r)
	}
	if r := mustCLI(t, "", "version"); !strings.HasPrefix(r.stdout, "unistream ") {
		t.Errorf("version: %s", r)
	}
	var v map[string]string
	if r := mustCLI(t, "", "version", "-o", "json"); json.Unmarshal([]byte(r.stdout), &v) != nil || v["version"] == "" {
		t.Errorf("version -o json: %s", r)
	}
	if r := mustCLI(t, "", "config", "keys"); !strings.Contains(r.stdout, "UNISTREAM_CONSUMER_RETRY_MAX_ATTEMPTS") {
		t.Errorf("config keys: %s", r)
	}
}

func TestBadFlags(t *testing.T) {
	tests := []struct {
		args []string
		code int
		want []string
	}{
		{[]string{"consum"}, exitUsage, []string{`unknown command "consum"`}},
		{[]string{"consume", "--nope"}, exitUsage, []string{"unknown flag: --nope", "consume --help"}},
		{[]string{"consume", "mem://x", "--batch-size", "lots"}, exitUsage, []string{"flag --batch-size", "consumer.batch_size", `"lots"`, "an integer ≥ 1"}},
		{[]string{"consume", "mem://x", "--on-exhausted", "drop"}, exitUsage, []string{"flag --on-exhausted", "one of dead_letter, halt"}},
		{[]string{"consume", "mem://x"}, exitUsage, []string{"no dlq given", "--dlq"}},
		{[]string{"consume"}, exitUsage, []string{"no stream given", "UNISTREAM_STREAM"}},
		{[]string{"consume", "mem://x", "--dlq", "file:///tmp/x", "--permanent-exit-code", "3"}, exitUsage, []string{"--permanent-exit-code needs --exec"}},
		{[]string{"consume", "a", "b"}, exitUsage, []string{"accepts at most 1 arg"}},
		{[]string{"produce", "mem://x", "--format", "xml"}, exitUsage, []string{"--format", "lines or json"}},
		{[]string{"produce", "mem://x", "--key-field", "k"}, exitUsage, []string{"need --format json"}},
		{[]string{"demo", "--backend", "nats"}, exitUsage, []string{`backend "nats"`, "expected one of"}},
		{[]string{"version", "--output", "yaml"}, exitUsage, []string{"--output", "text or json"}},
		{[]string{"version", "--log-level", "loud"}, exitUsage, []string{`--log-level "loud"`, "debug, info, warn or error"}},
		{[]string{"consume", "mem://x", "--log-format", "xml"}, exitUsage, []string{`--log-format "xml"`, "text or json"}},
		{[]string{"checkpoint", "reset", "mem://x", "--partition", "0", "--checkpoint", "file:///tmp/x"}, exitUsage, []string{"--yes"}},
		{[]string{"checkpoint", "retry", "mem://x", "--checkpoint", "file:///tmp/x"}, exitUsage, []string{"--partition"}},
		{[]string{"checkpoint", "show", "mem://x", "--checkpoint", "mem://"}, exitUsage, []string{"memory store lives only as long as one command"}},
		{[]string{"dlq", "show"}, exitUsage, []string{"no dlq given"}},
		{[]string{"checkpoint", "show", "mem://x", "--checkpoint", "dynamodb://t?bogus=1"}, exitError, []string{`parameter "bogus" is unknown`}},
		{[]string{"checkpoint", "show", "mem://x", "--checkpoint", "nosuch://t"}, exitError, []string{`unknown scheme "nosuch"`, "dynamodb, file, mem"}},
		{[]string{"conformance"}, exitUsage, []string{"--stream URL-TEMPLATE"}},
		{[]string{"conformance", "--stream", "kafka://h:1/orders"}, exitUsage, []string{"no {name}"}},
		{[]string{"conformance", "--stream", "kafka://h:1/{name}", "--max-shards", "-1"}, exitUsage, []string{"--max-shards -1", "0 (no budget) or a positive number"}},
		{[]string{"conformance", "--stream", "nosuch://h/{name}"}, exitUsage, []string{"cannot delete nosuch streams", "kafka, kinesis, mem, pulsar", "--keep"}},
		{[]string{"serve", "--backends", "mem"}, exitUsage, []string{"runs only inside one process"}},
		{[]string{"tail", "mem://x", "--from", "yesterday"}, exitUsage, []string{"--from", "earliest, latest"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			wantErr(t, cli(t, "", nil, tt.args...), tt.code, tt.want...)
		})
	}
}

func TestBadConfigFile(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("stream: mem://orders\nconsumer:\n  batch_size: many\n"), 0o600)
	wantErr(t, cli(t, "", nil, "consume", "--config", bad), exitError, bad, "line 3", "consumer.batch_size", `"many"`, "an integer ≥ 1")

	unknown := filepath.Join(dir, "unknown.yaml")
	os.WriteFile(unknown, []byte("stream: mem://orders\nconsumer:\n  retries: 3\n"), 0o600)
	wantErr(t, cli(t, "", nil, "config", "check", "--config", unknown), exitError, unknown, "line 3", "unknown key consumer.retries", "retry")

	notYAML := filepath.Join(dir, "broken.yaml")
	os.WriteFile(notYAML, []byte("stream: [\n"), 0o600)
	wantErr(t, cli(t, "", nil, "produce", "--config", notYAML), exitError, notYAML, "not valid YAML")

	wantErr(t, cli(t, "", nil, "tail", "--config", filepath.Join(dir, "missing.yaml")), exitError, "missing.yaml", "no such file")

	// The environment overrides the file, and names itself in errors.
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("stream: mem://orders\nconsumer:\n  batch_size: 5\n"), 0o600)
	r := cli(t, "", []string{"UNISTREAM_CONSUMER_BATCH_SIZE=x"}, "config", "check", "--config", good)
	wantErr(t, r, exitError, "environment variable UNISTREAM_CONSUMER_BATCH_SIZE", "consumer.batch_size")
	r = cli(t, "", []string{"UNISTREAM_CONFIG=" + good, "UNISTREAM_CONSUMER_NAME=fromenv", "UNISTREAM_CONSUMER_BATCH_SIZE=6"}, "config", "check", "--batch-size", "7")
	if r.code != 0 || !strings.Contains(r.stdout, "consumer.name (from environment variable UNISTREAM_CONSUMER_NAME)") ||
		!strings.Contains(r.stdout, "stream (from config file "+good+" line 1)") ||
		!strings.Contains(r.stdout, "consumer.batch_size (from flag --batch-size)") {
		t.Errorf("config check with env: %s", r)
	}
}

// freePort returns a loopback port nothing listens on.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return p
}

func TestMissingBroker(t *testing.T) {
	// A closed port is refused at once; a port that accepts connections and
	// never answers (a hung broker, a firewall) ends at the connect timeout.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	accepted := make(chan net.Conn, 16)
	go func() { // owned by the test: ends when silent is closed
		for {
			c, err := silent.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	defer func() {
		silent.Close()
		for c := range accepted {
			c.Close()
		}
	}()
	closed := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	dir := t.TempDir()
	for _, tt := range []struct {
		addr string
		want string
	}{
		{closed, "connection refused"},
		{silent.Addr().String(), "connect timeout 2s"},
	} {
		url := "kafka://" + tt.addr + "/orders"
		for _, args := range [][]string{
			{"consume", url, "--dlq", fileURL(filepath.Join(dir, "d.jsonl")), "--connect-timeout", "2s"},
			{"produce", url, "--connect-timeout", "2s"},
			{"tail", url, "--connect-timeout", "2s"},
			{"checkpoint", "show", url, "--checkpoint", fileURL(dir), "--connect-timeout", "2s"},
		} {
			t.Run(tt.want+"/"+args[0], func(t *testing.T) {
				began := time.Now()
				r := cli(t, "x\n", nil, args...)
				wantErr(t, r, exitError, tt.want, tt.addr)
				t.Logf("%s failed after %s", args[0], time.Since(began).Round(time.Millisecond))
			})
		}
	}
}

func TestDemoBinary(t *testing.T) {
	r := mustCLI(t, "", "demo")
	for _, want := range []string{"unistream demo on kafka", "--- 1 th pull ---", "❌ ", "✅ DLQ: ", "End 'process batch', elapsed = ", "summary: produced 20"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("demo output lacks %q\n%s", want, r)
		}
	}
	r = mustCLI(t, "", "demo", "--backend", "kinesis")
	for _, want := range []string{"unistream demo on kinesis", "❌ ", "✅ DLQ: ", "summary: produced 20"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("demo --backend kinesis output lacks %q\n%s", want, r)
		}
	}
	r = mustCLI(t, "", "demo", "--backend", "mem", "--records", "5", "--seed", "3")
	if !strings.Contains(r.stdout, "unistream demo on mem") || !strings.Contains(r.stdout, "processed 5") {
		t.Errorf("demo --backend mem\n%s", r)
	}
}

// handler is a shell script for --exec: it fails the first attempt of
// every record whose value holds "retry", fails "poison" permanently
// (exit 3) and succeeds otherwise.
func handler(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "handle.sh")
	script := `#!/bin/sh
v=$(cat)
case "$v" in
  *poison*) echo "cannot handle $UNISTREAM_RECORD_ID" >&2; exit 3 ;;
  *retry*)
    mark="` + dir + `/seen-$UNISTREAM_RECORD_ID"
    if [ ! -e "$mark" ]; then touch "$mark"; echo "first attempt fails" >&2; exit 1; fi ;;
esac
echo "$UNISTREAM_PARTITION $UNISTREAM_POINTER $v" >> "` + dir + `/handled.txt"
exit 0
`
	if err := os.WriteFile(p, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	return p
}

// tenRecords returns the input lines of ten records for produce, each
// line(i, v) with a newline: record i from 1 to 10, v "retry" for record 4
// (handler fails its first attempt), "poison" for record 7 (it fails for
// good) and "ok" for the others.
func tenRecords(line func(i int, v string) string) string {
	var in strings.Builder
	for i := 1; i <= 10; i++ {
		v := "ok"
		switch i {
		case 4:
			v = "retry"
		case 7:
			v = "poison"
		}
		in.WriteString(line(i, v) + "\n")
	}
	return in.String()
}

func TestProduceConsumeTailCheckpointDLQ(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic("orders", 2))
	url := c.URL("orders", "fetch_wait", "50ms")
	dir := t.TempDir()
	cp, dlqURL := fileURL(filepath.Join(dir, "cp")), fileURL(filepath.Join(dir, "orders.dlq.jsonl"))

	in := tenRecords(func(i int, v string) string { return fmt.Sprintf(`{"id":"r%d","customer":"c%d","v":"%s"}`, i, i%3, v) })
	r := mustCLI(t, in, "produce", url, "--format", "json", "--key-field", "customer", "--id-field", "id", "--max-age", "20ms")
	if !strings.Contains(r.stdout, "produced 10 records to orders (sent 10") {
		t.Fatalf("produce: %s", r)
	}
	wantErr(t, cli(t, "{\"id\":1}\nnot json\n", nil, "produce", url, "--format", "json"), exitError, "standard input line 2", "not a JSON value")

	r = mustCLI(t, "", "tail", url, "--from", "earliest", "--follow=false", "-o", "json")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 11 { // 10 and the valid first line of the failed produce
		t.Fatalf("tail: %d records, want 11\n%s", len(lines), r)
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil || rec["key"] == nil || !strings.HasPrefix(rec["pointer"].(string), "kafka:orders/") {
		t.Fatalf("tail record %s: %v", lines[0], err)
	}

	h := handler(t, dir)
	r = mustCLI(t, "", "consume", url, "--checkpoint", cp, "--dlq", dlqURL, "--name", "billing", "--exec", h,
		"--permanent-exit-code", "3", "--max-attempts", "3", "--retry-initial", "10ms", "--poll-interval", "20ms", "--max-records", "11", "-v")
	for _, want := range []string{"✅ DLQ: ", "❌ ", "attempt 1: --exec exited with status 1: first attempt fails", "summary: processed 11: 10 succeeded, 1 dead-lettered"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("consume output lacks %q\n%s", want, r)
		}
	}
	envs, err := dlq.ReadFile(filepath.Join(dir, "orders.dlq.jsonl"))
	if err != nil || len(envs) != 1 || envs[0].ID != "r7" || envs[0].Reason != "permanent" {
		t.Fatalf("DLQ file: %+v, %v", envs, err)
	}

	r = mustCLI(t, "", "checkpoint", "show", url, "--checkpoint", cp, "--name", "billing")
	if !strings.Contains(r.stdout, "partition 0: committed kafka:orders/0@") || !strings.Contains(r.stdout, "partition 1: committed kafka:orders/1@") {
		t.Errorf("checkpoint show: %s", r)
	}
	r = mustCLI(t, "", "checkpoint", "show", url, "--checkpoint", cp, "--name", "billing", "-o", "json")
	var shown struct {
		Partitions []struct {
			Counts struct {
				Succeeded    uint64 `json:"succeeded"`
				DeadLettered uint64 `json:"dead_lettered"`
			} `json:"counts"`
		} `json:"partitions"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &shown); err != nil || len(shown.Partitions) != 2 {
		t.Fatalf("checkpoint show -o json: %v\n%s", err, r)
	}
	if ok, dead := shown.Partitions[0].Counts.Succeeded+shown.Partitions[1].Counts.Succeeded,
		shown.Partitions[0].Counts.DeadLettered+shown.Partitions[1].Counts.DeadLettered; ok != 10 || dead != 1 {
		t.Errorf("checkpoint counts: %d succeeded, %d dead-lettered; want 10 and 1\n%s", ok, dead, r)
	}

	// Print mode with JSON: records on stdout, events on stderr.
	r = mustCLI(t, "", "consume", url, "--name", "printer", "--dlq", dlqURL, "--checkpoint", cp, "--max-records", "11", "-o", "json", "--poll-interval", "20ms")
	if got := strings.Count(r.stdout, `"pointer":"kafka:orders/`); got != 11 {
		t.Errorf("consume -o json printed %d records, want 11\n%s", got, r)
	}
	if !strings.Contains(r.stderr, `"event":"attempt_succeeded"`) || !strings.Contains(r.stderr, `"event":"summary","partitions"`) && !strings.Contains(r.stderr, `"event":"summary"`) {
		t.Errorf("consume -o json: no JSON events on stderr\n%s", r)
	}

	r = mustCLI(t, "", "dlq", "show", dlqURL)
	if !strings.Contains(r.stdout, "r7") || !strings.Contains(r.stdout, "1 dead-lettered records") || strings.Contains(r.stdout, "[replayed]") {
		t.Errorf("dlq show: %s", r)
	}
	r = mustCLI(t, "", "dlq", "replay", dlqURL, "--stream", url)
	if !strings.Contains(r.stdout, "replayed 1 records to orders (0 already replayed") {
		t.Errorf("dlq replay: %s", r)
	}
	r = mustCLI(t, "", "dlq", "replay", dlqURL, "--stream", url)
	if !strings.Contains(r.stdout, "replayed 0 records to orders (1 already replayed") {
		t.Errorf("second dlq replay duplicated: %s", r)
	}
	if r := mustCLI(t, "", "dlq", "show", dlqURL); !strings.Contains(r.stdout, "[replayed]") {
		t.Errorf("dlq show after replay: %s", r)
	}
	r = mustCLI(t, "", "tail", url, "--from", "earliest", "--follow=false")
	if n := strings.Count(r.stdout, `"id":"r7"`); n != 2 {
		t.Errorf("r7 is %d times in the stream after one replay, want 2\n%s", n, r)
	}
}

func TestHaltRetrySkipReset(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic("ledger", 1))
	url := c.URL("ledger", "fetch_wait", "50ms")
	dir := t.TempDir()
	cp := fileURL(filepath.Join(dir, "cp"))
	mustCLI(t, "a\nb poison\nc\n", "produce", url, "--max-age", "20ms")
	h := handler(t, dir)
	args := []string{"consume", url, "--checkpoint", cp, "--on-exhausted", "halt", "--exec", h, "--max-attempts", "2", "--retry-initial", "10ms", "--poll-interval", "20ms"}
	b := start(t, "", args...)
	b.waitOutput(t, "halted at")
	r := mustCLI(t, "", "checkpoint", "show", url, "--checkpoint", cp)
	if !strings.Contains(r.stdout, "HALTED at kafka:ledger/0@1") || !strings.Contains(r.stdout, "status 3") {
		t.Errorf("checkpoint show while halted: %s", r)
	}
	mustCLI(t, "", "checkpoint", "skip", url, "--checkpoint", cp, "--partition", "0", "--reason", "bad data")
	// The running consumer picks the skip up and finishes the partition.
	deadline := time.Now().Add(failTimeout)
	for {
		r = mustCLI(t, "", "checkpoint", "show", url, "--checkpoint", cp, "-o", "json")
		if strings.Contains(r.stdout, `"committed":"kafka:ledger/0@2"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the consumer did not resume after skip: %s", r)
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.signal(t)
	if r := b.wait(t); r.code != 0 {
		t.Fatalf("consume after SIGINT: %s", r)
	}
	wantErr(t, cli(t, "", nil, "checkpoint", "retry", url, "--checkpoint", cp, "--partition", "0"), exitError, "not halted")
	r = mustCLI(t, "", "checkpoint", "reset", url, "--checkpoint", cp, "--partition", "0", "--yes")
	if !strings.Contains(r.stdout, "reset done; committed (none)") {
		t.Errorf("reset: %s", r)
	}
}

// TestConsumeLogFlags: with --log-format/--log-level the consumer logs its
// events (a halt at Error) on stderr, in the chosen format.
func TestConsumeLogFlags(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic("audit", 1))
	url := c.URL("audit", "fetch_wait", "50ms")
	dir := t.TempDir()
	mustCLI(t, "a\nb poison\n", "produce", url, "--max-age", "20ms")
	args := []string{"consume", url, "--checkpoint", fileURL(filepath.Join(dir, "cp")), "--on-exhausted", "halt", "--exec", handler(t, dir),
		"--max-attempts", "1", "--poll-interval", "20ms", "--log-format", "json", "--log-level", "warn"}
	b := start(t, "", args...)
	b.waitOutput(t, `"event":"halted"`)
	b.signal(t)
	r := b.wait(t)
	if r.code != 0 {
		t.Fatalf("consume after SIGINT: %s", r)
	}
	var line string
	for _, l := range strings.Split(r.stderr, "\n") {
		if strings.Contains(l, `"event":"halted"`) {
			line = l
		}
	}
	if !strings.Contains(line, `"level":"ERROR"`) || !strings.Contains(line, `"stream":"audit"`) || !strings.Contains(line, "exited with status 3") {
		t.Errorf("halted log line = %s, want a JSON Error line naming the stream and the handler's failure", line)
	}
	if strings.Contains(r.stderr, `"level":"INFO"`) {
		t.Errorf("Info lines with --log-level warn:\n%s", r.stderr)
	}
}

func TestSIGINTDuringConsume(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic("slow", 1))
	url := c.URL("slow", "fetch_wait", "50ms")
	dir := t.TempDir()
	cp := fileURL(filepath.Join(dir, "cp"))
	mustCLI(t, "1\n2\n3\n4\n5\n", "produce", url, "--max-age", "20ms")
	slow := filepath.Join(dir, "slow.sh")
	os.WriteFile(slow, []byte("#!/bin/sh\ncat >/dev/null\necho started >> "+dir+"/started\nsleep 1\n"), 0o700)

	// One Ctrl-C: the in-flight record finishes, the checkpoint is saved, exit 0.
	b := start(t, "", "consume", url, "--checkpoint", cp, "--dlq", fileURL(filepath.Join(dir, "d.jsonl")), "--exec", slow, "--poll-interval", "20ms")
	waitFile(t, filepath.Join(dir, "started"))
	b.signal(t)
	r := b.wait(t)
	if r.code != 0 || !strings.Contains(r.stderr, "stopping") {
		t.Fatalf("consume after one SIGINT: %s", r)
	}
	m := regexp.MustCompile(`summary: processed (\d+)`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("no summary: %s", r)
	}
	done, _ := strconv.Atoi(m[1])
	if done < 1 || done >= 5 {
		t.Errorf("processed %d records before stopping, want the in-flight one and not all 5", done)
	}
	show := mustCLI(t, "", "checkpoint", "show", url, "--checkpoint", cp, "-o", "json")
	if !strings.Contains(show.stdout, fmt.Sprintf(`"committed":"kafka:slow/0@%d"`, done-1)) {
		t.Errorf("checkpoint after graceful stop (processed %d): %s", done, show)
	}

	// Two Ctrl-C: exit at once with 130.
	long := filepath.Join(dir, "long.sh")
	os.WriteFile(long, []byte("#!/bin/sh\ncat >/dev/null\necho started >> "+dir+"/started2\nsleep 30\n"), 0o700)
	b = start(t, "", "consume", url, "--checkpoint", cp, "--dlq", fileURL(filepath.Join(dir, "d.jsonl")), "--exec", long, "--poll-interval", "20ms")
	waitFile(t, filepath.Join(dir, "started2"))
	b.signal(t)
	b.waitOutput(t, "stopping")
	b.signal(t)
	if r := b.wait(t); r.code != exitInterrupt || !strings.Contains(r.stderr, "exiting at once") {
		t.Fatalf("consume after two SIGINTs: %s", r)
	}
}

func waitFile(t *testing.T, p string) {
	t.Helper()
	deadline := time.Now().Add(failTimeout)
	for {
		if _, err := os.Stat(p); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never appeared", p)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestServe(t *testing.T) {
	kport, kinport, pport := freePort(t), freePort(t), freePort(t)
	b := start(t, "", "serve", "--kafka-port", strconv.Itoa(kport), "--kinesis-port", strconv.Itoa(kinport), "--pulsar-port", strconv.Itoa(pport))
	b.waitOutput(t, "serving; press Ctrl-C to stop")
	out, _ := b.output()
	urls := regexp.MustCompile(`stream URL: (\S+)`).FindAllStringSubmatch(out, -1)
	if len(urls) != 3 || !strings.Contains(out, fmt.Sprintf("kafka://127.0.0.1:%d/{stream}?create_topic=true&partitions=4", kport)) ||
		!strings.Contains(out, fmt.Sprintf("127.0.0.1%%3A%d", kinport)) || !strings.Contains(out, fmt.Sprintf("pulsar://127.0.0.1:%d/", pport)) {
		t.Fatalf("serve printed no kafka, kinesis and pulsar URLs on the ports asked\n%s", out)
	}
	for _, u := range urls {
		url := strings.Replace(u[1], "{stream}", "served", 1)
		mustCLI(t, "x\ny\n", "produce", url)
		r := mustCLI(t, "", "tail", url, "--from", "earliest", "--follow=false")
		if got := strings.Fields(r.stdout); len(got) != 2 {
			t.Errorf("tail of the served broker %s: %s", url, r)
		}
	}
	// A second serve on the same port fails clearly.
	wantErr(t, cli(t, "", nil, "serve", "--kafka-port", strconv.Itoa(kport), "--backends", "kafka"), exitError, fmt.Sprintf("port %d is not free", kport), "--kafka-port")
	b.signal(t)
	if r := b.wait(t); r.code != 0 || !strings.Contains(r.stdout, "stopped") {
		t.Fatalf("serve after SIGINT: %s", r)
	}
}

func TestConformanceCommand(t *testing.T) {
	c := kafkatest.Start(t)
	tmpl := strings.Replace(c.URL("NAME", "create_topic", "true", "partitions", "PARTS", "fetch_wait", "20ms"), "NAME", "{name}", 1)
	tmpl = strings.Replace(tmpl, "PARTS", "{partitions}", 1)
	dir := t.TempDir()
	r := mustCLI(t, "", "conformance", "--stream", tmpl, "--checkpoint", fileURL(filepath.Join(dir, "cp")), "--run", "01_round_trip|12_pointer")
	for _, want := range []string{"conformance of kafka: 4 pass, 0 skip, 0 fail", "| 01 round trip | pass | pass | pass |", "| 12 pointer codec | pass | pass | pass |"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("conformance table lacks %q\n%s", want, r)
		}
	}
	if strings.Contains(r.stdout, "04 retry") {
		t.Errorf("--run did not filter\n%s", r)
	}
	if !strings.Contains(r.stdout, "Created 4 streams (14 partitions): 4 deleted, 0 kept, 0 not deleted.") {
		t.Errorf("the summary does not say the 4 topics were deleted\n%s", r)
	}
	cl, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	topics, err := kadm.NewClient(cl).ListTopics(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range topics.Names() {
		if strings.HasPrefix(name, "conformance-") {
			t.Errorf("topic %s left on the broker after the run", name)
		}
	}
}
