// Package wal is the write-ahead log of the unistream producer: an
// append-only file of records and acknowledgements, so that records accepted
// by Producer.Put survive a crash and are re-sent by the next producer.
//
// Each appended record gets a sequence number. Once the stream has stored a
// record, the producer acknowledges its number; Open returns the records
// that were appended but never acknowledged, in sequence order.
//
//	log, pending, err := wal.Open("/var/lib/orders/producer.wal", wal.Options{})
//	seq, err := log.Append(&rec)
//	err = log.Sync()     // durable against power loss
//	err = log.Ack(seq)   // the stream has it
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
// A crash can leave the last frame torn: an incomplete frame header, a length
// running past the end of the file, a checksum mismatch on the final frame,
// or a zero-filled tail. Open truncates such a tail away (it never held an
// acknowledged Append) and reports it in Recovery. Anything else that is
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
	"sort"
	"sync"

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
)

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
	return fmt.Sprintf("torn tail of %d bytes cut at offset %d: %s", r.DroppedBytes, r.TruncatedAt, r.Reason)
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

	// syncMu serializes fsyncs and file swaps (compaction, Close); taken
	// before mu.
	syncMu sync.Mutex

	mu        sync.Mutex
	f         File
	unlock    func()
	size      int64  // bytes in the file
	written   uint64 // changes ever made (bytes written, truncations), for fsync coalescing
	synced    uint64 // value of written covered by the last fsync
	nextSeq   uint64
	pend      []span // record frames of the file in seq order; acked ones are trimmed lazily
	phead     int    // pend[:phead] are acked and forgotten
	live      int64  // bytes of unacknowledged record frames
	npend     int    // unacknowledged records
	compactAt int64  // do not try to compact below this size
	broken    error  // sticky: the file's state is unknown
	closed    bool
	buf       []byte
	recovery  Recovery
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
		}
		if err := f.Truncate(0); err != nil {
			return nil, fmt.Errorf("wal: truncate %s: %w", l.path, err)
		}
		if err := l.writeLocked(hdr); err != nil {
			return nil, err
		}
		if err := f.Sync(); err != nil {
			return nil, fmt.Errorf("wal: sync %s: %w", l.path, err)
		}
		if err := syncDir(filepath.Dir(l.path)); err != nil {
			return nil, err
		}
		l.synced = l.written
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
		l.recovery = Recovery{TruncatedAt: p.tornAt, DroppedBytes: int64(len(data)) - p.tornAt, Reason: p.tornReason}
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
		l.compactLocked()
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
	recs       []parsedRec
	lastSeq    uint64
	tornAt     int64
	tornReason string
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

// Size returns the file's current size in bytes.
func (l *Log) Size() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.size
}

// usable reports why the log cannot be written, or nil.
func (l *Log) usable() error {
	if l.closed {
		return ErrClosed
	}
	return l.broken
}

// writeLocked writes b at the end of the file. A failed or short write is
// undone by truncating back; if that fails too, the log is broken for good.
func (l *Log) writeLocked(b []byte) error {
	if err := l.usable(); err != nil {
		return err
	}
	n, err := l.f.Write(b)
	if err == nil && n != len(b) {
		err = io.ErrShortWrite
	}
	if err != nil {
		werr := fmt.Errorf("wal: write %d bytes to %s at offset %d: %w", len(b), l.path, l.size, err)
		if terr := l.f.Truncate(l.size); terr != nil {
			l.broken = fmt.Errorf("%w; cutting it back failed too, so the log is unusable until reopened: %v", werr, terr)
			return l.broken
		}
		l.written++
		return werr
	}
	l.size += int64(n)
	l.written += uint64(n)
	return nil
}

// Append writes rec to the log and returns its sequence number. The record
// is durable against a process crash when Append returns, and against power
// loss after the next Sync. It fails, writing nothing, for a record over the
// frame limit (wrapping driver.ErrRecordTooLarge).
func (l *Log) Append(rec *driver.Record) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return 0, err
	}
	seq := l.nextSeq
	buf, err := appendRecordFrame(l.buf[:0], seq, rec, l.maxFrame)
	if err != nil {
		return 0, err
	}
	if cap(buf) <= 1<<20 {
		l.buf = buf
	}
	off := l.size
	if err := l.writeLocked(buf); err != nil {
		return 0, err
	}
	l.nextSeq++
	l.pend = append(l.pend, span{seq: seq, off: off, n: int64(len(buf))})
	l.live += int64(len(buf))
	l.npend++
	return seq, nil
}

// Sync commits everything written so far to stable storage. Concurrent
// callers share one fsync when they can (group commit). A failed fsync
// leaves the log unusable: the kernel may have dropped the data.
func (l *Log) Sync() error {
	l.mu.Lock()
	if err := l.usable(); err != nil {
		l.mu.Unlock()
		return err
	}
	target := l.written
	done := l.synced >= target
	l.mu.Unlock()
	if done {
		return nil
	}
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.Lock()
	if err := l.usable(); err != nil {
		l.mu.Unlock()
		return err
	}
	if l.synced >= target {
		l.mu.Unlock()
		return nil
	}
	f, upto := l.f, l.written
	l.mu.Unlock()
	err := f.Sync()
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		if l.broken == nil {
			l.broken = fmt.Errorf("wal: fsync %s failed, so the log is unusable until reopened: %w", l.path, err)
		}
		return l.broken
	}
	if upto > l.synced {
		l.synced = upto
	}
	return nil
}

