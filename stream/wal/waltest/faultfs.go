// Package waltest injects storage faults into a wal.Log, so that tests can
// crash a producer at every persistence point.
//
//	fs := &waltest.FaultFS{Mode: waltest.TearWrite, At: k}
//	log, _, err := wal.Open(path, wal.Options{OpenFile: fs.OpenFile})
package waltest

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/unistream-go/unistream/stream/wal"
)

// Mode is the kind of fault.
type Mode int

// The faults. Operations are counted across every file the FaultFS opened,
// from 1.
const (
	// NoFault only counts operations.
	NoFault Mode = iota
	// FailWrite makes write number At write half of its bytes and return an
	// error; later operations work (a transient error such as ENOSPC).
	FailWrite
	// TearWrite makes write number At write half of its bytes and return an
	// error, then every later write, sync, truncate and open fails: the
	// process "died" in the middle of the write, and the file keeps the
	// torn bytes for the next Open.
	TearWrite
	// FailSync makes fsync number At fail; later operations work.
	FailSync
)

// String names the mode.
func (m Mode) String() string {
	switch m {
	case NoFault:
		return "none"
	case FailWrite:
		return "fail-write"
	case TearWrite:
		return "tear-write"
	case FailSync:
		return "fail-sync"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ErrInjected is the error of an injected fault.
var ErrInjected = errors.New("waltest: injected fault")

// FaultFS opens real files and injects one fault. Its OpenFile method is a
// wal.Options.OpenFile. Set Mode, At and (optionally) Tear before use.
type FaultFS struct {
	// Mode is the fault to inject.
	Mode Mode
	// At is the 1-based number of the write (or sync, for FailSync) that
	// faults; 0 injects nothing.
	At int
	// Tear returns how many bytes of an n-byte faulting write reach the
	// file; nil means n/2.
	Tear func(n int) int

	mu      sync.Mutex
	writes  int
	syncs   int
	faulted bool
	dead    bool
	opened  []string
}

// OpenFile opens name with os.OpenFile and wraps it.
func (fs *FaultFS) OpenFile(name string, flag int, perm os.FileMode) (wal.File, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.dead {
		return nil, fmt.Errorf("open %s: %w (process dead)", name, ErrInjected)
	}
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	fs.opened = append(fs.opened, name)
	return &faultFile{fs: fs, f: f}, nil
}

// Writes returns the number of writes so far.
func (fs *FaultFS) Writes() int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.writes
}

// Syncs returns the number of fsyncs so far.
func (fs *FaultFS) Syncs() int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.syncs
}

// Faulted reports whether the fault was injected.
func (fs *FaultFS) Faulted() bool {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.faulted
}

// Dead reports whether a TearWrite fault "killed the process".
func (fs *FaultFS) Dead() bool {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.dead
}

// Opened lists the names opened so far.
func (fs *FaultFS) Opened() []string {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return append([]string(nil), fs.opened...)
}

type faultFile struct {
	fs *FaultFS
	f  *os.File
}

func (ff *faultFile) Write(b []byte) (int, error) {
	fs := ff.fs
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.dead {
		return 0, fmt.Errorf("write: %w (process dead)", ErrInjected)
	}
	fs.writes++
	if (fs.Mode == FailWrite || fs.Mode == TearWrite) && fs.writes == fs.At {
		fs.faulted = true
		if fs.Mode == TearWrite {
			fs.dead = true
		}
		n := len(b) / 2
		if fs.Tear != nil {
			n = max(0, min(len(b), fs.Tear(len(b))))
		}
		m, err := ff.f.Write(b[:n])
		if err != nil {
			return m, err
		}
		return m, fmt.Errorf("write %d of %d bytes: %w", m, len(b), ErrInjected)
	}
	return ff.f.Write(b)
}

func (ff *faultFile) ReadAt(b []byte, off int64) (int, error) { return ff.f.ReadAt(b, off) }

func (ff *faultFile) Sync() error {
	fs := ff.fs
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.dead {
		return fmt.Errorf("sync: %w (process dead)", ErrInjected)
	}
	fs.syncs++
	if fs.Mode == FailSync && fs.syncs == fs.At {
		fs.faulted = true
		return fmt.Errorf("sync: %w", ErrInjected)
	}
	return ff.f.Sync()
}

func (ff *faultFile) Truncate(size int64) error {
	fs := ff.fs
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.dead {
		return fmt.Errorf("truncate: %w (process dead)", ErrInjected)
	}
	return ff.f.Truncate(size)
}

func (ff *faultFile) Stat() (os.FileInfo, error) { return ff.f.Stat() }

// Close closes the file even after a "death", as the kernel would.
func (ff *faultFile) Close() error { return ff.f.Close() }
