package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/driver"
)

// TxFunc is a record handler whose database writes go through tx: they
// commit together with the mark that the record was applied, or not at
// all. It must not commit or roll back tx, and must not keep it.
type TxFunc func(ctx context.Context, tx pgx.Tx, r *stream.Record) error

// DefaultAppliedTable is the table of applied marks when no
// WithAppliedTable option names another.
const DefaultAppliedTable = "unistream_applied"

// appliedSchema is the applied table's DDL (%s: the quoted table name).
// A mark says that consumer applied the record at pointer of partition of
// stream; its primary key is what makes a second application impossible.
const appliedSchema = `CREATE TABLE IF NOT EXISTS %s (
	consumer   text        NOT NULL,
	stream     text        NOT NULL,
	partition  text        NOT NULL,
	pointer    bytea       NOT NULL,
	record_id  text        NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (consumer, stream, partition, pointer)
)`

// appliedColumns are the columns appliedSchema makes, with their types as
// format_type names them (tableDefinition): an existing table must have
// them all.
var appliedColumns = map[string]string{
	"consumer":   "text",
	"stream":     "text",
	"partition":  "text",
	"pointer":    "bytea",
	"record_id":  "text",
	"applied_at": "timestamp with time zone",
}

// TxHandler applies records into PostgreSQL exactly once: each record's
// TxFunc runs in a transaction that also inserts the record's mark (its
// consumer, stream, partition and pointer) into the applied table, and
// the two commit together. A record whose mark is already there, because
// a crash came after its commit and before the consumer's checkpoint
// recorded it, is not applied again: Handle returns nil and the consumer
// records a success. So, whatever the instant of a crash, every record is
// applied once: a failed attempt, a crash mid-transaction or a lost commit
// reply leaves no effect and no mark, and the record is attempted again.
//
// Retries, dead-lettering and halts keep their meaning: a TxFunc error
// rolls the transaction back and is the attempt's error, counted by the
// consumer's checkpoint like any handler's. Two consumers that both
// believe they own a partition (a lease stolen from a stalled process)
// cannot both apply a record either: the second insert of a mark waits
// for the first transaction and then finds the mark.
//
// Marks accumulate; Prune (or WithPruning) deletes those of records the
// consumer's checkpoint has passed, which the consumer never delivers
// again. Use Handle as the consumer's handler:
//
//	h, err := postgres.NewTxHandler(ctx, pool, "billing", apply)
//	...
//	c, err := stream.NewConsumer(s, store, "billing", h.Handle, opts...)
type TxHandler struct {
	pool     *pgxpool.Pool
	fn       TxFunc
	consumer string
	table    string // quoted
	insert   string
	cfg      txConfig

	mu      sync.Mutex
	applied map[partKey]int // applies per partition since its last prune
}

// partKey names one partition of one stream.
type partKey struct{ stream, partition string }

// txConfig holds the TxHandler options.
type txConfig struct {
	table      string
	pruneStore checkpoint.Store
	pruneCodec driver.PointerCodec
	pruneEvery int
	isolation  pgx.TxIsoLevel
}

// TxOption configures NewTxHandler.
type TxOption func(*txConfig) error

// WithAppliedTable names the table of applied marks (default
// DefaultAppliedTable), by the store's rules for table names (WithTable):
// a lower-case identifier, optionally schema-qualified
// ("billing.unistream_applied"). NewTxHandler creates it when missing.
func WithAppliedTable(name string) TxOption {
	return func(c *txConfig) error {
		if !validTable(name) {
			return &OptionError{Option: "WithAppliedTable", Value: fmt.Sprintf("%q", name), Expected: tableExpected}
		}
		c.table = name
		return nil
	}
}

// WithPruning makes Handle delete, after every n-th record it applies in
// a partition, the marks of that partition that the consumer's checkpoint
// in store has passed (Prune, for one partition). s orders the pointers.
// A pruning failure is not the record's: the marks stay until the next.
func WithPruning(store checkpoint.Store, s *stream.Stream, n int) TxOption {
	return func(c *txConfig) error {
		switch {
		case store == nil:
			return errors.New("postgres: WithPruning: nil checkpoint store: expected the consumer's store")
		case s == nil:
			return errors.New("postgres: WithPruning: nil stream: expected the consumer's stream (it orders the pointers)")
		case n < 1:
			return fmt.Errorf("postgres: WithPruning: every %d records: expected at least 1", n)
		}
		c.pruneStore, c.pruneCodec, c.pruneEvery = store, s.Driver().Codec(), n
		return nil
	}
}

