package postgres

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/goleak"

	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/checkpoint/storetest"
)

// startHint says how to start the server the tests need.
const startHint = "start one with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start " +
	"(or set UNISTREAM_TEST_POSTGRES to a postgres:// URL)"

// server is the PostgreSQL server of the tests: its URL, and a pool that
// the tests use to create, damage and drop tables behind the store.
var server struct {
	url   string
	admin *pgxpool.Pool
	err   error
}

// candidates are the URLs tried when UNISTREAM_TEST_POSTGRES is not set:
// the local server with trust authentication, as root or postgres.
var candidates = []string{
	"postgres://root@127.0.0.1:5432/test",
	"postgres://postgres@127.0.0.1:5432/test",
}

func TestMain(m *testing.M) {
	urls := candidates
	if u := os.Getenv("UNISTREAM_TEST_POSTGRES"); u != "" {
		urls = []string{u}
	}
	for _, u := range urls {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		pool, err := pgxpool.New(ctx, u)
		if err == nil {
			err = pool.Ping(ctx)
			if err != nil {
				pool.Close()
			}
		}
		cancel()
		if err == nil {
			server.url, server.admin, server.err = u, pool, nil
			break
		}
		server.err = redact(fmt.Errorf("%s: %s", u, strings.Join(strings.Fields(err.Error()), " ")), secretsOf(u))
	}
	code := m.Run()
	if server.admin != nil {
		server.admin.Close()
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// tb is what the helpers need of a test: testing.TB and conformance.T
// have it.
type tb interface {
	Helper()
	Cleanup(func())
	Errorf(format string, args ...any)
	Skipf(format string, args ...any)
}

// admin returns the tests' pool, skipping the test when no server answers.
func admin(t tb) *pgxpool.Pool {
	t.Helper()
	if server.admin == nil {
		t.Skipf("no PostgreSQL server (%v); %s", server.err, startHint)
	}
	return server.admin
}

var tables atomic.Int64

// tableName returns a table name of its own for a test, unique across runs
// (-count) and the processes of parallel test binaries, and drops the
// table when the test ends.
func tableName(t tb) string {
	t.Helper()
	pool := admin(t)
	name := fmt.Sprintf("unistream_test_%d_%d_%d", os.Getpid(), time.Now().UnixNano()%1e9, tables.Add(1))
	t.Cleanup(func() {
		if _, err := pool.Exec(context.Background(), "DROP TABLE IF EXISTS "+quote(name)); err != nil {
			t.Errorf("drop table %s: %v", name, err)
		}
	})
	return name
}

// newStore returns a store on a new table, on the tests' pool.
func newStore(t testing.TB, opts ...Option) *Store {
	t.Helper()
	name := tableName(t)
	s, err := New(context.Background(), admin(t), append([]Option{WithTable(name)}, opts...)...)
	if err != nil {
		t.Fatalf("New(%s): %v", name, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// reopen returns another store on s's table, as another process would.
func reopen(t testing.TB, s *Store) *Store {
	t.Helper()
	r, err := New(context.Background(), s.Pool(), WithTable(s.Table()), WithCreateTable(false))
	if err != nil {
		t.Fatalf("reopen %s: %v", s.Table(), err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// setColumn overwrites one column of key's row, bypassing the store, and
// creates the row if it is missing.
func setColumn(t testing.TB, s *Store, key checkpoint.Key, col string, v any) {
	t.Helper()
	c, st, p := keyArgs(key)
	_, err := admin(t).Exec(context.Background(),
		"INSERT INTO "+quote(s.table)+" AS t (consumer, stream, partition, "+col+") VALUES ($1, $2, $3, $4)"+
			" ON CONFLICT (consumer, stream, partition) DO UPDATE SET "+col+" = excluded."+col, c, st, p, v)
	if err != nil {
		t.Fatalf("damage %s of %s: %v", col, key, err)
	}
}

func TestStore(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		New: func(t *testing.T) checkpoint.Store { return newStore(t) },
		Corrupt: func(t *testing.T, s checkpoint.Store, key checkpoint.Key) {
			setColumn(t, s.(*Store), key, colCheckpoint, `{"format": 1, "checkpoint": {"consumer": `)
		},
		Reopen: func(t *testing.T, s checkpoint.Store) checkpoint.Store { return reopen(t, s.(*Store)) },
	})
}

func TestStoreLeases(t *testing.T) {
	storetest.RunLeases(t, storetest.LeaseHarness{
		New: func(t *testing.T) checkpoint.Leaser { return newStore(t) },
		Corrupt: func(t *testing.T, l checkpoint.Leaser, key checkpoint.Key) {
			setColumn(t, l.(*Store), key, colExpires, nil) // an owner without an expiry
		},
		Reopen: func(t *testing.T, l checkpoint.Leaser) checkpoint.Leaser { return reopen(t, l.(*Store)) },
	})
}

// TestStoreCorruptRows: each kind of damaged row gives ErrCorrupt naming
// the table, the key and what was expected, and is never overwritten.
func TestStoreCorruptRows(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	doc := func(k checkpoint.Key, v uint64) string {
		b, err := checkpoint.EncodeDocument(&checkpoint.Checkpoint{Key: k, Version: v})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	other := checkpoint.Key{Consumer: "c", Stream: "s", Partition: "other"}
	cases := []struct {
		name   string
		col    string
		value  func(k checkpoint.Key) any
		expect string
	}{
		{"version NULL", colVersion, func(checkpoint.Key) any { return nil }, `column "checkpoint" is set but "version" is NULL`},
		{"document NULL", colCheckpoint, func(checkpoint.Key) any { return nil }, `column "version" is set but "checkpoint" is NULL`},
		{"version zero", colVersion, func(checkpoint.Key) any { return 0 }, "expected an integer from 1"},
		{"version negative", colVersion, func(checkpoint.Key) any { return -5 }, "expected an integer from 1"},
		{"version differs from document", colVersion, func(checkpoint.Key) any { return 7 }, "expected them equal"},
		{"document of another key", colCheckpoint, func(checkpoint.Key) any { return doc(other, 1) }, `expected key "c/s/`},
		{"document format", colCheckpoint, func(k checkpoint.Key) any {
			return strings.Replace(doc(k, 1), `"format":1`, `"format":9`, 1)
		}, "expected format 1"},
		{"document not JSON", colCheckpoint, func(checkpoint.Key) any { return "garbage" }, "invalid JSON"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k := checkpoint.Key{Consumer: "c", Stream: "s", Partition: fmt.Sprintf("k%d", i)}
			cp := storetest.Full(k)
			if err := s.Save(ctx, cp); err != nil {
				t.Fatal(err)
			}
			setColumn(t, s, k, tc.col, tc.value(k))
			check := func(what string, err error) {
				t.Helper()
				if !errors.Is(err, checkpoint.ErrCorrupt) || !strings.Contains(err.Error(), s.Table()) ||
					!strings.Contains(err.Error(), k.String()) || !strings.Contains(err.Error(), tc.expect) {
					t.Fatalf("%s: err = %v, want ErrCorrupt naming table %s, key %s and %q", what, err, s.Table(), k, tc.expect)
				}
			}
			check("Save", s.Save(ctx, cp)) // the store has seen version 1: conditional write
			_, err := s.Load(ctx, k)
			check("Load", err)
			fresh := reopen(t, s)
			c2 := storetest.Full(k)
			c2.Version = 1
			check("Save from another store", fresh.Save(ctx, c2))
			check("Save of version 0", fresh.Save(ctx, storetest.Full(k)))
			_, err = s.List(ctx, "c", "s")
			check("List", err)
			_, err = s.Load(ctx, k)
			check("Load after refused saves", err)
			// Repair for the next case's List.
			setColumn(t, s, k, colVersion, 1)
			setColumn(t, s, k, colCheckpoint, doc(k, 1))
		})
	}
	// A partition column that escape cannot have written.
	bad := checkpoint.Key{Consumer: "c", Stream: "s2", Partition: "x"}
	setColumn(t, s, bad, colVersion, 1)
	if _, err := admin(t).Exec(ctx, "UPDATE "+quote(s.table)+" SET partition = 'p%zz' WHERE stream = 's2'"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.List(ctx, "c", "s2"); !errors.Is(err, checkpoint.ErrCorrupt) || !strings.Contains(err.Error(), `partition "p%zz"`) {
		t.Fatalf("List of a row with a badly escaped partition: err = %v, want ErrCorrupt naming it", err)
	}
}

// TestStoreCorruptLeases: each kind of damaged lease gives ErrCorrupt
// naming the table, the key and what was expected, and is never
// overwritten.
func TestStoreCorruptLeases(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	exp := time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)
	cases := []struct {
		name   string
		col    string
		value  any
		expect string
	}{
		{"counter NULL", colCounter, nil, `lease columns without "lease_counter"`},
		{"counter zero", colCounter, 0, "expected an integer from 1"},
		{"owner empty", colOwner, "", "expected the worker id, or NULL"},
		{"owner NULL", colOwner, nil, "expected both set, or both empty"},
		{"expiry NULL", colExpires, nil, "expected both set, or both empty"},
		{"owner not UTF-8", colOwner, "\xff", "invalid byte sequence"}, // refused by the server
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k := checkpoint.Key{Consumer: "c", Stream: "s", Partition: fmt.Sprintf("k%d", i)}
			l := &checkpoint.Lease{Key: k}
			if err := s.AcquireLease(ctx, l, "w", exp); err != nil {
				t.Fatal(err)
			}
			c, st, p := keyArgs(k)
			_, err := admin(t).Exec(ctx, "UPDATE "+quote(s.table)+" SET "+tc.col+" = $4 WHERE consumer = $1 AND stream = $2 AND partition = $3", c, st, p, tc.value)
			if err != nil {
				if strings.Contains(err.Error(), tc.expect) {
					return // the server keeps this damage out
				}
				t.Fatal(err)
			}
			check := func(what string, err error) {
				t.Helper()
				if !errors.Is(err, checkpoint.ErrCorrupt) || !strings.Contains(err.Error(), s.Table()) ||
					!strings.Contains(err.Error(), k.String()) || !strings.Contains(err.Error(), tc.expect) {
					t.Fatalf("%s: err = %v, want ErrCorrupt naming table %s, key %s and %q", what, err, s.Table(), k, tc.expect)
				}
			}
			check("RenewLease", s.RenewLease(ctx, l.Clone(), exp.Add(time.Second))) // seen: conditional write
			_, err = s.LoadLease(ctx, k)
			check("LoadLease", err)
			check("AcquireLease of counter 0", s.AcquireLease(ctx, &checkpoint.Lease{Key: k}, "v", exp))
			check("ReleaseLease", reopen(t, s).ReleaseLease(ctx, l.Clone()))
			_, err = s.ListLeases(ctx, "c", "s")
			check("ListLeases", err)
			// Repair for the next case's ListLeases.
			_, err = admin(t).Exec(ctx, "DELETE FROM "+quote(s.table)+" WHERE consumer = $1 AND stream = $2 AND partition = $3", c, st, p)
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestTableShape: a table that exists with another shape or schema
// version is refused with ErrCorrupt naming the table and what was
// expected; a missing one is created, or refused without create.
func TestTableShape(t *testing.T) {
	ctx := context.Background()
	pool := admin(t)
	ddl := func(t *testing.T, name string) string {
		return strings.Join(createSQL(quote(name)), "; ")
	}
	cases := []struct {
		name  string
		setup func(t *testing.T, name string) string // SQL run before New
		opts  []Option
		want  string
		class storetest.Class
	}{
		{"no comment", func(t *testing.T, n string) string {
			return "CREATE TABLE " + quote(n) + " (id int PRIMARY KEY)"
		}, nil, "is not a unistream checkpoint table", storetest.Corrupt},
		{"another schema version", func(t *testing.T, n string) string {
			return ddl(t, n) + "; COMMENT ON TABLE " + quote(n) + " IS 'unistream checkpoint store, schema 2'"
		}, nil, "has schema version 2 (expected 1", storetest.Corrupt},
		{"missing column", func(t *testing.T, n string) string {
			return ddl(t, n) + "; ALTER TABLE " + quote(n) + " DROP COLUMN lease_expires"
		}, nil, "expected column lease_expires of type bigint", storetest.Corrupt},
		{"column of another type", func(t *testing.T, n string) string {
			return ddl(t, n) + "; ALTER TABLE " + quote(n) + " ALTER COLUMN version TYPE integer"
		}, nil, "expected column version of type bigint", storetest.Corrupt},
		{"another primary key", func(t *testing.T, n string) string {
			return ddl(t, n) + "; ALTER TABLE " + quote(n) + " DROP CONSTRAINT " + quote(n+"_pkey") + "; ALTER TABLE " + quote(n) + " ADD PRIMARY KEY (consumer, stream)"
		}, nil, "expected (consumer, stream, partition)", storetest.Corrupt},
		{"missing, create=false", func(*testing.T, string) string { return "" }, []Option{WithCreateTable(false)}, "does not exist", storetest.Permanent},
		{"missing schema", func(*testing.T, string) string { return "" }, []Option{WithTable("no_such_schema.t")}, "no_such_schema", storetest.Permanent},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			name := tableName(t)
			if sql := tc.setup(t, name); sql != "" {
				for _, stmt := range strings.Split(sql, "; ") {
					if _, err := pool.Exec(ctx, stmt); err != nil {
						t.Fatalf("%s: %v", stmt, err)
					}
				}
			}
			s, err := New(ctx, pool, append([]Option{WithTable(name)}, tc.opts...)...)
			if err == nil {
				s.Close()
				t.Fatalf("New succeeded, want an error containing %q", tc.want)
			}
			storetest.CheckClass(t, err, tc.class)
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: err = %v, want one containing %q", err, tc.want)
			}
		})
	}
	// Extra columns are allowed, and a table the store created is accepted
	// again.
	s := newStore(t)
	if _, err := pool.Exec(ctx, "ALTER TABLE "+quote(s.table)+" ADD COLUMN note text"); err != nil {
		t.Fatal(err)
	}
	reopen(t, s)
}

// TestSchemaQualified: a table in another schema, named schema.table.
func TestSchemaQualified(t *testing.T) {
	ctx := context.Background()
	pool := admin(t)
	schema := tableName(t) + "_s"
	if _, err := pool.Exec(ctx, "CREATE SCHEMA "+quote(schema)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = pool.Exec(context.Background(), "DROP SCHEMA "+quote(schema)+" CASCADE") })
	s, err := New(ctx, pool, WithTable(schema+".checkpoints"))
	if err != nil {
		t.Fatal(err)
	}
	k := checkpoint.Key{Consumer: "c", Stream: "s", Partition: "0"}
	if err := s.Save(ctx, &checkpoint.Checkpoint{Key: k}); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+quote(schema+".checkpoints")).Scan(&n); err != nil || n != 1 {
		t.Fatalf("rows in %s.checkpoints: %d, %v; want 1", schema, n, err)
	}
}

// TestConcurrentCreate: stores starting together on a missing table all
// succeed (one creates it, the others wait on the advisory lock).
func TestConcurrentCreate(t *testing.T) {
	name := tableName(t)
	errs := make(chan error, 6)
	for range cap(errs) {
		go func() {
			s, err := New(context.Background(), admin(t), WithTable(name))
			if err == nil {
				s.Close()
			}
			errs <- err
		}()
	}
	for range cap(errs) {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

func TestNewErrors(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		opts []Option
		want string
	}{
		{"empty table name", []Option{WithTable("")}, "expected a table name"},
		{"upper case", []Option{WithTable("Checkpoints")}, "lower-case letters"},
		{"quote in name", []Option{WithTable(`a"b`)}, "lower-case letters"},
		{"three parts", []Option{WithTable("a.b.c")}, "optionally qualified"},
		{"leading digit", []Option{WithTable("1t")}, "not starting with a digit"},
		{"too long", []Option{WithTable(strings.Repeat("t", 64))}, "1 to 63"},
		{"nil option", []Option{nil}, "non-nil option"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(ctx, admin(t), tc.opts...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: err = %v, want one containing %q", err, tc.want)
			}
			_, err = Connect(ctx, "postgres://u:pw@127.0.0.1:1/db", tc.opts...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Connect: err = %v, want one containing %q", err, tc.want)
			}
		})
	}
	if _, err := New(ctx, nil); err == nil || !strings.Contains(err.Error(), "non-nil *pgxpool.Pool") {
		t.Fatalf("New(nil pool): err = %v", err)
	}
}

// TestSaveInTransaction: saveIn writes through a caller's transaction,
// which decides whether the checkpoint is stored.
func TestSaveInTransaction(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	k := checkpoint.Key{Consumer: "c", Stream: "s", Partition: "0"}
	cp := &checkpoint.Checkpoint{Key: k, Committed: []byte{1}}
	for _, commit := range []bool{false, true} {
		tx, err := s.Pool().Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		d, err := s.saveIn(ctx, tx, cp)
		if err != nil {
			t.Fatal(err)
		}
		if d.version != 1 || cp.Version != 0 {
			t.Fatalf("saveIn wrote version %d and left the argument at %d; want 1 and 0", d.version, cp.Version)
		}
		if commit {
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			s.saved(cp, d)
		} else {
			if err := tx.Rollback(ctx); err != nil {
				t.Fatal(err)
			}
			s.forget(cp.Key)
		}
		got, err := s.Load(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if want := map[bool]uint64{false: 0, true: 1}[commit]; got.Version != want {
			t.Fatalf("after the transaction (commit %v): version %d, want %d", commit, got.Version, want)
		}
	}
	if cp.Version != 1 {
		t.Fatalf("after the commit the argument has version %d, want 1", cp.Version)
	}
	cp.Counts.Succeeded++
	if err := s.Save(ctx, cp); err != nil { // one statement: the store remembers the committed document
		t.Fatalf("Save after a transactional save: %v", err)
	}
	// The transaction sees its own uncommitted writes: a conflict inside it.
	tx, err := s.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	if _, err := reopen(t, s).saveIn(ctx, tx, &checkpoint.Checkpoint{Key: k, Version: 2}); err != nil {
		t.Fatal(err)
	}
	one := &checkpoint.Checkpoint{Key: k, Version: 2}
	if _, err := s.saveIn(ctx, tx, one); !errors.Is(err, checkpoint.ErrConflict) || !strings.Contains(err.Error(), "version 3 is stored") {
		t.Fatalf("saveIn in a transaction that changed the version: err = %v, want ErrConflict", err)
	}
}

// tracer counts the statements pgx sends.
type tracer struct{ n atomic.Int64 }

func (c *tracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}

func (c *tracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// take returns the count since the last take.
func (c *tracer) take() int64 { return c.n.Swap(0) }

// countingPool returns a pool on the test server whose statements tr
// counts.
func countingPool(t testing.TB, tr *tracer) *pgxpool.Pool {
	t.Helper()
	admin(t)
	cfg, err := pgxpool.ParseConfig(server.url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.Tracer = tr
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// TestSaveStatements counts what a Save sends: one statement once the
// store knows the stored document (it saved or loaded it), and a SELECT
// first only when it does not. Lease renewals are one statement too.
func TestSaveStatements(t *testing.T) {
	ctx := context.Background()
	var tr tracer
	s, err := New(ctx, countingPool(t, &tr), WithTable(tableName(t)))
	if err != nil {
		t.Fatal(err)
	}
	k := checkpoint.Key{Consumer: "billing", Stream: "orders", Partition: "0"}
	step := func(what string, want int64, f func() error) {
		t.Helper()
		tr.take()
		if err := f(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if got := tr.take(); got != want {
			t.Errorf("%s sent %d statements, want %d", what, got, want)
		}
	}
	cp := &checkpoint.Checkpoint{Key: k}
	step("the first Save", 1, func() error { return s.Save(ctx, cp) })
	for i := range 3 {
		cp.Counts.Succeeded++
		step(fmt.Sprintf("Save %d after a Save", i+2), 1, func() error { return s.Save(ctx, cp) })
	}
	var loaded *checkpoint.Checkpoint
	step("Load", 1, func() (err error) { loaded, err = s.Load(ctx, k); return err })
	step("Save after Load", 1, func() error { return s.Save(ctx, loaded) })

	other := reopen(t, s)
	theirs, err := other.Load(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Save(ctx, theirs); err != nil {
		t.Fatal(err)
	}
	step("Save of a version another store wrote", 2, func() error { return s.Save(ctx, theirs) })
	step("the next Save", 1, func() error { return s.Save(ctx, theirs) })

	l := &checkpoint.Lease{Key: k}
	exp := time.Now().Add(time.Minute)
	step("AcquireLease", 1, func() error { return s.AcquireLease(ctx, l, "w", exp) })
	step("RenewLease", 1, func() error { return s.RenewLease(ctx, l, exp.Add(time.Second)) })
	step("ReleaseLease", 1, func() error { return s.ReleaseLease(ctx, l) })
}
