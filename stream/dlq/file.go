package dlq

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// MaxLineBytes bounds one line (one encoded envelope) of a DLQ file. Put
// refuses a larger envelope, so that every line it writes can be read back;
// the reader reports a longer line as malformed without holding it in memory.
const MaxLineBytes = 256 << 20

// maxLineBytes is MaxLineBytes, lowered by tests.
var maxLineBytes = MaxLineBytes

// Errors of the DLQ sinks and readers. Returned errors wrap them; test with
// errors.Is.
var (
	// ErrClosed is returned by Put on a closed sink.
	ErrClosed = errors.New("dlq: sink closed")
	// ErrTornLine is wrapped by the *LineError of a line that a crash cut
	// short: the file's last line without its newline, or a line that holds
	// only a truncated prefix of an envelope (possibly padded with NUL
	// bytes), which is how a torn last line looks once OpenFile has started
	// a new line after it. The Put that wrote a torn line never returned
	// nil, so the engine retried it: a caller may tolerate torn lines (log
	// them and continue with FileReader.Next) without losing an envelope.
	ErrTornLine = errors.New("torn DLQ line (a write cut short by a crash)")
	// ErrMalformedLine is wrapped by the *LineError of a line that is not a
	// valid envelope and not a torn line: a corrupt or hand-edited file.
	ErrMalformedLine = errors.New("malformed DLQ line")
)

// LineError is the error of one bad line of a DLQ file. Err wraps
// ErrTornLine or ErrMalformedLine, and the cause.
type LineError struct {
	File   string // the file name given to the reader
	Line   int    // 1-based line number
	Offset int64  // byte offset of the line's first byte
	Err    error
}

func (e *LineError) Error() string {
	return fmt.Sprintf("dlq: file %s: line %d (byte offset %d): %v", e.File, e.Line, e.Offset, e.Err)
}

// Unwrap returns the cause.
func (e *LineError) Unwrap() error { return e.Err }

// FileSink stores envelopes in a JSON-lines file: one envelope per line, in
// the order of Put. It is safe for concurrent use.
type FileSink struct {
	path string

	mu       sync.Mutex
	f        *os.File
	needSeal bool  // a write failed: check the tail before the next one
	broken   error // an fsync failed: the file's state is unknown
	closed   bool
}

var _ Sink = (*FileSink)(nil)

