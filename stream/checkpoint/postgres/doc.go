// Package postgres is a checkpoint store on one PostgreSQL table: a
// checkpoint.Store with compare-and-swap in one SQL statement per save,
// and a checkpoint.Leaser for partition leases (stream.WithLeases), so
// that several processes can share a stream. It uses pgx (pgxpool) and
// passes the shared store and lease suites (checkpoint/storetest).
//
//	store, err := postgres.Connect(ctx, "postgres://app@db:5432/orders?sslmode=verify-full",
//		postgres.WithTable("billing_checkpoints"))
//	if err != nil { ... }
//	defer store.Close()
//	c, err := stream.NewConsumer(s, handler, stream.WithCheckpointStore(store),
//		stream.WithLeases(store))
//
// Importing the package registers the postgres:// and postgresql://
// schemes with checkpoint.Open (see ParseURL):
//
//	postgres://app:secret@db:5432/orders?table=billing_checkpoints&create=false
//
// New takes an existing *pgxpool.Pool instead, and Store.Pool returns the
// pool, for a caller that writes its own rows in the same database.
//
// # Table
//
// The store creates its table when it is missing (WithCreateTable(false)
// or create=false refuse instead), under an advisory lock so that
// processes starting together do not race:
//
//	CREATE TABLE unistream_checkpoints (
//	    consumer      text COLLATE "C" NOT NULL,
//	    stream        text COLLATE "C" NOT NULL,
//	    partition     text COLLATE "C" NOT NULL,
//	    version       bigint,  -- checkpoint compare-and-swap version
//	    checkpoint    text,    -- {"format":1,"checkpoint":{...}} (checkpoint.EncodeDocument)
//	    lease_counter bigint,  -- lease compare-and-swap counter and fencing token
//	    lease_owner   text,    -- worker id; NULL when released
//	    lease_expires bigint,  -- Unix nanoseconds; NULL when released
//	    PRIMARY KEY (consumer, stream, partition)
//	);
//	COMMENT ON TABLE unistream_checkpoints IS 'unistream checkpoint store, schema 1';
//
// The comment is the schema version. A table that exists without it, with
// another schema version, without one of these columns (or with another
// type) or with another primary key is refused with an error matching
// checkpoint.ErrCorrupt that names the table and what was expected.
//
// One row per partition holds its checkpoint and its lease; either set of
// columns may be NULL. The key columns hold the key's parts with '%'
// written as %25 and NUL (which PostgreSQL text cannot hold) as %00. The
// checkpoint is text, not jsonb: jsonb cannot hold the \u0000 a key may
// contain, and text keeps the document byte for byte. The lease expiry is
// kept in nanoseconds because timestamptz keeps only microseconds.
//
// # Compare-and-swap
//
// Save is one statement. Version 0 is
//
//	INSERT INTO t AS t (consumer, stream, partition, version, checkpoint) VALUES (…)
//	ON CONFLICT (consumer, stream, partition) DO UPDATE SET version = …, checkpoint = …
//	WHERE t.version IS NULL AND t.checkpoint IS NULL
//
// and any other version
//
//	UPDATE t SET version = $new, checkpoint = $doc
//	WHERE consumer = … AND stream = … AND partition = … AND version = $old AND checkpoint = $olddoc
//
// where $olddoc is the document this store last read or wrote for the key,
// so that a Save never overwrites data it has not decoded: when it has not
// seen the stored version it reads the row first (the first Save after
// another process wrote). A statement that changes no row is explained by
// reading the row: a corrupt row gives checkpoint.ErrCorrupt, any other
// an error matching checkpoint.ErrConflict that names both versions.
// Lease writes work the same way on the lease columns, so a renew of a
// lease this store wrote is one UPDATE; the lease counter is the fencing
// token, as in every store (see checkpoint.Lease).
//
// # Bad data
//
// A row whose columns disagree (a version without a document, a lease
// owner without a counter), whose document cannot be decoded, or whose
// document names another key or version makes Load, Save, List and the
// lease methods return an error matching checkpoint.ErrCorrupt that names
// the table, the key and what was expected. A corrupt row is never
// overwritten.
//
// # Errors
//
// Errors are classified for checkpoint.IsPermanent by SQLSTATE: a value
// too long (22001) or a program limit exceeded (54000, such as a key too
// long for the primary key's index) match checkpoint.ErrTooLarge;
// authentication (class 28), privileges, undefined tables and other rule
// violations (42), a missing database (3D) or schema (3F), data
// exceptions (22) and constraint violations (23) are permanent; connection
// errors (08 and network errors), serialization failures and deadlocks
// (40), insufficient resources (53), lock timeouts (55), shutdowns and
// cancellations (57), system and internal errors (58, XX), a read-only
// standby (25006) and a done context are transient. Errors name the host,
// port, database and user of the connection, never its password.
package postgres
