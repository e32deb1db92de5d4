package stream

import (
	"context"
	"fmt"
	"reflect"
	"sync"

	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/driver"
)

// Partition describes one partition of a stream: its id, the partitions
// it was split or merged from, and whether it is closed.
type Partition = driver.Partition

// Capabilities are a stream's limits and features (see
// Stream.Capabilities).
type Capabilities = driver.Capabilities

// WriteResult is the outcome of writing one record: where it was stored,
// or its error.
type WriteResult = driver.WriteResult

// Errors of streams, readers and writers, the same values the backends
// return: match them with errors.Is.
var (
	// ErrPartitionFinished is returned by Reader.Fetch when the partition
	// is closed (a Kinesis shard after a split or merge) and fully read.
	ErrPartitionFinished = driver.ErrPartitionFinished
	// ErrPointerNotFound is returned by Stream.OpenReader when a start
	// pointer is no longer (or not yet) in the partition.
	ErrPointerNotFound = driver.ErrPointerNotFound
	// ErrRecordTooLarge is the per-record write error of a record over
	// the backend's MaxRecordBytes.
	ErrRecordTooLarge = driver.ErrRecordTooLarge
	// ErrPrecedingRecordFailed is the per-record write error of a record
	// not written because an earlier record of its partition in the same
	// Write failed.
	ErrPrecedingRecordFailed = driver.ErrPrecedingRecordFailed
)

// Stream is one stream of one backend, whatever the backend: the portable
// handle programs use, as *sql.DB is to a database driver. Open returns
// one for a URL; NewStream wraps a driver stream built in code (a
// memstream, a fake). Consumers and producers run on it (NewConsumer,
// NewProducer), and it reads (OpenReader) and writes (OpenWriter) directly,
// formats and parses pointers, and hands out the backend's own client
// through As. Every method is safe for concurrent use.
type Stream struct {
	d      driver.Stream
	scheme string
	hook   WriteHook
	closed *closeOnce // shared with the views of WithWriteHook
}

// closeOnce closes a driver stream once, for every view of it.
type closeOnce struct {
	once sync.Once
	err  error
}

// NewStream returns the portable stream of d, for a driver stream built in
// code rather than opened by URL. Its scheme is what d's Scheme method
// returns when d implements driver.Schemer (every adapter of this
// repository does), and "" otherwise. Close closes d. NewStream returns
// nil for a nil d, which NewConsumer and NewProducer refuse.
func NewStream(d driver.Stream) *Stream {
	if d == nil {
		return nil
	}
	var scheme string
	if sc, ok := d.(driver.Schemer); ok {
		scheme = sc.Scheme()
	}
	return newStream(d, scheme)
}

func newStream(d driver.Stream, scheme string) *Stream {
	return &Stream{d: d, scheme: scheme, closed: &closeOnce{}}
}

// Name returns the stream's name within its backend ("orders").
func (s *Stream) Name() string { return s.d.Name() }

// Scheme returns the URL scheme of the stream's backend ("kafka",
// "kinesis", "pulsar", "mem"): the URL's for a stream from Open, the
// driver's (driver.Schemer) for one from NewStream, "" if unknown.
func (s *Stream) Scheme() string { return s.scheme }

// String returns scheme:name, such as "kafka:orders".
func (s *Stream) String() string {
	if s.scheme == "" {
		return s.d.Name()
	}
	return s.scheme + ":" + s.d.Name()
}

// Partitions lists the stream's partitions with their lineage: after a
// split or merge a child names its parents, and a closed partition says
// so.
func (s *Stream) Partitions(ctx context.Context) ([]Partition, error) {
	return s.d.Partitions(ctx)
}

// Capabilities returns the backend's limits (the most records and bytes a
// write takes, the largest record) and features. ConsumerGroups reports
// whether WithGroup works on the stream: the backend assigns partitions
// to the members of a named group.
func (s *Stream) Capabilities() Capabilities {
	c := s.d.Capabilities()
	_, c.ConsumerGroups = s.d.(driver.Grouper)
	return c
}

// FormatPointer returns the human form of a pointer of the stream, such
// as "mem:orders/0@42"; "(none)" for a nil pointer.
func (s *Stream) FormatPointer(partition string, p Pointer) string {
	if p == nil {
		return "(none)"
	}
	return s.d.Codec().Format(s.d.Name(), partition, p)
}

// ParsePointer reads the human form FormatPointer returns back into a
// partition and a pointer. A text that is not a pointer of this backend,
// or a pointer of another stream, is an error that says what was
// expected.
func (s *Stream) ParsePointer(text string) (partition string, p Pointer, err error) {
	name, part, p, err := s.d.Codec().Parse(text)
	if err != nil {
		return "", nil, fmt.Errorf("stream: pointer %q of %s: %w", text, s, err)
	}
	if name != s.d.Name() {
		return "", nil, fmt.Errorf("stream: pointer %q is of stream %q, expected one of %s", text, name, s)
	}
	return part, p, nil
}

// ComparePointers orders two valid pointers of one partition of the
// stream: -1, 0 or +1.
func (s *Stream) ComparePointers(a, b Pointer) int { return s.d.Codec().Compare(a, b) }

// ValidateCheckpoint reports the first reason a consumer of the stream
// would refuse cp: a pointer its backend cannot decode, or a batch
// without its first or last pointer. The error names the checkpoint's
// key, which pointer, its bytes in hex and what was expected. Tools that read checkpoints call it to refuse what
// the consumer refuses.
func (s *Stream) ValidateCheckpoint(cp *checkpoint.Checkpoint) error {
	return validateCheckpoint(s.d.Codec(), cp)
}

