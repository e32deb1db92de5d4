package killtest_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/unistream-go/unistream/adapters/kafka"
	"github.com/unistream-go/unistream/adapters/kafka/kafkatest"
	_ "github.com/unistream-go/unistream/adapters/kinesis"
	"github.com/unistream-go/unistream/adapters/kinesis/kinesistest"
	_ "github.com/unistream-go/unistream/adapters/pulsar"
	"github.com/unistream-go/unistream/adapters/pulsar/pulsartest"
	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/dlq"
	"github.com/unistream-go/unistream/stream/driver"
	"github.com/unistream-go/unistream/stream/memstream"
)

// childEnv, when set, makes the test binary the child: its value is the
// child's configuration (childConfig as JSON). The parent also passes
// -test.run=^TestKillChild$, so that nothing else runs in the child: no
// other test, and no fake broker (they live in the parent, which outlives
// the children).
const childEnv = "UNISTREAM_KILLTEST_CHILD"

// The scenario: numRecords records, fetched in batches of batchSize, the
// poison in the middle of a batch, MaxAttempts attempts with a short
// backoff, dead-lettered to a file DLQ.
const (
	numRecords   = 30
	batchSize    = 10
	maxAttempts  = 3
	maxChildren  = 20 // restarts are bounded: a scenario that needs more is broken
	consumerName = "killtest"
	// budget bounds the whole test: every child and wait runs under this
	// deadline (a passing run takes a fraction of it).
	budget = 2 * time.Minute
)

var retry = stream.RetryPolicy{MaxAttempts: maxAttempts, Initial: time.Millisecond, Multiplier: 2, MaxInterval: 10 * time.Millisecond}

// rec is a written record and where it landed.
type rec struct {
	ID        string `json:"id"`
	Partition string `json:"partition"`
	Pointer   []byte `json:"pointer"`
}

// childConfig is what the parent tells a child.
type childConfig struct {
	URL string `json:"url"`
	// Recreate: the stream lives in the child's own process (memstream),
	// which writes the records itself; see recreate.
	Recreate bool `json:"recreate"`
	// Records are the records the parent wrote (or, for memstream, will be
	// written), in write order, with their partitions and pointers.
	Records         []rec     `json:"records"`
	Poison          string    `json:"poison"`
	PoisonPartition string    `json:"poison_partition"`
	Kill            string    `json:"kill"`   // "exit" or "sigkill"
	Commit          string    `json:"commit"` // "per_record" or "default"
	CheckpointDir   string    `json:"checkpoint_dir"`
	DLQPath         string    `json:"dlq_path"`
	LogPath         string    `json:"log_path"`
	Run             int       `json:"run"` // 1 for the first child
	Deadline        time.Time `json:"deadline"`
}

// records returns the scenario's records; every child of a memstream
// scenario writes exactly these, in this order.
func records() []stream.Record {
	out := make([]stream.Record, numRecords)
	for i := range out {
		out[i] = stream.Record{
			ID:    fmt.Sprintf("r%02d", i),
			Key:   []byte(fmt.Sprintf("k%02d", i)),
			Value: []byte(fmt.Sprintf("value %d", i)),
		}
	}
	return out
}

// writeRecords writes the scenario's records in one Write and returns
// where each landed.
func writeRecords(ctx context.Context, s driver.Stream) ([]rec, error) {
	w, err := s.OpenWriter(ctx)
	if err != nil {
		return nil, err
	}
	defer w.Close()
	recs := records()
	res := make([]driver.WriteResult, len(recs))
	if err := w.Write(ctx, recs, res); err != nil {
		return nil, fmt.Errorf("write: %w", err)
	}
	out := make([]rec, len(recs))
	for i, r := range res {
		if r.Err != nil {
			return nil, fmt.Errorf("write %s: %w", recs[i].ID, r.Err)
		}
		out[i] = rec{ID: recs[i].ID, Partition: r.Partition, Pointer: r.Pointer}
	}
	return out, w.Close()
}

// byPartition returns the records of each partition in pointer order.
func byPartition(codec driver.PointerCodec, recs []rec) map[string][]rec {
	out := map[string][]rec{}
	for _, r := range recs {
		out[r.Partition] = append(out[r.Partition], r)
	}
	for _, rs := range out {
		slices.SortFunc(rs, func(a, b rec) int { return codec.Compare(a.Pointer, b.Pointer) })
	}
	return out
}

