//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package checkpoint_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/checkpoint/storetest"
)

func newFileStore(t testing.TB, dir string) *checkpoint.FileStore {
	t.Helper()
	s, err := checkpoint.NewFileStore(dir)
	if err != nil {
		t.Fatalf("NewFileStore(%s): %v", dir, err)
	}
	return s
}

func mustPath(t testing.TB, s *checkpoint.FileStore, k checkpoint.Key) string {
	t.Helper()
	p, err := s.Path(k)
	if err != nil {
		t.Fatalf("Path(%s): %v", k, err)
	}
	return p
}

func TestFileStore(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		New: func(t *testing.T) checkpoint.Store { return newFileStore(t, t.TempDir()) },
		Corrupt: func(t *testing.T, s checkpoint.Store, key checkpoint.Key) {
			path := mustPath(t, s.(*checkpoint.FileStore), key)
			if err := os.WriteFile(path, []byte(`{"format": 1, "checkpoint": {"consumer": `), 0o600); err != nil {
				t.Fatal(err)
			}
		},
		Reopen: func(t *testing.T, s checkpoint.Store) checkpoint.Store {
			return newFileStore(t, s.(*checkpoint.FileStore).Dir())
		},
	})
}

func TestFileStorePermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "checkpoints")
	s := newFileStore(t, dir)
	for _, d := range []string{dir, filepath.Dir(dir)} {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != 0o700 {
			t.Errorf("directory %s has mode %o, want 0700", d, got)
		}
	}
	k := checkpoint.Key{Consumer: "billing", Stream: "orders", Partition: "0"}
	cp := storetest.Full(k)
	for range 2 { // create, then replace
		if err := s.Save(context.Background(), cp); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != 0o600 {
			t.Errorf("file %s has mode %o, want 0600", e.Name(), got)
		}
	}
	// The checkpoint file and its lock file, no temporary file left.
	want := []string{"billing,orders,0.json", "billing,orders,0.json.lock"}
	if fmt.Sprint(names) != fmt.Sprint(want) {
		t.Errorf("directory holds %q, want %q", names, want)
	}
}

func TestFileStoreExistingDirectoryKeepsItsMode(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	newFileStore(t, dir)
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o750 {
		t.Errorf("existing directory mode changed to %o", got)
	}
}

func TestNewFileStoreErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{"", file, filepath.Join(file, "sub")} {
		if _, err := checkpoint.NewFileStore(dir); err == nil {
			t.Errorf("NewFileStore(%q) succeeded, want an error", dir)
		}
	}
}

var escapeRE = regexp.MustCompile(`%[0-9A-F]{2}`)

func TestFileStoreFileNames(t *testing.T) {
	dir := t.TempDir()
	s := newFileStore(t, dir)
	long := strings.Repeat("é", 200)
	cases := []struct {
		key  checkpoint.Key
		name string // "" to only check that it is safe
	}{
		{checkpoint.Key{Consumer: "billing", Stream: "orders", Partition: "0"}, "billing,orders,0.json"},
		{checkpoint.Key{Consumer: "billing", Stream: "orders.v2", Partition: "shardId-000000000001"}, "billing,orders.v2,shard%49d-000000000001.json"},
		{checkpoint.Key{Consumer: "Billing", Stream: "a/b", Partition: "1,2"}, "%42illing,a%2Fb,1%2C2.json"},
		{checkpoint.Key{Consumer: "..", Stream: ".", Partition: "~x"}, "..,.,%7Ex.json"},
		{checkpoint.Key{Consumer: "c", Stream: "s", Partition: "p.json"}, "c,s,p.json.json"},
		{checkpoint.Key{Consumer: "c", Stream: "s", Partition: "%41"}, "c,s,%2541.json"},
		{checkpoint.Key{Consumer: "c", Stream: "s", Partition: "A"}, "c,s,%41.json"},
		{checkpoint.Key{Consumer: long, Stream: long, Partition: long}, ""},
		{checkpoint.Key{Consumer: long, Stream: long, Partition: long + "x"}, ""},
	}
	seen := map[string]checkpoint.Key{}
	for _, tc := range cases {
		path := mustPath(t, s, tc.key)
		name := filepath.Base(path)
		if filepath.Dir(path) != dir {
			t.Errorf("Path(%q) = %s, outside the directory", tc.key, path)
		}
		if tc.name != "" && name != tc.name {
			t.Errorf("Path(%q) name = %s, want %s", tc.key, name, tc.name)
		}
		if len(name)+len(".123456789.tmp") > 255 {
			t.Errorf("Path(%q) name is %d bytes, too long for a file system", tc.key, len(name))
		}
		if unescaped := escapeRE.ReplaceAllString(name, ""); unescaped != strings.ToLower(unescaped) {
			t.Errorf("Path(%q) name %s has upper-case letters outside escapes", tc.key, name)
		}
		folded := strings.ToLower(name)
		if k, ok := seen[folded]; ok {
			t.Errorf("keys %q and %q share the file name %s (case-insensitively)", k, tc.key, name)
		}
		seen[folded] = tc.key
		// The name works: save and load it.
		cp := &checkpoint.Checkpoint{Key: tc.key}
		if err := s.Save(context.Background(), cp); err != nil {
			t.Fatalf("Save(%q): %v", tc.key, err)
		}
		if _, err := os.Stat(path); err != nil {
			t.Errorf("Save(%q) did not write %s: %v", tc.key, path, err)
		}
	}
	if _, err := s.Path(checkpoint.Key{Consumer: "c"}); err == nil {
		t.Error("Path of an invalid key succeeded")
	}
}

