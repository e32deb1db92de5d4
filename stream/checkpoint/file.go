package checkpoint

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// FileFormat is the version of the file layout written by FileStore, stored
// in each file's "format" field. A file of another format is refused as
// corrupt rather than misread.
const FileFormat = 1

// File name parts used by FileStore.
const (
	fileExt = ".json" // checkpoint files
	tempExt = ".tmp"  // temporary files of an unfinished write
	lockExt = ".lock" // advisory lock files, one per checkpoint file
	// maxReadableName is the longest readable file name; longer keys use
	// the hashed form. It leaves room for the temporary and lock suffixes
	// under the usual 255-byte limit of a file name.
	maxReadableName = 200
	// hashedPrefix starts the hashed form of a file name. Escaped parts
	// never contain it.
	hashedPrefix = "~"
	// lockPoll bounds the wait between two attempts to take a lock held by
	// another process.
	lockPoll = 20 * time.Millisecond
)

// FileStore is a Store that keeps one JSON file per checkpoint in a
// directory.
//
// # Files
//
// The file of a key is named consumer,stream,partition.json, each part
// escaped: ASCII lower-case letters, digits, '-', '_' and '.' are kept and
// every other byte is written %XX (upper-case hex). The escaped parts never
// contain ',', '/', '~' or an upper-case letter, so any strings give a
// distinct, safe name in the directory, also on case-insensitive file
// systems; "Orders" becomes %4Frders. A name that would be longer than 200
// bytes is replaced by ~H1,H2.json, where H1 and H2 are hex SHA-256 digests
// (truncated to 128 bits) of the escaped consumer,stream and of the escaped
// whole key; the key itself is always stored inside the file.
//
// A file holds {"format": 1, "checkpoint": {...}} (see FileFormat and the
// JSON tags of Checkpoint), indented, mode 0600. A write goes to a
// temporary file NAME.N.tmp in the same directory (NAME the file's name, N
// a random decimal number; mode 0600), which is synced, renamed over the
// checkpoint file, and followed by a sync of the directory, so that a crash
// at any instant leaves either the old or the new file. A temporary file
// left by a crash is ignored by Load and List, and NewFileStore removes
// it (see NewFileStore).
//
// # Compare-and-swap
//
// Save reads the stored version, compares it and writes the new file while
// it holds a per-key lock: a mutex within the store and an advisory lock
// (flock(2)) on the file's companion *.lock file, so that stores in
// different processes, or several FileStore values over one directory, can
// never both win. Lock files are kept. Load reads without locking (the
// rename is atomic).
//
// # Bad data
//
// A file that is not valid JSON, is not of format 1, has unknown fields or
// an unknown record status, or holds another key than its name says, makes
// Load, Save and List return an error matching ErrCorrupt that names the
// file and what was expected (and, for invalid JSON, the byte offset). A
// corrupt file is never reset or overwritten: an operator must repair or
// remove it.
//
// # Context
//
// A cancelled context makes Load, Save and List return the context's error
// before they start, and stops Save while it waits for a lock. Once Save
// has started writing it finishes, so cancellation never leaves a partial
// file.
//
// # Errors
//
// Errors that retrying cannot cure are permanent (checkpoint.IsPermanent):
// besides corrupt data and conflicts, an invalid key or checkpoint, and the
// file system errors that need an operator to change the directory:
// permission denied (EACCES, EPERM), a read-only file system (EROFS), the
// directory removed (ENOENT), a file where a directory must be or the
// reverse (ENOTDIR, EISDIR), a path too long (ENAMETOOLONG), a symbolic
// link loop (ELOOP), an operation the file system does not support
// (EINVAL, EOPNOTSUPP) and a file too large (EFBIG). The others, such as a
// full file system (ENOSPC, EDQUOT), I/O errors (EIO) and exhausted
// resources (EAGAIN, EMFILE, ENOMEM), are transient.
//
// A FileStore is safe for concurrent use. Cross-process locking needs
// flock(2) (Linux, macOS and the BSDs); elsewhere NewFileStore fails.
type FileStore struct {
	dir string

	mu    sync.Mutex
	locks map[string]chan struct{} // per file name, a 1-slot semaphore
	syncs map[string]*dirSyncer    // per directory: fsyncs shared by concurrent saves
}

var _ Store = (*FileStore)(nil)

