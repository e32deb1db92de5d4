package checkpoint

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// leaseDir is the subdirectory of a FileStore that holds lease files.
const leaseDir = "leases"

// leaseExpected describes a valid lease file in error messages.
const leaseExpected = `expected a JSON object {"format": 1, "lease": {...}} written by the unistream file checkpoint store`

var _ Leaser = (*FileStore)(nil)

// leaseDoc is the content of a lease file.
type leaseDoc struct {
	Format int    `json:"format"`
	Lease  *Lease `json:"lease"`
}

// LeasePath returns the path of the file that holds the lease of key: the
// checkpoint file's name in the subdirectory "leases". A lease file holds
// {"format": 1, "lease": {...}}, mode 0600, and is written like a
// checkpoint file (temporary file, sync, rename, directory sync) under the
// same kind of per-key lock, so stores in several processes over one
// directory share leases safely.
func (s *FileStore) LeasePath(key Key) (string, error) {
	if err := key.Validate(); err != nil {
		return "", err
	}
	return filepath.Join(s.dir, leaseDir, fileName(key)), nil
}

// LoadLease returns the lease of key, or a free lease with Counter 0 if none
// was stored (see Leaser). A lease file that cannot be decoded gives an
// error matching ErrCorrupt that names the file.
func (s *FileStore) LoadLease(ctx context.Context, key Key) (*Lease, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("checkpoint: load lease %s: %w", key, err)
	}
	if err := key.Validate(); err != nil {
		return nil, err
	}
	l, err := readLease(filepath.Join(s.dir, leaseDir, fileName(key)), &key)
	if err != nil || l != nil {
		return l, err
	}
	return &Lease{Key: key}, nil
}

// ListLeases returns the stored leases of consumer on stream, sorted by
// partition (see Leaser).
func (s *FileStore) ListLeases(ctx context.Context, consumer, stream string) ([]*Lease, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("checkpoint: list leases %s/%s: %w", consumer, stream, err)
	}
	if err := checkGroup(consumer, stream); err != nil {
		return nil, err
	}
	dir := filepath.Join(s.dir, leaseDir)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fsError(fmt.Errorf("checkpoint: list leases %s/%s: %w", consumer, stream, err))
	}
	readable := escapePart(consumer) + "," + escapePart(stream) + ","
	hashed := hashedGroup(consumer, stream) + ","
	var out []*Lease
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
				continue
			}
			want = &Key{Consumer: consumer, Stream: stream, Partition: part}
			if fileName(*want) != name {
				continue
			}
		case strings.HasPrefix(name, hashed):
		default:
			continue
		}
		path := filepath.Join(dir, name)
		l, err := readLease(path, want)
		if err != nil {
			return nil, err
		}
		if l == nil {
			continue
		}
		if want == nil && (l.Consumer != consumer || l.Stream != stream || fileName(l.Key) != name) {
			return nil, fmt.Errorf("%w: %s: file holds the lease of key %q, which is not stored under this file name (expected a key of %s/%s named %s)",
				ErrCorrupt, path, l.Key.String(), consumer, stream, name)
		}
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Partition < out[j].Partition })
	return out, nil
}

// AcquireLease gives l to owner until expires if the stored counter equals
// l.Counter (see Leaser).
func (s *FileStore) AcquireLease(ctx context.Context, l *Lease, owner string, expires time.Time) error {
	return LeaseSwap(s.swapLease).Acquire(ctx, l, owner, expires)
}

// RenewLease extends l to expires if the stored counter equals l.Counter
// (see Leaser).
func (s *FileStore) RenewLease(ctx context.Context, l *Lease, expires time.Time) error {
	return LeaseSwap(s.swapLease).Renew(ctx, l, expires)
}

// ReleaseLease frees l if the stored counter equals l.Counter (see Leaser).
func (s *FileStore) ReleaseLease(ctx context.Context, l *Lease) error {
	return LeaseSwap(s.swapLease).Release(ctx, l)
}

// swapLease writes ch.Next if the stored counter is ch.Expect, under the
// key's lock.
func (s *FileStore) swapLease(ctx context.Context, l *Lease, ch *LeaseChange) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("checkpoint: %s %s: %w", ch.Op, l.Key, err)
	}
	data, err := json.MarshalIndent(leaseDoc{Format: FileFormat, Lease: &ch.Next}, "", "  ")
	if err != nil {
		return fmt.Errorf("checkpoint: %s %s: encode: %w", ch.Op, l.Key, err)
	}
	data = append(data, '\n')
	dir := filepath.Join(s.dir, leaseDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fsError(fmt.Errorf("checkpoint: %s %s: create directory: %w", ch.Op, l.Key, err))
	}
	name := fileName(l.Key)
	unlock, err := s.lock(ctx, leaseDir+string(filepath.Separator)+name)
	if err != nil {
		return fsError(fmt.Errorf("checkpoint: %s %s: %w", ch.Op, l.Key, err))
	}
	defer unlock()
	stored, err := readLease(filepath.Join(dir, name), &l.Key)
	if err != nil {
		return err
	}
	var counter uint64
	if stored != nil {
		counter = stored.Counter
	}
	if counter != ch.Expect {
		return ch.Conflict(counter)
	}
	if err := s.writeAtomic(dir, name, data); err != nil {
		return fsError(fmt.Errorf("checkpoint: %s %s: %w", ch.Op, l.Key, err))
	}
	ch.Apply(l)
	return nil
}

// readLease decodes the lease file at path, which must hold key if key is
// not nil. It returns nil, nil if the file does not exist.
func readLease(path string, key *Key) (*Lease, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fsError(fmt.Errorf("checkpoint: read lease %s: %w", path, err))
	}
	l, err := decodeLease(path, data)
	if err != nil {
		return nil, err
	}
	if key != nil && l.Key != *key {
		return nil, fmt.Errorf("%w: %s: file holds the lease of key %q (expected key %q)", ErrCorrupt, path, l.Key.String(), key.String())
	}
	return l, nil
}

// decodeLease decodes the content of a lease file. Every error matches
// ErrCorrupt and names path.
func decodeLease(path string, data []byte) (*Lease, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var doc leaseDoc
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%w: %s: invalid lease file: %w (%s)", ErrCorrupt, path, err, leaseExpected)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: %s: unexpected data after the JSON object that ends at byte offset %d (%s)", ErrCorrupt, path, dec.InputOffset(), leaseExpected)
	}
	if doc.Format != FileFormat {
		return nil, fmt.Errorf("%w: %s: format %d (expected format %d)", ErrCorrupt, path, doc.Format, FileFormat)
	}
	if doc.Lease == nil {
		return nil, fmt.Errorf("%w: %s: no \"lease\" object (%s)", ErrCorrupt, path, leaseExpected)
	}
	if err := CheckLease(doc.Lease); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrCorrupt, path, err)
	}
	return doc.Lease, nil
}