// OpenFile opens (or creates, with mode 0600, and fsyncs its directory) the
// JSON-lines DLQ file at path for appending. An existing file's mode is left
// as it is. If the file does not end with a newline (a crash cut the last
// Put short), OpenFile appends one, so the torn line stays as evidence and
// the next envelope starts on a line of its own.
func OpenFile(path string) (*FileSink, error) {
	created := true
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if errors.Is(err, os.ErrExist) {
		created = false
		f, err = os.OpenFile(path, os.O_RDWR|os.O_APPEND, 0)
	}
	if err != nil {
		return nil, fmt.Errorf("dlq: open file %s: %w", path, err)
	}
	s := &FileSink{path: path, f: f}
	if err := s.sealLocked(); err != nil {
		f.Close()
		return nil, err
	}
	if created {
		if err := syncDir(filepath.Dir(path)); err != nil {
			f.Close()
			return nil, fmt.Errorf("dlq: open file %s: %w", path, err)
		}
	}
	return s, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// sealLocked makes sure the file ends with a newline (or is empty).
func (s *FileSink) sealLocked() error {
	fi, err := s.f.Stat()
	if err != nil {
		return fmt.Errorf("dlq: file %s: %w", s.path, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("dlq: file %s: not a regular file (mode %s): expected a JSON-lines file", s.path, fi.Mode())
	}
	if fi.Size() == 0 {
		return nil
	}
	last := make([]byte, 1)
	if _, err := s.f.ReadAt(last, fi.Size()-1); err != nil {
		return fmt.Errorf("dlq: file %s: read the last byte: %w", s.path, err)
	}
	if last[0] == '\n' {
		return nil
	}
	if _, err := s.f.Write([]byte{'\n'}); err != nil {
		return fmt.Errorf("dlq: file %s: end the torn last line (at byte %d) with a newline: %w", s.path, fi.Size(), err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("dlq: file %s: fsync: %w", s.path, err)
	}
	return nil
}

// Path returns the file's path.
func (s *FileSink) Path() string { return s.path }

// Put appends env as one JSON line (with Version set to Version if it is
// zero; env itself is not changed) and fsyncs the file before returning nil.
// After a failed fsync the sink refuses every later Put, since the file's
// content is unknown: reopen it.
func (s *FileSink) Put(ctx context.Context, env *Envelope) error {
	if env == nil {
		return fmt.Errorf("dlq: file %s: put a nil envelope", s.path)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("dlq: file %s: put envelope %q: %w", s.path, env.ID, err)
	}
	line, err := encodeLine(env)
	if err != nil {
		return fmt.Errorf("dlq: file %s: %w", s.path, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return fmt.Errorf("dlq: file %s: put envelope %q: %w", s.path, env.ID, ErrClosed)
	case s.broken != nil:
		return fmt.Errorf("dlq: file %s: put envelope %q: an earlier fsync failed, reopen the sink: %w", s.path, env.ID, s.broken)
	}
	if s.needSeal {
		if err := s.sealLocked(); err != nil {
			return err
		}
		s.needSeal = false
	}
	if _, err := s.f.Write(line); err != nil {
		s.needSeal = true
		return fmt.Errorf("dlq: file %s: write envelope %q: %w", s.path, env.ID, err)
	}
	if err := s.f.Sync(); err != nil {
		s.broken = err
		return fmt.Errorf("dlq: file %s: fsync envelope %q: %w", s.path, env.ID, err)
	}
	return nil
}

// encodeLine returns env as one JSON line ending in '\n'.
func encodeLine(env *Envelope) ([]byte, error) {
	e := *env
	if e.Version == 0 {
		e.Version = Version
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&e); err != nil { // Encode appends '\n'
		return nil, fmt.Errorf("encode envelope %q: %w", env.ID, err)
	}
	if buf.Len() > maxLineBytes {
		return nil, fmt.Errorf("envelope %q encodes to %d bytes, more than MaxLineBytes (%d)", env.ID, buf.Len(), maxLineBytes)
	}
	return buf.Bytes(), nil
}

// Close closes the file. It is idempotent.
func (s *FileSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if err := s.f.Close(); err != nil {
		return fmt.Errorf("dlq: close file %s: %w", s.path, err)
	}
	return nil
}

// FileReader reads envelopes back from a JSON-lines DLQ file, one line per
// call of Next. It never skips a bad line silently: Next returns a
// *LineError for it, and the caller decides. The usual loop tolerates torn
// lines and stops at anything else:
//
//	r := dlq.NewFileReader(f, path)
//	for {
//		env, err := r.Next()
//		if err == io.EOF {
//			break
//		}
//		if errors.Is(err, dlq.ErrTornLine) {
//			log.Print(err) // a crash cut a Put short; it was retried
//			continue
//		}
//		if err != nil {
//			return err
//		}
//		replay(env)
//	}
type FileReader struct {
	br   *bufio.Reader
	name string
	line int
	off  int64
	err  error // sticky: io.EOF or a read error
}

// NewFileReader returns a reader of the DLQ lines in r; name is the file
// name used in errors.
func NewFileReader(r io.Reader, name string) *FileReader {
	return &FileReader{br: bufio.NewReaderSize(r, 64<<10), name: name}
}

// Next returns the next envelope. At the end it returns io.EOF. For a bad
// line it returns a *LineError (wrapping ErrTornLine or ErrMalformedLine)
// and moves past the line, so calling Next again continues with the
// following line. A read error of the underlying reader is returned as is
// (wrapped) and repeats.
func (r *FileReader) Next() (*Envelope, error) {
	if r.err != nil {
		return nil, r.err
	}
	start := r.off
	line, n, terminated, tooLong, err := r.readLine()
	r.off += n
	if err != nil && err != io.EOF {
		r.err = fmt.Errorf("dlq: read file %s at byte offset %d: %w", r.name, r.off, err)
		return nil, r.err
	}
	if n == 0 {
		r.err = io.EOF
		return nil, io.EOF
	}
	r.line++
	lineErr := func(err error) error {
		return &LineError{File: r.name, Line: r.line, Offset: start, Err: err}
	}
	if tooLong {
		return nil, lineErr(fmt.Errorf("%w: the line is %d bytes, more than MaxLineBytes (%d)", ErrMalformedLine, n, maxLineBytes))
	}
	if terminated {
		line = line[:len(line)-1]
	}
	env, derr := decodeLine(line)
	switch {
	case !terminated:
		return nil, lineErr(fmt.Errorf("%w: the file ends without a newline after %d bytes of this line; OpenFile starts the next envelope on a new line", ErrTornLine, len(line)))
	case derr == nil:
		return env, nil
	case isTruncatedEnvelope(line):
		return nil, lineErr(fmt.Errorf("%w: the line holds only the first %d bytes of an envelope", ErrTornLine, len(line)))
	default:
		return nil, lineErr(fmt.Errorf("%w: %w", ErrMalformedLine, derr))
	}
}

// readLine reads one line with its '\n'. It keeps at most MaxLineBytes+1
// bytes in memory: a longer line is consumed and reported as tooLong.
func (r *FileReader) readLine() (line []byte, n int64, terminated, tooLong bool, err error) {
	for {
		chunk, e := r.br.ReadSlice('\n')
		n += int64(len(chunk))
		if !tooLong {
			if len(line)+len(chunk) > maxLineBytes+1 {
				tooLong, line = true, nil
			} else {
				line = append(line, chunk...)
			}
		}
		switch e {
		case nil:
			return line, n, true, tooLong, nil
		case bufio.ErrBufferFull:
			continue
		default:
			return line, n, false, tooLong, e
		}
	}
}

// decodeLine decodes one line (without its newline) into an envelope and
// checks its version.
func decodeLine(line []byte) (*Envelope, error) {
	if len(line) == 0 {
		return nil, errors.New("empty line: expected a JSON envelope")
	}
	var env Envelope
	if err := json.Unmarshal(line, &env); err != nil {
		return nil, fmt.Errorf("expected a JSON envelope object: %w", err)
	}
	if err := checkVersion(env.Version); err != nil {
		return nil, err
	}
	return &env, nil
}

func checkVersion(v int) error {
	if v < 1 || v > Version {
		return fmt.Errorf("envelope version (field \"v\") is %d: expected 1 to %d", v, Version)
	}
	return nil
}

// isTruncatedEnvelope reports whether line is a strict prefix of a JSON
// object, optionally followed by NUL bytes (a file system may expose
// unwritten blocks as zeros after a crash): what a write cut short leaves.
func isTruncatedEnvelope(line []byte) bool {
	trimmed := bytes.TrimRight(line, "\x00")
	if len(trimmed) == 0 {
		return len(line) > 0
	}
	if trimmed[0] != '{' {
		return false
	}
	var raw json.RawMessage
	err := json.NewDecoder(bytes.NewReader(trimmed)).Decode(&raw)
	return errors.Is(err, io.ErrUnexpectedEOF)
}

// ReadFile reads every envelope of the DLQ file at path, strictly: at the
// first bad line it returns the envelopes before it and the *LineError
// (errors.Is(err, ErrTornLine) or ErrMalformedLine). Use a FileReader to go
// on past bad lines.
func ReadFile(path string) ([]Envelope, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("dlq: read file: %w", err)
	}
	defer f.Close()
	r := NewFileReader(f, path)
	var out []Envelope
	for {
		env, err := r.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, *env)
	}
}