// NewFileStore returns a FileStore over dir, creating it (and its parents)
// with mode 0700 if it does not exist. An existing directory keeps its mode.
//
// It removes the temporary files that writes interrupted by a crash left
// in dir and in its leases subdirectory: regular files named as the store
// names its temporary files (NAME.N.tmp, NAME a checkpoint or lease file
// name the store writes), each only once it holds that file's lock, so a
// temporary file that a store in another process is writing right now is
// left alone (and removed by a later open). Nothing else is touched.
// Temporary files it cannot lock or remove (a directory it may only read)
// stay; Load and List ignore them.
func NewFileStore(dir string) (*FileStore, error) {
	if !flockSupported {
		return nil, fmt.Errorf("checkpoint: file store %s: %w", dir, errNoFlock)
	}
	if dir == "" {
		return nil, Permanent(errors.New("checkpoint: file store: empty directory name (expected a directory path)"))
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fsError(fmt.Errorf("checkpoint: file store %s: create directory: %w", dir, err))
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fsError(fmt.Errorf("checkpoint: file store %s: %w", dir, err))
	}
	if !fi.IsDir() {
		return nil, Permanent(fmt.Errorf("checkpoint: file store %s: %w, expected a directory", dir, syscall.ENOTDIR))
	}
	s := &FileStore{dir: dir, locks: make(map[string]chan struct{}), syncs: make(map[string]*dirSyncer)}
	s.removeStaleTemps()
	return s, nil
}

// removeStaleTemps removes the temporary files of interrupted writes in the
// directory and its leases subdirectory (see NewFileStore).
func (s *FileStore) removeStaleTemps() {
	s.removeStaleTempsIn(s.dir, "")
	s.removeStaleTempsIn(filepath.Join(s.dir, leaseDir), leaseDir+string(filepath.Separator))
}

// removeStaleTempsIn removes the stale temporary files of dir, whose files
// are locked under lockPrefix+name (as Save and swapLease lock them).
func (s *FileStore) removeStaleTempsIn(dir, lockPrefix string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return // no leases directory, or not readable: nothing to clean
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue // never a directory or a link
		}
		if target, ok := tempTarget(e.Name()); ok {
			s.removeStaleTemp(filepath.Join(dir, e.Name()), lockPrefix+target)
		}
	}
}

// removeStaleTemp removes the temporary file at path if it can take the
// lock of lockName without waiting. Every temporary file is written while
// its target's lock is held (Save, swapLease), so with the lock held no
// write is using it: it was left by a crash, or by a write that has ended
// (then it is gone already). A lock held elsewhere means a write may be
// using it right now: it is left.
func (s *FileStore) removeStaleTemp(path, lockName string) {
	f, err := os.OpenFile(filepath.Join(s.dir, lockName+lockExt), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return // a directory this process may only read
	}
	defer f.Close() // closing the descriptor releases the flock
	if ok, err := tryFlock(f); !ok || err != nil {
		return
	}
	os.Remove(path)
}

// tempTarget reports whether name is the name of a temporary file of the
// store (NAME.N.tmp, see createTemp) and returns the file NAME it was to
// replace.
func tempTarget(name string) (string, bool) {
	rest, ok := strings.CutSuffix(name, tempExt)
	if !ok {
		return "", false
	}
	dot := strings.LastIndexByte(rest, '.')
	if dot < 0 {
		return "", false
	}
	target, n := rest[:dot], rest[dot+1:]
	if n == "" || len(n) > 10 || strings.Trim(n, "0123456789") != "" {
		return "", false
	}
	return target, isFileName(target)
}

// isFileName reports whether name is one fileName returns for some key.
func isFileName(name string) bool {
	base, ok := strings.CutSuffix(name, fileExt)
	if !ok {
		return false
	}
	if hashed, ok := strings.CutPrefix(base, hashedPrefix); ok {
		h1, h2, ok := strings.Cut(hashed, ",")
		return ok && isDigest(h1) && isDigest(h2)
	}
	parts := strings.Split(base, ",")
	if len(parts) != 3 {
		return false
	}
	var key Key
	for i, dst := range []*string{&key.Consumer, &key.Stream, &key.Partition} {
		if *dst, ok = unescapePart(parts[i]); !ok {
			return false
		}
	}
	return fileName(key) == name // a long key is stored under its hashed name
}

