// Package wal is the write-ahead log of the unistream producer: an
// append-only file of records and acknowledgements, so that records accepted
// by Producer.Put survive a crash and are re-sent by the next producer.
//
// Each appended record gets a sequence number. Once the stream has stored a
// record, the producer acknowledges its number; Open returns the records
// that were appended but never acknowledged, in sequence order.
//
//	log, pending, err := wal.Open("/var/lib/orders/producer.wal", wal.Options{})
//	seq, err := log.Append(&rec) // in the group buffer (memory)
//	err = log.SyncTo(seq)        // written and fsynced: durable against power loss
//	err = log.Ack(seq)           // the stream has it
//
// # Group commit
//
// Append encodes the record into an in-memory group buffer and returns; it
// does no I/O. Flush writes the whole buffer with one write(2), Sync and
// SyncTo write it and fsync the file. One caller at a time does the I/O
// (the others keep appending into a fresh buffer), and a caller whose
// records were covered by another caller's write or fsync returns at once:
// many appends share one write and one fsync. A record is in the file
// (safe from a crash of the process) only after a Flush, Sync or SyncTo
// that covers it returned nil, and on stable storage (safe from power
// loss) only after a Sync or SyncTo.
//
// # Format
//
// A file starts with the header "USWAL" and a version byte, then holds
// frames: [uint32 length][uint32 CRC-32C of type+payload][byte type][payload],
// little-endian. A record frame carries the sequence number and the record
// (ID, Key, Value, Headers, Time); an ack frame carries ranges of
// acknowledged sequence numbers.
//
// # Recovery and corruption
//
// A crash can leave the last write torn, and so its last whole frame
// followed by a torn one: an incomplete frame header, a length running past
// the end of the file, a checksum mismatch on the final frame, or a
// zero-filled tail. Open truncates such a tail away (it never held a record
// whose Flush, Sync or SyncTo returned nil) and reports it in Recovery, or,
// with Options.NoRepair, fails with a *TornError and leaves the file as it
// was. Anything else that is
// wrong (a bad frame with valid frames after it, an impossible length, an
// unknown frame type, an undecodable payload, a bad header) makes Open fail
// with a *CorruptError naming the file and byte offset, and the file is left
// untouched: a corrupt log is never reset, repaired or truncated silently.
//
// # Size
//
// When every appended record is acknowledged, the file is truncated back to
// its header. When acknowledged records dominate a large file, the live
// records are rewritten to a temporary file, which is synced and renamed over
// the log (then the directory is synced), so the log never grows without
// bound.
//
// A Log is safe for concurrent use. One file may be opened by one Log at a
// time: Open takes an exclusive lock (a "<path>.lock" file with flock on
// Unix, and an in-process registry everywhere).
package wal

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/unistream-go/unistream/stream/driver"
)

// Errors of the log.
var (
	// ErrCorrupt is matched (errors.Is) by every *CorruptError.
	ErrCorrupt = errors.New("wal: corrupt")
	// ErrVersion reports a log written in a format version this package
	// does not read.
	ErrVersion = errors.New("wal: unsupported format version")
	// ErrClosed is returned by a closed Log.
	ErrClosed = errors.New("wal: closed")
	// ErrLocked is returned by Open when the file is already open by another
	// Log, in this process or another.
	ErrLocked = errors.New("wal: log is in use")
	// ErrTorn is matched (errors.Is) by every *TornError.
	ErrTorn = errors.New("wal: torn tail")
)

// TornError reports a torn tail that Open, with Options.NoRepair, found and
// did not cut. The file is left as it was.
type TornError struct {
	// Path is the file.
	Path string
	// Recovery is the repair Open would have made.
	Recovery Recovery
}

// Error names the file and the tail.
func (e *TornError) Error() string {
	return fmt.Sprintf("wal: %s ends in a torn tail of %d bytes at byte offset %d holding %d record(s): %s (not repaired: the file was left untouched)",
		e.Path, e.Recovery.DroppedBytes, e.Recovery.TruncatedAt, e.Recovery.DroppedRecords, e.Recovery.Reason)
}

// Is reports whether target is ErrTorn.
func (e *TornError) Is(target error) bool { return target == ErrTorn }

// CorruptError reports a log file that cannot be read safely. The file is
// left as it was: move it aside or repair it to go on.
type CorruptError struct {
	// Path is the file.
	Path string
	// Offset is the byte offset of the bad header or frame.
	Offset int64
	// Reason says what is wrong and what was expected.
	Reason string
}

// Error names the file, the offset and the reason.
func (e *CorruptError) Error() string {
	return fmt.Sprintf("wal: %s is corrupt at byte offset %d: %s (the file was left untouched)", e.Path, e.Offset, e.Reason)
}

// Is reports whether target is ErrCorrupt.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// File is the log's view of an open file. *os.File implements it. The
// Options.OpenFile hook returns Files so that tests can inject faults
// (a failing or torn write, a failing fsync).
type File interface {
	io.Writer
	io.ReaderAt
	// Sync commits the file's contents to stable storage.
	Sync() error
	// Truncate changes the file's size.
	Truncate(size int64) error
	// Stat returns the file's size among other things.
	Stat() (os.FileInfo, error)
	// Close closes the file.
	Close() error
}