// Ack records that the records with these sequence numbers were stored by
// the stream. Unknown or already acknowledged numbers are ignored. When no
// record is left unacknowledged, the file is cut back to its header; when
// acknowledged records dominate a large file, it is compacted. Acks are not
// synced: a crash may forget the latest ones, and their records are then
// sent again (at-least-once).
func (l *Log) Ack(seqs ...uint64) error {
	l.mu.Lock()
	if err := l.usable(); err != nil {
		l.mu.Unlock()
		return err
	}
	var done []uint64
	for _, s := range seqs {
		live := l.pend[l.phead:]
		i := sort.Search(len(live), func(i int) bool { return live[i].seq >= s })
		if i < len(live) && live[i].seq == s && !live[i].acked {
			live[i].acked = true
			l.live -= live[i].n
			l.npend--
			done = append(done, s)
		}
	}
	if len(done) == 0 {
		l.mu.Unlock()
		return nil
	}
	var err error
	if l.npend == 0 {
		err = l.resetLocked()
		if err != nil && l.broken == nil {
			// Could not cut back: record the acks the ordinary way.
			err = l.writeAckLocked(done)
		}
	} else {
		err = l.writeAckLocked(done)
		for l.phead < len(l.pend) && l.pend[l.phead].acked {
			l.phead++
		}
		if l.phead > 1024 && l.phead > len(l.pend)/2 {
			l.pend = append(l.pend[:0], l.pend[l.phead:]...)
			l.phead = 0
		}
	}
	need := err == nil && l.needCompactLocked()
	l.mu.Unlock()
	if need {
		l.syncMu.Lock()
		l.mu.Lock()
		if l.usable() == nil && l.needCompactLocked() {
			l.compactLocked()
		}
		l.mu.Unlock()
		l.syncMu.Unlock()
	}
	return err
}

func (l *Log) writeAckLocked(seqs []uint64) error {
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	buf := appendAckFrame(l.buf[:0], seqs)
	if cap(buf) <= 1<<20 {
		l.buf = buf
	}
	return l.writeLocked(buf)
}

// resetLocked cuts the file back to its header; every record is acked.
func (l *Log) resetLocked() error {
	if err := l.usable(); err != nil {
		return err
	}
	if err := l.f.Truncate(int64(HeaderSize)); err != nil {
		return fmt.Errorf("wal: cut %s back to its header: %w", l.path, err)
	}
	l.size = int64(HeaderSize)
	l.written++
	l.pend = l.pend[:0]
	l.phead = 0
	l.live = 0
	return nil
}

func (l *Log) needCompactLocked() bool {
	return l.npend > 0 && l.size >= l.compactAt && 2*(l.live+int64(HeaderSize)) < l.size
}

// compactLocked rewrites the live records to a temporary file and renames it
// over the log. It needs syncMu and mu. A failure before the rename leaves
// the log as it was (and postpones the next try); a failure after it breaks
// the log.
func (l *Log) compactLocked() {
	if err := l.compactTry(); err != nil {
		l.compactAt = l.size + l.compact
	}
}

func (l *Log) compactTry() error {
	tmp := l.tmpPath()
	tf, err := l.openFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	abort := func(err error) error {
		tf.Close()
		os.Remove(tmp)
		return err
	}
	const chunk = 1 << 20
	buf := header()
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
	spans := make([]span, 0, l.npend)
	for _, s := range l.pend[l.phead:] {
		if s.acked {
			continue
		}
		if len(buf) > 0 && int64(len(buf))+s.n > chunk {
			if err := flush(); err != nil {
				return abort(err)
			}
		}
		at := newSize + int64(len(buf))
		start := len(buf)
		buf = append(buf, make([]byte, s.n)...)
		if _, err := l.f.ReadAt(buf[start:], s.off); err != nil {
			return abort(fmt.Errorf("wal: read %s at offset %d: %w", l.path, s.off, err))
		}
		spans = append(spans, span{seq: s.seq, off: at, n: s.n})
	}
	if err := flush(); err != nil {
		return abort(err)
	}
	if err := tf.Sync(); err != nil {
		return abort(err)
	}
	if err := os.Rename(tmp, l.path); err != nil {
		return abort(err)
	}
	// From here on the old file is gone: writing to it would lose data.
	old := l.f
	l.f = tf
	old.Close()
	l.size = newSize
	l.pend = spans
	l.phead = 0
	l.written++
	l.synced = l.written
	if err := syncDir(filepath.Dir(l.path)); err != nil {
		l.broken = fmt.Errorf("wal: compacted %s but could not sync its directory, so the log is unusable until reopened: %w", l.path, err)
		return l.broken
	}
	return nil
}

// Close syncs and closes the log. Records not acknowledged stay in the file
// for the next Open. Close is idempotent.
func (l *Log) Close() error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	var err error
	if l.broken == nil && l.synced < l.written {
		if serr := l.f.Sync(); serr != nil {
			err = fmt.Errorf("wal: fsync %s: %w", l.path, serr)
		}
	}
	if cerr := l.f.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("wal: close %s: %w", l.path, cerr)
	}
	l.closed = true
	if l.unlock != nil {
		l.unlock()
	}
	return err
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
