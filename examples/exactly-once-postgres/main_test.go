package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

func TestRun(t *testing.T) {
	t.Setenv("UNISTREAM_STREAM", "")
	url := postgresURL()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	pool, err := pgxpool.New(ctx, url)
	if err == nil {
		err = pool.Ping(ctx)
		pool.Close()
	}
	cancel()
	if err != nil {
		t.Skipf("no PostgreSQL server answers (%v): start one with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`, or set UNISTREAM_POSTGRES", err)
	}
	var out bytes.Buffer
	balances, err := run(t.Context(), &out, t.TempDir(), url)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	// Each payment once: the second delivery applied nothing.
	want := map[string]int{}
	for _, p := range payments {
		want[p.account] += p.cents
	}
	for a, c := range want {
		if balances[a] != c {
			t.Errorf("%s has %d cents, want %d (each payment applied once)\n%s", a, balances[a], c, out.String())
		}
	}
	if !strings.Contains(out.String(), "every record delivered again: 6 records handled") {
		t.Errorf("want the second consumer to handle all 6 records again:\n%s", out.String())
	}
}