// Options configure a Log. The zero value is ready to use.
type Options struct {
	// OpenFile opens the log file and the temporary file of a compaction,
	// honouring flag (the log relies on os.O_APPEND) and perm. Nil means
	// os.OpenFile.
	OpenFile func(name string, flag int, perm os.FileMode) (File, error)
	// CompactBytes is the file size from which a log whose acknowledged
	// records outweigh its live ones is compacted. 0 means 4 MiB.
	CompactBytes int64
	// MaxFrameBytes bounds the payload of one frame (one record). 0 means
	// DefaultMaxFrameBytes (64 MiB). Open refuses larger frames as corrupt.
	MaxFrameBytes int
	// NoRepair makes Open fail with a *TornError (matching ErrTorn) on a
	// torn tail instead of cutting it, and leave the file untouched.
	NoRepair bool
	// OnSync, if not nil, is called after each successful fsync of the log
	// file by Sync, SyncTo and Close, with what it made durable (not after
	// the fsyncs of Open's repair or of a compaction's copy, which are
	// part of those operations). One fsync may serve several callers
	// (group commit): OnSync is called once per fsync, by the caller that
	// ran it, after the log's locks are released, so it may call the
	// log's methods; it delays that caller's return, so keep it fast.
	OnSync func(SyncInfo)
}

// SyncInfo describes one fsync of the log file (Options.OnSync).
type SyncInfo struct {
	// Elapsed is the fsync's duration (the write of the group buffer
	// before it not included).
	Elapsed time.Duration
	// Bytes counts the bytes written to the file since the previous fsync
	// (of this Log) that this one made durable: records and
	// acknowledgements.
	Bytes int64
	// Records counts the record sequence numbers the fsync made durable
	// for the first time (some may have been acknowledged meanwhile).
	Records int
}

// Entry is a record recovered by Open: appended, never acknowledged.
type Entry struct {
	// Seq is the record's sequence number, to pass to Ack.
	Seq uint64
	// Record is the record. Its Time is in UTC; Stream, Partition and
	// Pointer are empty.
	Record driver.Record
}

// Recovery reports what Open had to repair. The zero value (TruncatedAt 0,
// Reason "") means nothing.
type Recovery struct {
	// TruncatedAt is the offset at which a torn tail was cut off.
	TruncatedAt int64
	// DroppedBytes is how many bytes were cut off.
	DroppedBytes int64
	// DroppedRecords is how many records the cut tail held: 1 when it is a
	// record frame (its type byte is whole), else 0. A torn frame never
	// held a record whose Flush, Sync or SyncTo returned nil.
	DroppedRecords int
	// Reason says what the tail looked like.
	Reason string
}

// Repaired reports whether Open cut a torn tail.
func (r Recovery) Repaired() bool { return r.Reason != "" }

// String describes the repair.
func (r Recovery) String() string {
	if !r.Repaired() {
		return "nothing to repair"
	}
	return fmt.Sprintf("torn tail of %d bytes holding %d record(s) cut at offset %d: %s", r.DroppedBytes, r.DroppedRecords, r.TruncatedAt, r.Reason)
}

// span locates one appended record frame in the current file.
type span struct {
	seq   uint64
	off   int64
	n     int64
	acked bool
}

// Log is an open write-ahead log.
type Log struct {
	path     string
	openFile func(name string, flag int, perm os.FileMode) (File, error)
	compact  int64
	maxFrame int
	noRepair bool
	onSync   func(SyncInfo)

	// ioMu serializes the log's I/O after Open: writing the group buffer,
	// fsyncs and file swaps (reset, compaction, Close). It is taken before
	// mu, and mu is released during a write or an fsync, so that Append
	// never waits for the disk.
	ioMu sync.Mutex

	mu         sync.Mutex
	f          File
	unlock     func()
	size       int64  // bytes in the file
	end        int64  // size plus the bytes being written and buffered: the file's size once flushed
	gen        uint64 // changes ever made (bytes appended, truncations)
	written    uint64 // value of gen the file's contents cover
	synced     uint64 // value of gen covered by the last fsync
	dirty      int64  // bytes written to the file since the last fsync (SyncInfo.Bytes)
	writtenSeq uint64 // records with seq ≤ writtenSeq are in the file (or acknowledged)
	syncedSeq  uint64 // records with seq ≤ syncedSeq are fsynced (or acknowledged)
	syncs      uint64 // fsyncs counted by Syncs
	nextSeq    uint64
	pend       []span // record frames in seq order (file and buffer); acked ones are trimmed lazily
	phead      int    // pend[:phead] are acked and forgotten
	live       int64  // bytes of unacknowledged record frames
	npend      int    // unacknowledged records
	compactAt  int64  // do not try to compact below this size
	broken     error  // sticky: the file's state is unknown
	closed     bool
	grp        group    // the group buffer: frames appended and not yet written
	cbuf, cwin []byte   // compaction's scratch (copyLive), kept between compactions; under ioMu
	done       []uint64 // scratch for Ack
	recovery   Recovery
}

// Open opens the log at path, creating it (mode 0600, its directory 0700)
// if needed, and returns the records appended and never acknowledged, in
// sequence order. A torn last frame is cut off and described by
// Log.Recovery. A corrupt file makes Open fail with a *CorruptError (or
// ErrVersion for a newer format) and leaves the file untouched.
func Open(path string, opts Options) (*Log, []Entry, error) {
	if path == "" {
		return nil, nil, errors.New("wal: empty path")
	}
	l := &Log{
		path:     path,
		openFile: opts.OpenFile,
		compact:  opts.CompactBytes,
		maxFrame: opts.MaxFrameBytes,
		noRepair: opts.NoRepair,
		onSync:   opts.OnSync,
		nextSeq:  1,
	}
	if l.openFile == nil {
		l.openFile = func(name string, flag int, perm os.FileMode) (File, error) { return os.OpenFile(name, flag, perm) }
	}
	if l.compact <= 0 {
		l.compact = 4 << 20
	}
	if l.maxFrame <= 0 {
		l.maxFrame = DefaultMaxFrameBytes
	}
	l.compactAt = l.compact
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("wal: create directory for %s: %w", path, err)
	}
	unlock, err := lock(path)
	if err != nil {
		return nil, nil, err
	}
	entries, err := l.open()
	if err != nil {
		unlock()
		return nil, nil, err
	}
	l.unlock = unlock
	return l, entries, nil
}

