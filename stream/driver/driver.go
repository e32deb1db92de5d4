// Package driver defines the small interfaces a stream backend implements so
// that the portable engines in package stream can run on it, the way
// database/sql/driver serves database/sql.
//
// Everything portable (retry, checkpoints, the DLQ, batching, concurrency,
// observability) lives above these interfaces, once. An adapter only lists
// partitions, reads a partition from a start position, writes records with a
// per-record result, and encodes its pointers.
//
// Adapters register a URL scheme with Register, usually from an init function
// in a generated zz_generated_register.go file:
//
//	func init() { driver.Register("mem", opener{}) }
//
// A program then opens any backend by URL with stream.Open.
package driver

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/unistream-go/unistream/internal/errclass"
	"github.com/unistream-go/unistream/internal/schemes"
)

// Pointer is the position of one record in its partition, in the backend's
// stable binary encoding (a Kafka offset, a Kinesis sequence number, a Pulsar
// message id). Pointers are only compared through the codec of the stream
// that produced them. A nil Pointer means "no position".
type Pointer []byte

// Header is one record header. Keys may repeat.
type Header struct {
	Key   string
	Value []byte
}

// Record is one record of a stream.
//
// Records returned by a Reader are owned by the caller, but their byte slices
// may be shared with the backend's buffers: treat Key, Value and header values
// as read-only.
type Record struct {
	// ID is the record's stable identity, assigned by the producer and kept
	// through retries, crashes and DLQ replays, so consumers can de-duplicate.
	ID string
	// Key routes the record to a partition and orders records: records with
	// the same key keep their order.
	Key []byte
	// Value is the payload; it may be empty.
	Value []byte
	// Headers are carried as the backend allows.
	Headers []Header
	// Time is the record's event time as written by the producer.
	Time time.Time
	// Stream and Partition say where the record was read from; they are empty
	// on records being written.
	Stream    string
	Partition string
	// Pointer is the record's position in its partition; nil on write.
	Pointer Pointer
}

// Size is the number of bytes the record occupies for batching and limits:
// key, value, id and headers.
func (r *Record) Size() int {
	n := len(r.ID) + len(r.Key) + len(r.Value)
	for _, h := range r.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return n
}

// StartKind says where a reader starts.
type StartKind uint8

// The start positions. The zero value is Earliest.
const (
	// StartEarliest reads from the oldest retained record.
	StartEarliest StartKind = iota
	// StartLatest reads only records written after the reader opened.
	StartLatest
	// StartAtTime reads from the first record whose time is at or after Time.
	StartAtTime
	// StartAfter reads from the record right after Pointer.
	StartAfter
	// StartAt reads from the record at Pointer, inclusive. The engine uses it
	// to re-fetch an unfinished batch.
	StartAt
)

// String returns the lower-case name of the kind.
func (k StartKind) String() string {
	switch k {
	case StartEarliest:
		return "earliest"
	case StartLatest:
		return "latest"
	case StartAtTime:
		return "at-time"
	case StartAfter:
		return "after"
	case StartAt:
		return "at"
	}
	return fmt.Sprintf("StartKind(%d)", uint8(k))
}

// Start is a start position for a reader.
type Start struct {
	Kind    StartKind
	Time    time.Time // for StartAtTime
	Pointer Pointer   // for StartAfter and StartAt
}

// Partition describes one partition of a stream.
type Partition struct {
	// ID names the partition within its stream ("0", "shardId-000000000001").
	ID string
	// Parents are the partitions this one was split or merged from. A child is
	// read only after all its parents are finished.
	Parents []string
	// Closed reports that no more records will be written to the partition
	// (a Kinesis shard after a split or merge).
	Closed bool
}

// Errors adapters return, possibly wrapped: match them with errors.Is.
var (
	// ErrPartitionFinished is returned by Reader.Fetch when the partition is
	// closed and every record has been read, and by every later Fetch.
	ErrPartitionFinished = errors.New("partition finished: it is closed and fully read")
	// ErrRecordTooLarge is the per-record write error for a record over the
	// backend's MaxRecordBytes.
	ErrRecordTooLarge = errors.New("record too large")
	// ErrPrecedingRecordFailed is the per-record write error of a record
	// not written because an earlier record of its partition in the same
	// Write failed.
	ErrPrecedingRecordFailed = errors.New("not written: an earlier record of the same partition in this write failed")
	// ErrPointerNotFound is returned by OpenReader when a start pointer is no
	// longer (or not yet) in the partition: trimmed by retention, or past the
	// end. The consumer reports it; it never silently restarts elsewhere.
	ErrPointerNotFound = errors.New("pointer not found in the partition")
	// ErrPermanent is matched by an error the backend will return however
	// often the call is retried: a record it refuses for good, a stream
	// that does not exist, denied authorization. Adapters mark such errors
	// with Permanent; test them with IsPermanent.
	ErrPermanent = errors.New("permanent backend error")
)