func TestFileStoreFileContent(t *testing.T) {
	s := newFileStore(t, t.TempDir())
	k := checkpoint.Key{Consumer: "billing", Stream: "orders", Partition: "0"}
	if err := s.Save(context.Background(), storetest.Full(k)); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(mustPath(t, s, k))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Format     int                        `json:"format"`
		Checkpoint map[string]json.RawMessage `json:"checkpoint"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("file is not JSON: %v\n%s", err, data)
	}
	if doc.Format != 1 {
		t.Errorf("format = %d, want 1", doc.Format)
	}
	for field, want := range map[string]string{"consumer": `"billing"`, "stream": `"orders"`, "partition": `"0"`, "version": `1`} {
		if got := string(doc.Checkpoint[field]); got != want {
			t.Errorf("checkpoint.%s = %s, want %s", field, got, want)
		}
	}
	if !bytes.Contains(data, []byte(`"status": "dead_lettered"`)) {
		t.Errorf("statuses are not written by name:\n%s", data)
	}
}

// validFile returns the content of a valid file for key.
func validFile(t testing.TB, key checkpoint.Key) []byte {
	t.Helper()
	s := newFileStore(t, t.TempDir())
	if err := s.Save(context.Background(), storetest.Full(key)); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(mustPath(t, s, key))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestFileStoreCorruptFiles(t *testing.T) {
	k := checkpoint.Key{Consumer: "billing", Stream: "orders", Partition: "0"}
	valid := validFile(t, k)
	replace := func(old, new string) []byte {
		if !bytes.Contains(valid, []byte(old)) {
			t.Fatalf("valid file has no %q", old)
		}
		return bytes.Replace(valid, []byte(old), []byte(new), 1)
	}
	cases := []struct {
		name    string
		content []byte
		want    []string // substrings of the error, besides the path
	}{
		{"empty", nil, []string{"empty file", "offset 0"}},
		{"truncated", valid[:len(valid)/2], []string{"invalid JSON at byte offset " + strconv.Itoa(len(valid)/2), "unexpected end of JSON input"}},
		{"garbage", []byte("\x00\x01garbage"), []string{"invalid JSON at byte offset 1", "expected a JSON object"}},
		{"syntax error in the middle", replace(`"version": 1,`, `"version": 1,,`), []string{"invalid JSON at byte offset", "invalid character ','"}},
		{"array", []byte(`[1, 2, 3]`), []string{"JSON array at byte offset", "expected"}},
		{"string", []byte(`"checkpoint"`), []string{"JSON string", "expected"}},
		{"null", []byte(`null`), []string{"format 0 (expected format 1"}},
		{"object of the wrong shape", []byte(`{"offset": 12}`), []string{`unknown field "offset"`}},
		{"checkpoint of the wrong type", []byte(`{"format": 1, "checkpoint": [1]}`), []string{"JSON array", "checkpoint"}},
		{"no checkpoint", []byte(`{"format": 1}`), []string{`no "checkpoint" object`}},
		{"null checkpoint", []byte(`{"format": 1, "checkpoint": null}`), []string{`no "checkpoint" object`}},
		{"no format", replace(`"format": 1,`, ``), []string{"format 0 (expected format 1"}},
		{"format 2", replace(`"format": 1,`, `"format": 2,`), []string{"format 2 (expected format 1"}},
		{"format as a string", replace(`"format": 1,`, `"format": "1",`), []string{"JSON string at byte offset", "format"}},
		{"key mismatch", replace(`"partition": "0"`, `"partition": "1"`), []string{`holds the checkpoint of key "billing/orders/1" (expected key "billing/orders/0")`}},
		{"empty key part", replace(`"consumer": "billing"`, `"consumer": ""`), []string{"must all be non-empty"}},
		{"unknown status", replace(`"status": "halted"`, `"status": "exploded"`), []string{`unknown record status "exploded"`}},
		{"numeric status", replace(`"status": "halted"`, `"status": 6`), []string{"status"}},
		{"unknown field", replace(`"version": 1,`, `"version": 1, "owner": "x",`), []string{`unknown field "owner"`}},
		{"trailing data", append(append([]byte{}, valid...), `{"format": 1}`...), []string{"unexpected data after the JSON object"}},
		{"two objects", append(append([]byte{}, valid...), valid...), []string{"unexpected data after the JSON object"}},
		{"version 0", replace(`"version": 1,`, `"version": 0,`), []string{"version 0"}},
		{"negative version", replace(`"version": 1,`, `"version": -1,`), []string{"JSON number -1"}},
		{"negative attempts", replace(`"attempts": 1,`, `"attempts": -1,`), []string{"negative attempts"}},
		{"bad pointer encoding", replace(`"committed": "`, `"committed": "!!`), []string{"illegal base64"}},
		{"bad time", replace(`"updated_at": "`, `"updated_at": "yesterday`), []string{`parsing time "yesterday`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := newFileStore(t, dir)
			path := mustPath(t, s, k)
			if err := os.WriteFile(path, tc.content, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := s.Load(context.Background(), k)
			t.Log(strings.ReplaceAll(fmt.Sprint(err), dir, "DIR"))
			if !errors.Is(err, checkpoint.ErrCorrupt) {
				t.Fatalf("Load: err = %v, want ErrCorrupt", err)
			}
			msg := err.Error()
			for _, w := range append([]string{path}, tc.want...) {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
			// Neither Save nor List overwrites or hides it.
			for _, v := range []uint64{0, 1} {
				cp := storetest.Full(k)
				cp.Version = v
				if err := s.Save(context.Background(), cp); !errors.Is(err, checkpoint.ErrCorrupt) {
					t.Errorf("Save(version %d): err = %v, want ErrCorrupt", v, err)
				}
			}
			if _, err := s.List(context.Background(), k.Consumer, k.Stream); !errors.Is(err, checkpoint.ErrCorrupt) {
				t.Errorf("List: err = %v, want ErrCorrupt", err)
			}
			after, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(after, tc.content) {
				t.Errorf("the corrupt file was changed")
			}
		})
	}
}