func (l *Log) tmpPath() string { return l.path + ".compact" }

func (l *Log) open() ([]Entry, error) {
	// A compaction that did not reach its rename leaves its temporary file;
	// the log itself is still the authority.
	if err := os.Remove(l.tmpPath()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("wal: remove stale %s: %w", l.tmpPath(), err)
	}
	f, err := l.openFile(l.path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("wal: open %s: %w", l.path, err)
	}
	entries, err := l.load(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return entries, nil
}

// load reads f, repairs a torn tail, and sets up the in-memory state.
func (l *Log) load(f File) ([]Entry, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("wal: stat %s: %w", l.path, err)
	}
	data := make([]byte, fi.Size())
	if _, err := f.ReadAt(data, 0); err != nil && !(errors.Is(err, io.EOF) && len(data) == 0) {
		return nil, fmt.Errorf("wal: read %s: %w", l.path, err)
	}
	l.f = f
	hdr := header()
	if len(data) < HeaderSize {
		if string(data) != string(hdr[:len(data)]) {
			return nil, &CorruptError{Path: l.path, Offset: 0,
				Reason: fmt.Sprintf("not a unistream WAL: the file is %d bytes %q, expected the header %q followed by version byte %d", len(data), data, magic, Version)}
		}
		// A new file, or one whose creation was torn: (re)write the header.
		if len(data) > 0 {
			l.recovery = Recovery{TruncatedAt: 0, DroppedBytes: int64(len(data)), Reason: "incomplete file header"}
			if l.noRepair {
				return nil, &TornError{Path: l.path, Recovery: l.recovery}
			}
		}
		if err := f.Truncate(0); err != nil {
			return nil, fmt.Errorf("wal: truncate %s: %w", l.path, err)
		}
		if err := l.writeNowLocked(hdr); err != nil {
			return nil, err
		}
		if err := f.Sync(); err != nil {
			return nil, fmt.Errorf("wal: sync %s: %w", l.path, err)
		}
		if err := syncDir(filepath.Dir(l.path)); err != nil {
			return nil, err
		}
		l.synced = l.written
		l.dirty = 0
		l.end = l.size
		return nil, nil
	}
	if string(data[:len(magic)]) != magic {
		return nil, &CorruptError{Path: l.path, Offset: 0,
			Reason: fmt.Sprintf("not a unistream WAL: the file starts with %q, expected the header %q followed by version byte %d", data[:HeaderSize], magic, Version)}
	}
	if v := data[len(magic)]; v != Version {
		return nil, fmt.Errorf("wal: %s has format version %d at byte offset %d, expected version %d (written by another unistream release?): %w",
			l.path, v, len(magic), Version, ErrVersion)
	}
	p, cerr := parse(data, l.maxFrame)
	if cerr != nil {
		cerr.Path = l.path
		return nil, cerr
	}
	l.size = int64(len(data))
	if p.tornAt >= 0 {
		l.recovery = Recovery{TruncatedAt: p.tornAt, DroppedBytes: int64(len(data)) - p.tornAt, DroppedRecords: p.tornRecords, Reason: p.tornReason}
		if l.noRepair {
			return nil, &TornError{Path: l.path, Recovery: l.recovery}
		}
		if err := f.Truncate(p.tornAt); err != nil {
			return nil, fmt.Errorf("wal: cut the torn tail of %s at offset %d: %w", l.path, p.tornAt, err)
		}
		if err := f.Sync(); err != nil {
			return nil, fmt.Errorf("wal: sync %s: %w", l.path, err)
		}
		l.size = p.tornAt
	}
	if p.lastSeq > 0 {
		l.nextSeq = p.lastSeq + 1
	}
	l.end = l.size
	// The records read may never have been fsynced (a crash of the process
	// leaves them in the page cache): the first SyncTo fsyncs them.
	l.writtenSeq = l.nextSeq - 1
	l.gen++
	l.written = l.gen
	var entries []Entry
	for _, r := range p.recs {
		if r.acked {
			continue
		}
		entries = append(entries, Entry{Seq: r.seq, Record: r.rec})
		l.pend = append(l.pend, span{seq: r.seq, off: r.off, n: r.n})
		l.live += r.n
		l.npend++
	}
	if l.npend == 0 && l.size > int64(HeaderSize) {
		if err := l.resetLocked(); err != nil {
			return nil, err
		}
	}
	if l.needCompactLocked() {
		l.ioMu.Lock()
		l.mu.Lock()
		l.compactLocked()
		l.mu.Unlock()
		l.ioMu.Unlock()
	}
	return entries, nil
}

// parsedRec is one record frame read by parse.
type parsedRec struct {
	seq   uint64
	off   int64
	n     int64
	rec   driver.Record
	acked bool
}

type parsed struct {
	recs        []parsedRec
	lastSeq     uint64
	tornAt      int64
	tornReason  string
	tornRecords int // record frames in the torn tail (0 or 1)
}