// isDigest reports whether s is a digest as digest writes it.
func isDigest(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Dir returns the store's directory.
func (s *FileStore) Dir() string { return s.dir }

// String names the store in errors: "file store DIR".
func (s *FileStore) String() string { return "file store " + s.dir }

// Path returns the path of the file that holds the checkpoint of key, or an
// error if key is invalid (see Key.Validate).
func (s *FileStore) Path(key Key) (string, error) {
	if err := key.Validate(); err != nil {
		return "", err
	}
	return filepath.Join(s.dir, fileName(key)), nil
}

// Load returns the checkpoint saved for key, or a new Checkpoint{Key: key}
// with Version 0 if its file does not exist. It returns an error matching
// ErrCorrupt if the file cannot be decoded, and an error if key is invalid
// (see Key.Validate).
func (s *FileStore) Load(ctx context.Context, key Key) (*Checkpoint, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("checkpoint: load %s: %w", key, err)
	}
	if err := key.Validate(); err != nil {
		return nil, err
	}
	cp, err := s.read(filepath.Join(s.dir, fileName(key)), key)
	if err != nil {
		return nil, err
	}
	if cp == nil {
		return &Checkpoint{Key: key}, nil
	}
	return cp, nil
}

// Save writes cp if the stored version equals cp.Version (0: no file may
// exist for cp.Key yet), then increments cp.Version. Otherwise it returns an
// error matching ErrConflict that names the key and both versions, and
// leaves cp and the file unchanged. If the stored file is corrupt it returns
// an error matching ErrCorrupt and leaves the file as it is. It refuses a
// checkpoint with an invalid key (see Key.Validate), an unknown record
// status or a negative count.
//
// After any other error, cp is unchanged but whether the file was replaced
// is unknown (a failure to sync the directory happens after the rename): the
// caller should Load again.
func (s *FileStore) Save(ctx context.Context, cp *Checkpoint) error {
	if err := checkSave(cp); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("checkpoint: save %s: %w", cp.Key, err)
	}
	next := *cp // shallow: encoded only
	next.Version++
	data, err := encodeFile(&next)
	if err != nil {
		return fmt.Errorf("checkpoint: save %s: encode: %w", cp.Key, err)
	}
	name := fileName(cp.Key)
	unlock, err := s.lock(ctx, name)
	if err != nil {
		return fsError(fmt.Errorf("checkpoint: save %s: %w", cp.Key, err))
	}
	defer unlock()
	path := filepath.Join(s.dir, name)
	stored, err := s.read(path, cp.Key)
	if err != nil {
		return err
	}
	var version uint64
	if stored != nil {
		version = stored.Version
	}
	if version != cp.Version {
		return conflict(cp.Key, cp.Version, version)
	}
	if err := s.writeAtomic(s.dir, name, data); err != nil {
		return fsError(fmt.Errorf("checkpoint: save %s: %w", cp.Key, err))
	}
	cp.Version++
	return nil
}

// List returns the checkpoints saved for consumer on stream, sorted by
// partition (byte-wise string order). It returns an empty list if there are
// none, an error if consumer or stream is empty, and an error matching
// ErrCorrupt if one of their files cannot be decoded. Other files in the
// directory (temporary files, lock files, other consumers) are ignored.
func (s *FileStore) List(ctx context.Context, consumer, stream string) ([]*Checkpoint, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("checkpoint: list %s/%s: %w", consumer, stream, err)
	}
	if err := checkGroup(consumer, stream); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fsError(fmt.Errorf("checkpoint: list %s/%s: %w", consumer, stream, err))
	}
	readable := escapePart(consumer) + "," + escapePart(stream) + ","
	hashed := hashedGroup(consumer, stream) + ","
	var out []*Checkpoint
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, fileExt) || e.IsDir() {
			continue
		}
		var want *Key
		switch {
		case strings.HasPrefix(name, readable):
			part, ok := unescapePart(strings.TrimSuffix(name[len(readable):], fileExt))
			if !ok {
				continue // not a name this store writes
			}
			want = &Key{Consumer: consumer, Stream: stream, Partition: part}
			if fileName(*want) != name {
				continue // a long key is stored under its hashed name
			}
		case strings.HasPrefix(name, hashed):
		default:
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("checkpoint: list %s/%s: %w", consumer, stream, err)
		}
		path := filepath.Join(s.dir, name)
		var cp *Checkpoint
		if want != nil {
			cp, err = s.read(path, *want)
		} else {
			cp, err = s.readHashed(path, name, consumer, stream)
		}
		if err != nil {
			return nil, err
		}
		if cp != nil {
			out = append(out, cp)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Partition < out[j].Partition })
	return out, nil
}

// read decodes the file at path, which must hold key. It returns nil, nil if
// the file does not exist.
func (s *FileStore) read(path string, key Key) (*Checkpoint, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fsError(fmt.Errorf("checkpoint: read %s: %w", key, err))
	}
	return decodeFile(path, data, key)
}

