package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/checkpoint/storetest"
)

// TestClassifyCodes lists every SQLSTATE the store tells apart and its
// class, as pgx returns them (a *pgconn.PgError, wrapped).
func TestClassifyCodes(t *testing.T) {
	cases := []struct {
		code, name string
		want       storetest.Class
	}{
		{"22001", "string_data_right_truncation (value too long)", storetest.TooLarge},
		{"54000", "program_limit_exceeded (index row too large)", storetest.TooLarge},

		{"28000", "invalid_authorization_specification", storetest.Permanent},
		{"28P01", "invalid_password", storetest.Permanent},
		{"42501", "insufficient_privilege", storetest.Permanent},
		{"42P01", "undefined_table", storetest.Permanent},
		{"42703", "undefined_column", storetest.Permanent},
		{"42883", "undefined_function", storetest.Permanent},
		{"42601", "syntax_error", storetest.Permanent},
		{"42704", "undefined_object (an unknown runtime parameter)", storetest.Permanent},
		{"3D000", "invalid_catalog_name (no such database)", storetest.Permanent},
		{"3F000", "invalid_schema_name", storetest.Permanent},
		{"22021", "character_not_in_repertoire (invalid UTF-8)", storetest.Permanent},
		{"22P05", "untranslatable_character", storetest.Permanent},
		{"23502", "not_null_violation", storetest.Permanent},
		{"23505", "unique_violation", storetest.Permanent},
		{"23514", "check_violation", storetest.Permanent},
		{"0A000", "feature_not_supported", storetest.Permanent},
		{"2BP01", "dependent_objects_still_exist", storetest.Permanent},
		{"F0000", "config_file_error", storetest.Permanent},

		{"08000", "connection_exception", storetest.Transient},
		{"08003", "connection_does_not_exist", storetest.Transient},
		{"08006", "connection_failure", storetest.Transient},
		{"08001", "sqlclient_unable_to_establish_sqlconnection", storetest.Transient},
		{"08004", "sqlserver_rejected_establishment_of_sqlconnection", storetest.Transient},
		{"40001", "serialization_failure", storetest.Transient},
		{"40P01", "deadlock_detected", storetest.Transient},
		{"53000", "insufficient_resources", storetest.Transient},
		{"53100", "disk_full", storetest.Transient},
		{"53200", "out_of_memory", storetest.Transient},
		{"53300", "too_many_connections", storetest.Transient},
		{"55P03", "lock_not_available", storetest.Transient},
		{"57014", "query_canceled", storetest.Transient},
		{"57P01", "admin_shutdown", storetest.Transient},
		{"57P02", "crash_shutdown", storetest.Transient},
		{"57P03", "cannot_connect_now", storetest.Transient},
		{"58000", "system_error", storetest.Transient},
		{"58030", "io_error", storetest.Transient},
		{"XX000", "internal_error", storetest.Transient},
		{"25006", "read_only_sql_transaction (a standby during failover)", storetest.Transient},
		{"99999", "a code this store does not know", storetest.Transient},
	}
	for _, tc := range cases {
		t.Run(tc.code+" "+tc.name, func(t *testing.T) {
			pgErr := &pgconn.PgError{Severity: "ERROR", Code: tc.code, Message: tc.name}
			in := fmt.Errorf("save c/s/0: %w", pgErr)
			err := classify(in)
			storetest.CheckClass(t, err, tc.want)
			var got *pgconn.PgError
			if !errors.As(err, &got) || got.Code != tc.code {
				t.Errorf("the classified error no longer matches the *pgconn.PgError")
			}
			if !strings.Contains(err.Error(), in.Error()) {
				t.Errorf("message %q lost pgx's message %q", err, in)
			}
		})
	}
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}},
		{"deadline", context.DeadlineExceeded},
		{"cancelled", context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) { storetest.CheckClass(t, classify(tc.err), storetest.Transient) })
	}
	if classify(nil) != nil {
		t.Error("classify(nil) != nil")
	}
}

// TestStoreErrorClasses brings the conditions about on the server,
// through the store, and checks the class of each error.
func TestStoreErrorClasses(t *testing.T) {
	ctx := context.Background()
	k := checkpoint.Key{Consumer: "billing", Stream: "orders", Partition: "0"}
	cases := []struct {
		name string
		run  func(t *testing.T, s *Store) error
		want storetest.Class
		says string
	}{
		{"version conflict", func(t *testing.T, s *Store) error {
			if err := s.Save(ctx, &checkpoint.Checkpoint{Key: k}); err != nil {
				t.Fatal(err)
			}
			return s.Save(ctx, &checkpoint.Checkpoint{Key: k})
		}, storetest.Conflict, "version 1 is stored"},
		{"corrupt row", func(t *testing.T, s *Store) error {
			if err := s.Save(ctx, &checkpoint.Checkpoint{Key: k}); err != nil {
				t.Fatal(err)
			}
			setColumn(t, s, k, colCheckpoint, "{")
			_, err := s.Load(ctx, k)
			return err
		}, storetest.Corrupt, k.String()},
		{"invalid key", func(t *testing.T, s *Store) error {
			return s.Save(ctx, &checkpoint.Checkpoint{Key: checkpoint.Key{Consumer: "billing"}})
		}, storetest.Permanent, "must all be non-empty"},
		{"key too long for the primary key index (54000)", func(t *testing.T, s *Store) error {
			// Random letters, which the index cannot compress below its limit.
			b := make([]byte, 9000)
			for i := range b {
				b[i] = byte('a' + rand.IntN(26))
			}
			return s.Save(ctx, &checkpoint.Checkpoint{Key: checkpoint.Key{Consumer: "billing", Stream: "orders", Partition: string(b)}})
		}, storetest.TooLarge, "SQLSTATE 54000"},
		{"table dropped (42P01)", func(t *testing.T, s *Store) error {
			if _, err := admin(t).Exec(ctx, "DROP TABLE "+quote(s.table)); err != nil {
				t.Fatal(err)
			}
			return s.Save(ctx, &checkpoint.Checkpoint{Key: k})
		}, storetest.Permanent, "SQLSTATE 42P01"},
		{"no such database (3D000)", func(t *testing.T, s *Store) error {
			_, err := Connect(ctx, strings.Replace(server.url, "/test", "/no_such_database_xyz", 1))
			return err
		}, storetest.Permanent, "SQLSTATE 3D000"},
		{"connection refused", func(t *testing.T, s *Store) error {
			_, err := Connect(ctx, "postgres://u:topsecret@"+closedAddr(t)+"/db?connect_timeout=5")
			return err
		}, storetest.Transient, "connection refused"},
		{"context cancelled", func(t *testing.T, s *Store) error {
			if err := s.Save(ctx, &checkpoint.Checkpoint{Key: k}); err != nil {
				t.Fatal(err)
			}
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			_, err := s.Load(cctx, k)
			return err
		}, storetest.Transient, "context canceled"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			err := tc.run(t, s)
			storetest.CheckClass(t, err, tc.want)
			if err != nil && !strings.Contains(err.Error(), tc.says) {
				t.Errorf("error %q does not say %q", err, tc.says)
			}
		})
	}
}

// closedAddr returns a local address where nothing listens.
func closedAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