// parse reads the frames after the header. It returns a torn tail in
// tornAt (-1 when none) or a *CorruptError without its Path.
func parse(data []byte, maxFrame int) (*parsed, *CorruptError) {
	p := &parsed{tornAt: -1}
	off := HeaderSize
	for off < len(data) {
		rem := len(data) - off
		if rem < FrameHeaderSize {
			return p.torn(data, off, maxFrame, fmt.Sprintf("incomplete frame header (%d of %d bytes)", rem, FrameHeaderSize))
		}
		n := int64(leU32(data[off:]))
		crc := leU32(data[off+4:])
		if n > int64(maxFrame) {
			if allZero(data[off:]) {
				return p.torn(data, off, maxFrame, "zero-filled tail")
			}
			return nil, &CorruptError{Offset: int64(off), Reason: fmt.Sprintf("impossible frame length %d (the maximum is %d)", n, maxFrame)}
		}
		end := int64(off) + FrameHeaderSize + n
		if end > int64(len(data)) {
			return p.torn(data, off, maxFrame, fmt.Sprintf("frame of %d bytes runs past the end of the file (%d bytes left)", n+FrameHeaderSize, rem))
		}
		if got := crcOf(data[off+8 : end]); got != crc {
			if end == int64(len(data)) {
				return p.torn(data, off, maxFrame, "checksum mismatch in the last frame")
			}
			if allZero(data[off:]) {
				return p.torn(data, off, maxFrame, "zero-filled tail")
			}
			return nil, &CorruptError{Offset: int64(off),
				Reason: fmt.Sprintf("checksum mismatch (stored %08x, computed %08x) in a frame of %d bytes followed by %d more bytes", crc, got, n+FrameHeaderSize, int64(len(data))-end)}
		}
		payload := data[off+FrameHeaderSize : end]
		switch typ := data[off+8]; typ {
		case typeRecord:
			seq, rec, why := decodeRecord(payload)
			if why != "" {
				return nil, &CorruptError{Offset: int64(off), Reason: why}
			}
			if seq >= 1<<63 {
				return nil, &CorruptError{Offset: int64(off), Reason: fmt.Sprintf("implausible record sequence number %d", seq)}
			}
			if seq <= p.lastSeq {
				return nil, &CorruptError{Offset: int64(off), Reason: fmt.Sprintf("record sequence number %d does not follow %d", seq, p.lastSeq)}
			}
			p.lastSeq = seq
			p.recs = append(p.recs, parsedRec{seq: seq, off: int64(off), n: end - int64(off), rec: rec})
		case typeAck:
			ranges, why := decodeAck(payload)
			if why != "" {
				return nil, &CorruptError{Offset: int64(off), Reason: why}
			}
			for _, r := range ranges {
				last := r.first + r.count - 1
				i := sort.Search(len(p.recs), func(i int) bool { return p.recs[i].seq >= r.first })
				for ; i < len(p.recs) && p.recs[i].seq <= last; i++ {
					p.recs[i].acked = true
				}
			}
		default:
			return nil, &CorruptError{Offset: int64(off), Reason: fmt.Sprintf("unknown frame type %d (expected %d for a record or %d for an ack)", typ, typeRecord, typeAck)}
		}
		off = int(end)
	}
	return p, nil
}

// torn classifies a bad frame at off that reaches the end of the file. It is
// a torn tail (the remains of one interrupted write) unless it is too long
// to be one frame or a valid frame starts after it, which means the damage
// is in the middle of the log.
func (p *parsed) torn(data []byte, off, maxFrame int, reason string) (*parsed, *CorruptError) {
	if !allZero(data[off:]) {
		if rem := len(data) - off; rem > FrameHeaderSize+maxFrame {
			return nil, &CorruptError{Offset: int64(off), Reason: reason + fmt.Sprintf(", and the %d bytes after it are more than one frame", rem)}
		}
		if next := findFrame(data, off+1, maxFrame); next >= 0 {
			return nil, &CorruptError{Offset: int64(off), Reason: reason + fmt.Sprintf(", but a valid frame follows at offset %d", next)}
		}
	}
	p.tornAt = int64(off)
	p.tornReason = reason
	if off+8 < len(data) && data[off+8] == typeRecord {
		p.tornRecords = 1
	}
	return p, nil
}

// findFrame returns the offset of the first whole, checksummed frame of a
// known type at or after from, or -1.
func findFrame(data []byte, from, maxFrame int) int {
	for i := from; i+FrameHeaderSize <= len(data); i++ {
		typ := data[i+8]
		if typ != typeRecord && typ != typeAck {
			continue
		}
		n := int64(leU32(data[i:]))
		if n > int64(maxFrame) || int64(i)+FrameHeaderSize+n > int64(len(data)) {
			continue
		}
		if crcOf(data[i+8:int64(i)+FrameHeaderSize+n]) == leU32(data[i+4:]) {
			return i
		}
	}
	return -1
}

func leU32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// Path returns the log's file name.
func (l *Log) Path() string { return l.path }

// Recovery describes the torn tail Open cut off, if any.
func (l *Log) Recovery() Recovery {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.recovery
}

// Pending returns the number of appended records not acknowledged yet.
func (l *Log) Pending() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.npend
}

// Syncs returns the number of fsyncs of the log file that Sync, SyncTo
// and Close ran and that succeeded: those reported to Options.OnSync. An
// fsync is counted when the records it made durable are (Synced reports
// them), before OnSync is called, so a caller that saw its records synced
// sees the fsync counted.
func (l *Log) Syncs() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.syncs
}

// Size returns the log's size in bytes: the file's size once the group
// buffer is written.
func (l *Log) Size() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.end
}

// usable reports why the log cannot be written, or nil.
func (l *Log) usable() error {
	if l.closed {
		return ErrClosed
	}
	return l.broken
}

// writeNowLocked writes b at the end of the file at once (the header of a
// new file). A failed or short write is undone by truncating back; if that
// fails too, the log is broken for good.
func (l *Log) writeNowLocked(b []byte) error {
	if err := l.usable(); err != nil {
		return err
	}
	n, err := l.f.Write(b)
	if err == nil && n != len(b) {
		err = io.ErrShortWrite
	}
	if err != nil {
		return l.undoWriteLocked(len(b), err)
	}
	l.size += int64(n)
	l.dirty += int64(n)
	l.gen += uint64(n)
	l.written = l.gen
	return nil
}