// readHashed decodes a file with a hashed name of the group consumer/stream,
// checking that the key it holds gives that name.
func (s *FileStore) readHashed(path, name, consumer, stream string) (*Checkpoint, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fsError(fmt.Errorf("checkpoint: read %s: %w", path, err))
	}
	cp, err := decodeAny(path, data)
	if err != nil {
		return nil, err
	}
	if cp.Consumer != consumer || cp.Stream != stream || fileName(cp.Key) != name {
		return nil, fmt.Errorf("%w: %s: file holds key %q, which is not stored under this file name (expected a key of %s/%s named %s)",
			ErrCorrupt, path, cp.Key.String(), consumer, stream, name)
	}
	return cp, nil
}

// lock takes the per-key lock of the file name: the in-process semaphore,
// then the advisory lock on the lock file. It gives up when ctx is done.
func (s *FileStore) lock(ctx context.Context, name string) (unlock func(), err error) {
	s.mu.Lock()
	sem := s.locks[name]
	if sem == nil {
		sem = make(chan struct{}, 1)
		s.locks[name] = sem
	}
	s.mu.Unlock()
	select {
	case sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for lock: %w", ctx.Err())
	}
	release := func() { <-sem }
	path := filepath.Join(s.dir, name+lockExt)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		release()
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	for wait := time.Millisecond; ; wait = min(2*wait, lockPoll) {
		ok, err := tryFlock(f)
		if err != nil {
			f.Close()
			release()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if ok {
			break
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			f.Close()
			release()
			return nil, fmt.Errorf("wait for lock %s: %w", path, ctx.Err())
		}
	}
	return func() {
		f.Close() // closing the descriptor releases the flock
		release()
	}, nil
}

// createTemp creates a new temporary file for dir/name, mode 0600, named
// name.N.tmp with N a random decimal number (the names os.CreateTemp gives;
// the store makes them itself so that NewFileStore can tell its own
// temporary files from any other file).
func createTemp(dir, name string) (*os.File, error) {
	for try := 0; ; try++ {
		path := filepath.Join(dir, name+"."+strconv.FormatUint(uint64(rand.Uint32()), 10)+tempExt)
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) && try < 100 {
			continue
		}
		return f, err
	}
}

// writeAtomic replaces dir/name with data: temporary file, sync, rename,
// sync of the directory (one sync serves the saves that wait for it at
// once, see dirSyncer).
func (s *FileStore) writeAtomic(dir, name string, data []byte) (err error) {
	f, err := createTemp(dir, name)
	if err != nil {
		return fmt.Errorf("create temporary file: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return err // names both paths
	}
	if err := s.dirSyncer(dir).syncAfterRename(dir); err != nil {
		return fmt.Errorf("sync directory %s after writing %s: %w", dir, name, err)
	}
	return nil
}

// dirSyncer returns the syncer of dir (the store's directory or its
// leases directory).
func (s *FileStore) dirSyncer(dir string) *dirSyncer {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.syncs[dir]
	if d == nil {
		d = newDirSyncer()
		s.syncs[dir] = d
	}
	return d
}

// fsError marks err permanent when the file system error it wraps is one
// that retrying cannot cure (see permanentFS: permissions, a read-only
// mount, a missing directory, a file where a directory must be, a name too
// long); every other error (ENOSPC, EIO, EAGAIN, ...) stays transient.
func fsError(err error) error {
	if err != nil && permanentFS(err) {
		return Permanent(err)
	}
	return err
}

// syncDir makes the directory's entries (a rename) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// fileDoc is the content of a checkpoint file.
type fileDoc struct {
	Format     int         `json:"format"`
	Checkpoint *Checkpoint `json:"checkpoint"`
}

// fileExpected describes a valid file in error messages.
const fileExpected = `expected a JSON object {"format": 1, "checkpoint": {...}} written by the unistream file checkpoint store`

// encodeFile returns the file content for cp.
func encodeFile(cp *Checkpoint) ([]byte, error) {
	b, err := json.MarshalIndent(fileDoc{Format: FileFormat, Checkpoint: cp}, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// decodeFile decodes the content of the file at path, which must hold key.
func decodeFile(path string, data []byte, key Key) (*Checkpoint, error) {
	cp, err := decodeAny(path, data)
	if err != nil {
		return nil, err
	}
	if cp.Key != key {
		return nil, fmt.Errorf("%w: %s: file holds the checkpoint of key %q (expected key %q)", ErrCorrupt, path, cp.Key.String(), key.String())
	}
	return cp, nil
}

// decodeAny decodes the content of the file at path. Every error matches
// ErrCorrupt.
func decodeAny(path string, data []byte) (*Checkpoint, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var doc fileDoc
	if err := dec.Decode(&doc); err != nil {
		return nil, corruptJSON(path, len(data), err)
	}
	end := dec.InputOffset()
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: %s: unexpected data after the JSON object that ends at byte offset %d (%s)", ErrCorrupt, path, end, fileExpected)
	}
	if doc.Format != FileFormat {
		return nil, fmt.Errorf("%w: %s: format %d (expected format %d; a file of another format is not read)", ErrCorrupt, path, doc.Format, FileFormat)
	}
	cp := doc.Checkpoint
	if cp == nil {
		return nil, fmt.Errorf("%w: %s: no \"checkpoint\" object (%s)", ErrCorrupt, path, fileExpected)
	}
	if err := cp.check(); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrCorrupt, path, err)
	}
	if cp.Version == 0 {
		return nil, fmt.Errorf("%w: %s: version 0 (expected a saved checkpoint, version 1 or more)", ErrCorrupt, path)
	}
	return cp, nil
}

