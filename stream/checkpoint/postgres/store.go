package postgres

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/unistream-go/unistream/stream/checkpoint"
)

// Store is a checkpoint.Store and checkpoint.Leaser on one PostgreSQL
// table. It is safe for concurrent use, and any number of processes may
// share a table. See the package documentation for the table, the
// compare-and-swap and the error classes.
type Store struct {
	pool  *pgxpool.Pool
	own   bool   // Close closes the pool
	table string // as given: name or schema.name
	sql   statements

	mu   sync.Mutex
	seen map[checkpoint.Key]seenDoc // last document read or written per key
	// seenLease holds the lease columns last read or written per key.
	seenLease map[checkpoint.Key]leaseCols
}

var (
	_ checkpoint.Store  = (*Store)(nil)
	_ checkpoint.Leaser = (*Store)(nil)
)

// seenDoc is the checkpoint column of a key as this store last read or
// wrote it, at a version.
type seenDoc struct {
	version uint64
	doc     string
}

// querier runs SQL: a *pgxpool.Pool, a *pgx.Conn or a pgx.Tx. saveIn takes
// one so that a checkpoint can be saved in the transaction of a caller.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Connect opens a pool on connString (a PostgreSQL URL,
// postgres://user:password@host:port/database?sslmode=…, or key=value
// pairs, as pgxpool.ParseConfig reads them) and returns a store on its
// table (see New). Close closes the pool. The password of connString
// never appears in an error.
func Connect(ctx context.Context, connString string, opts ...Option) (*Store, error) {
	c, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	secrets := secretsOf(connString)
	pcfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		return nil, redact(fmt.Errorf("postgres checkpoint store: connection string: %w", checkpoint.Permanent(err)), secrets)
	}
	secrets = append(secrets, configSecrets(pcfg.ConnConfig)...)
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, redact(fmt.Errorf("postgres checkpoint store: %s: %w", target(pcfg.ConnConfig), err), secrets)
	}
	s, err := openStore(ctx, pool, true, c)
	if err != nil {
		pool.Close()
		return nil, redact(fmt.Errorf("postgres checkpoint store: %s: %w", target(pcfg.ConnConfig), err), secrets)
	}
	return s, nil
}

// New returns a store on an existing pool: it checks that the table
// exists with the expected columns and schema version, creating it when
// missing (unless WithCreateTable(false)), and returns an error naming the
// table and what was expected otherwise. Close leaves the pool open.
func New(ctx context.Context, pool *pgxpool.Pool, opts ...Option) (*Store, error) {
	if pool == nil {
		return nil, &OptionError{Option: "pool", Value: nil, Expected: "a non-nil *pgxpool.Pool"}
	}
	c, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	s, err := openStore(ctx, pool, false, c)
	if err != nil {
		return nil, fmt.Errorf("postgres checkpoint store: %s: %w", target(pool.Config().ConnConfig), err)
	}
	return s, nil
}

func openStore(ctx context.Context, pool *pgxpool.Pool, own bool, c config) (*Store, error) {
	s := &Store{pool: pool, own: own, table: c.table, sql: newStatements(quote(c.table)),
		seen: map[checkpoint.Key]seenDoc{}, seenLease: map[checkpoint.Key]leaseCols{}}
	if err := s.ensureTable(ctx, c.create); err != nil {
		return nil, err
	}
	return s, nil
}

// target names the server of a connection in errors: host, port, database
// and user, never the password.
func target(c *pgx.ConnConfig) string {
	return fmt.Sprintf("host %s port %d database %q user %q", c.Host, c.Port, c.Database, c.User)
}

// quote returns the SQL of a table name validTable accepted.
func quote(table string) string {
	return pgx.Identifier(strings.Split(table, ".")).Sanitize()
}

// Table returns the table name.
func (s *Store) Table() string { return s.table }

// Pool returns the pool the store uses, for a caller that writes its own
// rows in the same database (a transactional handler).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Close closes the pool if Connect opened it. It does not delete anything.
func (s *Store) Close() error {
	if s.own {
		s.pool.Close()
	}
	return nil
}

