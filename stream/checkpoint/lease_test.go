package checkpoint_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/checkpoint/storetest"
)

func TestMemoryStoreLeases(t *testing.T) {
	storetest.RunLeases(t, storetest.LeaseHarness{
		New: func(t *testing.T) checkpoint.Leaser { return checkpoint.NewMemoryStore() },
	})
}

func TestFileStoreLeases(t *testing.T) {
	newStore := func(t *testing.T, dir string) *checkpoint.FileStore {
		s, err := checkpoint.NewFileStore(dir)
		if err != nil {
			t.Fatalf("NewFileStore(%s): %v", dir, err)
		}
		return s
	}
	storetest.RunLeases(t, storetest.LeaseHarness{
		New: func(t *testing.T) checkpoint.Leaser { return newStore(t, t.TempDir()) },
		Corrupt: func(t *testing.T, l checkpoint.Leaser, key checkpoint.Key) {
			path, err := l.(*checkpoint.FileStore).LeasePath(key)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(`{"format": 1, "lease": {"owner": 7}}`), 0o600); err != nil {
				t.Fatal(err)
			}
		},
		Reopen: func(t *testing.T, l checkpoint.Leaser) checkpoint.Leaser {
			return newStore(t, l.(*checkpoint.FileStore).Dir())
		},
	})
}

// TestFileStoreLeaseFiles checks the lease file layout and that bad files
// name the file and what was expected.
func TestFileStoreLeaseFiles(t *testing.T) {
	dir := t.TempDir()
	s, err := checkpoint.NewFileStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	k := checkpoint.Key{Consumer: "billing", Stream: "Orders", Partition: "shardId-1"}
	l := &checkpoint.Lease{Key: k}
	exp := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)
	if err := s.AcquireLease(t.Context(), l, "host-1", exp); err != nil {
		t.Fatal(err)
	}
	path, err := s.LeasePath(k)
	if err != nil {
		t.Fatal(err)
	}
	cpPath, err := s.Path(k)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "leases", filepath.Base(cpPath)); path != want {
		t.Fatalf("LeasePath = %s, want the checkpoint file's name in the leases folder: %s", path, want)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("lease file mode %o, want 0600", fi.Mode().Perm())
	}
	bad := []struct{ name, data, want string }{
		{"truncated", `{"format": 1, "lease": {`, "expected a JSON object"},
		{"format", `{"format": 2, "lease": {"consumer":"billing","stream":"Orders","partition":"shardId-1","owner":"a","expires":"2025-01-01T00:00:00Z","counter":1}}`, "expected format 1"},
		{"no lease", `{"format": 1}`, `no "lease" object`},
		{"counter 0", `{"format": 1, "lease": {"consumer":"billing","stream":"Orders","partition":"shardId-1","owner":"a","expires":"2025-01-01T00:00:00Z","counter":0}}`, "counter 0"},
		{"owner without expiry", `{"format": 1, "lease": {"consumer":"billing","stream":"Orders","partition":"shardId-1","owner":"a","counter":3}}`, "expected both set"},
		{"other key", `{"format": 1, "lease": {"consumer":"billing","stream":"Orders","partition":"shardId-2","counter":3}}`, `expected key "billing/Orders/shardId-1"`},
		{"unknown field", `{"format": 1, "lease": {"consumer":"billing","stream":"Orders","partition":"shardId-1","counter":3,"x":1}}`, "unknown field"},
		{"trailing data", `{"format": 1, "lease": {"consumer":"billing","stream":"Orders","partition":"shardId-1","counter":3}} {}`, "unexpected data after"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(path, []byte(tc.data), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := s.LoadLease(t.Context(), k)
			if !errors.Is(err, checkpoint.ErrCorrupt) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("LoadLease of a %s file: err = %v, want ErrCorrupt naming %s and %q", tc.name, err, path, tc.want)
			}
		})
	}
}

// FuzzLeaseFile writes arbitrary bytes as a lease file: LoadLease must never
// panic, must refuse what it cannot decode with ErrCorrupt, and what it
// accepts must be a consistent lease of the key.
func FuzzLeaseFile(f *testing.F) {
	f.Add([]byte(`{"format": 1, "lease": {"consumer":"c","stream":"s","partition":"0","owner":"a","expires":"2025-01-01T00:00:00Z","counter":1}}`))
	f.Add([]byte(`{"format": 1, "lease": {"consumer":"c","stream":"s","partition":"0","counter":4}}`))
	f.Add([]byte(`{"format": 1, "lease": {"consumer":"c","stream":"s","partition":"0","owner":"","expires":"0001-01-01T00:00:00Z","counter":18446744073709551615}}`))
	f.Add([]byte(`{"format": 1, "lease": null}`))
	f.Add([]byte(``))
	s, err := checkpoint.NewFileStore(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	k := checkpoint.Key{Consumer: "c", Stream: "s", Partition: "0"}
	path, err := s.LeasePath(k)
	if err != nil {
		f.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		l, err := s.LoadLease(t.Context(), k)
		if err != nil {
			if !errors.Is(err, checkpoint.ErrCorrupt) || !strings.Contains(err.Error(), path) {
				t.Fatalf("LoadLease error %v does not match ErrCorrupt or does not name the file", err)
			}
			return
		}
		if l.Key != k || l.Counter == 0 || (l.Owner == "") != l.Expires.IsZero() {
			t.Fatalf("LoadLease accepted an inconsistent lease %v", l)
		}
	})
}