// lastPointers returns the pointer of the last record of each partition.
func lastPointers(codec driver.PointerCodec, recs []rec) map[string]driver.Pointer {
	out := map[string]driver.Pointer{}
	for p, rs := range byPartition(codec, recs) {
		out[p] = rs[len(rs)-1].Pointer
	}
	return out
}

// ---- The child ----

// TestKillChild is the child process of TestKillIsolation; it does nothing
// in a normal run. It consumes the stream with the file checkpoint store
// and the file DLQ the parent owns, and its handler kills the process on
// the poison record. It ends (exit 0) once every partition is committed to
// its last record.
func TestKillChild(t *testing.T) {
	raw, ok := os.LookupEnv(childEnv)
	if !ok {
		t.Skip("the child process of TestKillIsolation: runs only when re-executed with " + childEnv + " set")
	}
	var cfg childConfig
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		t.Fatalf("%s: %v", childEnv, err)
	}
	if err := runChild(cfg); err != nil {
		t.Fatalf("child %d: %v", cfg.Run, err)
	}
}

// die ends the child with a message, for errors inside the handler, where
// returning an error would charge the record an attempt. The exit code 3
// differs from the kill's 1, and there is no kill line: the parent fails.
func die(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "killtest child: "+format+"\n", args...)
	os.Exit(3)
}

// recreate writes the scenario's records to the child's memstream stream.
// A memstream stream lives inside one process: the parent's copy and the
// earlier children's died with them. Each child writes the same records in
// the same order into a fresh stream of the same name and partition count;
// memstream routes by key hash and a pointer is the record's offset, so
// every record lands at the same partition and pointer each time, and the
// pointers in the shared checkpoint files and DLQ stay valid. The parent
// computed the layout the same way; any difference fails the child.
func recreate(ctx context.Context, s driver.Stream, want []rec) error {
	got, err := writeRecords(ctx, s)
	if err != nil {
		return err
	}
	for i := range want {
		if got[i].ID != want[i].ID || got[i].Partition != want[i].Partition || !bytes.Equal(got[i].Pointer, want[i].Pointer) {
			return fmt.Errorf("memstream is not deterministic: record %d landed at %s/%x, the parent's at %s/%x",
				i, got[i].Partition, got[i].Pointer, want[i].Partition, want[i].Pointer)
		}
	}
	return nil
}

// progress tracks which partitions are committed to their last record.
type progress struct {
	mu     sync.Mutex
	left   map[string]bool // partitions not done yet
	poison string          // the poison's partition
	others chan struct{}   // closed when every partition but the poison's is done
	all    chan struct{}   // closed when every partition is done
}

func newProgress(parts []string, poison string) *progress {
	p := &progress{left: map[string]bool{}, poison: poison, others: make(chan struct{}), all: make(chan struct{})}
	for _, id := range parts {
		p.left[id] = true
	}
	p.done("")
	return p
}

func (p *progress) done(part string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.left, part)
	if len(p.left) == 0 || len(p.left) == 1 && p.left[p.poison] {
		select {
		case <-p.others:
		default:
			close(p.others)
		}
	}
	if len(p.left) == 0 {
		select {
		case <-p.all:
		default:
			close(p.all)
		}
	}
}

// handlerLog appends lines to the log file all children share: "KIND ID
// run=N partition=P persisted=A", where KIND is call (the handler was
// called), ok (it returns nil) or kill (it kills the process), and A is
// the record's attempt count in the persisted checkpoint when the handler
// was called. Each line is written with O_APPEND and fsynced before the
// handler goes on, so it survives the kill.
type handlerLog struct {
	mu  sync.Mutex
	f   *os.File
	run int
}

func (l *handlerLog) line(kind string, r *stream.Record, persisted int) {
	s := fmt.Sprintf("%s %s run=%d partition=%s persisted=%d\n", kind, r.ID, l.run, r.Partition, persisted)
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.f.WriteString(s); err != nil {
		die("write the log: %v", err)
	}
	if err := l.f.Sync(); err != nil {
		die("fsync the log: %v", err)
	}
}