// undoWriteLocked cuts the file back to l.size after a failed write of n
// bytes and returns the error to report.
func (l *Log) undoWriteLocked(n int, err error) error {
	werr := fmt.Errorf("wal: write %d bytes to %s at offset %d: %w", n, l.path, l.size, err)
	if terr := l.f.Truncate(l.size); terr != nil {
		l.broken = fmt.Errorf("%w; cutting it back failed too, so the log is unusable until reopened: %v", werr, terr)
		return l.broken
	}
	return werr
}

// flushLocked writes the group buffer, with one write per chunk (one for
// a group of up to 1 MiB). The caller holds ioMu and mu; mu is released
// during the write, so that Append goes on into new chunks. A failed write
// is cut back and the group stays at the front of the buffer, to be written
// again by the next flush: an appended record is never dropped from the
// buffer while the log is usable.
func (l *Log) flushLocked() error {
	if err := l.usable(); err != nil {
		return err
	}
	if l.grp.n == 0 {
		return nil
	}
	total, gen, seq := l.grp.n, l.gen, l.nextSeq-1
	chunks := l.grp.take()
	l.mu.Unlock()
	var err error
	for _, c := range chunks {
		n, werr := l.f.Write(c)
		if werr == nil && n != len(c) {
			werr = io.ErrShortWrite
		}
		if werr != nil {
			err = werr
			break
		}
	}
	l.mu.Lock()
	if err != nil {
		err = l.undoWriteLocked(total, err)
		l.grp.prepend(chunks)
		return err
	}
	l.size += int64(total)
	l.dirty += int64(total)
	l.written = gen
	if seq > l.writtenSeq {
		l.writtenSeq = seq
	}
	l.grp.recycle(chunks)
	return nil
}

// Append adds rec to the group buffer and returns its sequence number. It
// does no I/O: the record reaches the file with the next Flush, Sync or
// SyncTo (by any caller), and stable storage with the next Sync or SyncTo.
// It fails, adding nothing, for a record over the frame limit (wrapping
// driver.ErrRecordTooLarge) and on a closed or broken log.
func (l *Log) Append(rec *driver.Record) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return 0, err
	}
	seq := l.nextSeq
	hb := 0
	for _, h := range rec.Headers {
		hb += len(h.Key) + len(h.Value)
	}
	bound := recordFrameBound(len(rec.ID), len(rec.Key), len(rec.Value), hb, len(rec.Headers))
	m, err := l.grp.appendFrame(bound, func(b []byte) ([]byte, error) {
		return appendRecordFrame(b, seq, rec, l.maxFrame)
	})
	if err != nil {
		return 0, err
	}
	n := int64(m)
	l.nextSeq++
	if len(l.pend) == cap(l.pend) {
		// Double (append grows large slices by a quarter only).
		l.pend = slices.Grow(l.pend, max(len(l.pend), 256))
	}
	l.pend = append(l.pend, span{seq: seq, off: l.end, n: n})
	l.end += n
	l.gen += uint64(n)
	l.live += n
	l.npend++
	return seq, nil
}

// Buffered returns the number of bytes appended and not yet written.
func (l *Log) Buffered() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.grp.n
}

// LastSeq returns the sequence number of the last record appended (0 for
// none since the file was created).
func (l *Log) LastSeq() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.nextSeq - 1
}

// Flush writes the group buffer to the file (one write), without fsync:
// what was appended before the call is then safe from a crash of the
// process. Concurrent callers share one write: a Flush whose frames
// another caller is writing (they left the group buffer, but are not in
// the file yet) waits for that write, and writes them itself if it
// failed. A failed write is undone and its frames stay buffered for the
// next Flush, Sync or SyncTo.
func (l *Log) Flush() error {
	l.mu.Lock()
	if err := l.usable(); err != nil {
		l.mu.Unlock()
		return err
	}
	// Not "the group buffer is empty": a write in progress took the
	// buffer's frames before writing them.
	target := l.gen
	if l.written >= target {
		l.mu.Unlock()
		return nil
	}
	l.mu.Unlock()
	l.ioMu.Lock()
	defer l.ioMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	if l.written >= target {
		return nil // written by the caller we waited for
	}
	return l.flushLocked()
}

// Sync writes the group buffer and commits the file to stable storage:
// everything appended (records and acknowledgements) before the call is
// then durable against power loss. Concurrent callers share one write and
// one fsync when they can (group commit). A failed fsync leaves the log
// unusable: the kernel may have dropped the data.
func (l *Log) Sync() error {
	l.mu.Lock()
	if err := l.usable(); err != nil {
		l.mu.Unlock()
		return err
	}
	target := l.gen
	if l.synced >= target {
		l.mu.Unlock()
		return nil
	}
	l.mu.Unlock()
	return l.sync(func() bool { return l.synced >= target })
}

// SyncTo makes the records with sequence numbers up to seq durable against
// power loss, writing and fsyncing the group buffer (with whatever else was
// appended) unless an earlier write and fsync covered them. Concurrent
// callers share one write and one fsync (group commit).
func (l *Log) SyncTo(seq uint64) error {
	l.mu.Lock()
	if err := l.usable(); err != nil {
		l.mu.Unlock()
		return err
	}
	seq = min(seq, l.nextSeq-1)
	if seq <= l.syncedSeq {
		l.mu.Unlock()
		return nil
	}
	l.mu.Unlock()
	return l.sync(func() bool { return seq <= l.syncedSeq })
}

// Synced reports whether the records with sequence numbers up to seq are
// durable (fsynced or acknowledged): whether SyncTo(seq) would return at
// once, without I/O.
func (l *Log) Synced(seq uint64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return min(seq, l.nextSeq-1) <= l.syncedSeq
}