// Permanent marks err as permanent: retrying the call cannot cure it. The
// error keeps err's message and still matches err (errors.Is, errors.As)
// as well as ErrPermanent. Permanent(nil) is nil.
//
// Adapters map their backend's error codes to it, at the seam: in
// WriteResult.Err (the producer then dead-letters or drops the record
// instead of re-sending it), in the error of Writer.Write (every record of
// the call), and in the errors of Reader.Fetch and Stream.OpenReader (the
// consumer then ends Run instead of retrying the read). Every other error
// is transient and retried.
func Permanent(err error) error { return errclass.Mark(err, ErrPermanent) }

// IsPermanent reports whether err is permanent: marked with Permanent, or
// ErrRecordTooLarge. A done context is never permanent, and neither is
// ErrPrecedingRecordFailed, even wrapping a permanent error: the record
// was not tried and is sent again after the failed one.
func IsPermanent(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, ErrPrecedingRecordFailed) {
		return false
	}
	return errors.Is(err, ErrPermanent) || errors.Is(err, ErrRecordTooLarge)
}

// Stream is one stream of one backend, opened from a URL.
type Stream interface {
	// Name is the stream's name within its backend ("orders").
	Name() string
	// Partitions lists the stream's partitions with their lineage.
	Partitions(ctx context.Context) ([]Partition, error)
	// OpenReader opens a reader of one partition at a start position.
	OpenReader(ctx context.Context, partition string, start Start) (Reader, error)
	// OpenWriter opens a writer to the stream.
	OpenWriter(ctx context.Context) (Writer, error)
	// Codec is the stream's pointer codec.
	Codec() PointerCodec
	// Capabilities declares limits and features the engines and the
	// conformance suite read.
	Capabilities() Capabilities
	// Close releases the stream's connections.
	Close() error
}

// Schemer is an optional interface of a Stream: Scheme returns the URL
// scheme the stream's backend is registered under ("kafka", "mem").
// stream.Open knows the scheme from the URL; stream.NewStream, which wraps
// a driver stream built without a URL, discovers it through Schemer by
// type assertion.
type Schemer interface {
	Scheme() string
}

// Aser is an optional interface of a Stream, as in go-cloud: As sets the
// value target points to to the backend's own client (a *kgo.Client, a
// pulsar.Client, a *kinesis.Client) or to another type the adapter
// documents, and reports whether it did. It returns false, and leaves
// target alone, for a target of any other type (a nil one included); it
// never panics. stream.Stream.As discovers it by type assertion.
type Aser interface {
	As(target any) bool
}

// SetAs is how an Aser fills a target: when target is a non-nil *T, it
// stores v there and reports true. An As method tries its values in turn:
//
//	return driver.SetAs(target, s.client) || driver.SetAs(target, s)
func SetAs[T any](target any, v T) bool {
	p, ok := target.(*T)
	if !ok || p == nil {
		return false
	}
	*p = v
	return true
}

// Reader reads one partition in order. It is used by one goroutine at a time.
type Reader interface {
	// Fetch returns up to max records in partition order. It returns what is
	// available without waiting long: an empty batch and a nil error mean
	// "nothing new yet", and the engine polls again after its poll interval.
	// It returns ErrPartitionFinished once a closed partition is fully read.
	Fetch(ctx context.Context, max int) ([]Record, error)
	// Close releases the reader.
	Close() error
}

// Lag is how far a reader is behind the end of its partition, after the
// last record its Fetch returned. A part the backend does not tell is -1.
type Lag struct {
	// Records counts the records after the last one returned; -1 if
	// unknown.
	Records int64
	// Time is how far the last record returned is behind the partition's
	// newest one; -1 if unknown.
	Time time.Duration
}

// LagReporter is an optional Reader capability, discovered by type
// assertion: Lag returns the lag after the last Fetch, from what the
// backend reported with its records or what Fetch last asked (Lag makes no
// request of its own). Kafka knows the records (the high watermark),
// Kinesis the time (MillisBehindLatest), Pulsar the records from the
// partition's last message id (a lower bound when entries are batched).
type LagReporter interface {
	Lag() Lag
}

// WriteResult is the outcome of writing one record.
type WriteResult struct {
	// Partition and Pointer say where the record was stored, on success.
	Partition string
	Pointer   Pointer
	// Err is the record's error; nil on success.
	Err error
}

// Writer writes records to a stream. It is used by one goroutine at a time.
type Writer interface {
	// Write writes records, routing each by its key, and fills results (of
	// the same length as records) with a per-record outcome, because some
	// backends fail a write partially. A non-nil return means the whole call
	// failed and results are not meaningful. Records of one partition that
	// follow a failed record of that partition in the same call must fail too
	// (a partition is a log without holes), so re-sending the failed records
	// in order keeps per-key order.
	Write(ctx context.Context, records []Record, results []WriteResult) error
	// Close releases the writer.
	Close() error
}

