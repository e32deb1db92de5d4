package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/unistream-go/unistream/adapters/kafka/kafkatest"
	"github.com/unistream-go/unistream/adapters/kinesis/kinesistest"
)

// sharedRun is a stream on kfake with four partitions that two consume
// processes (A and B) share, each handling records with an --exec script
// that appends "PARTITION POINTER ID" to its own file.
type sharedRun struct {
	t       *testing.T
	url     string
	dir     string
	cp      string
	round   int
	ids     map[string]bool // every record produced
	byProc  map[string]*bg
	stopped map[string]bool // stopped by the test
}

const sharedPartitions = 4

func newSharedRun(t *testing.T, topic string, urlOpts ...string) *sharedRun {
	c := kafkatest.Start(t, kafkatest.Topic(topic, sharedPartitions))
	dir := t.TempDir()
	h := filepath.Join(dir, "handle.sh")
	script := "#!/bin/sh\ncat >/dev/null\necho \"$UNISTREAM_PARTITION $UNISTREAM_POINTER $UNISTREAM_RECORD_ID\" >> \"" + dir + "/handled-$1.txt\"\n"
	if err := os.WriteFile(h, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	return &sharedRun{t: t, url: c.URL(topic, append([]string{"fetch_wait", "50ms"}, urlOpts...)...), dir: dir,
		cp: fileURL(filepath.Join(dir, "cp")), ids: map[string]bool{}, byProc: map[string]*bg{}, stopped: map[string]bool{}}
}

// start runs `consume` as process name with the mode's flags.
func (r *sharedRun) start(name string, mode ...string) {
	args := append([]string{"consume", r.url, "--checkpoint", r.cp, "--dlq", fileURL(filepath.Join(r.dir, "dlq.jsonl")),
		"--exec", filepath.Join(r.dir, "handle.sh") + " " + name, "--poll-interval", "20ms", "--batch-size", "10"}, mode...)
	r.byProc[name] = start(r.t, "", args...)
}

// produce sends one round of records, keyed to spread over the partitions.
func (r *sharedRun) produce() {
	r.round++
	var in strings.Builder
	for i := range 4 * sharedPartitions {
		id := fmt.Sprintf("r%d-%d", r.round, i)
		r.ids[id] = true
		fmt.Fprintf(&in, `{"id":%q,"k":"k%d"}`+"\n", id, i)
	}
	mustCLI(r.t, in.String(), "produce", r.url, "--format", "json", "--key-field", "k", "--id-field", "id", "--max-age", "20ms")
}

// handled is one line of a handled file.
type handled struct {
	partition string
	offset    int
	id        string
	round     int
}

// handled returns what process name has handled so far.
func (r *sharedRun) handled(name string) []handled {
	data, err := os.ReadFile(filepath.Join(r.dir, "handled-"+name+".txt"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		r.t.Fatal(err)
	}
	var out []handled
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.Fields(l)
		if len(f) != 3 {
			continue // a line being written
		}
		_, off, ok := strings.Cut(f[1], "@")
		n, err := strconv.Atoi(off)
		if !ok || err != nil {
			r.t.Fatalf("handled-%s.txt: bad pointer in %q", name, l)
		}
		round, _ := strconv.Atoi(strings.TrimPrefix(strings.Split(f[2], "-")[0], "r"))
		out = append(out, handled{partition: f[0], offset: n, id: f[2], round: round})
	}
	return out
}

// until produces a round and polls, until cond holds (bounded by
// failTimeout, a hang detector).
func (r *sharedRun) until(what string, cond func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(failTimeout)
	for !cond() {
		for name, b := range r.byProc {
			select {
			case <-b.done:
				if r.stopped[name] {
					continue
				}
				o, e := b.output()
				r.t.Fatalf("consume %s exited (%v) before %s\n%s\n%s", name, b.err, what, o, e)
			default:
			}
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("not %s within %s\n%s", what, failTimeout, r.report())
		}
		r.produce()
	}
}

// report is the processes' output and handled records, for failures.
func (r *sharedRun) report() string {
	var sb strings.Builder
	for name, b := range r.byProc {
		o, e := b.output()
		fmt.Fprintf(&sb, "--- consume %s stdout:\n%s\n--- stderr:\n%s\n--- handled: %v\n", name, o, e, r.handled(name))
	}
	return sb.String()
}

// partitionsAfter returns the partitions whose records of rounds after
// round process name handled.
func (r *sharedRun) partitionsAfter(name string, round int) map[string]bool {
	ps := map[string]bool{}
	for _, h := range r.handled(name) {
		if h.round > round {
			ps[h.partition] = true
		}
	}
	return ps
}

// committed returns the committed offset of each partition of consumer
// name (-1: none).
func (r *sharedRun) committed(name string) map[string]int {
	r.t.Helper()
	show := mustCLI(r.t, "", "checkpoint", "show", r.url, "--checkpoint", r.cp, "--name", name, "-o", "json")
	var cps struct {
		Partitions []struct {
			Partition string `json:"partition"`
			Committed string `json:"committed"`
		} `json:"partitions"`
	}
	if err := json.Unmarshal([]byte(show.stdout), &cps); err != nil {
		r.t.Fatalf("checkpoint show -o json: %v\n%s", err, show)
	}
	out := map[string]int{}
	for _, c := range cps.Partitions {
		out[c.Partition] = -1
		if _, off, ok := strings.Cut(c.Committed, "@"); ok {
			n, err := strconv.Atoi(off)
			if err != nil {
				r.t.Fatalf("checkpoint show: partition %s committed %q", c.Partition, c.Committed)
			}
			out[c.Partition] = n
		}
	}
	return out
}

// untilBothShare produces until A and B have both handled records and a
// record A handled is committed, and returns that record's id: a process
// that shares the stream leaves it to A, while one reading every partition
// handles it too.
func (r *sharedRun) untilBothShare(consumer string) string {
	r.t.Helper()
	var id string
	r.until("both processes handle records and A commits some", func() bool {
		if len(r.handled("B")) == 0 {
			return false
		}
		hs := r.handled("A")
		if len(hs) == 0 {
			return false
		}
		c := r.committed(consumer)
		for _, h := range hs {
			if off, ok := c[h.partition]; ok && h.offset <= off {
				id = h.id
				return true
			}
		}
		return false
	})
	return id
}

// checkOnlyA checks that B never handled id, a record A committed.
func (r *sharedRun) checkOnlyA(id string) {
	r.t.Helper()
	for _, h := range r.handled("B") {
		if h.id == id {
			r.t.Errorf("B handled %s, which A had handled and committed: the processes did not share the stream\n%s", id, r.report())
			return
		}
	}
}

// checkNothingLost waits until every record produced was handled by some
// process and every partition's checkpoint is committed up to its last
// record.
func (r *sharedRun) checkNothingLost(name string) {
	r.t.Helper()
	deadline := time.Now().Add(failTimeout)
	for {
		seen := map[string]bool{}
		last := map[string]int{}
		for p := range r.byProc {
			for _, h := range r.handled(p) {
				seen[h.id] = true
				last[h.partition] = max(last[h.partition], h.offset)
			}
		}
		var missing []string
		for id := range r.ids {
			if !seen[id] {
				missing = append(missing, id)
			}
		}
		sort.Strings(missing)
		var uncommitted []string
		if len(missing) == 0 {
			committed := r.committed(name)
			for p, off := range last {
				if c, ok := committed[p]; !ok || c != off {
					uncommitted = append(uncommitted, fmt.Sprintf("partition %s committed up to offset %d, want %d", p, committed[p], off))
				}
			}
			if len(uncommitted) == 0 {
				return
			}
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("after %s: %d records never handled %v; %v\n%s", failTimeout, len(missing), missing, uncommitted, r.report())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestLeasesTwoProcesses: two `consume --leases` processes share a
// four-partition stream through leases in one file checkpoint store; one
// is SIGKILLed, and the other takes its partitions over once their leases
// expire, with every record handled at least once and committed.
func TestLeasesTwoProcesses(t *testing.T) {
	r := newSharedRun(t, "leased")
	leases := func(id string) []string {
		return []string{"--leases", "--worker-id", id, "--lease-duration", "3s", "--lease-renew-interval", "300ms"}
	}
	r.start("A", leases("A")...)
	r.start("B", leases("B")...)
	onlyA := r.untilBothShare("default")
	// Both run and hold partitions: kill A without a chance to hand over.
	killed := r.round
	a := r.byProc["A"]
	r.stopped["A"] = true
	if err := a.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-a.done
	r.until("B handles every partition after A died", func() bool {
		return len(r.partitionsAfter("B", killed)) == sharedPartitions
	})
	r.produce()
	r.checkNothingLost("default")
	r.checkOnlyA(onlyA)
	if _, e := r.byProc["B"].output(); !strings.Contains(e, "took over") || !strings.Contains(e, "from=A") {
		t.Errorf("B's lease log does not say it took A's partitions over\n%s", e)
	}
	b := r.byProc["B"]
	b.signal(t)
	if res := b.wait(t); res.code != 0 {
		t.Fatalf("consume B after SIGINT: %s", res)
	}
}

// TestGroupTwoProcesses: two `consume --group` processes share a
// four-partition Kafka stream through a consumer group; one stops
// (Ctrl-C) and the other is assigned its partitions, with every record
// handled at least once and committed.
func TestGroupTwoProcesses(t *testing.T) {
	r := newSharedRun(t, "grouped")
	r.start("A", "--group", "billing")
	r.start("B", "--group", "billing")
	onlyA := r.untilBothShare("billing")
	stopped := r.round
	a := r.byProc["A"]
	r.stopped["A"] = true
	a.signal(t)
	if res := a.wait(t); res.code != 0 {
		t.Fatalf("consume A after SIGINT: %s", res)
	}
	r.until("B handles every partition after A left", func() bool {
		return len(r.partitionsAfter("B", stopped)) == sharedPartitions
	})
	r.produce()
	r.checkNothingLost("billing")
	r.checkOnlyA(onlyA)
	b := r.byProc["B"]
	b.signal(t)
	if res := b.wait(t); res.code != 0 {
		t.Fatalf("consume B after SIGINT: %s", res)
	}
}

// TestSharingBadFlags: the group and lease flags refuse what cannot work,
// naming the flags, the backend or the store, and the way out.
func TestSharingBadFlags(t *testing.T) {
	kin := kinesistest.Start(t)
	dir := t.TempDir()
	cp, dlqURL := fileURL(filepath.Join(dir, "cp")), fileURL(filepath.Join(dir, "d.jsonl"))
	cfg := filepath.Join(dir, "both.yaml")
	if err := os.WriteFile(cfg, []byte("consumer:\n  group: billing\n  leases: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		env  []string
		want []string
	}{
		{"group on kinesis", []string{kin.URL("orders", "create_stream", "true", "shards", "2"), "--checkpoint", cp, "--group", "billing"}, nil,
			[]string{"--group billing: the kinesis backend has no consumer groups", "--leases", "file:///DIR"}},
		{"leases without a store", []string{"mem://x", "--leases"}, nil, []string{"--leases: no checkpoint store given", "--checkpoint", "file:///DIR"}},
		{"group with a memory store", []string{"mem://x", "--group", "g", "--checkpoint", "mem://"}, nil, []string{"--group g: checkpoint mem:// lives in this process only"}},
		{"group and leases", []string{"mem://x", "--group", "g", "--leases", "--checkpoint", cp}, nil,
			[]string{"consumer.group (flag --group) and consumer.leases (flag --leases) are both set"}},
		{"group and leases in the file", []string{"mem://x", "--config", cfg}, nil, []string{"consumer.group (config file " + cfg + " line 2)", "are both set"}},
		{"worker id without leases", []string{"mem://x", "--worker-id", "w1", "--checkpoint", cp}, nil,
			[]string{"consumer.worker_id (flag --worker-id) applies only with leases", "--leases"}},
		{"lease timing from the environment", []string{"mem://x", "--leases", "--checkpoint", cp, "--lease-duration", "1s"}, []string{"UNISTREAM_CONSUMER_LEASE_RENEW_INTERVAL=500ms"},
			[]string{"consumer.lease_renew_interval (environment variable UNISTREAM_CONSUMER_LEASE_RENEW_INTERVAL) 500ms", "less than half of consumer.lease_duration 1s"}},
		{"bad leases value", []string{"mem://x", "--leases=sometimes"}, nil, []string{"flag --leases", "true or false"}},
		{"group with partitions", []string{"mem://x", "--group", "g", "--partitions", "0", "--checkpoint", cp}, nil, []string{"WithPartitions", "a group assigns the partitions"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"consume", "--dlq", dlqURL}, tt.args...)
			code := exitUsage
			if tt.name == "group and leases in the file" {
				code = exitError // as every bad configuration file
			}
			wantErr(t, cli(t, "", tt.env, args...), code, tt.want...)
		})
	}
}