// sync writes the buffer and fsyncs unless done reports (under mu) that an
// earlier sync covered the caller, then reports the fsync to OnSync with
// no lock held.
func (l *Log) sync(done func() bool) error {
	info, synced, err := l.syncLocked(done)
	if synced && l.onSync != nil {
		l.onSync(info)
	}
	return err
}

// syncLocked is sync under ioMu: it reports whether it ran an fsync that
// succeeded, and what that fsync made durable.
func (l *Log) syncLocked(done func() bool) (SyncInfo, bool, error) {
	l.ioMu.Lock()
	defer l.ioMu.Unlock()
	l.mu.Lock()
	if err := l.usable(); err != nil {
		l.mu.Unlock()
		return SyncInfo{}, false, err
	}
	if done() {
		l.mu.Unlock()
		return SyncInfo{}, false, nil
	}
	if err := l.flushLocked(); err != nil {
		l.mu.Unlock()
		return SyncInfo{}, false, err
	}
	f, upto, seq, dirty := l.f, l.written, l.writtenSeq, l.dirty
	l.mu.Unlock()
	var start time.Time
	if l.onSync != nil {
		start = time.Now()
	}
	err := f.Sync()
	var elapsed time.Duration
	if l.onSync != nil {
		elapsed = time.Since(start)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		if l.broken == nil {
			l.broken = fmt.Errorf("wal: fsync %s failed, so the log is unusable until reopened: %w", l.path, err)
		}
		return SyncInfo{}, false, l.broken
	}
	info := l.syncedLocked(upto, seq, dirty)
	info.Elapsed = elapsed
	return info, true, nil
}

// syncedLocked notes an fsync that covered the file up to upto (a value of
// gen), the records up to seq and dirty bytes, and returns what it made
// durable. The caller holds mu.
func (l *Log) syncedLocked(upto, seq uint64, dirty int64) SyncInfo {
	l.syncs++
	info := SyncInfo{Bytes: dirty}
	if seq > l.syncedSeq {
		info.Records = int(seq - l.syncedSeq)
	}
	l.dirty = max(l.dirty-dirty, 0)
	l.synced = max(l.synced, upto)
	l.syncedSeq = max(l.syncedSeq, seq)
	return info
}

// Ack records that the records with these sequence numbers were stored by
// the stream. Unknown or already acknowledged numbers are ignored. The ack
// goes into the group buffer, written with the next group. When no record
// is left unacknowledged, the file is cut back to its header (dropping the
// buffer, which then holds nothing needed); when acknowledged records
// dominate a large file, it is compacted. Acks are not synced: a crash may
// forget the latest ones, and their records are then sent again
// (at-least-once). Ack is MarkAcked followed, when it asks for it, by
// Maintain.
func (l *Log) Ack(seqs ...uint64) error {
	need, err := l.MarkAcked(seqs...)
	if err != nil || !need {
		return err
	}
	return l.Maintain()
}

// MarkAcked is Ack without the file maintenance: it records the
// acknowledgements in the group buffer, does no I/O and never waits for
// another caller's write or fsync. It reports whether the file should now
// be cut back or compacted; call Maintain for that (from another goroutine,
// say, so that the caller does not wait for the disk). Until then the file
// only keeps acknowledged frames longer. Calls may acknowledge records in
// any order (a producer's send lanes acknowledge their batches as they
// come back); the seqs of one call are found fastest when they ascend.
func (l *Log) MarkAcked(seqs ...uint64) (maintain bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return false, err
	}
	done := l.done[:0]
	live := l.pend[l.phead:]
	// The producer acknowledges a batch in ascending order, its records
	// close together in the log (one after the other with one send lane,
	// a few apart with several lanes, whose batches are acknowledged in
	// any order): each seq is looked for from where the last one was
	// found, a few comparisons away.
	from, prev := 0, uint64(0)
	for _, s := range seqs {
		if s <= prev {
			from = 0 // not ascending: search the whole table
		}
		prev = s
		i := searchSeq(live, from, s)
		from = i
		if i < len(live) && live[i].seq == s && !live[i].acked {
			live[i].acked = true
			l.live -= live[i].n
			l.npend--
			done = append(done, s)
		}
	}
	l.done = done[:0]
	if len(done) == 0 {
		return false, nil
	}
	l.appendAckLocked(done)
	for l.phead < len(l.pend) && l.pend[l.phead].acked {
		l.phead++
	}
	if l.phead > 1024 && l.phead > len(l.pend)/2 {
		l.pend = append(l.pend[:0], l.pend[l.phead:]...)
		l.phead = 0
	}
	return l.needMaintainLocked(), nil
}

// searchSeq returns the index of the first span of spans whose seq is at
// least s, given that the spans before from have smaller seqs. It gallops
// from from (1, 2, 4, ... spans ahead), then searches the last step: the
// cost grows with the log of the distance from from, not of len(spans).
func searchSeq(spans []span, from int, s uint64) int {
	lo, hi, step := from, from, 1 // spans[:lo] have seqs below s
	for hi < len(spans) && spans[hi].seq < s {
		lo = hi + 1
		hi += step
		step *= 2
	}
	hi = min(hi, len(spans))
	return lo + sort.Search(hi-lo, func(i int) bool { return spans[lo+i].seq >= s })
}

// needMaintainLocked reports whether Maintain has work: every record is
// acknowledged and the file holds more than its header, or the file needs
// compacting.
func (l *Log) needMaintainLocked() bool {
	return (l.npend == 0 && l.end > int64(HeaderSize)) || l.needCompactLocked()
}

