package config_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/unistream-go/unistream/config"
	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/memstream"
)

const full = `# every key
stream: kafka://127.0.0.1:9092/orders
checkpoint: file:///var/lib/x
dlq: file:///var/lib/x/dlq.jsonl
connect_timeout: 5s
consumer:
  name: billing
  batch_size: 50
  poll_interval: 200ms
  concurrency: 4
  order_key: key
  on_exhausted: halt
  start: 2026-01-02T15:04:05Z
  partitions: [0, "2"]
  drain_timeout: 10s
  attempt_timeout: 0s
  partition_refresh: 1m
  retry: {max_attempts: 5, initial: 100ms, multiplier: 1.5, max_interval: 2s, jitter: false}
producer:
  wal: /tmp/p.wal
  fsync: 50ms
  max_records: 10
  max_bytes: 1MiB
  max_age: 250ms
  buffer_records: 1000
  buffer_bytes: 64KiB
  retry:
    initial: 1s
`

func TestParseFull(t *testing.T) {
	c, err := config.Parse("full.yaml", []byte(full))
	if err != nil {
		t.Fatal(err)
	}
	f := false
	want := config.Config{
		Stream: "kafka://127.0.0.1:9092/orders", Checkpoint: "file:///var/lib/x", DLQ: "file:///var/lib/x/dlq.jsonl",
		ConnectTimeout: 5 * time.Second,
		Consumer: config.Consumer{Name: "billing", BatchSize: 50, PollInterval: 200 * time.Millisecond, Concurrency: 4,
			OrderKey: "key", OnExhausted: "halt", Start: "2026-01-02T15:04:05Z", Partitions: []string{"0", "2"},
			DrainTimeout: 10 * time.Second, PartitionRefresh: time.Minute,
			Retry: config.Retry{MaxAttempts: 5, Initial: 100 * time.Millisecond, Multiplier: 1.5, MaxInterval: 2 * time.Second, Jitter: &f}},
		Producer: config.Producer{WAL: "/tmp/p.wal", Fsync: "50ms", MaxRecords: 10, MaxBytes: 1 << 20, MaxAge: 250 * time.Millisecond,
			BufferRecords: 1000, BufferBytes: 64 << 10, Retry: config.Retry{Initial: time.Second}},
	}
	got := *c
	if fmt.Sprintf("%+v", stripSources(got)) != fmt.Sprintf("%+v", stripSources(want)) || *got.Consumer.Retry.Jitter {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	if src := c.Source("consumer.batch_size"); src != "config file full.yaml line 8" {
		t.Errorf("Source = %q", src)
	}
	if _, err := c.ConsumerOptions(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ProducerOptions(); err != nil {
		t.Fatal(err)
	}
}

// stripSources drops the unexported source map and the pointer for printing.
func stripSources(c config.Config) string {
	j := "nil"
	if c.Consumer.Retry.Jitter != nil {
		j = fmt.Sprint(*c.Consumer.Retry.Jitter)
	}
	c.Consumer.Retry.Jitter = nil
	return fmt.Sprintf("%v %v %v %v %+v %+v jitter=%s", c.Stream, c.Checkpoint, c.DLQ, c.ConnectTimeout, c.Consumer, c.Producer, j)
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string // substrings of the error
	}{
		{"bad yaml", "stream: [", []string{"bad.yaml", "not valid YAML"}},
		{"not a mapping", "- a\n- b\n", []string{"line 1", "the top level", "expected a mapping"}},
		{"unknown top key", "stream: mem://x\nstreem: mem://y\n", []string{"line 2", "unknown key streem", "stream"}},
		{"unknown nested key", "consumer:\n  name: a\n  batchsize: 3\n", []string{"line 3", "unknown key consumer.batchsize", "batch_size"}},
		{"bad int", "consumer:\n  batch_size: lots\n", []string{"line 2", "consumer.batch_size", `"lots"`, "an integer ≥ 1"}},
		{"zero int", "consumer:\n  batch_size: 0\n", []string{"consumer.batch_size", "an integer ≥ 1"}},
		{"bad duration", "consumer:\n  retry:\n    initial: soon\n", []string{"line 3", "consumer.retry.initial", "duration"}},
		{"bad enum", "consumer:\n  on_exhausted: drop\n", []string{"consumer.on_exhausted", "one of dead_letter, halt"}},
		{"bad start", "consumer:\n  start: yesterday\n", []string{"consumer.start", "RFC 3339"}},
		{"bad url", "stream: localhost:9092\n", []string{"line 1", "stream", "scheme"}},
		{"no scheme", "dlq: /tmp/x.jsonl\n", []string{"dlq", "a URL with a scheme"}},
		{"null value", "checkpoint:\n", []string{"line 1", "checkpoint", "expected a URL"}},
		{"group not a mapping", "consumer: billing\n", []string{"line 1", "consumer", "expected a mapping", "batch_size"}},
		{"list for a scalar", "consumer:\n  name: [a, b]\n", []string{"line 2", "consumer.name", "got a list"}},
		{"duplicate", "stream: mem://a\nstream: mem://b\n", []string{"line 2", "set twice", "line 1"}},
		{"bad size", "producer:\n  max_bytes: 1TB\n", []string{"producer.max_bytes", "byte size"}},
		{"bad fsync", "producer:\n  fsync: never\n", []string{"producer.fsync", "always, batch"}},
		{"bad multiplier", "producer:\n  retry:\n    multiplier: 0.5\n", []string{"line 3", "producer.retry.multiplier", "≥ 1"}},
		{"bad jitter", "consumer:\n  retry:\n    jitter: maybe\n", []string{"consumer.retry.jitter", "true or false"}},
		{"empty partition", "consumer:\n  partitions: \"0,,1\"\n", []string{"consumer.partitions"}},
		{"bad url with a password", "checkpoint: \"postgres:app:s3cret@db/orders\"\n", []string{"checkpoint", "a URL with a scheme", "app:xxxxx@db"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse("bad.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatalf("Parse(%q) = nil error", tt.yaml)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if !strings.Contains(err.Error(), "bad.yaml") {
				t.Errorf("error %q does not name the file", err)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	if _, err := config.Load(filepath.Join(t.TempDir(), "missing.yaml")); err == nil || !strings.Contains(err.Error(), "missing.yaml") || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Load(missing) = %v", err)
	}
	p := filepath.Join(t.TempDir(), "u.yaml")
	if err := os.WriteFile(p, []byte("stream: mem://orders\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(p)
	if err != nil || c.Stream != "mem://orders" {
		t.Fatalf("Load = %+v, %v", c, err)
	}
	for _, empty := range []string{"", "# nothing\n", "---\n"} {
		if _, err := config.Parse("e.yaml", []byte(empty)); err != nil {
			t.Errorf("Parse(%q): %v", empty, err)
		}
	}
}

func TestEnvAndSetOverride(t *testing.T) {
	c, err := config.Parse("a.yaml", []byte("stream: mem://file\nconsumer:\n  batch_size: 5\n  name: fromfile\n"))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"UNISTREAM_STREAM": "mem://env", "UNISTREAM_CONSUMER_BATCH_SIZE": "7", "UNISTREAM_CONSUMER_RETRY_MAX_ATTEMPTS": "9", "UNISTREAM_DLQ": ""}
	if err := c.ApplyEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	if c.Stream != "mem://env" || c.Consumer.BatchSize != 7 || c.Consumer.Name != "fromfile" || c.Consumer.Retry.MaxAttempts != 9 {
		t.Fatalf("after env: %+v", c)
	}
	if err := c.Set("consumer.batch_size", "8", "flag --batch-size"); err != nil {
		t.Fatal(err)
	}
	if c.Consumer.BatchSize != 8 || c.Source("consumer.batch_size") != "flag --batch-size" {
		t.Fatalf("after flag: %d from %q", c.Consumer.BatchSize, c.Source("consumer.batch_size"))
	}
	env["UNISTREAM_CONSUMER_CONCURRENCY"] = "many"
	err = c.ApplyEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	var ve *config.ValueError
	if !errors.As(err, &ve) || ve.Key != "consumer.concurrency" || !strings.Contains(err.Error(), "environment variable UNISTREAM_CONSUMER_CONCURRENCY") {
		t.Fatalf("bad env value: %v", err)
	}
	if err := c.Set("nope", "1", "flag --nope"); err == nil || !strings.Contains(err.Error(), "unknown key") {
		t.Fatalf("Set(nope) = %v", err)
	}
}

func TestKeysHaveEnvAndDocs(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range config.Keys() {
		if k.Doc == "" || k.Expected == "" {
			t.Errorf("key %s lacks a doc or expected form", k.Name)
		}
		if seen[k.Env()] {
			t.Errorf("env %s used twice", k.Env())
		}
		seen[k.Env()] = true
		if !strings.HasPrefix(k.Env(), "UNISTREAM_") || strings.Contains(k.Env(), ".") {
			t.Errorf("env %s", k.Env())
		}
	}
	if len(seen) < 25 {
		t.Errorf("only %d keys", len(seen))
	}
}

// The options drive a real consumer and producer on memstream.
func TestOptionsRun(t *testing.T) {
	c, err := config.Parse("o.yaml", []byte("consumer:\n  name: opt\n  batch_size: 2\n  on_exhausted: halt\n  retry: {max_attempts: 1, initial: 1ms}\nproducer:\n  max_records: 2\n  max_age: 10ms\n"))
	if err != nil {
		t.Fatal(err)
	}
	name := "config-options-test"
	t.Cleanup(func() { memstream.Default().Delete(name) })
	s, err := memstream.Default().Stream(name)
	if err != nil {
		t.Fatal(err)
	}
	popts, err := c.ProducerOptions()
	if err != nil {
		t.Fatal(err)
	}
	p, err := stream.NewProducer(stream.NewStream(s), popts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for i := range 3 {
		if err := p.Put(ctx, stream.Record{Value: []byte{byte('a' + i)}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	copts, err := c.ConsumerOptions()
	if err != nil {
		t.Fatal(err)
	}
	halted := make(chan string, 1)
	copts = append(copts, stream.WithCheckpointStore(checkpoint.NewMemoryStore()), stream.WithObserver(stream.ObserverFunc(func(e stream.Event) {
		if e.Kind == stream.EventHalted {
			select {
			case halted <- string(e.Record.Value):
			default:
			}
		}
	})))
	cons, err := stream.NewConsumer(stream.NewStream(s), func(ctx context.Context, r *stream.Record) error {
		if string(r.Value) == "b" {
			return errors.New("no b")
		}
		return nil
	}, copts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- cons.Run(runCtx) }()
	select {
	case v := <-halted:
		if v != "b" {
			t.Errorf("halted at %q, want b (max_attempts 1, on_exhausted halt)", v)
		}
	case <-time.After(20 * time.Second):
		t.Error("no halt within 20s")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(full))
	f.Add([]byte("stream: x\n"))
	f.Add([]byte("consumer: {retry: {initial: 1s}}\n"))
	f.Add([]byte("a: &x {b: *x}\n"))
	f.Add([]byte("consumer:\n  partitions: [1, [2]]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := config.Parse("fuzz.yaml", data)
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if _, err := c.ConsumerOptions(); err != nil {
			t.Fatalf("parsed config gives bad consumer options: %v", err)
		}
		if _, err := c.ProducerOptions(); err != nil {
			t.Fatalf("parsed config gives bad producer options: %v", err)
		}
	})
}

func ExampleParse() {
	c, err := config.Parse("unistream.yaml", []byte("stream: kafka://127.0.0.1:9092/orders\nconsumer:\n  batch_size: lots\n"))
	fmt.Println(c, err)
	c, _ = config.Parse("unistream.yaml", []byte("stream: kafka://127.0.0.1:9092/orders\n"))
	_ = c.Set("consumer.batch_size", "500", "flag --batch-size")
	fmt.Println(c.Stream, c.Consumer.BatchSize, c.Source("consumer.batch_size"))
	// Output:
	// <nil> config file unistream.yaml line 3: consumer.batch_size: got "lots", expected an integer ≥ 1
	// kafka://127.0.0.1:9092/orders 500 flag --batch-size
}

// producer.send_lanes reaches the producer: a value the engine refuses
// fails NewProducer with the engine's range, and 0 fails the parse.
func TestSendLanes(t *testing.T) {
	if _, err := config.Parse("o.yaml", []byte("producer:\n  send_lanes: 0\n")); err == nil || !strings.Contains(err.Error(), "producer.send_lanes") {
		t.Fatalf("send_lanes 0: %v, want an error naming producer.send_lanes", err)
	}
	s, err := memstream.NewBroker().Stream("lanes")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		yaml string
		want string // "" for success
	}{
		{"producer:\n  send_lanes: 2\n  wal: \"\"\n", ""},
		{"producer:\n  send_lanes: 65\n  wal: \"\"\n", "between 1 and 64"},
	} {
		c, err := config.Parse("o.yaml", []byte(tc.yaml))
		if err != nil {
			t.Fatal(err)
		}
		popts, err := c.ProducerOptions()
		if err != nil {
			t.Fatal(err)
		}
		p, err := stream.NewProducer(stream.NewStream(s), popts...)
		if tc.want == "" {
			if err != nil {
				t.Fatalf("%q: NewProducer: %v", tc.yaml, err)
			}
			p.Close(t.Context())
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%q: NewProducer = %v, want an error with %q", tc.yaml, err, tc.want)
		}
	}
}

// TestCommitKeys: consumer.commit_records and consumer.commit_interval
// set the commit cadence, and bad values name the key.
func TestCommitKeys(t *testing.T) {
	for _, tc := range []struct {
		key, value, wantErr string
		want                string // records and interval set
	}{
		{"consumer.commit_records", "1", "", "1 0s"},
		{"consumer.commit_records", "3", "", "3 0s"},
		{"consumer.commit_interval", "250ms", "", "0 250ms"},
		{"consumer.commit_interval", "0", "", "0 0s"},
		{"consumer.commit_records", "-1", "an integer ≥ 0", ""},
		{"consumer.commit_interval", "soon", "a duration", ""},
	} {
		c, perr := config.Parse("c.yaml", []byte("stream: mem://x\n"))
		if perr != nil {
			t.Fatal(perr)
		}
		err := c.Set(tc.key, tc.value, "flag")
		switch {
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), tc.key)):
			t.Errorf("%s=%s: error %v, want one naming the key and %q", tc.key, tc.value, err, tc.wantErr)
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s=%s: %v", tc.key, tc.value, err)
		case tc.wantErr == "":
			if got := fmt.Sprint(c.Consumer.CommitRecords, " ", c.Consumer.CommitInterval); got != tc.want {
				t.Errorf("%s=%s: consumer config has commit records/interval %s", tc.key, tc.value, got)
			}
			if _, err := c.ConsumerOptions(); err != nil {
				t.Errorf("%s=%s: ConsumerOptions: %v", tc.key, tc.value, err)
			}
		}
	}
}

// TestSharingKeys: consumer.group, consumer.leases and the lease keys are
// read from the file, the environment and flags, are checked together
// (naming the keys and where they were set), and Leases refuses a store
// without leases.
func TestSharingKeys(t *testing.T) {
	for _, tc := range []struct {
		name    string
		yaml    string
		env     map[string]string
		set     [][2]string // key, value, as flags
		wantErr []string    // parts of the error of Parse, ApplyEnv, Set or ConsumerOptions
		group   string
		leases  bool
	}{
		{name: "group", yaml: "consumer:\n  group: billing\n", group: "billing"},
		{name: "leases with timing", yaml: "consumer:\n  leases: true\n  worker_id: w1\n  lease_duration: 3s\n  lease_renew_interval: 1s\n", leases: true},
		{name: "leases from env", env: map[string]string{"UNISTREAM_CONSUMER_LEASES": "true", "UNISTREAM_CONSUMER_WORKER_ID": "w1"}, leases: true},
		{name: "renew under half the default duration", set: [][2]string{{"consumer.leases", "true"}, {"consumer.lease_renew_interval", "4s"}}, leases: true},
		{name: "group and leases in the file", yaml: "consumer:\n  group: billing\n  leases: true\n",
			wantErr: []string{"consumer.group (config file c.yaml line 3)", "consumer.leases (config file c.yaml line 4)", "one way to share"}},
		{name: "group in the file, leases by flag", yaml: "consumer:\n  group: billing\n", set: [][2]string{{"consumer.leases", "true"}},
			wantErr: []string{"consumer.group (config file c.yaml line 3)", "consumer.leases (flag --x)", "one way to share"}},
		{name: "worker id without leases", set: [][2]string{{"consumer.worker_id", "w1"}},
			wantErr: []string{"consumer.worker_id (flag --x) applies only with leases", "consumer.leases"}},
		{name: "lease duration without leases", yaml: "consumer:\n  lease_duration: 2s\n",
			wantErr: []string{"consumer.lease_duration (config file c.yaml line 3) applies only with leases"}},
		{name: "renew not under half the duration", set: [][2]string{{"consumer.leases", "true"}, {"consumer.lease_duration", "6s"}, {"consumer.lease_renew_interval", "3s"}},
			wantErr: []string{"consumer.lease_renew_interval (flag --x) 3s", "less than half of consumer.lease_duration 6s"}},
		{name: "leases not a bool", set: [][2]string{{"consumer.leases", "maybe"}}, wantErr: []string{"consumer.leases", "true or false"}},
		{name: "empty group", set: [][2]string{{"consumer.group", ""}}, wantErr: []string{"consumer.group", "a non-empty name"}},
		{name: "zero lease duration", set: [][2]string{{"consumer.leases", "true"}, {"consumer.lease_duration", "0s"}}, wantErr: []string{"consumer.lease_duration", "a positive duration"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := config.Parse("c.yaml", []byte("stream: mem://x\n"+tc.yaml))
			if err == nil {
				err = c.ApplyEnv(func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok })
			}
			for _, kv := range tc.set {
				if err == nil {
					err = c.Set(kv[0], kv[1], "flag --x")
				}
			}
			if err == nil {
				_, err = c.ConsumerOptions()
			}
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatalf("no error, want one with %q", tc.wantErr)
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Consumer.Group != tc.group || c.Consumer.Leases != tc.leases {
				t.Errorf("group %q, leases %v; want %q, %v", c.Consumer.Group, c.Consumer.Leases, tc.group, tc.leases)
			}
			o, err := c.Leases(checkpoint.NewMemoryStore())
			if err != nil || (o != nil) != tc.leases {
				t.Errorf("Leases = %v, %v; want an option: %v", o, err, tc.leases)
			}
		})
	}
}

// TestLeasesWiring: a consumer built from consumer.leases and
// consumer.worker_id holds its presence lease in the store under that
// worker id; a store without leases is refused by name.
func TestLeasesWiring(t *testing.T) {
	c, err := config.Parse("c.yaml", []byte("stream: mem://x\ncheckpoint: mem://\nconsumer:\n  leases: true\n  worker_id: w1\n  lease_duration: 3s\n  on_exhausted: halt\n"))
	if err != nil {
		t.Fatal(err)
	}
	s := memstream.New("leased", memstream.WithPartitions(2))
	defer s.Close()
	store := checkpoint.NewMemoryStore()
	copts, err := c.ConsumerOptions()
	if err != nil {
		t.Fatal(err)
	}
	lo, err := c.Leases(store)
	if err != nil || lo == nil {
		t.Fatalf("Leases: %v, %v", lo, err)
	}
	copts = append(copts, lo, stream.WithCheckpointStore(store))
	cons, err := stream.NewConsumer(stream.NewStream(s), func(context.Context, *stream.Record) error { return nil }, copts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- cons.Run(ctx) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ls, err := store.ListLeases(t.Context(), stream.DefaultConsumerName, s.Name())
		if err != nil {
			t.Fatal(err)
		}
		owned := 0
		for _, l := range ls {
			if !stream.IsWorkerLease(l) && l.Owner == "w1" {
				owned++
			}
		}
		if owned == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("worker w1 holds %d of 2 partition leases after 20s: %+v", owned, ls)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	c.Checkpoint = "kafka://u:secret@h:9092/t"
	_, err = c.Leases(noLeases{store})
	if err == nil || !strings.Contains(err.Error(), "kafka://u:xxxxx@h:9092/t") || strings.Contains(err.Error(), "secret") ||
		!strings.Contains(err.Error(), "keeps no leases") || !strings.Contains(err.Error(), "file:///DIR") || !strings.Contains(err.Error(), "consumer.leases (config file c.yaml line 4)") {
		t.Errorf("Leases over a store without leases: %v", err)
	}
}

// noLeases is a checkpoint store that keeps no leases.
type noLeases struct{ checkpoint.Store }

// TestParseOTLPEndpoint: an http or https base URL with a host passes; the
// rest fails, saying why, and the key rejects it.
func TestParseOTLPEndpoint(t *testing.T) {
	tests := []struct{ in, err string }{
		{"http://127.0.0.1:4318", ""},
		{"https://otel.example.com/otlp/", ""},
		{"http://[::1]:4318", ""},
		{"127.0.0.1:4318", "first path segment in URL cannot contain colon"},
		{"localhost:4318", `scheme "localhost" is not http or https`},
		{"grpc://127.0.0.1:4317", `scheme "grpc" is not http or https`},
		{"http://", "no host"},
		{"http://:4318", "no host"},
		{"http://127.0.0.1:99999", `port "99999" is not a number from 0 to 65535`},
		{"http://u:p@127.0.0.1:4318", "OTEL_EXPORTER_OTLP_HEADERS"},
		{"http://127.0.0.1:4318?x=1", "a query or fragment"},
		{"http://127.0.0.1:4318#f", "a query or fragment"},
		{"http://[::1", "missing ']'"},
	}
	for _, tt := range tests {
		u, err := config.ParseOTLPEndpoint(tt.in)
		if tt.err == "" {
			if err != nil || u.String() != tt.in {
				t.Errorf("ParseOTLPEndpoint(%q) = %v, %v; want it back", tt.in, u, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("ParseOTLPEndpoint(%q) error = %v, want one with %q", tt.in, err, tt.err)
		}
		var c config.Config
		if err := c.Set("otlp_endpoint", tt.in, "test"); err == nil || !strings.Contains(err.Error(), "expected http://HOST:PORT or https://") {
			t.Errorf("Set(otlp_endpoint, %q) = %v, want the expected form", tt.in, err)
		}
	}
}