func TestFileStoreCorruptHashedFile(t *testing.T) {
	// A long key is stored under a hashed name; List checks that the key
	// inside matches the name.
	dir := t.TempDir()
	s := newFileStore(t, dir)
	long := strings.Repeat("q", 150)
	a := checkpoint.Key{Consumer: long, Stream: long, Partition: "a"}
	b := checkpoint.Key{Consumer: long, Stream: long, Partition: "b"}
	if err := s.Save(context.Background(), &checkpoint.Checkpoint{Key: a}); err != nil {
		t.Fatal(err)
	}
	// Copy a's file over b's name: it holds the wrong key.
	data, err := os.ReadFile(mustPath(t, s, a))
	if err != nil {
		t.Fatal(err)
	}
	pb := mustPath(t, s, b)
	if err := os.WriteFile(pb, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.List(context.Background(), long, long); !errors.Is(err, checkpoint.ErrCorrupt) || !strings.Contains(err.Error(), pb) {
		t.Errorf("List: err = %v, want ErrCorrupt naming %s", err, pb)
	}
	if _, err := s.Load(context.Background(), b); !errors.Is(err, checkpoint.ErrCorrupt) {
		t.Errorf("Load: err = %v, want ErrCorrupt", err)
	}
}

func TestFileStoreIgnoresLeftovers(t *testing.T) {
	dir := t.TempDir()
	s := newFileStore(t, dir)
	k := checkpoint.Key{Consumer: "billing", Stream: "orders", Partition: "0"}
	k1 := checkpoint.Key{Consumer: "billing", Stream: "orders", Partition: "1"}
	if err := s.Save(context.Background(), storetest.Full(k1)); err != nil {
		t.Fatal(err)
	}
	// What a crash can leave: a temporary file of a key never saved
	// (complete or torn), one of a saved key, and lock files; plus
	// unrelated files.
	leftovers := map[string][]byte{
		"billing,orders,0.json.123456.tmp": validFile(t, k),
		"billing,orders,0.json.999.tmp":    []byte(`{"format": 1, "checkp`),
		"billing,orders,1.json.42.tmp":     []byte("garbage"),
		"billing,orders,0.json.lock":       nil,
		"billing,orders,%ZZ.json":          []byte("not ours: invalid escape"),
		"billing,orders,a,b.json":          []byte("not ours: comma"),
		"billing,orders,%61.json":          []byte("not ours: escaped a kept byte"),
		"billing,orders,.json":             []byte("not ours: empty partition"),
		"README":                           []byte("hello"),
		"billing,orders,2.json.backup":     []byte("x"),
		"other,orders,0.json":              []byte("another consumer, corrupt, not listed here"),
		"~0000,0000.json":                  []byte("hashed name of another group"),
	}
	for name, data := range leftovers {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "billing,orders,9.json"), 0o700); err != nil {
		t.Fatal(err)
	}
	cp, err := s.Load(context.Background(), k)
	if err != nil || cp.Version != 0 {
		t.Fatalf("Load of a key with only a temporary file = version %v, %v; want version 0", cp, err)
	}
	list, err := s.List(context.Background(), "billing", "orders")
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(list) != 1 || list[0].Key != k1 {
		t.Fatalf("List = %d checkpoints, want only %s", len(list), k1)
	}
	// Saving works next to leftovers, and leaves them alone.
	if err := s.Save(context.Background(), storetest.Full(k)); err != nil {
		t.Fatal(err)
	}
	for name := range leftovers {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("leftover %s: %v", name, err)
		}
	}
}