// WithIsolation sets the transactions' isolation level (default: the
// server's, read committed unless configured). With serializable
// isolation, a serialization failure is an attempt's error like any
// other: the consumer retries the record.
func WithIsolation(level pgx.TxIsoLevel) TxOption {
	return func(c *txConfig) error {
		switch level {
		case "", pgx.ReadCommitted, pgx.RepeatableRead, pgx.Serializable, pgx.ReadUncommitted:
			c.isolation = level
			return nil
		}
		return fmt.Errorf("postgres: WithIsolation(%q): expected pgx.ReadCommitted, pgx.RepeatableRead or pgx.Serializable", level)
	}
}

// NewTxHandler returns a TxHandler applying records with fn for consumer
// (the consumer's name: marks are per consumer). It creates the applied
// table when missing, and refuses a table of that name that lacks its
// columns (an error matching checkpoint.ErrCorrupt naming the table and
// what was expected).
func NewTxHandler(ctx context.Context, pool *pgxpool.Pool, consumer string, fn TxFunc, opts ...TxOption) (*TxHandler, error) {
	switch {
	case pool == nil:
		return nil, errors.New("postgres: NewTxHandler: nil pool: expected a *pgxpool.Pool")
	case fn == nil:
		return nil, errors.New("postgres: NewTxHandler: nil TxFunc: expected the function that applies a record")
	case consumer == "":
		return nil, errors.New("postgres: NewTxHandler: empty consumer name: expected the consumer's name, as given to stream.NewConsumer")
	}
	cfg := txConfig{table: DefaultAppliedTable}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	table := quote(cfg.table)
	h := &TxHandler{
		pool: pool, fn: fn, consumer: consumer, table: table, cfg: cfg,
		insert:  "INSERT INTO " + table + " (consumer, stream, partition, pointer, record_id) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
		applied: map[partKey]int{},
	}
	if err := h.ensureTable(ctx); err != nil {
		return nil, err
	}
	return h, nil
}

// ensureTable creates the applied table when missing (as the store
// creates its own: createTable) and checks its columns and primary key
// (tableDefinition): a mark is unique only by that key.
func (h *TxHandler) ensureTable(ctx context.Context) error {
	var exists bool
	if err := h.pool.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", h.table).Scan(&exists); err != nil {
		return fmt.Errorf("postgres: look up applied table %s: %w", h.cfg.table, classify(err))
	}
	if !exists {
		if err := createTable(ctx, h.pool, h.cfg.table, h.table, []string{fmt.Sprintf(appliedSchema, h.table)}); err != nil {
			return fmt.Errorf("postgres: %w", err)
		}
	}
	_, cols, pk, err := tableDefinition(ctx, h.pool, h.cfg.table, h.table)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	have := map[string]bool{}
	for _, c := range cols {
		have[c] = true
	}
	const expected = "columns consumer, stream, partition, pointer, record_id, applied_at, primary key (consumer, stream, partition, pointer)"
	for col, typ := range appliedColumns {
		if !have[col+" "+typ] {
			return fmt.Errorf("postgres: table %s is not a unistream applied table: it has columns [%s], expected column %s of type %s (%s): %w",
				h.table, strings.Join(cols, ", "), col, typ, expected, checkpoint.ErrCorrupt)
		}
	}
	if strings.Join(pk, ",") != "consumer,stream,partition,pointer" {
		return fmt.Errorf("postgres: table %s is not a unistream applied table: its primary key is (%s), expected (%s): %w",
			h.table, strings.Join(pk, ", "), expected, checkpoint.ErrCorrupt)
	}
	return nil
}

// Handle applies r once: it is the consumer's stream.Handler. It begins a
// transaction, inserts r's mark (returning nil at once, with nothing
// applied, if the mark is there), runs the TxFunc and commits. A TxFunc
// error or panic rolls the transaction back; the error (or the panic,
// re-raised) is the attempt's. A failed commit is an error too: if the
// commit did happen, the next attempt finds the mark.
func (h *TxHandler) Handle(ctx context.Context, r *stream.Record) (err error) {
	if len(r.Pointer) == 0 || r.Partition == "" {
		return fmt.Errorf("postgres: apply record %q: it has no partition or pointer: expected a record delivered by a consumer", r.ID)
	}
	tx, err := h.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: h.cfg.isolation})
	if err != nil {
		return fmt.Errorf("postgres: apply record %q: begin: %w", r.ID, err)
	}
	committed := false
	defer func() {
		if !committed {
			// Rollback on a done ctx still releases the connection.
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	tag, err := tx.Exec(ctx, h.insert, h.consumer, r.Stream, r.Partition, []byte(r.Pointer), r.ID)
	if err != nil {
		return fmt.Errorf("postgres: apply record %q: insert its mark into %s: %w", r.ID, h.table, err)
	}
	if tag.RowsAffected() == 0 {
		return nil // applied before: a redelivery after a crash
	}
	if err := h.fn(ctx, tx, r); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: apply record %q: commit: %w", r.ID, err)
	}
	committed = true
	if h.cfg.pruneEvery > 0 {
		h.maybePrune(ctx, r)
	}
	return nil
}