// PointerCodec encodes, orders and formats a backend's pointers.
type PointerCodec interface {
	// Decode checks that b is a valid binary pointer of this backend and
	// returns it; the error names what was expected.
	Decode(b []byte) (Pointer, error)
	// Compare orders two valid pointers of the same partition: -1, 0 or +1.
	Compare(a, b Pointer) int
	// Format returns the human form, such as "mem:orders/0@42".
	Format(stream, partition string, p Pointer) string
	// Parse reads the human form back.
	Parse(s string) (stream, partition string, p Pointer, err error)
}

// Capabilities declares a backend's limits and features.
type Capabilities struct {
	// MaxBatchRecords and MaxBatchBytes bound one Write call; 0 = no limit.
	MaxBatchRecords int
	MaxBatchBytes   int
	// MaxRecordBytes bounds one record (Record.Size); 0 = no limit.
	MaxRecordBytes int
	// A record over MaxRecordBytes fails alone (ErrRecordTooLarge) and does
	// not count toward MaxBatchBytes; breaking MaxBatchRecords or
	// MaxBatchBytes fails the whole Write.
	//
	// PerKeyOrder reports that records with one key land in one partition in
	// write order.
	PerKeyOrder bool
	// Resharding reports that partitions may split and merge while reading.
	Resharding bool
	// ConsumerGroups reports native assignment of partitions across processes.
	ConsumerGroups bool
	// PlainRecords reports that the stream stores only a record's key and
	// value, as other consumers of the stream read them (Kinesis with
	// envelope=false): a record read back has an ID made from its position
	// (Codec().Format), no headers, and the time the backend stored it as
	// its Time. The producer refuses at Put a record with headers.
	PlainRecords bool
}

// RecordChecker is an optional interface of a Stream, discovered by type
// assertion: CheckRecord reports why the stream's writers would refuse r
// for good whatever the retries (a header its records cannot carry, say),
// so that the producer refuses r at Put instead of retrying it for ever.
// The error names what is refused and why; a nil error promises nothing.
type RecordChecker interface {
	CheckRecord(r *Record) error
}

// KeyHasher is an optional interface of a Stream, discovered by type
// assertion, for a backend whose writers place a keyed record by a hash of
// its key: KeyHash returns that hash, and the record's partition is
// KeyHash(key) modulo the partition count. The producer engine assigns a
// keyed record to send lane KeyHash(key) mod the lane count, so that, when
// the lane count divides the partition count, each lane's batches go to
// partitions of its own: larger batches per partition and fewer requests.
// KeyHash must be a pure function of the key (the same on every call and
// in every process): a key's lane must never change, or two of its
// records could be in flight in two lanes at once.
type KeyHasher interface {
	KeyHash(key []byte) uint32
}

// Opener opens a stream from a URL of its scheme.
type Opener interface {
	Open(ctx context.Context, u *url.URL) (Stream, error)
}

// OpenerFunc adapts a function to Opener.
type OpenerFunc func(ctx context.Context, u *url.URL) (Stream, error)

// Open calls f.
func (f OpenerFunc) Open(ctx context.Context, u *url.URL) (Stream, error) { return f(ctx, u) }

// URLChecker is an optional interface of an Opener: CheckURL reports what
// Open would refuse in a URL of the opener's scheme (the target, and the
// options as Open reads them, environment included) without connecting to
// anything or creating anything. stream.CheckURL discovers it by type
// assertion, as database/sql discovers a driver's optional interfaces; the
// generated openers implement it with the adapter's ParseURL. Checkpoint
// store and DLQ sink openers implement the same method, for
// checkpoint.CheckURL and dlq.CheckURL.
type URLChecker = schemes.URLChecker

// ErrURLNotChecked is wrapped by stream.CheckURL, checkpoint.CheckURL and
// dlq.CheckURL when the scheme's opener does not implement URLChecker: the
// scheme is registered, and the rest of the URL is known only once opened.
var ErrURLNotChecked = schemes.ErrNotChecked

var registry = schemes.New[Opener]("driver")

// Register makes a backend available under a URL scheme. It panics if the
// scheme is empty, registered twice or the opener is nil, as database/sql's
// Register does: both are programming errors found at init.
func Register(scheme string, o Opener) { registry.Register(scheme, o) }

// Lookup returns the opener registered for scheme.
func Lookup(scheme string) (Opener, bool) { return registry.Lookup(scheme) }

// Schemes lists the registered schemes, sorted.
func Schemes() []string { return registry.Schemes() }