// TestFileStoreTwoStores runs writers through two FileStore values over one
// directory, as two processes would: only the file lock orders them.
func TestFileStoreTwoStores(t *testing.T) {
	dir := t.TempDir()
	stores := []*checkpoint.FileStore{newFileStore(t, dir), newFileStore(t, dir)}
	k := checkpoint.Key{Consumer: "billing", Stream: "orders", Partition: "0"}
	ctx := context.Background()

	// Sequential: the second store sees the first one's write.
	cp := &checkpoint.Checkpoint{Key: k}
	if err := stores[0].Save(ctx, cp); err != nil {
		t.Fatal(err)
	}
	if err := stores[1].Save(ctx, &checkpoint.Checkpoint{Key: k}); !errors.Is(err, checkpoint.ErrConflict) {
		t.Fatalf("second store, version 0 on an existing key: err = %v, want ErrConflict", err)
	}

	// Racing.
	const writers, saves = 6, 15
	var won [writers]int
	var wg sync.WaitGroup
	errc := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			s := stores[w%2]
			for won[w] < saves {
				cp, err := s.Load(ctx, k)
				if err != nil {
					errc <- err
					return
				}
				cp.Counts.Succeeded++
				err = s.Save(ctx, cp)
				if errors.Is(err, checkpoint.ErrConflict) {
					continue
				}
				if err != nil {
					errc <- err
					return
				}
				won[w]++
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	got, err := stores[0].Load(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	if got.Counts.Succeeded != writers*saves || got.Version != writers*saves+1 {
		t.Fatalf("after %d successful saves: counter %d, version %d; want %d and %d", writers*saves, got.Counts.Succeeded, got.Version, writers*saves, writers*saves+1)
	}
}

// The helper process of TestFileStoreCrossProcess.
const (
	envHelperDir   = "CHECKPOINT_TEST_HELPER_DIR"
	envHelperSaves = "CHECKPOINT_TEST_HELPER_SAVES"
)

// TestFileStoreCrossProcess runs writers in separate processes (this test
// binary, re-executed) over one directory.
func TestFileStoreCrossProcess(t *testing.T) {
	if dir := os.Getenv(envHelperDir); dir != "" {
		helperProcess(t, dir)
		return
	}
	if testing.Short() {
		t.Skip("starts processes")
	}
	const procs, saves = 3, 30
	dir := t.TempDir()
	exe, err := os.Executable()
	if err != nil {
		t.Skip("no executable:", err)
	}
	var cmds []*exec.Cmd
	var outs []*bytes.Buffer
	for range procs {
		cmd := exec.Command(exe, "-test.run=^TestFileStoreCrossProcess$", "-test.v")
		cmd.Env = append(os.Environ(), envHelperDir+"="+dir, envHelperSaves+"="+strconv.Itoa(saves))
		out := new(bytes.Buffer)
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds, outs = append(cmds, cmd), append(outs, out)
	}
	total := 0
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("helper %d: %v\n%s", i, err, outs[i])
		}
		sc := bufio.NewScanner(outs[i])
		found := false
		for sc.Scan() {
			if n, ok := strings.CutPrefix(sc.Text(), "SAVED "); ok {
				v, err := strconv.Atoi(n)
				if err != nil {
					t.Fatal(err)
				}
				total += v
				found = true
			}
		}
		if !found {
			t.Fatalf("helper %d did not report:\n%s", i, outs[i])
		}
	}
	if total != procs*saves {
		t.Fatalf("helpers saved %d times, want %d", total, procs*saves)
	}
	cp, err := newFileStore(t, dir).Load(context.Background(), crossKey)
	if err != nil {
		t.Fatal(err)
	}
	if cp.Counts.Succeeded != uint64(total) || cp.Version != uint64(total) {
		t.Fatalf("after %d successful saves in %d processes: counter %d, version %d (lost updates)", total, procs, cp.Counts.Succeeded, cp.Version)
	}
}

