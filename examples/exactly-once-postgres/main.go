// Command exactly-once-postgres shows effects applied exactly once into
// PostgreSQL: each payment record credits an account in the same
// transaction that marks the record applied (postgres.TxHandler). A second
// consumer then reads the whole stream again, as a consumer does after a
// crash that came between a commit and its checkpoint: every record is
// delivered again, and none is applied twice.
//
// It needs a PostgreSQL server: UNISTREAM_POSTGRES (a postgres:// URL),
// by default postgres://postgres@127.0.0.1:5432/test. It creates its two
// tables and drops them at the end.
//
//	go run ./examples/exactly-once-postgres
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/unistream-go/unistream/examples/internal/broker"
	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/checkpoint/postgres"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	dir, err := os.MkdirTemp("", "exactly-once-")
	if err == nil {
		defer os.RemoveAll(dir)
		_, err = run(ctx, os.Stdout, dir, postgresURL())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "exactly-once-postgres:", err)
		os.Exit(1)
	}
}

// postgresURL is the server to use.
func postgresURL() string {
	if u := os.Getenv("UNISTREAM_POSTGRES"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// payments are the records: an account and an amount in cents each.
var payments = []struct {
	account string
	cents   int
}{{"alice", 1000}, {"bob", 250}, {"alice", -300}, {"carol", 4200}, {"bob", 50}, {"alice", 75}}

// run produces the payments, applies them with two consumers in turn, and
// returns the balances.
func run(ctx context.Context, out io.Writer, dir, pgURL string) (map[string]int, error) {
	url, stopBroker, err := broker.StreamURL("payments", 2)
	if err != nil {
		return nil, err
	}
	defer stopBroker()
	p, err := stream.OpenProducer(ctx, url, stream.WithoutWAL(), stream.WithMaxAge(10*time.Millisecond))
	if err != nil {
		return nil, err
	}
	for i, pay := range payments {
		err := p.Put(ctx, stream.Record{ID: fmt.Sprintf("payment-%d", i+1), Key: []byte(pay.account), Value: []byte(strconv.Itoa(pay.cents))})
		if err != nil {
			p.Close(ctx)
			return nil, err
		}
	}
	if err := p.Close(ctx); err != nil {
		return nil, err
	}
	p.Stream().Close()

	pool, err := pgxpool.New(ctx, pgURL)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	suffix := fmt.Sprintf("%d_%d", os.Getpid(), time.Now().UnixNano())
	accounts, applied := "example_accounts_"+suffix, "example_applied_"+suffix
	defer func() {
		for _, t := range []string{accounts, applied} {
			_, _ = pool.Exec(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+t)
		}
	}()
	if _, err := pool.Exec(ctx, "CREATE TABLE "+accounts+" (account text PRIMARY KEY, cents bigint NOT NULL)"); err != nil {
		return nil, fmt.Errorf("create the accounts table (is PostgreSQL running at %s? set UNISTREAM_POSTGRES): %w", pgURL, err)
	}
	// The handler's writes: they commit with the record's applied mark.
	credit := func(ctx context.Context, tx pgx.Tx, r *stream.Record) error {
		cents, err := strconv.Atoi(string(r.Value))
		if err != nil {
			return stream.Permanent(fmt.Errorf("amount %q: %w", r.Value, err))
		}
		_, err = tx.Exec(ctx, "INSERT INTO "+accounts+" (account, cents) VALUES ($1, $2) ON CONFLICT (account) DO UPDATE SET cents = "+accounts+".cents + $2", string(r.Key), cents)
		return err
	}
	h, err := postgres.NewTxHandler(ctx, pool, "billing", credit, postgres.WithAppliedTable(applied))
	if err != nil {
		return nil, err
	}

	// First the consumer applies every payment; then a consumer with an
	// empty checkpoint store gets them all again.
	for _, pass := range []string{"first delivery", "every record delivered again"} {
		store, err := checkpoint.NewFileStore(filepath.Join(dir, pass))
		if err != nil {
			return nil, err
		}
		n, err := consume(ctx, url, store, h)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(out, "%s: %d records handled\n", pass, n)
	}

	balances := map[string]int{}
	rows, err := pool.Query(ctx, "SELECT account, cents FROM "+accounts+" ORDER BY account")
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var a string
		var c int
		if err := rows.Scan(&a, &c); err != nil {
			return nil, err
		}
		balances[a] = c
		fmt.Fprintf(out, "💰 %-5s %6.2f\n", a, float64(c)/100)
	}
	return balances, rows.Err()
}

// consume runs a consumer with h until it has handled every payment, and
// returns how many records it handled.
func consume(ctx context.Context, url string, store checkpoint.Store, h *postgres.TxHandler) (int, error) {
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var handled atomic.Int32
	c, err := stream.OpenConsumer(ctx, url, func(ctx context.Context, r *stream.Record) error {
		if err := h.Handle(ctx, r); err != nil {
			return err
		}
		if handled.Add(1) == int32(len(payments)) {
			stop() // graceful: this record's outcome is still saved
		}
		return nil
	}, stream.WithName("billing"), stream.WithCheckpointStore(store), stream.WithOnExhausted(stream.Halt),
		stream.WithPollInterval(10*time.Millisecond))
	if err != nil {
		return 0, err
	}
	defer c.Close()
	err = c.Run(runCtx)
	return int(handled.Load()), err
}