// maybePrune prunes r's partition after every pruneEvery-th apply in it.
func (h *TxHandler) maybePrune(ctx context.Context, r *stream.Record) {
	k := partKey{r.Stream, r.Partition}
	h.mu.Lock()
	h.applied[k]++
	due := h.applied[k] >= h.cfg.pruneEvery
	if due {
		h.applied[k] = 0
	}
	h.mu.Unlock()
	if due {
		_, _ = h.prunePartition(ctx, h.cfg.pruneStore, h.cfg.pruneCodec, r.Stream, r.Partition)
	}
}

// Prune deletes the marks of streamName's partitions whose records the
// consumer's checkpoint in store has passed (at or before its Committed
// pointer): the consumer never delivers those again, so their marks guard
// nothing. s orders the pointers (the consumer's stream). It returns how
// many marks it deleted.
func (h *TxHandler) Prune(ctx context.Context, store checkpoint.Store, s *stream.Stream) (int, error) {
	if store == nil || s == nil {
		return 0, errors.New("postgres: Prune: expected the consumer's checkpoint store and stream")
	}
	rows, err := h.pool.Query(ctx, "SELECT DISTINCT partition FROM "+h.table+" WHERE consumer = $1 AND stream = $2", h.consumer, s.Name())
	if err != nil {
		return 0, fmt.Errorf("postgres: prune %s: %w", h.table, err)
	}
	parts, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, fmt.Errorf("postgres: prune %s: %w", h.table, err)
	}
	total := 0
	for _, p := range parts {
		n, err := h.prunePartition(ctx, store, s.Driver().Codec(), s.Name(), p)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// prunePartition deletes the marks of one partition at or before its
// checkpoint's Committed pointer.
func (h *TxHandler) prunePartition(ctx context.Context, store checkpoint.Store, codec driver.PointerCodec, streamName, partition string) (int, error) {
	cp, err := store.Load(ctx, checkpoint.Key{Consumer: h.consumer, Stream: streamName, Partition: partition})
	if err != nil {
		return 0, fmt.Errorf("postgres: prune %s: load the checkpoint of %s/%s: %w", h.table, streamName, partition, err)
	}
	if cp.Committed == nil {
		return 0, nil
	}
	rows, err := h.pool.Query(ctx, "SELECT pointer FROM "+h.table+" WHERE consumer = $1 AND stream = $2 AND partition = $3", h.consumer, streamName, partition)
	if err != nil {
		return 0, fmt.Errorf("postgres: prune %s: %w", h.table, err)
	}
	ptrs, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		return 0, fmt.Errorf("postgres: prune %s: %w", h.table, err)
	}
	committed, err := codec.Decode(cp.Committed)
	if err != nil {
		return 0, fmt.Errorf("postgres: prune %s: the checkpoint of %s/%s: %w", h.table, streamName, partition, err)
	}
	var passed [][]byte
	for _, p := range ptrs {
		ptr, err := codec.Decode(p)
		if err != nil {
			return 0, fmt.Errorf("postgres: prune %s: the mark of %s/%s at %x is not a pointer of the stream (%v): %w", h.table, streamName, partition, p, err, checkpoint.ErrCorrupt)
		}
		if codec.Compare(ptr, committed) <= 0 {
			passed = append(passed, p)
		}
	}
	if len(passed) == 0 {
		return 0, nil
	}
	tag, err := h.pool.Exec(ctx, "DELETE FROM "+h.table+" WHERE consumer = $1 AND stream = $2 AND partition = $3 AND pointer = ANY($4)", h.consumer, streamName, partition, passed)
	if err != nil {
		return 0, fmt.Errorf("postgres: prune %s: %w", h.table, err)
	}
	return int(tag.RowsAffected()), nil
}
