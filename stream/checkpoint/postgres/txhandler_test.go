package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/checkpoint/postgres"
	"github.com/unistream-go/unistream/stream/dlq"
	"github.com/unistream-go/unistream/stream/memstream"
)

// txTestURL is the server the TxHandler tests use: UNISTREAM_TEST_POSTGRES,
// or the local server every machine of this project runs.
func txTestURL() string {
	if u := os.Getenv("UNISTREAM_TEST_POSTGRES"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// txPool connects to the test server, or skips saying how to start one.
func txPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, txTestURL())
	if err == nil {
		err = pool.Ping(ctx)
	}
	if err != nil {
		if pool != nil {
			pool.Close()
		}
		t.Skipf("no PostgreSQL server answers at %s (%v): start one with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`, or set UNISTREAM_TEST_POSTGRES", checkpoint.RedactURL(txTestURL()), err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// uniqueName is a table name of this test run, dropped at cleanup.
func uniqueName(t testing.TB, pool *pgxpool.Pool, prefix string) string {
	name := fmt.Sprintf("%s_%d_%d", prefix, os.Getpid(), time.Now().UnixNano())
	t.Cleanup(func() {
		_, _ = pool.Exec(context.Background(), "DROP TABLE IF EXISTS "+pgx.Identifier{name}.Sanitize())
	})
	return name
}

// txFixture is a target table, a TxHandler writing one row per record into
// it, and a memstream with n records over two partitions.
type txFixture struct {
	pool    *pgxpool.Pool
	target  string // quoted
	applied string
	s       *stream.Stream
	n       int
}

func newTxFixture(t *testing.T, n int) *txFixture {
	pool := txPool(t)
	f := &txFixture{pool: pool, n: n}
	target := uniqueName(t, pool, "tx_target")
	f.target = pgx.Identifier{target}.Sanitize()
	f.applied = uniqueName(t, pool, "tx_applied")
	if _, err := pool.Exec(context.Background(), "CREATE TABLE "+f.target+" (id text NOT NULL, value text NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	f.s = stream.NewStream(memstream.New(target, memstream.WithPartitions(2)))
	t.Cleanup(func() { f.s.Close() })
	w, err := f.s.OpenWriter(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	recs := make([]stream.Record, n)
	for i := range recs {
		recs[i] = stream.Record{ID: fmt.Sprintf("r%03d", i), Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(fmt.Sprintf("v%d", i))}
	}
	if _, err := w.Write(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	return f
}

// insert is a TxFunc writing the record's row.
func (f *txFixture) insert(ctx context.Context, tx pgx.Tx, r *stream.Record) error {
	_, err := tx.Exec(ctx, "INSERT INTO "+f.target+" (id, value) VALUES ($1, $2)", r.ID, string(r.Value))
	return err
}

// rows returns how many rows the target holds per record id.
func (f *txFixture) rows(t *testing.T) map[string]int {
	t.Helper()
	rows, err := f.pool.Query(context.Background(), "SELECT id FROM "+f.target)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, id := range ids {
		out[id]++
	}
	return out
}

// run consumes every record with h (stopping once each has a final
// outcome) and returns the outcomes by kind.
func (f *txFixture) run(t *testing.T, store checkpoint.Store, h stream.Handler, opts ...stream.ConsumerOption) map[stream.EventKind]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var mu sync.Mutex
	counts := map[stream.EventKind]int{}
	final := 0
	obs := stream.ObserverFunc(func(e stream.Event) {
		switch e.Kind {
		case stream.EventAttemptSucceeded, stream.EventDeadLettered, stream.EventSkipped, stream.EventAttemptFailed:
			mu.Lock()
			counts[e.Kind]++
			if e.Kind != stream.EventAttemptFailed {
				final++
			}
			if final == f.n {
				cancel()
			}
			mu.Unlock()
		}
	})
	opts = append([]stream.ConsumerOption{stream.WithName("billing"), stream.WithCheckpointStore(store),
		stream.WithPollInterval(5 * time.Millisecond), stream.WithObserver(obs), stream.WithDLQ(&memSink{})}, opts...)
	c, err := stream.NewConsumer(f.s, h, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if final != f.n {
		t.Fatalf("%d records reached a final outcome, want %d", final, f.n)
	}
	return counts
}

// TestTxHandlerAppliesOnce: every record is applied once; handing the same
// records to the handler again (as a consumer does after a crash between a
// commit and its checkpoint) applies nothing.
func TestTxHandlerAppliesOnce(t *testing.T) {
	f := newTxFixture(t, 40)
	ctx := context.Background()
	var calls atomic.Int32
	h, err := postgres.NewTxHandler(ctx, f.pool, "billing", func(ctx context.Context, tx pgx.Tx, r *stream.Record) error {
		calls.Add(1)
		return f.insert(ctx, tx, r)
	}, postgres.WithAppliedTable(f.applied))
	if err != nil {
		t.Fatal(err)
	}
	counts := f.run(t, checkpoint.NewMemoryStore(), h.Handle)
	if counts[stream.EventAttemptSucceeded] != f.n {
		t.Fatalf("outcomes %v, want %d successes", counts, f.n)
	}
	// A second consumer with an empty checkpoint gets every record again.
	counts = f.run(t, checkpoint.NewMemoryStore(), h.Handle)
	if counts[stream.EventAttemptSucceeded] != f.n {
		t.Fatalf("redelivery outcomes %v, want %d successes (nothing to apply)", counts, f.n)
	}
	if got := calls.Load(); got != int32(f.n) {
		t.Fatalf("the TxFunc ran %d times for %d records: a redelivered record must not run it", got, f.n)
	}
	rows := f.rows(t)
	if len(rows) != f.n {
		t.Fatalf("%d distinct records in the target, want %d", len(rows), f.n)
	}
	for id, n := range rows {
		if n != 1 {
			t.Fatalf("record %s applied %d times", id, n)
		}
	}
}

// TestTxHandlerFailedAttemptRollsBack: a failed attempt leaves no row and
// no mark, the consumer retries it, and a record that fails every attempt
// is dead-lettered with nothing applied.
func TestTxHandlerFailedAttemptRollsBack(t *testing.T) {
	f := newTxFixture(t, 10)
	ctx := context.Background()
	var r3 atomic.Int32
	h, err := postgres.NewTxHandler(ctx, f.pool, "billing", func(ctx context.Context, tx pgx.Tx, r *stream.Record) error {
		if err := f.insert(ctx, tx, r); err != nil {
			return err
		}
		switch r.ID {
		case "r003":
			if r3.Add(1) == 1 {
				return errors.New("first attempt fails after its write")
			}
		case "r007":
			return errors.New("always fails after its write")
		}
		return nil
	}, postgres.WithAppliedTable(f.applied))
	if err != nil {
		t.Fatal(err)
	}
	sink := &memSink{}
	counts := f.run(t, checkpoint.NewMemoryStore(), h.Handle,
		stream.WithRetry(stream.RetryPolicy{MaxAttempts: 3, Initial: time.Millisecond, Multiplier: 2, MaxInterval: 5 * time.Millisecond}),
		stream.WithDLQ(sink))
	if counts[stream.EventDeadLettered] != 1 || counts[stream.EventAttemptSucceeded] != f.n-1 || counts[stream.EventAttemptFailed] != 1+3 {
		t.Fatalf("outcomes %v: want %d successes, 1 dead-lettered, 4 failed attempts (r003 once, r007 three times)", counts, f.n-1)
	}
	rows := f.rows(t)
	if rows["r007"] != 0 {
		t.Fatalf("the dead-lettered record has %d rows: its failed attempts must roll back", rows["r007"])
	}
	if rows["r003"] != 1 {
		t.Fatalf("the record retried after a failure has %d rows, want 1", rows["r003"])
	}
	if len(rows) != f.n-1 {
		t.Fatalf("%d records applied, want %d", len(rows), f.n-1)
	}
	var marks int
	if err := f.pool.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{f.applied}.Sanitize()+" WHERE record_id = 'r007'").Scan(&marks); err != nil {
		t.Fatal(err)
	}
	if marks != 0 {
		t.Fatalf("the dead-lettered record has %d marks, want 0", marks)
	}
	if len(sink.ids()) != 1 || sink.ids()[0] != "r007" {
		t.Fatalf("dead-lettered %v, want [r007]", sink.ids())
	}
}

// TestTxHandlerPrune: Prune deletes the marks at or before each
// partition's committed pointer and keeps the others.
func TestTxHandlerPrune(t *testing.T) {
	f := newTxFixture(t, 20)
	ctx := context.Background()
	h, err := postgres.NewTxHandler(ctx, f.pool, "billing", f.insert, postgres.WithAppliedTable(f.applied))
	if err != nil {
		t.Fatal(err)
	}
	store := checkpoint.NewMemoryStore()
	f.run(t, store, h.Handle)
	applied := pgx.Identifier{f.applied}.Sanitize()
	count := func() int {
		var n int
		if err := f.pool.QueryRow(ctx, "SELECT count(*) FROM "+applied).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(); n != f.n {
		t.Fatalf("%d marks after the run, want %d", n, f.n)
	}
	// Move partition 0's checkpoint back to its second record: its later
	// marks must stay.
	cps, err := store.List(ctx, "billing", f.s.Name())
	if err != nil || len(cps) != 2 {
		t.Fatalf("checkpoints %v, %v: want 2", cps, err)
	}
	rd, err := f.s.OpenReader(ctx, cps[0].Partition, stream.Start{})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := rd.Fetch(ctx, 2)
	rd.Close()
	if err != nil || len(recs) != 2 {
		t.Fatalf("fetch: %d records, %v", len(recs), err)
	}
	cp := cps[0]
	cp.Committed = recs[1].Pointer
	if err := store.Save(ctx, cp); err != nil {
		t.Fatal(err)
	}
	var part0 int
	if err := f.pool.QueryRow(ctx, "SELECT count(*) FROM "+applied+" WHERE partition = $1", cp.Partition).Scan(&part0); err != nil {
		t.Fatal(err)
	}
	deleted, err := h.Prune(ctx, store, f.s)
	if err != nil {
		t.Fatal(err)
	}
	if want := f.n - part0 + 2; deleted != want {
		t.Fatalf("Prune deleted %d marks, want %d (all of partition 1, two of partition 0)", deleted, want)
	}
	if n := count(); n != part0-2 {
		t.Fatalf("%d marks left, want %d (partition 0 past its checkpoint)", n, part0-2)
	}
}

// TestTxHandlerBadInput: options and tables that are not what the handler
// expects are refused, naming what was expected.
func TestTxHandlerBadInput(t *testing.T) {
	pool := txPool(t)
	ctx := context.Background()
	fn := func(context.Context, pgx.Tx, *stream.Record) error { return nil }
	other := uniqueName(t, pool, "tx_other")
	if _, err := pool.Exec(ctx, "CREATE TABLE "+other+" (id int)"); err != nil {
		t.Fatal(err)
	}
	// The applied table's columns without its primary key: marks would
	// not be unique.
	nokey := uniqueName(t, pool, "tx_nokey")
	if _, err := pool.Exec(ctx, "CREATE TABLE "+nokey+" (consumer text, stream text, partition text, pointer bytea, record_id text, applied_at timestamptz)"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		pool     *pgxpool.Pool
		consumer string
		fn       postgres.TxFunc
		opts     []postgres.TxOption
		want     string
		is       error
	}{
		{"nil pool", nil, "c", fn, nil, "nil pool", nil},
		{"nil fn", pool, "c", nil, nil, "nil TxFunc", nil},
		{"no consumer", pool, "", fn, nil, "empty consumer name", nil},
		{"bad table", pool, "c", fn, []postgres.TxOption{postgres.WithAppliedTable("x; DROP TABLE y")}, "lower-case letters, digits and '_'", nil},
		{"three parts", pool, "c", fn, []postgres.TxOption{postgres.WithAppliedTable("a.b.c")}, "optionally qualified by a schema name", nil},
		{"upper case", pool, "c", fn, []postgres.TxOption{postgres.WithAppliedTable("Applied")}, "lower-case", nil},
		{"bad pruning", pool, "c", fn, []postgres.TxOption{postgres.WithPruning(nil, nil, 1)}, "nil checkpoint store", nil},
		{"bad isolation", pool, "c", fn, []postgres.TxOption{postgres.WithIsolation("sloppy")}, "expected pgx.ReadCommitted", nil},
		{"foreign table", pool, "c", fn, []postgres.TxOption{postgres.WithAppliedTable(other)}, "is not a unistream applied table", checkpoint.ErrCorrupt},
		{"no primary key", pool, "c", fn, []postgres.TxOption{postgres.WithAppliedTable(nokey)}, "its primary key is ()", checkpoint.ErrCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := postgres.NewTxHandler(ctx, tc.pool, tc.consumer, tc.fn, tc.opts...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one saying %q", err, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("err = %v, want one matching %v", err, tc.is)
			}
		})
	}
	h, err := postgres.NewTxHandler(ctx, pool, "c", fn, postgres.WithAppliedTable(uniqueName(t, pool, "tx_applied")))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Handle(ctx, &stream.Record{ID: "x"}); err == nil || !strings.Contains(err.Error(), "no partition or pointer") {
		t.Fatalf("a record without a position: err = %v, want one saying it has no partition or pointer", err)
	}
}

// memSink is a DLQ sink in memory.
type memSink struct {
	mu   sync.Mutex
	envs []dlq.Envelope
}

func (s *memSink) Put(_ context.Context, e *dlq.Envelope) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.envs = append(s.envs, *e)
	return nil
}

func (s *memSink) Close() error { return nil }

func (s *memSink) ids() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, e := range s.envs {
		out = append(out, e.ID)
	}
	return out
}