// statements are the SQL texts of a table, built once.
type statements struct {
	selectRow, selectGroup             string
	insertCheckpoint, updateCheckpoint string
	insertLease, updateLease           string
}

const rowColumns = colVersion + ", " + colCheckpoint + ", " + colCounter + ", " + colOwner + ", " + colExpires

func newStatements(t string) statements {
	key := " WHERE consumer = $1 AND stream = $2 AND partition = $3"
	return statements{
		selectRow:   "SELECT " + rowColumns + " FROM " + t + key,
		selectGroup: "SELECT partition, " + rowColumns + " FROM " + t + " WHERE consumer = $1 AND stream = $2",
		insertCheckpoint: "INSERT INTO " + t + " AS t (consumer, stream, partition, version, checkpoint) VALUES ($1, $2, $3, $4, $5)" +
			" ON CONFLICT (consumer, stream, partition) DO UPDATE SET version = excluded.version, checkpoint = excluded.checkpoint" +
			" WHERE t.version IS NULL AND t.checkpoint IS NULL",
		updateCheckpoint: "UPDATE " + t + " SET version = $4, checkpoint = $5" + key + " AND version = $6 AND checkpoint = $7",
		insertLease: "INSERT INTO " + t + " AS t (consumer, stream, partition, lease_counter, lease_owner, lease_expires) VALUES ($1, $2, $3, $4, $5, $6)" +
			" ON CONFLICT (consumer, stream, partition) DO UPDATE SET lease_counter = excluded.lease_counter, lease_owner = excluded.lease_owner, lease_expires = excluded.lease_expires" +
			" WHERE t.lease_counter IS NULL AND t.lease_owner IS NULL AND t.lease_expires IS NULL",
		updateLease: "UPDATE " + t + " SET lease_counter = $4, lease_owner = $5, lease_expires = $6" + key +
			" AND lease_counter = $7 AND lease_owner IS NOT DISTINCT FROM $8 AND lease_expires IS NOT DISTINCT FROM $9",
	}
}

// keyArgs returns the key columns of k.
func keyArgs(k checkpoint.Key) (string, string, string) {
	return escape(k.Consumer), escape(k.Stream), escape(k.Partition)
}

// readRow reads the row of key through q; a missing row is a zero row.
// Its errors are classified (see classify).
func (s *Store) readRow(ctx context.Context, q querier, key checkpoint.Key) (row, error) {
	var r row
	c, st, p := keyArgs(key)
	err := q.QueryRow(ctx, s.sql.selectRow, c, st, p).Scan(&r.version, &r.doc, &r.counter, &r.owner, &r.expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return row{}, nil
	}
	return r, classify(err)
}

func (s *Store) remember(key checkpoint.Key, d seenDoc) {
	s.mu.Lock()
	s.seen[key] = d
	s.mu.Unlock()
}

func (s *Store) forget(key checkpoint.Key) {
	s.mu.Lock()
	delete(s.seen, key)
	s.mu.Unlock()
}

// Load returns the checkpoint of key, or a new Checkpoint{Key: key} with
// Version 0 if none was saved (see checkpoint.Store).
func (s *Store) Load(ctx context.Context, key checkpoint.Key) (*checkpoint.Checkpoint, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("postgres checkpoint store: load %s: %w", key, err)
	}
	if err := key.Validate(); err != nil {
		return nil, err
	}
	r, err := s.readRow(ctx, s.pool, key)
	if err != nil {
		return nil, fmt.Errorf("postgres checkpoint store: load %s from table %s: %w", key, s.table, err)
	}
	st, err := decodeCheckpoint(s.table, key, r)
	if err != nil {
		s.forget(key)
		return nil, err
	}
	if st.cp == nil {
		return &checkpoint.Checkpoint{Key: key}, nil
	}
	s.remember(key, seenDoc{version: st.cp.Version, doc: st.doc})
	return st.cp, nil
}

// Save writes cp if the stored version equals cp.Version (0: none may be
// stored), then increments cp.Version (see checkpoint.Store and the
// package documentation). After an error other than a conflict,
// corruption or invalid argument, whether the row was written is unknown:
// Load again.
func (s *Store) Save(ctx context.Context, cp *checkpoint.Checkpoint) error {
	if err := cp.Validate(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("postgres checkpoint store: save %s: %w", cp.Key, err)
	}
	d, err := s.saveIn(ctx, s.pool, cp)
	if err != nil {
		s.forget(cp.Key)
		return err
	}
	s.saved(cp, d)
	return nil
}