var crossKey = checkpoint.Key{Consumer: "billing", Stream: "orders", Partition: "0"}

func helperProcess(t *testing.T, dir string) {
	saves, err := strconv.Atoi(os.Getenv(envHelperSaves))
	if err != nil {
		t.Fatal(err)
	}
	s := newFileStore(t, dir)
	ctx := context.Background()
	n := 0
	for n < saves {
		cp, err := s.Load(ctx, crossKey)
		if err != nil {
			t.Fatal(err)
		}
		cp.Counts.Succeeded++
		err = s.Save(ctx, cp)
		if errors.Is(err, checkpoint.ErrConflict) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	fmt.Printf("SAVED %d\n", n)
}

// TestFileStoreLockWait holds the file lock as another process would and
// checks that Save waits for it, honours its context and never writes
// without it.
func TestFileStoreLockWait(t *testing.T) {
	s := newFileStore(t, t.TempDir())
	k := checkpoint.Key{Consumer: "billing", Stream: "orders", Partition: "0"}
	path := mustPath(t, s, k)
	f, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	cp := &checkpoint.Checkpoint{Key: k}
	err = s.Save(ctx, cp)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Save while another process holds the lock: err = %v, want DeadlineExceeded", err)
	}
	if cp.Version != 0 {
		t.Errorf("a failed Save changed the version to %d", cp.Version)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Save wrote %s without the lock (stat: %v)", path, err)
	}

	// Released while Save waits: Save goes on.
	done := make(chan error, 1)
	go func() { done <- s.Save(context.Background(), cp) }()
	time.Sleep(30 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("Save returned %v while the lock was held", err)
	default:
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_UN); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Save after the lock was released: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Save did not finish after the lock was released")
	}
	if cp.Version != 1 {
		t.Errorf("version = %d, want 1", cp.Version)
	}
}