// persistedAttempts returns r's attempt count in the stored checkpoint: 0
// if the checkpoint has no state for r.
func persistedAttempts(ctx context.Context, store checkpoint.Store, key checkpoint.Key, r *stream.Record) (int, error) {
	cp, err := store.Load(ctx, key)
	if err != nil {
		return 0, err
	}
	if cp.Batch != nil {
		for _, st := range cp.Batch.Records {
			if bytes.Equal(st.Pointer, r.Pointer) {
				return st.Attempts, nil
			}
		}
	}
	return 0, nil
}

func runChild(cfg childConfig) (err error) {
	ctx, cancel := context.WithDeadline(context.Background(), cfg.Deadline)
	defer cancel()
	s, err := stream.Open(ctx, cfg.URL)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := s.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	if cfg.Recreate {
		if err := recreate(ctx, s.Driver(), cfg.Records); err != nil {
			return err
		}
	}
	codec := s.Driver().Codec()
	last := lastPointers(codec, cfg.Records)
	store, err := checkpoint.NewFileStore(cfg.CheckpointDir)
	if err != nil {
		return err
	}
	key := func(p string) checkpoint.Key {
		return checkpoint.Key{Consumer: consumerName, Stream: s.Name(), Partition: p}
	}
	committedAll := func(p string) (bool, error) {
		cp, err := store.Load(ctx, key(p))
		if err != nil {
			return false, err
		}
		return cp.Committed != nil && codec.Compare(cp.Committed, last[p]) >= 0, nil
	}
	var parts []string
	for p := range last {
		parts = append(parts, p)
	}
	prog := newProgress(parts, cfg.PoisonPartition)
	for _, p := range parts {
		ok, err := committedAll(p)
		if err != nil {
			return err
		}
		if ok {
			prog.done(p)
		}
	}

	f, err := os.OpenFile(cfg.LogPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	lg := &handlerLog{f: f, run: cfg.Run}
	sink, err := dlq.OpenFile(cfg.DLQPath)
	if err != nil {
		return err
	}
	defer sink.Close()

	handler := func(hctx context.Context, r *stream.Record) error {
		n, err := persistedAttempts(hctx, store, key(r.Partition), r)
		if err != nil {
			die("read the checkpoint of %s in its handler: %v", r.ID, err)
		}
		lg.line("call", r, n)
		if r.ID == cfg.Poison {
			// A crash ends the whole process, so it also interrupts the
			// records other partitions are running. With the default
			// cadence the engine isolates careful attempts (no other
			// handler runs beside one), so the poison kills at once and
			// the other partitions' records must never be charged. In
			// per-record mode every attempt a crash interrupts is
			// charged, the first crash's included: there the poison
			// kills only once every other partition is done (committed
			// to its last record), so that the test is about its own
			// partition.
			if cfg.Commit == "per_record" {
				select {
				case <-prog.others:
				case <-hctx.Done():
					return hctx.Err()
				}
			}
			lg.line("kill", r, n)
			switch cfg.Kill {
			case "exit":
				os.Exit(1)
			case "sigkill":
				sigkillSelf()
			}
			die("unknown kill mode %q", cfg.Kill)
		}
		lg.line("ok", r, n)
		return nil
	}
	commit := stream.DefaultCommit
	if cfg.Commit == "per_record" {
		commit = stream.CommitPerRecord
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	obs := stream.ObserverFunc(func(e stream.Event) {
		if e.Kind != stream.EventCommitted {
			return
		}
		if l, ok := last[e.Partition]; ok && codec.Compare(e.Pointer, l) >= 0 {
			prog.done(e.Partition)
		}
	})
	c, err := stream.NewConsumer(s, handler,
		stream.WithName(consumerName),
		stream.WithCheckpointStore(store),
		stream.WithDLQ(sink),
		stream.WithOnExhausted(stream.DeadLetter),
		stream.WithBatchSize(batchSize),
		stream.WithRetry(retry),
		stream.WithCommit(commit),
		stream.WithPollInterval(5*time.Millisecond),
		stream.WithObserver(obs))
	if err != nil {
		return err
	}
	defer c.Close()
	go func() { // ends with Run: stop is deferred
		select {
		case <-prog.all:
			stop()
		case <-runCtx.Done():
		}
	}()
	if err := c.Run(runCtx); err != nil {
		return err
	}
	select {
	case <-prog.all:
	default:
		return fmt.Errorf("the deadline passed before every partition was committed to its last record")
	}
	// The graceful stop persisted: the checkpoints must say done too.
	for _, p := range parts {
		ok, err := committedAll(p)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("partition %s: the committed event reached its last record, the stored checkpoint does not", p)
		}
	}
	return nil
}

// ---- The parent ----

// backend is one backend under test. start starts its broker in the
// parent (for the whole of t) and returns a function that creates a fresh
// stream with n partitions and returns its URL.
type backend struct {
	name     string
	recreate bool // the stream lives in the child (memstream)
	start    func(t *testing.T) func(t *testing.T, name string, partitions int) string
}

var backends = []backend{
	{name: "mem", recreate: true, start: func(*testing.T) func(*testing.T, string, int) string {
		return func(t *testing.T, name string, n int) string {
			// The parent's copy only gives the parent the layout.
			t.Cleanup(func() { memstream.Default().Delete(name) })
			return fmt.Sprintf("mem://%s?partitions=%d", name, n)
		}
	}},
	{name: "kafka", start: func(t *testing.T) func(*testing.T, string, int) string {
		c := kafkatest.Start(t)
		return func(t *testing.T, name string, n int) string {
			if err := c.CreateTopic(context.Background(), name, n); err != nil {
				t.Fatal(err)
			}
			return c.URL(name, "fetch_wait", "5ms", "metadata_min_age", "50ms")
		}
	}},
	{name: "kinesis", start: func(t *testing.T) func(*testing.T, string, int) string {
		b := kinesistest.Start(t)
		return func(t *testing.T, name string, n int) string {
			if err := b.CreateStream(name, n); err != nil {
				t.Fatal(err)
			}
			return b.URL(name, "poll_interval", "5ms", "max_poll_interval", "20ms", "throttle_backoff", "5ms")
		}
	}},
	{name: "pulsar", start: func(t *testing.T) func(*testing.T, string, int) string {
		b := pulsartest.Start(t)
		return func(t *testing.T, name string, n int) string {
			if err := b.CreateTopic(name, n); err != nil {
				t.Fatal(err)
			}
			return b.URL(name, "fetch_wait", "5ms")
		}
	}},
}

// TestKillIsolation runs the consumer in child processes whose handler
// kills the process (os.Exit(1) or SIGKILL) on one poison record,
// restarting a child until one finishes, on every backend, with one and
// two partitions, per-record and default commits. It checks crash
// isolation:
//   - the poison alone is dead-lettered, once, with MaxAttempts attempts,
//     each error saying its attempt was interrupted;
//   - no other record is charged an attempt by the crashes (the persisted
//     attempt count seen by every other handler call is at most 1);
//   - nothing is lost: every other record was handled successfully, and
//     every partition is committed to its last record;
//   - the poison killed MaxAttempts children with per-record commits, and
//     MaxAttempts or MaxAttempts+1 with the default cadence (whose first
//     crash in a batch may come in a fast mode that charges nobody).
func TestKillIsolation(t *testing.T) {
	if _, ok := os.LookupEnv(childEnv); ok {
		t.Skip("in a child process only TestKillChild runs")
	}
	if _, err := checkpoint.NewFileStore(t.TempDir()); err != nil {
		t.Skipf("the children share their checkpoints through the file store, which is not available here: %v", err)
	}
	deadline := time.Now().Add(budget)
	if d, ok := t.Deadline(); ok && d.Add(-10*time.Second).Before(deadline) {
		deadline = d.Add(-10 * time.Second)
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			newStream := b.start(t)
			for _, parts := range []int{1, 2} {
				t.Run(fmt.Sprintf("partitions=%d", parts), func(t *testing.T) {
					for _, kill := range []string{"exit", "sigkill"} {
						t.Run("kill="+kill, func(t *testing.T) {
							if kill == "sigkill" && sigkillUnsupported != "" {
								t.Skip(sigkillUnsupported)
							}
							for _, commit := range []string{"per_record", "default"} {
								t.Run("commit="+commit, func(t *testing.T) {
									t.Parallel()
									sc := &scenario{t: t, b: b, parts: parts, kill: kill, commit: commit, deadline: deadline}
									sc.url = newStream(t, fmt.Sprintf("kill-%d-%s-%s", parts, kill, strings.ReplaceAll(commit, "_", "-")), parts)
									sc.run()
								})
							}
						})
					}
				})
			}
		})
	}
}