// Maintain cuts the file back to its header when every appended record is
// acknowledged, or compacts it when acknowledged records dominate a large
// file, and otherwise does nothing. It waits for any write or fsync in
// progress (it needs the file to itself), but Append and MarkAcked go on
// meanwhile. A failure leaves the log as it was, except for a compaction
// that fails after replacing the file, which breaks the log.
func (l *Log) Maintain() error {
	l.mu.Lock()
	need := l.usable() == nil && l.needMaintainLocked()
	l.mu.Unlock()
	if !need {
		return nil
	}
	l.ioMu.Lock()
	defer l.ioMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.usable() != nil {
		return nil // reported by the next Append or Sync
	}
	switch {
	case l.npend == 0 && l.end > int64(HeaderSize):
		return l.resetLocked()
	case l.needCompactLocked():
		// Compaction copies the live frames of the file: write the
		// buffer first, so that they are all there.
		if err := l.flushLocked(); err != nil {
			l.compactAt = l.end + l.compact
			return err
		}
		if l.usable() == nil && l.needCompactLocked() {
			l.compactLocked()
		}
	}
	return nil
}

func (l *Log) appendAckLocked(seqs []uint64) {
	slices.Sort(seqs)
	n, _ := l.grp.appendFrame(ackFrameBound(len(seqs)), func(b []byte) ([]byte, error) {
		return appendAckFrame(b, seqs), nil
	})
	l.end += int64(n)
	l.gen += uint64(n)
}

// resetLocked cuts the file back to its header and drops the group buffer;
// every record is acked. It needs ioMu (after Open) and mu.
func (l *Log) resetLocked() error {
	if err := l.usable(); err != nil {
		return err
	}
	if err := l.f.Truncate(int64(HeaderSize)); err != nil {
		// The acks stay buffered and are written the ordinary way.
		return fmt.Errorf("wal: cut %s back to its header: %w", l.path, err)
	}
	l.grp.drop()
	l.size = int64(HeaderSize)
	l.end = l.size
	l.gen++
	l.written = l.gen
	// Every record appended so far is acknowledged: none needs the disk.
	l.writtenSeq = l.nextSeq - 1
	l.syncedSeq = l.nextSeq - 1
	l.dirty = 0 // what was written is cut off
	l.pend = l.pend[:0]
	l.phead = 0
	l.live = 0
	return nil
}

// needCompactLocked reports whether the log is at least CompactBytes and
// acknowledged frames are three quarters of it: copying the live quarter
// then costs at most a third of the bytes appended since the last
// compaction.
func (l *Log) needCompactLocked() bool {
	return l.npend > 0 && l.end >= l.compactAt && 4*(l.live+int64(HeaderSize)) < l.end
}

// compactLocked rewrites the live records of the file to a temporary file,
// which is synced and renamed over the log; frames of the group buffer are
// written after them by the next flush. It needs ioMu (after Open) and mu,
// and releases mu while it copies and syncs, so that Append and Ack go on
// meanwhile. A failure before the rename leaves the log as it was (and
// postpones the next try); a failure after it breaks the log.
func (l *Log) compactLocked() {
	if err := l.compactTry(); err != nil {
		l.compactAt = l.end + l.compact
	}
}

func (l *Log) compactTry() error {
	// What to copy: the live frames of the file as it is now. No write can
	// change the file while ioMu is held.
	oldSize := l.size
	copySpans := make([]span, 0, l.npend)
	for _, s := range l.pend[l.phead:] {
		if s.off >= oldSize {
			break
		}
		if !s.acked {
			copySpans = append(copySpans, s)
		}
	}
	f := l.f
	l.mu.Unlock()
	newSpans, newSize, tf, err := l.copyLive(f, copySpans)
	if err == nil {
		err = os.Rename(l.tmpPath(), l.path)
		if err != nil {
			tf.Close()
			os.Remove(l.tmpPath())
		}
	}
	l.mu.Lock()
	if err != nil {
		return err
	}
	// From here on the old file is gone: writing to it would lose data.
	// Rebuild the span table: copied frames at their new offsets (some
	// may have been acknowledged meanwhile), buffered frames after them.
	// In place: the i-th span kept is written at i, never after the span
	// read, so the table keeps its capacity and Append does not grow it
	// again.
	spans := l.pend[:0]
	k := 0
	for _, s := range l.pend[l.phead:] {
		// Copied frames acknowledged meanwhile may have left the front
		// of pend (Ack advances phead while the copy runs): skip them.
		for k < len(newSpans) && newSpans[k].seq < s.seq {
			k++
		}
		switch {
		case s.off >= oldSize:
			s.off = newSize + s.off - oldSize
			spans = append(spans, s)
		case k < len(newSpans) && newSpans[k].seq == s.seq:
			s.off = newSpans[k].off
			k++
			spans = append(spans, s)
		}
	}
	l.f = tf
	l.size = newSize
	l.end = newSize + int64(l.grp.n)
	l.pend = spans
	l.phead = 0
	l.gen++
	l.written = l.gen - uint64(l.grp.n)
	l.synced = l.written
	l.syncedSeq = max(l.syncedSeq, l.writtenSeq)
	l.dirty = 0 // the new file is synced
	l.mu.Unlock()
	f.Close()
	err = syncDir(filepath.Dir(l.path))
	l.mu.Lock()
	if err != nil {
		l.broken = fmt.Errorf("wal: compacted %s but could not sync its directory, so the log is unusable until reopened: %w", l.path, err)
		return l.broken
	}
	return nil
}

// maxReadGap is the largest run of acknowledged bytes a compaction reads
// over rather than start a new read.
const maxReadGap = 64 << 10

// windowEnd returns the end (exclusive) of the window of spans that
// starts at i: the frames after it while they end within size bytes of
// its start and the acknowledged gaps before them are at most maxReadGap.
func windowEnd(spans []span, i int, size int64) int {
	start, j := spans[i].off, i+1
	for j < len(spans) && spans[j].off+spans[j].n-start <= size &&
		spans[j].off-(spans[j-1].off+spans[j-1].n) <= maxReadGap {
		j++
	}
	return j
}