// saved records that d, written by saveIn for cp, is durable (committed):
// the store remembers the document and cp.Version moves to the new
// version. A caller that saved in its own transaction calls it after the
// commit, and s.forget(cp.Key) after a rollback.
func (s *Store) saved(cp *checkpoint.Checkpoint, d seenDoc) {
	s.remember(cp.Key, d)
	cp.Version = d.version
}

// saveIn writes cp through q with one statement, compare-and-swap on the
// version and on the document this store last read or wrote for the key:
// an INSERT … ON CONFLICT DO UPDATE … WHERE no checkpoint is stored for
// version 0, an UPDATE … WHERE version = cp.Version AND checkpoint = the
// known document otherwise (read first, through q, when the store has not
// seen that version). A write that changes no row is explained by reading
// the row through q: a conflict or corruption.
//
// It changes neither cp nor what the store remembers, and returns what it
// wrote: the caller remembers it (and increments cp.Version) once it is
// durable, after the commit of the transaction q belongs to. cp must be
// valid (cp.Validate).
func (s *Store) saveIn(ctx context.Context, q querier, cp *checkpoint.Checkpoint) (seenDoc, error) {
	if cp.Version >= maxInt64 {
		return seenDoc{}, checkpoint.Permanent(fmt.Errorf("postgres checkpoint store: save %s: version %d (expected below %d, the largest a bigint holds)", cp.Key, cp.Version, int64(maxInt64)))
	}
	next := *cp // shallow: encoded only
	next.Version++
	b, err := checkpoint.EncodeDocument(&next)
	if err != nil {
		return seenDoc{}, fmt.Errorf("postgres checkpoint store: save %s: encode: %w", cp.Key, err)
	}
	doc := string(b)
	c, st, p := keyArgs(cp.Key)
	var tag pgconn.CommandTag
	if cp.Version == 0 {
		tag, err = q.Exec(ctx, s.sql.insertCheckpoint, c, st, p, int64(next.Version), doc)
	} else {
		s.mu.Lock()
		prev, ok := s.seen[cp.Key]
		s.mu.Unlock()
		if !ok || prev.version != cp.Version {
			// Not seen at this version: read and decode what is stored.
			r, err := s.readRow(ctx, q, cp.Key)
			if err != nil {
				return seenDoc{}, fmt.Errorf("postgres checkpoint store: save %s: read table %s: %w", cp.Key, s.table, err)
			}
			cur, err := decodeCheckpoint(s.table, cp.Key, r)
			if err != nil {
				return seenDoc{}, err
			}
			var version uint64
			if cur.cp != nil {
				version = cur.cp.Version
			}
			if version != cp.Version {
				return seenDoc{}, checkpoint.ConflictError(cp.Key, cp.Version, version)
			}
			prev = seenDoc{version: version, doc: cur.doc}
		}
		tag, err = q.Exec(ctx, s.sql.updateCheckpoint, c, st, p, int64(next.Version), doc, int64(cp.Version), prev.doc)
	}
	if err != nil {
		return seenDoc{}, fmt.Errorf("postgres checkpoint store: save %s to table %s: %w", cp.Key, s.table, classify(err))
	}
	if tag.RowsAffected() != 1 {
		return seenDoc{}, s.diagnose(ctx, q, cp.Key, cp.Version)
	}
	return seenDoc{version: next.Version, doc: doc}, nil
}

// diagnose explains a Save that changed no row by reading the row.
func (s *Store) diagnose(ctx context.Context, q querier, key checkpoint.Key, expected uint64) error {
	r, err := s.readRow(ctx, q, key)
	if err != nil {
		return fmt.Errorf("%w: %s: the conditional write changed no row, and reading the row to see why failed: %w", checkpoint.ErrConflict, key, err)
	}
	st, err := decodeCheckpoint(s.table, key, r)
	if err != nil {
		return err
	}
	var version uint64
	if st.cp != nil {
		version = st.cp.Version
	}
	return checkpoint.RefusedSaveError(key, expected, version)
}

