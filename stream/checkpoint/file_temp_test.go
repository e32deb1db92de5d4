//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package checkpoint_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/checkpoint/storetest"
)

// TestFileStoreRemovesStaleTemps leaves what a kill -9 during a save or a
// lease write leaves (temporary files of checkpoints and leases, of short
// and hashed names, of keys saved or never saved) next to files that only
// look alike, and a temporary file whose lock another process holds, as
// while it writes: opening the store removes exactly the stale temporary
// files and leaves every other file as it was.
func TestFileStoreRemovesStaleTemps(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s := newFileStore(t, dir)
	k0 := checkpoint.Key{Consumer: "billing", Stream: "orders", Partition: "0"}
	k1 := checkpoint.Key{Consumer: "billing", Stream: "orders", Partition: "1"}
	long := strings.Repeat("x", 150)
	kLong := checkpoint.Key{Consumer: long, Stream: long, Partition: "7"}
	for _, k := range []checkpoint.Key{k1, kLong} {
		if err := s.Save(ctx, storetest.Full(k)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AcquireLease(ctx, &checkpoint.Lease{Key: k1}, "worker-1", time.Unix(2e9, 0)); err != nil {
		t.Fatal(err)
	}
	hashed := filepath.Base(mustPath(t, s, kLong))
	if !strings.HasPrefix(hashed, "~") {
		t.Fatalf("the long key is stored as %s, want a hashed name", hashed)
	}
	write := func(rel string, data []byte) {
		t.Helper()
		path := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	stale := []string{
		"billing,orders,0.json.123456.tmp", // a key never saved
		"billing,orders,0.json.0.tmp",
		"billing,orders,1.json.4294967295.tmp", // a saved key
		hashed + ".42.tmp",
		"leases/billing,orders,1.json.7.tmp",
		"leases/billing,orders,0.json.99.tmp",
	}
	for _, name := range stale {
		write(name, []byte(`{"format": 1, "checkp`))
	}
	// Files that are not the store's temporary files.
	kept := map[string][]byte{
		"README":                                 []byte("hello"),
		"notes.tmp":                              []byte("not ours"),
		"billing,orders,0.json.tmp":              []byte("no number"),
		"billing,orders,0.json.12a.tmp":          []byte("not a decimal number"),
		"billing,orders,0.json.12345678901.tmp":  []byte("more digits than a random uint32"),
		"billing,orders,0.json.-1.tmp":           []byte("a sign"),
		"billing,orders,%ZZ.json.5.tmp":          []byte("an invalid escape"),
		"billing,orders,%61.json.5.tmp":          []byte("an escaped byte escapePart keeps"),
		"billing,orders.json.5.tmp":              []byte("two parts"),
		"a,b,c,d.json.5.tmp":                     []byte("four parts"),
		"Billing,orders,0.json.5.tmp":            []byte("an upper-case letter"),
		"billing,orders,0.txt.5.tmp":             []byte("not a .json name"),
		"~00,11.json.5.tmp":                      []byte("short digests"),
		"billing,orders,0.json.5.tmp.bak":        []byte("another suffix"),
		"sub/billing,orders,0.json.5.tmp":        []byte("another subdirectory"),
		"leases/sub/billing,orders,0.json.5.tmp": []byte("below leases"),
	}
	for name, data := range kept {
		write(name, data)
	}
	if err := os.Mkdir(filepath.Join(dir, "billing,orders,2.json.77.tmp"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("README", filepath.Join(dir, "billing,orders,3.json.88.tmp")); err != nil {
		t.Fatal(err)
	}
	// Another process is writing partition 5: it holds the lock while its
	// temporary file exists.
	live := "billing,orders,5.json.31337.tmp"
	write(live, []byte(`{"format": 1, "checkp`))
	lock, err := os.OpenFile(filepath.Join(dir, "billing,orders,5.json.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, dir)

	r := newFileStore(t, dir)

	after := snapshot(t, dir)
	for _, name := range stale {
		if _, ok := after[name]; ok {
			t.Errorf("stale temporary file %s was not removed", name)
		}
	}
	for name, data := range before {
		if slices.Contains(stale, name) || strings.HasSuffix(name, ".lock") {
			continue
		}
		if got, ok := after[name]; !ok {
			t.Errorf("%s was removed, want it kept", name)
		} else if !bytes.Equal(got, data) {
			t.Errorf("%s changed: %q, want %q", name, got, data)
		}
	}
	for name := range after {
		if _, ok := before[name]; !ok && !strings.HasSuffix(name, ".lock") {
			t.Errorf("opening the store created %s", name)
		}
	}
	if _, ok := after[live]; !ok {
		t.Errorf("the temporary file %s of a write in progress (its lock held) was removed", live)
	}
	// The checkpoints and the lease are intact, and the store works.
	for _, k := range []checkpoint.Key{k1, kLong} {
		want := storetest.Full(k)
		want.Version = 1
		if got, err := r.Load(ctx, k); err != nil || !storetest.Equal(got, want) {
			t.Errorf("Load(%s) after the cleanup = %v, %v; want the saved checkpoint", k, got, err)
		}
	}
	if l, err := r.LoadLease(ctx, k1); err != nil || l.Owner != "worker-1" || l.Counter != 1 {
		t.Errorf("LoadLease(%s) after the cleanup = %+v, %v; want worker-1's lease, counter 1", k1, l, err)
	}
	if err := r.Save(ctx, storetest.Full(k0)); err != nil {
		t.Fatal(err)
	}

	// Once the other process is done (it died: its lock is released), the
	// next open removes its temporary file.
	lock.Close()
	newFileStore(t, dir)
	if _, err := os.Lstat(filepath.Join(dir, live)); !os.IsNotExist(err) {
		t.Errorf("after its lock was released, %s: %v, want it removed", live, err)
	}
}

// snapshot returns every file under dir with its content (a link's
// target, "dir" for a directory).
func snapshot(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		switch {
		case d.IsDir():
			out[rel] = []byte("dir")
		case d.Type()&os.ModeSymlink != 0:
			target, err := os.Readlink(path)
			out[rel] = []byte("-> " + target)
			return err
		default:
			data, err := os.ReadFile(path)
			out[rel] = data
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestFileStoreOpenWhileWriting opens stores over a directory while other
// stores (as other processes would: only the file locks order them) save
// checkpoints and leases in it: the cleanup never removes a temporary
// file a write is using, so every write succeeds.
func TestFileStoreOpenWhileWriting(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	const writers, saves = 4, 150
	done := make(chan struct{})
	errc := make(chan error, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			s := newFileStore(t, dir)
			k := checkpoint.Key{Consumer: "billing", Stream: "orders", Partition: strconv.Itoa(w)}
			cp := &checkpoint.Checkpoint{Key: k}
			l := &checkpoint.Lease{Key: k}
			for i := range saves {
				cp.Counts.Succeeded++
				if err := s.Save(ctx, cp); err != nil {
					errc <- fmt.Errorf("writer %d, save %d: %w", w, i, err)
					return
				}
				if err := s.AcquireLease(ctx, l, "worker", time.Unix(2e9, 0)); err != nil {
					errc <- fmt.Errorf("writer %d, lease write %d: %w", w, i, err)
					return
				}
			}
		})
	}
	go func() { wg.Wait(); close(done) }()
	opens := 0
	for running := true; running; opens++ {
		select {
		case <-done:
			running = false
		default:
		}
		if _, err := checkpoint.NewFileStore(dir); err != nil {
			t.Fatal(err)
		}
	}
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	t.Logf("%d opens during %d saves and lease writes", opens, 2*writers*saves)
}