// copyLive writes the header and the frames of spans, read from f, to a new
// temporary file, and syncs it. It returns the spans at their new offsets.
func (l *Log) copyLive(f File, spans []span) ([]span, int64, File, error) {
	tmp := l.tmpPath()
	tf, err := l.openFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o600)
	if err != nil {
		return nil, 0, nil, err
	}
	abort := func(err error) ([]span, int64, File, error) {
		tf.Close()
		os.Remove(tmp)
		return nil, 0, nil, err
	}
	const chunk = 1 << 20
	// The buffer holds at most a chunk: less when the live frames are
	// fewer, as they mostly are (a compaction of a 4 MiB log whose
	// records are nearly all acknowledged made a whole chunk of garbage).
	need := int64(HeaderSize)
	for _, s := range spans {
		need += s.n
	}
	buf := l.cbuf[:0]
	if int64(cap(buf)) < min(need, chunk) {
		buf = make([]byte, 0, min(need, chunk))
	}
	win := l.cwin[:0] // the file's bytes read at once
	defer func() {
		// Kept for the next compaction (at most a chunk each), which
		// otherwise made a megabyte of garbage or two every few
		// megabytes appended.
		if cap(buf) <= chunk {
			l.cbuf = buf[:0]
		}
		if cap(win) <= chunk {
			l.cwin = win[:0]
		}
	}()
	buf = append(buf, header()...)
	newSize := int64(0)
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		n, err := tf.Write(buf)
		if err == nil && n != len(buf) {
			err = io.ErrShortWrite
		}
		newSize += int64(n)
		buf = buf[:0]
		return err
	}
	out := make([]span, 0, len(spans))
	for i := 0; i < len(spans); {
		// Read a window of frames at once, from the first frame's start
		// to the last's end, acknowledged frames between them included as
		// long as the gaps are small: the live frames of a log written by
		// several send lanes alternate with acknowledged ones, and one
		// read per run of adjacent frames made tens of thousands of small
		// reads per compaction.
		start, j := spans[i].off, windowEnd(spans, i, chunk)
		end := spans[j-1].off + spans[j-1].n
		if int64(cap(win)) < end-start {
			win = make([]byte, end-start) // chunk, or one frame larger than that
		}
		win = win[:end-start]
		if _, err := f.ReadAt(win, start); err != nil {
			return abort(fmt.Errorf("wal: read %s at offset %d: %w", l.path, start, err))
		}
		for k := i; k < j; k++ {
			n := spans[k].n
			if len(buf) > 0 && int64(len(buf))+n > chunk {
				if err := flush(); err != nil {
					return abort(err)
				}
			}
			out = append(out, span{seq: spans[k].seq, off: newSize + int64(len(buf)), n: n})
			buf = append(buf, win[spans[k].off-start:spans[k].off-start+n]...)
		}
		i = j
	}
	if err := flush(); err != nil {
		return abort(err)
	}
	if err := tf.Sync(); err != nil {
		return abort(err)
	}
	return out, newSize, tf, nil
}

// Close writes the group buffer, syncs and closes the log. Records not
// acknowledged stay in the file for the next Open. Close is idempotent.
func (l *Log) Close() error {
	info, synced, err := l.closeLocked()
	if synced && l.onSync != nil {
		l.onSync(info)
	}
	return err
}

// closeLocked is Close under the locks: it reports whether it ran an
// fsync that succeeded, and what that fsync made durable.
func (l *Log) closeLocked() (info SyncInfo, synced bool, err error) {
	l.ioMu.Lock()
	defer l.ioMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return SyncInfo{}, false, nil
	}
	if l.broken == nil {
		if ferr := l.flushLocked(); ferr != nil {
			err = ferr
		}
	}
	if l.broken == nil && l.synced < l.written {
		start := time.Now()
		if serr := l.f.Sync(); serr != nil {
			err = errors.Join(err, fmt.Errorf("wal: fsync %s: %w", l.path, serr))
		} else {
			info, synced = l.syncedLocked(l.written, l.writtenSeq, l.dirty), true
			info.Elapsed = time.Since(start)
		}
	}
	if cerr := l.f.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("wal: close %s: %w", l.path, cerr)
	}
	l.closed = true
	if l.unlock != nil {
		l.unlock()
	}
	return info, synced, err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("wal: open directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("wal: sync directory %s: %w", dir, err)
	}
	return nil
}

var (
	openMu    sync.Mutex
	openPaths = map[string]bool{}
)

// lock takes the in-process lock and the file lock of path.
func lock(path string) (func(), error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("wal: %s: %w", path, err)
	}
	openMu.Lock()
	defer openMu.Unlock()
	if openPaths[abs] {
		return nil, fmt.Errorf("wal: %s is already open in this process: %w", path, ErrLocked)
	}
	funlock, err := flock(abs + ".lock")
	if err != nil {
		return nil, fmt.Errorf("wal: %s: %w", path, err)
	}
	openPaths[abs] = true
	return func() {
		funlock()
		openMu.Lock()
		delete(openPaths, abs)
		openMu.Unlock()
	}, nil
}

// Abandon closes the file without writing the group buffer or syncing, as
// a crash of the process would leave it, and releases the lock. It is for
// crash tests; use Close otherwise. Abandon is idempotent, and Close after
// it does nothing.
func (l *Log) Abandon() {
	l.ioMu.Lock()
	defer l.ioMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.f.Close()
	l.grp = group{}
	l.closed = true
	if l.unlock != nil {
		l.unlock()
	}
}