// FuzzFileStoreDecode writes arbitrary bytes as a checkpoint file: Load
// must not panic and either succeed or fail with ErrCorrupt naming the file;
// Save never overwrites a file Load refuses; a checkpoint Load accepts
// survives being written back in the file format and loaded again. (The
// target writes without fsync so that the fuzzer stays fast.)
func FuzzFileStoreDecode(f *testing.F) {
	k := checkpoint.Key{Consumer: "billing", Stream: "orders", Partition: "0"}
	small := smallBatch(1)
	small.Batch.Records[0].Status = checkpoint.Halted
	small.Batch.Records[0].NextRetry = time.Date(2024, 1, 2, 3, 4, 5, 6, time.FixedZone("x", 3600))
	small.Version = 3
	valid := encodeForTest(f, small)
	f.Add(valid)
	f.Add(valid[:len(valid)/3])
	f.Add(encodeForTest(f, &checkpoint.Checkpoint{Key: k, Version: 1}))
	f.Add([]byte(`{"format":1,"checkpoint":{"consumer":"billing","stream":"orders","partition":"0","version":1,"batch":{"seq":1,"first":null,"last":null,"size":1,"records":[{"pointer":"AA==","status":"failed","attempts":2,"errors":[{"attempt":1,"time":"2024-01-01T00:00:00Z","error":"x"}]}]},"counts":{"succeeded":1,"dead_lettered":0,"skipped":0,"retries":0}}}`))
	f.Add([]byte(`{"format":2}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(""))
	f.Add([]byte("\xff\xfe"))
	dir := f.TempDir()
	s := newFileStore(f, dir)
	path := mustPath(f, s, k)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		cp, err := s.Load(ctx, k)
		if err != nil {
			if !errors.Is(err, checkpoint.ErrCorrupt) {
				t.Fatalf("Load: err = %v, want nil or ErrCorrupt", err)
			}
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error %q does not name the file", err)
			}
			for _, v := range []uint64{0, 1} {
				if err := s.Save(ctx, &checkpoint.Checkpoint{Key: k, Version: v}); !errors.Is(err, checkpoint.ErrCorrupt) {
					t.Fatalf("Save(version %d) over a corrupt file: err = %v, want ErrCorrupt", v, err)
				}
			}
			if after, err := os.ReadFile(path); err != nil || !bytes.Equal(after, data) {
				t.Fatalf("Save changed a corrupt file (%v)", err)
			}
			return
		}
		if cp.Key != k || cp.Version == 0 {
			t.Fatalf("Load accepted key %s version %d", cp.Key, cp.Version)
		}
		again := encodeForTest(t, cp)
		if err := os.WriteFile(path, again, 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := s.Load(ctx, k)
		if err != nil {
			t.Fatalf("Load of an accepted checkpoint written back: %v\n%s", err, again)
		}
		if !storetest.Equal(got, cp) {
			t.Fatalf("accepted checkpoint does not round-trip:\n%s", again)
		}
	})
}

// encodeForTest returns a file for cp in FileStore's format.
func encodeForTest(t testing.TB, cp *checkpoint.Checkpoint) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"format": 1, "checkpoint": cp})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestFileStoreFormatMatchesEncodeForTest keeps the fuzz target honest: the
// test encoding and the store's read the same.
func TestFileStoreFormatMatchesEncodeForTest(t *testing.T) {
	s := newFileStore(t, t.TempDir())
	k := checkpoint.Key{Consumer: "billing", Stream: "orders", Partition: "0"}
	cp := storetest.Full(k)
	cp.Version = 5
	if err := os.WriteFile(mustPath(t, s, k), encodeForTest(t, cp), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load(context.Background(), k)
	if err != nil {
		t.Fatal(err)
	}
	if !storetest.Equal(got, cp) {
		t.Fatal("a file written by encodeForTest does not load as its checkpoint")
	}
}

func BenchmarkFileStoreSave(b *testing.B) {
	ctx := context.Background()
	s := newFileStore(b, b.TempDir())
	cp := smallBatch(3)
	b.ReportAllocs()
	for b.Loop() {
		cp.Counts.Succeeded++
		if err := s.Save(ctx, cp); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFileStoreLoad(b *testing.B) {
	ctx := context.Background()
	s := newFileStore(b, b.TempDir())
	cp := smallBatch(3)
	if err := s.Save(ctx, cp); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Load(ctx, cp.Key); err != nil {
			b.Fatal(err)
		}
	}
}