// As sets the value target points to to the backend's own client or
// handle and reports whether it did, as go-cloud's As does: for example
//
//	var cl *kgo.Client // kafka
//	if s.As(&cl) { … }
//
// Each adapter documents the types it supports (kafka: *kgo.Client and
// *kadm.Client; pulsar: pulsar.Client; kinesis: *kinesis.Client;
// memstream: *memstream.Broker). Any target the driver stream itself is
// assignable to works too (a **kafka.Stream, a **memstream.Stream), for
// the adapter's own methods. A target of another type, nil, or not a
// pointer, returns false and is left alone.
func (s *Stream) As(target any) bool {
	if target == nil {
		return false
	}
	if a, ok := s.d.(driver.Aser); ok && a.As(target) {
		return true
	}
	v := reflect.ValueOf(target)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return false
	}
	e := v.Elem()
	if !reflect.TypeOf(s.d).AssignableTo(e.Type()) || !e.CanSet() {
		return false
	}
	e.Set(reflect.ValueOf(s.d))
	return true
}

// Driver returns the driver stream under s, for code that works at the
// driver seam (the conformance suite, adapter tests), as sql.DB.Driver
// does. Programs do not need it.
func (s *Stream) Driver() driver.Stream { return s.d }

// Close releases the stream's connections; its readers and writers fail
// afterwards. It is idempotent, and shared by the views WithWriteHook
// returns.
func (s *Stream) Close() error {
	s.closed.once.Do(func() { s.closed.err = s.d.Close() })
	return s.closed.err
}

// WriteHook is called before every write through a stream's writers
// (OpenWriter, and a producer's): a non-nil error fails the whole write,
// as a backend failure would, and the records are not written. It may be
// called from several goroutines at once.
type WriteHook func(ctx context.Context, records []Record) error

// WithWriteHook returns a view of s whose writers call hook before every
// write, to simulate a flaky network in demos and tests or to veto
// writes. The view shares s's backend connection: closing either closes
// both. Readers are not affected.
func (s *Stream) WithWriteHook(hook WriteHook) *Stream {
	c := *s
	c.hook = hook
	return &c
}

// openWriter opens a driver writer of s, with s's write hook.
func (s *Stream) openWriter(ctx context.Context) (driver.Writer, error) {
	w, err := s.d.OpenWriter(ctx)
	if err != nil || s.hook == nil {
		return w, err
	}
	return hookedWriter{Writer: w, hook: s.hook}, nil
}

// hookedWriter calls a WriteHook before each write.
type hookedWriter struct {
	driver.Writer
	hook WriteHook
}

func (w hookedWriter) Write(ctx context.Context, records []Record, results []WriteResult) error {
	if err := w.hook(ctx, records); err != nil {
		return err
	}
	return w.Writer.Write(ctx, records, results)
}

// OpenReader opens a reader of one partition at a start position
// (Earliest, Latest, AtTime, After). A start pointer no longer (or not
// yet) in the partition is ErrPointerNotFound.
func (s *Stream) OpenReader(ctx context.Context, partition string, start Start) (*Reader, error) {
	r, err := s.d.OpenReader(ctx, partition, start)
	if err != nil {
		return nil, err
	}
	return &Reader{r: r}, nil
}

// Reader reads one partition of a stream in order, without checkpoints:
// to tail or inspect a stream (a Consumer is what processes it). It is
// used by one goroutine at a time.
type Reader struct {
	r driver.Reader
}

// Fetch returns up to max records in partition order, without waiting
// long: an empty batch and a nil error mean "nothing new yet", so poll
// again later. It returns an error wrapping ErrPartitionFinished once a
// closed partition is fully read.
func (r *Reader) Fetch(ctx context.Context, max int) ([]Record, error) {
	if max < 1 {
		return nil, &OptionError{Option: "Reader.Fetch max", Value: max, Expected: "at least 1"}
	}
	return r.r.Fetch(ctx, max)
}

// Lag returns how far the reader is behind the end of its partition after
// the last Fetch, and false if the backend does not tell.
func (r *Reader) Lag() (Lag, bool) {
	if lr, ok := r.r.(driver.LagReporter); ok {
		return lr.Lag(), true
	}
	return Lag{}, false
}

// Close releases the reader.
func (r *Reader) Close() error { return r.r.Close() }

// OpenWriter opens a writer to the stream, for direct writes without a
// write-ahead log or retries (a Producer is what gives those).
func (s *Stream) OpenWriter(ctx context.Context) (*Writer, error) {
	w, err := s.openWriter(ctx)
	if err != nil {
		return nil, err
	}
	return &Writer{w: w}, nil
}

// Writer writes records to a stream. It is used by one goroutine at a
// time.
type Writer struct {
	w driver.Writer
}

// Write writes records, routing each by its key, and returns one result
// per record, because a backend may fail a write partially: a record that
// failed has its Err set, and so do the later records of its partition in
// the same call (ErrPrecedingRecordFailed), so writing the failed ones
// again in order keeps each key's order. A non-nil error means the whole
// write failed.
func (w *Writer) Write(ctx context.Context, records []Record) ([]WriteResult, error) {
	results := make([]WriteResult, len(records))
	if len(records) == 0 {
		return results, nil
	}
	if err := w.w.Write(ctx, records, results); err != nil {
		return nil, err
	}
	return results, nil
}

// Close releases the writer.
func (w *Writer) Close() error { return w.w.Close() }