// groupRow is a row of a group with its decoded partition.
type groupRow struct {
	key checkpoint.Key
	row
}

// group reads every row of consumer on stream, sorted by partition. Its
// errors are classified, or match checkpoint.ErrCorrupt for a partition
// column that escape cannot have written.
func (s *Store) group(ctx context.Context, consumer, stream string) ([]groupRow, error) {
	rows, err := s.pool.Query(ctx, s.sql.selectGroup, escape(consumer), escape(stream))
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	var out []groupRow
	for rows.Next() {
		var g groupRow
		var part string
		if err := rows.Scan(&part, &g.version, &g.doc, &g.counter, &g.owner, &g.expires); err != nil {
			return nil, classify(err)
		}
		p, ok := unescape(part)
		if !ok || p == "" {
			return nil, fmt.Errorf("%w: table %s: a row of %s/%s has partition %q (expected a non-empty partition with '%%' written as %%25 and NUL as %%00)",
				checkpoint.ErrCorrupt, s.table, consumer, stream, part)
		}
		g.key = checkpoint.Key{Consumer: consumer, Stream: stream, Partition: p}
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, classify(err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key.Partition < out[j].key.Partition })
	return out, nil
}

// List returns the saved checkpoints of consumer on stream, sorted by
// partition (see checkpoint.Store).
func (s *Store) List(ctx context.Context, consumer, stream string) ([]*checkpoint.Checkpoint, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("postgres checkpoint store: list %s/%s: %w", consumer, stream, err)
	}
	if err := checkpoint.ValidateGroup(consumer, stream); err != nil {
		return nil, err
	}
	rows, err := s.group(ctx, consumer, stream)
	if err != nil {
		return nil, fmt.Errorf("postgres checkpoint store: list %s/%s in table %s: %w", consumer, stream, s.table, err)
	}
	var out []*checkpoint.Checkpoint
	for _, g := range rows {
		st, err := decodeCheckpoint(s.table, g.key, g.row)
		if err != nil {
			return nil, err
		}
		if st.cp != nil {
			s.remember(g.key, seenDoc{version: st.cp.Version, doc: st.doc})
			out = append(out, st.cp)
		}
	}
	return out, nil
}

// schemaComment is the table comment that marks a table of this store and
// its schema version.
const (
	schemaVersion = 1
	commentPrefix = "unistream checkpoint store, schema "
)

var schemaComment = commentPrefix + strconv.Itoa(schemaVersion)

// expectedColumns are the columns and types of schema 1, in order.
var expectedColumns = []struct{ name, typ string }{
	{colConsumer, "text"}, {colStream, "text"}, {colPartition, "text"},
	{colVersion, "bigint"}, {colCheckpoint, "text"},
	{colCounter, "bigint"}, {colOwner, "text"}, {colExpires, "bigint"},
}

// schemaExpected describes schema 1 in errors.
const schemaExpected = `columns consumer, stream, partition (text, the primary key), version (bigint), checkpoint (text), lease_counter (bigint), lease_owner (text), lease_expires (bigint), and the comment "unistream checkpoint store, schema 1"`

// createSQL returns the DDL of the table t (quoted).
func createSQL(t string) []string {
	return []string{
		"CREATE TABLE " + t + ` (
    consumer      text COLLATE "C" NOT NULL,
    stream        text COLLATE "C" NOT NULL,
    partition     text COLLATE "C" NOT NULL,
    version       bigint,
    checkpoint    text,
    lease_counter bigint,
    lease_owner   text,
    lease_expires bigint,
    PRIMARY KEY (consumer, stream, partition)
)`,
		"COMMENT ON TABLE " + t + " IS '" + schemaComment + "'",
	}
}