// corruptJSON describes a JSON decoding error with its offset.
func corruptJSON(path string, size int, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return fmt.Errorf("%w: %s: empty file at byte offset 0 (%s)", ErrCorrupt, path, fileExpected)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: %s: invalid JSON at byte offset %d: unexpected end of JSON input, the file is truncated (%s)", ErrCorrupt, path, size, fileExpected)
	case errors.As(err, &syn):
		return fmt.Errorf("%w: %s: invalid JSON at byte offset %d: %w (%s)", ErrCorrupt, path, syn.Offset, err, fileExpected)
	case errors.As(err, &typ):
		field := "the top level"
		if typ.Field != "" {
			field = "field " + typ.Field
		}
		return fmt.Errorf("%w: %s: JSON %s at byte offset %d where %s is expected, in %s (%s)", ErrCorrupt, path, typ.Value, typ.Offset, jsonKind(typ.Type), field, fileExpected)
	}
	return fmt.Errorf("%w: %s: %w (%s)", ErrCorrupt, path, err, fileExpected)
}

// jsonKind describes the JSON value expected for a Go type.
func jsonKind(t reflect.Type) string {
	switch {
	case t == nil:
		return "another value"
	case t == reflect.TypeFor[Status]():
		return "a status name string"
	case t == reflect.TypeFor[time.Time]():
		return "an RFC 3339 time string"
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return "a base64 string"
		}
		return "an array"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer"
	}
	return "a " + t.String()
}

// fileName returns the file name of key (see FileStore).
func fileName(key Key) string {
	c, s, p := escapePart(key.Consumer), escapePart(key.Stream), escapePart(key.Partition)
	if name := c + "," + s + "," + p + fileExt; len(name) <= maxReadableName {
		return name
	}
	return hashedGroup(key.Consumer, key.Stream) + "," + digest(c+","+s+","+p) + fileExt
}

// hashedGroup returns the prefix of the hashed file names of consumer on
// stream.
func hashedGroup(consumer, stream string) string {
	return hashedPrefix + digest(escapePart(consumer)+","+escapePart(stream))
}

// digest returns 128 bits of the SHA-256 of s in hex.
func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:16])
}

// keepByte reports whether escapePart keeps c as is.
func keepByte(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.'
}

// escapePart escapes one key part for a file name.
func escapePart(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if !keepByte(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	const hexUpper = "0123456789ABCDEF"
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		if c := s[i]; keepByte(c) {
			b = append(b, c)
		} else {
			b = append(b, '%', hexUpper[c>>4], hexUpper[c&15])
		}
	}
	return string(b)
}

// unescapePart reverses escapePart. It reports false for a string that
// escapePart does not return.
func unescapePart(s string) (string, bool) {
	if s == "" {
		return "", false
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if keepByte(c) {
			b = append(b, c)
			continue
		}
		if c != '%' || i+2 >= len(s) {
			return "", false
		}
		v, ok1 := unhexUpper(s[i+1])
		w, ok2 := unhexUpper(s[i+2])
		if !ok1 || !ok2 {
			return "", false
		}
		c = v<<4 | w
		if keepByte(c) {
			return "", false // escapePart keeps it as is
		}
		b = append(b, c)
		i += 2
	}
	return string(b), true
}

// unhexUpper decodes one upper-case hex digit.
func unhexUpper(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