// scenario is one run of TestKillIsolation.
type scenario struct {
	t        *testing.T
	b        backend
	parts    int
	kill     string
	commit   string
	deadline time.Time
	url      string

	codec      driver.PointerCodec
	streamName string
	written    []rec
	order      map[string][]rec // per partition, in pointer order
	poison     rec
	dir        string
}

// logLine is one line of the handlers' log.
type logLine struct {
	kind, id, partition string
	run, persisted      int
}

func (sc *scenario) run() {
	t := sc.t
	start := time.Now()
	ctx, cancel := context.WithDeadline(context.Background(), sc.deadline)
	defer cancel()
	s, err := stream.Open(ctx, sc.url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sc.codec, sc.streamName = s.Driver().Codec(), s.Name()
	if sc.written, err = writeRecords(ctx, s.Driver()); err != nil {
		t.Fatal(err)
	}
	sc.order = byPartition(sc.codec, sc.written)
	if len(sc.order) != sc.parts {
		t.Fatalf("the records landed in %d partition(s), want %d: %v", len(sc.order), sc.parts, sc.order)
	}
	// The poison: the middle record of the largest partition, which with
	// 30 records and batches of 10 is inside a batch, with records of its
	// batch before and after it.
	var pp string
	for p, rs := range sc.order {
		if pp == "" || len(rs) > len(sc.order[pp]) || len(rs) == len(sc.order[pp]) && p < pp {
			pp = p
		}
	}
	idx := len(sc.order[pp]) / 2
	switch idx % batchSize {
	case 0:
		idx++
	case batchSize - 1:
		idx--
	}
	if idx >= len(sc.order[pp])-1 {
		t.Fatalf("partition %s has too few records (%d) for a poison inside a batch", pp, len(sc.order[pp]))
	}
	sc.poison = sc.order[pp][idx]

	sc.dir = t.TempDir()
	cfg := childConfig{
		URL: sc.url, Recreate: sc.b.recreate, Records: sc.written,
		Poison: sc.poison.ID, PoisonPartition: pp, Kill: sc.kill, Commit: sc.commit,
		CheckpointDir: filepath.Join(sc.dir, "checkpoints"),
		DLQPath:       filepath.Join(sc.dir, "dlq.jsonl"),
		LogPath:       filepath.Join(sc.dir, "handler.log"),
		Deadline:      sc.deadline,
	}
	kills := 0
	for run := 1; ; run++ {
		if run > maxChildren {
			t.Fatalf("not done after %d children (%d killed by the poison)", maxChildren, kills)
		}
		cfg.Run = run
		killed, out, err := sc.child(ctx, cfg)
		if err != nil {
			t.Fatalf("child %d: %v\nits output:\n%s", run, err, out)
		}
		if !killed {
			break
		}
		kills++
	}
	sc.check(kills, cfg)
	t.Logf("%d children (%d killed by %s) in %v; poison %s, record %d of %d in partition %s",
		kills+1, kills, sc.kill, time.Since(start).Round(time.Millisecond), sc.poison.ID, idx+1, len(sc.order[pp]), pp)
}

// child runs one child to its end. It returns killed if the poison killed
// it the expected way, nil if it finished, and an error for anything else.
func (sc *scenario) child(ctx context.Context, cfg childConfig) (killed bool, output []byte, err error) {
	output, runErr, err := execChild(ctx, sc.deadline, "TestKillChild", childEnv, cfg)
	if err != nil {
		return false, output, err
	}
	var kl []logLine
	for _, l := range sc.readLog() {
		if l.kind == "kill" && l.run == cfg.Run {
			kl = append(kl, l)
		}
	}
	var ee *exec.ExitError
	switch {
	case runErr == nil && len(kl) == 0:
		return false, output, nil
	case runErr == nil:
		return false, output, fmt.Errorf("exited 0 after logging a kill")
	case !errors.As(runErr, &ee):
		return false, output, runErr
	case len(kl) != 1:
		return false, output, fmt.Errorf("ended with %v after %d kill line(s), want 1", runErr, len(kl))
	case sc.kill == "exit" && ee.ExitCode() == 1:
		return true, output, nil
	case sc.kill == "sigkill" && killedBySIGKILL(ee.ProcessState):
		return true, output, nil
	}
	return false, output, fmt.Errorf("ended with %v after its kill line, want the %s kill", runErr, sc.kill)
}

// execChild runs the test binary as a child that runs only test, with
// env set to cfg as JSON, until it ends, and returns its output and how it
// ended (runErr). err reports what makes the run itself a failure: cfg
// that does not encode, or a data race the child reported.
func execChild(ctx context.Context, deadline time.Time, test, env string, cfg any) (output []byte, runErr, err error) {
	js, err := json.Marshal(cfg)
	if err != nil {
		return nil, nil, err
	}
	// The child's own deadline is deadline; its test timeout, a little
	// later, makes a stuck child dump its goroutines; the parent kills it
	// only after both.
	ctx, cancel := context.WithDeadline(ctx, deadline.Add(15*time.Second))
	defer cancel()
	timeout := time.Until(deadline) + 5*time.Second
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^"+test+"$", "-test.count=1", "-test.timeout="+timeout.Round(time.Second).String())
	// Under -race, a process that exits normally first sleeps
	// GORACE's atexit_sleep_ms (1 s by default) for late race reports:
	// most of a finishing child's time. Children do not need it (a race
	// report still fails the child); options the caller set in GORACE come
	// later and win.
	cmd.Env = append(os.Environ(), env+"="+string(js), "GORACE=atexit_sleep_ms=0 "+os.Getenv("GORACE"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	runErr = cmd.Run()
	output = out.Bytes()
	if bytes.Contains(output, []byte("WARNING: DATA RACE")) {
		return output, runErr, errors.New("the race detector reported a data race")
	}
	return output, runErr, nil
}

// readLog parses the handlers' log (missing before the first handler call).
func (sc *scenario) readLog() []logLine {
	t := sc.t
	data, err := os.ReadFile(filepath.Join(sc.dir, "handler.log"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []logLine
	sc2 := bufio.NewScanner(bytes.NewReader(data))
	for sc2.Scan() {
		f := strings.Fields(sc2.Text())
		if len(f) != 5 {
			t.Fatalf("malformed log line %q", sc2.Text())
		}
		l := logLine{kind: f[0], id: f[1]}
		for _, kv := range f[2:] {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "run":
				l.run, err = strconv.Atoi(v)
			case "partition":
				l.partition = v
			case "persisted":
				l.persisted, err = strconv.Atoi(v)
			}
			if err != nil {
				t.Fatalf("malformed log line %q: %v", sc2.Text(), err)
			}
		}
		out = append(out, l)
	}
	return out
}

func (sc *scenario) check(kills int, cfg childConfig) {
	t := sc.t
	t.Helper()
	poison := sc.poison.ID

	// The kills: MaxAttempts with per-record commits; with the default
	// cadence one more, the first crash, in fast mode, charged to no
	// record.
	wantKills := maxAttempts
	if sc.commit == "default" {
		wantKills++
	}
	if kills != wantKills {
		t.Errorf("the poison killed %d children, want %d (commit=%s)", kills, wantKills, sc.commit)
	}

	// The handler calls.
	calls, oks := map[string]int{}, map[string]int{}
	var poisonAttempts []int // the persisted attempt count at each poison call
	for _, l := range sc.readLog() {
		switch l.kind {
		case "call":
			calls[l.id]++
			if l.id == poison {
				poisonAttempts = append(poisonAttempts, l.persisted)
			} else if l.persisted > 1 {
				t.Errorf("%s was called (child %d) with %d attempts persisted: a crash charged it", l.id, l.run, l.persisted)
			}
		case "ok":
			oks[l.id]++
		}
	}
	if oks[poison] != 0 {
		t.Errorf("the poison returned from its handler %d time(s)", oks[poison])
	}
	if calls[poison] != kills {
		t.Errorf("the poison was called %d times for %d kills: every call must kill", calls[poison], kills)
	}
	// Each poison call found the attempt the crashes had charged so far,
	// and the attempt in progress: 1, 2, 3. A first call in fast mode (the
	// default cadence's first crash) finds nothing persisted: 0.
	want := []int{1, 2, 3}
	if sc.commit == "default" {
		want = []int{0, 1, 2, 3}
	}
	if !slices.Equal(poisonAttempts, want) {
		t.Errorf("persisted attempts of the poison at its calls: %v, want %v (commit=%s)", poisonAttempts, want, sc.commit)
	}
	var again []string
	for _, r := range sc.written {
		if r.ID == poison {
			continue
		}
		if oks[r.ID] == 0 {
			t.Errorf("%s was never handled successfully (lost)", r.ID)
		}
		if calls[r.ID] > 1 {
			again = append(again, fmt.Sprintf("%s×%d", r.ID, calls[r.ID]))
		}
	}
	// Per-record commits repeat only the attempts a crash interrupted: the
	// poison's.
	if sc.commit == "per_record" && len(again) > 0 {
		t.Errorf("with per-record commits, records were handled more than once: %v", again)
	} else if len(again) > 0 {
		t.Logf("handled again after a crash (at-least-once): %v", again)
	}

	// The DLQ holds the poison alone, once, charged MaxAttempts
	// interrupted attempts.
	envs, err := dlq.ReadFile(cfg.DLQPath)
	if err != nil {
		t.Fatalf("read the DLQ: %v", err)
	}
	if len(envs) != 1 || envs[0].ID != poison {
		var ids []string
		for _, e := range envs {
			ids = append(ids, e.ID)
		}
		t.Fatalf("DLQ holds %v, want the poison %s once", ids, poison)
	}
	env := envs[0]
	if env.Attempts != maxAttempts {
		t.Errorf("DLQ envelope: %d attempts, want %d", env.Attempts, maxAttempts)
	}
	if len(env.Errors) != maxAttempts {
		t.Errorf("DLQ envelope: %d attempt errors, want %d: %+v", len(env.Errors), maxAttempts, env.Errors)
	}
	for _, e := range env.Errors {
		if !strings.Contains(e.Error, "interrupted") {
			t.Errorf("DLQ envelope: attempt %d error %q does not say the attempt was interrupted", e.Attempt, e.Error)
		}
	}
	if env.Source.Partition != sc.poison.Partition || !bytes.Equal(env.Source.Pointer, sc.poison.Pointer) || env.Consumer != consumerName {
		t.Errorf("DLQ envelope source %+v consumer %q, want partition %s pointer %x consumer %s",
			env.Source, env.Consumer, sc.poison.Partition, sc.poison.Pointer, consumerName)
	}

	// Every partition is committed to its last record, with no batch left,
	// and its counts add up: each record counted once.
	store, err := checkpoint.NewFileStore(cfg.CheckpointDir)
	if err != nil {
		t.Fatal(err)
	}
	for p, rs := range sc.order {
		cp, err := store.Load(context.Background(), checkpoint.Key{Consumer: consumerName, Stream: sc.streamName, Partition: p})
		if err != nil {
			t.Fatal(err)
		}
		if cp.Committed == nil || sc.codec.Compare(cp.Committed, rs[len(rs)-1].Pointer) != 0 || cp.Batch != nil {
			t.Errorf("partition %s: committed %x with batch %+v, want %x and no batch", p, cp.Committed, cp.Batch, rs[len(rs)-1].Pointer)
		}
		dead := uint64(0)
		if p == sc.poison.Partition {
			dead = 1
		}
		if cp.Counts.DeadLettered != dead || cp.Counts.Succeeded != uint64(len(rs))-dead || cp.Counts.Skipped != 0 {
			t.Errorf("partition %s: counts %+v, want %d succeeded and %d dead-lettered", p, cp.Counts, uint64(len(rs))-dead, dead)
		}
	}
	if env.Reason != "exhausted" {
		t.Logf("note: the DLQ envelope's reason is %q (dlq.Envelope documents \"exhausted\" or \"permanent\")", env.Reason)
	}
}