// ensureTable creates the table if it is missing and create is set, then
// checks its shape and schema version.
func (s *Store) ensureTable(ctx context.Context, create bool) error {
	t := quote(s.table)
	var exists bool
	if err := s.pool.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", t).Scan(&exists); err != nil {
		return fmt.Errorf("look up table %s: %w", s.table, classify(err))
	}
	if !exists {
		if !create {
			return checkpoint.Permanent(fmt.Errorf("table %s does not exist (expected a table with %s; or let the store create it)", s.table, schemaExpected))
		}
		if err := createTable(ctx, s.pool, s.table, t, createSQL(t)); err != nil {
			return err
		}
	}
	return s.checkTable(ctx, t)
}

// createTable creates table (t quoted) with the statements stmts under an
// advisory lock, so that processes starting together do not race to
// create it; a table that exists meanwhile is left as it is. The store's
// table and TxHandler's applied table are made this way.
func createTable(ctx context.Context, pool *pgxpool.Pool, table, t string, stmts []string) error {
	fail := func(err error) error { return fmt.Errorf("create table %s: %w", table, classify(err)) }
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // after Commit it does nothing
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext($1))", "unistream checkpoint table "+t); err != nil {
		return fail(err)
	}
	var exists bool
	if err := tx.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", t).Scan(&exists); err != nil {
		return fail(err)
	}
	if exists { // created meanwhile
		return nil
	}
	for _, stmt := range stmts {
		if _, err := tx.Exec(ctx, stmt); err != nil {
			var pg *pgconn.PgError
			if errors.As(err, &pg) && (pg.Code == "42P07" || pg.Code == "23505") {
				// duplicate_table, or unique_violation on the catalog:
				// created meanwhile by a process that did not lock (or
				// whose creation this session's catalog cache missed).
				return nil
			}
			return fail(err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fail(err)
	}
	return nil
}

// checkTable checks that the table has the columns, primary key and
// comment of schema 1. Anything else matches checkpoint.ErrCorrupt and
// says what was expected.
func (s *Store) checkTable(ctx context.Context, t string) error {
	comment, cols, pk, err := tableDefinition(ctx, s.pool, s.table, t)
	if err != nil {
		return err
	}
	return checkShape(s.table, comment, cols, pk)
}

// tableDefinition reads the comment of table (t quoted), its columns as
// "name type" in order, and its primary key's columns.
func tableDefinition(ctx context.Context, pool *pgxpool.Pool, table, t string) (comment *string, cols, pk []string, err error) {
	err = pool.QueryRow(ctx, `SELECT obj_description(c.oid, 'pg_class'),
    ARRAY(SELECT a.attname::text || ' ' || format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
          WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum),
    ARRAY(SELECT a.attname::text FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(n, o)
          JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.n
          WHERE i.indrelid = c.oid AND i.indisprimary ORDER BY k.o)
FROM pg_class c WHERE c.oid = to_regclass($1)`, t).Scan(&comment, &cols, &pk)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("read the definition of table %s: %w", table, classify(err))
	}
	return comment, cols, pk, nil
}

// checkShape checks a table's comment, its columns ("name type") and its
// primary key columns against schema 1.
func checkShape(table string, comment *string, cols, pk []string) error {
	c := ""
	if comment != nil {
		c = *comment
	}
	if c != schemaComment {
		if v, ok := strings.CutPrefix(c, commentPrefix); ok {
			return fmt.Errorf("%w: table %s has schema version %s (expected %d; it was written by another version of unistream)", checkpoint.ErrCorrupt, table, v, schemaVersion)
		}
		return fmt.Errorf("%w: table %s exists but is not a unistream checkpoint table: its comment is %q (expected %q, and %s)", checkpoint.ErrCorrupt, table, c, schemaComment, schemaExpected)
	}
	have := map[string]bool{}
	for _, col := range cols {
		have[col] = true
	}
	for _, e := range expectedColumns {
		if !have[e.name+" "+e.typ] {
			return fmt.Errorf("%w: table %s has columns [%s] (expected column %s of type %s: %s)", checkpoint.ErrCorrupt, table, strings.Join(cols, ", "), e.name, e.typ, schemaExpected)
		}
	}
	if strings.Join(pk, ",") != "consumer,stream,partition" {
		return fmt.Errorf("%w: table %s has primary key (%s) (expected (consumer, stream, partition))", checkpoint.ErrCorrupt, table, strings.Join(pk, ", "))
	}
	return nil
}
