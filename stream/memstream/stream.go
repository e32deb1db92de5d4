package memstream

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/unistream-go/unistream/stream/driver"
)

// Errors of memstream. Returned errors wrap them; test with errors.Is.
var (
	// ErrClosed is returned by a closed Stream handle, Reader or Writer.
	ErrClosed = errors.New("memstream: closed")
	// ErrInjected is the error of a fault injected with a nil error (see
	// FailFetches, FailWrites, FailRecords).
	ErrInjected = errors.New("memstream: injected failure")
	// ErrPrecedingRecordFailed is the per-record error of a record that
	// follows a failed record of the same partition in one Write call: it is
	// not written, so that the partition stays a log without holes.
	ErrPrecedingRecordFailed = driver.ErrPrecedingRecordFailed
)

// state is one stream's shared data: every handle of a name points to it.
type state struct {
	name string
	// Fixed at creation.
	initialPartitions int
	maxRecordBytes    int
	maxBatchRecords   int
	maxBatchBytes     int
	caps              driver.Capabilities

	mu    sync.RWMutex
	parts []*partition          // in creation order; parts[i].id == strconv.Itoa(i)
	byID  map[string]*partition // id -> partition
	open  []*partition          // the partitions that take writes, in creation order
	rr    uint64                // round-robin counter for records without a key

	faults faults

	groupsMu sync.Mutex
	groups   map[string]*group // consumer groups by name
}

// partition is one append-only log. Its fields are guarded by state.mu.
type partition struct {
	id      string
	parents []string
	closed  bool
	recs    []driver.Record // stored records, Stream, Partition and Pointer set
}

// faults holds the injected faults of a stream; guarded by its own mutex so
// that fetching needs only a read lock on the data.
type faults struct {
	mu         sync.Mutex
	fetchN     int
	fetchErr   error
	writeN     int
	writeErr   error
	failIdx    []int // one-shot: record indexes of the next Write that fail
	failIdxSet bool
	hook       func(i int, r *driver.Record) error
	delay      time.Duration
}

// newState creates a stream's data from validated options (their defaults
// filled in).
func newState(o Options) *state {
	st := &state{
		name:              o.Name,
		initialPartitions: o.Partitions,
		maxRecordBytes:    o.MaxRecordBytes,
		maxBatchRecords:   o.MaxBatchRecords,
		maxBatchBytes:     o.MaxBatchBytes,
		caps:              o.Capabilities(),
		byID:              map[string]*partition{},
	}
	st.addLocked(st.initialPartitions, nil)
	return st
}

// matches checks that the options set in o (by a URL, the environment or
// an Option) agree with an existing stream; options left at their default
// take the stream's values.
func (st *state) matches(o Options) error {
	for _, f := range []struct {
		id        optID
		key       string
		got, have int
	}{
		{optionPartitions, "partitions", o.Partitions, st.initialPartitions},
		{optionMaxRecordBytes, "max_record_bytes", o.MaxRecordBytes, st.maxRecordBytes},
		{optionMaxBatchRecords, "max_batch_records", o.MaxBatchRecords, st.maxBatchRecords},
		{optionMaxBatchBytes, "max_batch_bytes", o.MaxBatchBytes, st.maxBatchBytes},
	} {
		if o.optOrigin[f.id].IsSet() && f.got != f.have {
			return fmt.Errorf("memstream: stream %q exists with %s=%d, cannot open it with %s (omit the option to use the existing value)",
				st.name, f.key, f.have, o.where(f.id))
		}
	}
	return nil
}

// addLocked appends n open partitions with the given parents and returns
// their ids. st.mu must be held for writing (or st not yet shared).
func (st *state) addLocked(n int, parents []string) []string {
	ids := make([]string, 0, n)
	for range n {
		p := &partition{id: strconv.Itoa(len(st.parts)), parents: slices.Clone(parents)}
		st.parts = append(st.parts, p)
		st.byID[p.id] = p
		ids = append(ids, p.id)
	}
	st.rebuildOpenLocked()
	return ids
}

func (st *state) rebuildOpenLocked() {
	st.open = st.open[:0]
	for _, p := range st.parts {
		if !p.closed {
			st.open = append(st.open, p)
		}
	}
}

// partitionLocked finds a partition; st.mu must be held.
func (st *state) partitionLocked(id string) (*partition, error) {
	if p, ok := st.byID[id]; ok {
		return p, nil
	}
	return nil, fmt.Errorf("memstream: stream %q has no partition %q (partitions: %s)", st.name, id, st.idsLocked())
}

func (st *state) idsLocked() string {
	ids := make([]string, len(st.parts))
	for i, p := range st.parts {
		ids[i] = p.id
	}
	return strings.Join(ids, ", ")
}

// Stream is a handle on an in-memory stream: a driver.Stream whose
// partitions are append-only logs in memory. Handles from New are
// standalone; handles from Broker.Stream (and mem:// URLs) share the data of
// their name. Every method is safe for concurrent use. Close closes the
// handle (its readers and writers fail with ErrClosed), not the data.
//
// Besides the driver.Stream methods, a Stream reshards (Split, Merge,
// AddPartitions) and injects faults (FailFetches, FailWrites, FailRecords,
// SetRecordHook, Delay) for tests. Faults and resharding act on the shared
// data, so they affect every handle of the stream.
type Stream struct {
	st     *state
	broker *Broker // nil for a standalone stream from New
	now    func() time.Time
	closed atomic.Bool
}

var (
	_ driver.Stream  = (*Stream)(nil)
	_ driver.Schemer = (*Stream)(nil)
	_ driver.Aser    = (*Stream)(nil)
)

// New returns a standalone stream, not registered in any broker. It panics
// if name is not a valid stream name (1 to MaxNameLen letters, digits, '.',
// '_' or '-') or an option is out of range: both are programming errors.
// Use Broker.Stream to get an error instead.
func New(name string, opts ...Option) *Stream {
	o := NewOptions(opts...)
	o.Name = name
	if err := o.Validate(); err != nil {
		panic(err.Error())
	}
	return newHandle(newState(o), o)
}

func newHandle(st *state, o Options) *Stream {
	now := o.Now
	if now == nil {
		now = time.Now
	}
	return &Stream{st: st, now: now}
}

// Name returns the stream's name.
func (s *Stream) Name() string { return s.st.name }

// Scheme returns "mem", the URL scheme of memstream (driver.Schemer).
func (s *Stream) Scheme() string { return "mem" }

// As implements driver.Aser, for stream.Stream.As: a **Stream target gets
// the handle itself, a **Broker target the broker the handle came from
// (the Default broker for mem:// URLs); a standalone stream from New has
// no broker and returns false for it, as does any other target.
func (s *Stream) As(target any) bool {
	return driver.SetAs(target, s) || (s.broker != nil && driver.SetAs(target, s.broker))
}

// Codec returns the memstream pointer codec.
func (s *Stream) Codec() driver.PointerCodec { return Codec{} }

// Capabilities returns the stream's capabilities, as adapter.yaml declares
// them: MaxRecordBytes, MaxBatchRecords and MaxBatchBytes from the options
// the stream was created with, PerKeyOrder and Resharding true.
func (s *Stream) Capabilities() driver.Capabilities { return s.st.caps }

// Close closes the handle; the stream's data stays (in its broker). Readers
// and writers of the handle fail with ErrClosed afterwards. Close is
// idempotent.
func (s *Stream) Close() error {
	s.closed.Store(true)
	return nil
}

func (s *Stream) check(ctx context.Context, op string) error {
	if s.closed.Load() {
		return fmt.Errorf("memstream: %s %s: stream handle is closed: %w", op, s.st.name, ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstream: %s %s: %w", op, s.st.name, err)
	}
	return nil
}

// Partitions lists the stream's partitions in id order ("0", "1", ...), with
// the parents of split or merged partitions and their Closed flag.
func (s *Stream) Partitions(ctx context.Context) ([]driver.Partition, error) {
	if err := s.check(ctx, "list partitions of"); err != nil {
		return nil, err
	}
	s.st.mu.RLock()
	defer s.st.mu.RUnlock()
	out := make([]driver.Partition, len(s.st.parts))
	for i, p := range s.st.parts {
		out[i] = driver.Partition{ID: p.id, Parents: slices.Clone(p.parents), Closed: p.closed}
	}
	return out, nil
}

// Records returns a copy of every record of a partition, in order (a test
// helper; the byte slices are shared with the log and read-only).
func (s *Stream) Records(partition string) ([]driver.Record, error) {
	if err := s.check(context.Background(), "read records of"); err != nil {
		return nil, err
	}
	s.st.mu.RLock()
	defer s.st.mu.RUnlock()
	p, err := s.st.partitionLocked(partition)
	if err != nil {
		return nil, err
	}
	return slices.Clone(p.recs), nil
}

// Split closes an open partition and adds two open children whose Parents
// are [partition]; it returns the children's ids. Records written later
// route over the open partitions only; readers of the parent get
// driver.ErrPartitionFinished after its last record.
func (s *Stream) Split(partition string) (children [2]string, err error) {
	if err := s.check(context.Background(), "split"); err != nil {
		return children, err
	}
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	p, err := s.st.partitionLocked(partition)
	if err != nil {
		return children, fmt.Errorf("memstream: split: %w", err)
	}
	if p.closed {
		return children, fmt.Errorf("memstream: split %s/%s: the partition is closed already", s.st.name, partition)
	}
	p.closed = true
	ids := s.st.addLocked(2, []string{p.id})
	return [2]string{ids[0], ids[1]}, nil
}

// Merge closes two open partitions and adds one open child whose Parents are
// [a, b]; it returns the child's id.
func (s *Stream) Merge(a, b string) (child string, err error) {
	if err := s.check(context.Background(), "merge"); err != nil {
		return "", err
	}
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	if a == b {
		return "", fmt.Errorf("memstream: merge %s/%s with itself: expected two different partitions", s.st.name, a)
	}
	pa, err := s.st.partitionLocked(a)
	if err != nil {
		return "", fmt.Errorf("memstream: merge: %w", err)
	}
	pb, err := s.st.partitionLocked(b)
	if err != nil {
		return "", fmt.Errorf("memstream: merge: %w", err)
	}
	for _, p := range []*partition{pa, pb} {
		if p.closed {
			return "", fmt.Errorf("memstream: merge %s/%s: the partition is closed already", s.st.name, p.id)
		}
	}
	pa.closed, pb.closed = true, true
	return s.st.addLocked(1, []string{a, b})[0], nil
}

// AddPartitions adds n open partitions without parents (as Kafka does; key
// routing changes) and returns their ids. n must be 1 to MaxPartitions.
func (s *Stream) AddPartitions(n int) ([]string, error) {
	if err := s.check(context.Background(), "add partitions to"); err != nil {
		return nil, err
	}
	if n < 1 || n > MaxPartitions {
		return nil, fmt.Errorf("memstream: add %d partitions to %s: expected 1 to %d", n, s.st.name, MaxPartitions)
	}
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	return s.st.addLocked(n, nil), nil
}

// FailFetches makes the next n Fetch calls, of any reader of any partition,
// fail with err (ErrInjected if err is nil), wrapped. n <= 0 clears it.
func (s *Stream) FailFetches(n int, err error) {
	f := &s.st.faults
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fetchN, f.fetchErr = max(n, 0), cmpErr(err)
}

// FailWrites makes the next n Write calls fail whole with err (ErrInjected
// if err is nil), wrapped; nothing of them is written. n <= 0 clears it.
func (s *Stream) FailWrites(n int, err error) {
	f := &s.st.faults
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writeN, f.writeErr = max(n, 0), cmpErr(err)
}

// FailRecords makes the records at the given indexes of the next Write call
// fail with a per-record error wrapping ErrInjected. As the driver contract
// requires, later records of the same partition in that call fail too, with
// ErrPrecedingRecordFailed. Indexes out of range are ignored. The next
// non-empty Write that passes its whole-call checks consumes the setting;
// FailRecords() with no index clears it.
func (s *Stream) FailRecords(indexes ...int) {
	f := &s.st.faults
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failIdx, f.failIdxSet = slices.Clone(indexes), len(indexes) > 0
}

// SetRecordHook installs a hook called for every record of every Write
// (with its index in the call and a copy of the record) before it is
// stored; a non-nil error fails that record, and later records of its
// partition in the call, as FailRecords does. The hook runs without locks
// held, so it may call the stream. nil removes the hook.
func (s *Stream) SetRecordHook(hook func(i int, r *driver.Record) error) {
	f := &s.st.faults
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hook = hook
}

// Delay makes every Fetch and Write wait d first (or until its context is
// done), to simulate a slow backend. d <= 0 removes the delay.
func (s *Stream) Delay(d time.Duration) {
	f := &s.st.faults
	f.mu.Lock()
	defer f.mu.Unlock()
	f.delay = max(d, 0)
}

// ClearFaults removes every injected fault, hook and delay.
func (s *Stream) ClearFaults() {
	f := &s.st.faults
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fetchN, f.fetchErr, f.writeN, f.writeErr = 0, nil, 0, nil
	f.failIdx, f.failIdxSet, f.hook, f.delay = nil, false, nil, 0
}

func cmpErr(err error) error {
	if err == nil {
		return ErrInjected
	}
	return err
}

func (f *faults) getDelay() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.delay
}

// takeFetch consumes one injected fetch failure, if any.
func (f *faults) takeFetch() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fetchN == 0 {
		return nil
	}
	f.fetchN--
	return f.fetchErr
}

// takeWrite consumes one injected whole-write failure, if any.
func (f *faults) takeWrite() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.writeN == 0 {
		return nil
	}
	f.writeN--
	return f.writeErr
}

// takeRecords consumes the one-shot record failures and returns them with
// the hook.
func (f *faults) takeRecords() (idx []int, hook func(int, *driver.Record) error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failIdxSet {
		idx, f.failIdx, f.failIdxSet = f.failIdx, nil, false
	}
	return idx, f.hook
}

// wait sleeps d or until ctx is done, without a goroutine.
func wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// OpenReader opens a reader of one partition at a start position:
// Earliest, Latest (records written after the open), AtTime (the first
// record whose Time is at or after the given time; the end of the log if
// none), After(pointer) or At(pointer). A pointer must be a valid memstream
// pointer of an existing record of the partition. Readers cost nothing while
// idle: Fetch never waits for records.
func (s *Stream) OpenReader(ctx context.Context, partition string, start driver.Start) (driver.Reader, error) {
	if err := s.check(ctx, "open reader of"); err != nil {
		return nil, err
	}
	s.st.mu.RLock()
	defer s.st.mu.RUnlock()
	p, err := s.st.partitionLocked(partition)
	if err != nil {
		return nil, fmt.Errorf("memstream: open reader: %w", err)
	}
	n := len(p.recs)
	var next int
	switch start.Kind {
	case driver.StartEarliest:
		next = 0
	case driver.StartLatest:
		next = n
	case driver.StartAtTime:
		next = n
		for i := range p.recs {
			if !p.recs[i].Time.Before(start.Time) {
				next = i
				break
			}
		}
	case driver.StartAfter, driver.StartAt:
		off, err := Offset(start.Pointer)
		if err != nil {
			return nil, fmt.Errorf("memstream: open reader of %s/%s at start %s: %w", s.st.name, partition, start.Kind, err)
		}
		if off >= uint64(n) {
			return nil, fmt.Errorf("memstream: open reader of %s/%s at start %s %s: the pointer is beyond the end of the log (%d records): %w",
				s.st.name, partition, start.Kind, Codec{}.Format(s.st.name, partition, start.Pointer), n, driver.ErrPointerNotFound)
		}
		next = int(off)
		if start.Kind == driver.StartAfter {
			next++
		}
	default:
		return nil, fmt.Errorf("memstream: open reader of %s/%s: unknown start kind %s (expected earliest, latest, at-time, after or at)", s.st.name, partition, start.Kind)
	}
	return &reader{s: s, p: p, next: next}, nil
}

var _ driver.LagReporter = (*reader)(nil)

// reader reads one partition from the offset next.
type reader struct {
	s      *Stream
	p      *partition
	mu     sync.Mutex
	next   int
	closed bool
}

// Fetch returns up to max records in partition order, at once: an empty
// batch when nothing new was written, and driver.ErrPartitionFinished
// (wrapped) after the last record of a closed partition. The returned slice
// is new on every call; its records' byte slices are shared with the log and
// read-only.
func (r *reader) Fetch(ctx context.Context, max int) ([]driver.Record, error) {
	st := r.s.st
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, fmt.Errorf("memstream: fetch %s/%s: reader is closed: %w", st.name, r.p.id, ErrClosed)
	}
	if err := r.s.check(ctx, "fetch from"); err != nil {
		return nil, err
	}
	if max < 1 {
		return nil, fmt.Errorf("memstream: fetch %s/%s: max %d: expected at least 1", st.name, r.p.id, max)
	}
	if err := wait(ctx, st.faults.getDelay()); err != nil {
		return nil, fmt.Errorf("memstream: fetch %s/%s: %w", st.name, r.p.id, err)
	}
	if err := st.faults.takeFetch(); err != nil {
		return nil, fmt.Errorf("memstream: fetch %s/%s: injected: %w", st.name, r.p.id, err)
	}
	st.mu.RLock()
	defer st.mu.RUnlock()
	avail := len(r.p.recs) - r.next
	if avail == 0 {
		if r.p.closed {
			return nil, fmt.Errorf("memstream: fetch %s/%s: %w", st.name, r.p.id, driver.ErrPartitionFinished)
		}
		return nil, nil
	}
	n := min(avail, max)
	out := make([]driver.Record, n)
	copy(out, r.p.recs[r.next:r.next+n])
	r.next += n
	return out, nil
}

// Lag returns the number of records in the partition after the last one
// Fetch returned (driver.LagReporter); the time is not told (-1).
func (r *reader) Lag() driver.Lag {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.s.st
	st.mu.RLock()
	defer st.mu.RUnlock()
	return driver.Lag{Records: int64(len(r.p.recs) - r.next), Time: -1}
}

// Close closes the reader; Fetch fails with ErrClosed afterwards.
func (r *reader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	return nil
}

// OpenWriter opens a writer to the stream.
func (s *Stream) OpenWriter(ctx context.Context) (driver.Writer, error) {
	if err := s.check(ctx, "open writer to"); err != nil {
		return nil, err
	}
	return &writer{s: s}, nil
}

// writer writes to a stream; it holds no state besides its closed flag.
type writer struct {
	s      *Stream
	closed atomic.Bool
}

// Write stores records per the driver contract. A record routes by the
// FNV-1a 32 hash of its key modulo the number of open partitions; records
// without a key go round robin. A record with a zero Time gets the handle's
// clock time. Whole-call errors: closed writer or handle, done context,
// len(results) != len(records), more than MaxBatchRecords records, or more
// than MaxBatchBytes of records that fit MaxRecordBytes (a larger record
// fails alone with driver.ErrRecordTooLarge). Per-record errors: too large,
// injected, and records after a failed record of the same partition
// (ErrPrecedingRecordFailed).
func (w *writer) Write(ctx context.Context, records []driver.Record, results []driver.WriteResult) error {
	s := w.s
	st := s.st
	if w.closed.Load() {
		return fmt.Errorf("memstream: write to %s: writer is closed: %w", st.name, ErrClosed)
	}
	if err := s.check(ctx, "write to"); err != nil {
		return err
	}
	if len(results) != len(records) {
		return fmt.Errorf("memstream: write to %s: %d results for %d records: expected one result per record", st.name, len(results), len(records))
	}
	if err := wait(ctx, st.faults.getDelay()); err != nil {
		return fmt.Errorf("memstream: write to %s: %w", st.name, err)
	}
	if err := st.faults.takeWrite(); err != nil {
		return fmt.Errorf("memstream: write to %s: injected: %w", st.name, err)
	}
	if len(records) > st.maxBatchRecords {
		return fmt.Errorf("memstream: write to %s: %d records in one call, max_batch_records is %d", st.name, len(records), st.maxBatchRecords)
	}
	batchBytes := 0
	for i := range records {
		if sz := records[i].Size(); sz <= st.maxRecordBytes {
			batchBytes += sz
		}
	}
	if batchBytes > st.maxBatchBytes {
		return fmt.Errorf("memstream: write to %s: %d bytes in one call, max_batch_bytes is %d", st.name, batchBytes, st.maxBatchBytes)
	}
	if len(records) == 0 {
		return nil
	}

	// Per-record errors, computed before locking so that the hook may call
	// into the stream.
	idx, hook := st.faults.takeRecords()
	errs := make([]error, len(records))
	for _, i := range idx {
		if i >= 0 && i < len(records) {
			errs[i] = fmt.Errorf("memstream: write to %s: record %d (id %q): %w", st.name, i, records[i].ID, ErrInjected)
		}
	}
	for i := range records {
		if errs[i] != nil {
			continue
		}
		if sz := records[i].Size(); sz > st.maxRecordBytes {
			errs[i] = fmt.Errorf("memstream: write to %s: record %d (id %q) is %d bytes, max_record_bytes is %d: %w",
				st.name, i, records[i].ID, sz, st.maxRecordBytes, driver.ErrRecordTooLarge)
			continue
		}
		if hook != nil {
			rc := records[i]
			if err := hook(i, &rc); err != nil {
				errs[i] = fmt.Errorf("memstream: write to %s: record %d (id %q): %w", st.name, i, records[i].ID, err)
			}
		}
	}

	now := s.now()
	st.mu.Lock()
	defer st.mu.Unlock()
	failed := map[*partition]int{} // partition -> index of its first failed record
	for i := range records {
		r := &records[i]
		p := st.routeLocked(r.Key)
		if first, ok := failed[p]; ok {
			results[i] = driver.WriteResult{Err: fmt.Errorf("memstream: write to %s: record %d (id %q) not written: record %d of partition %s failed earlier in this call (a partition is a log without holes): %w",
				st.name, i, r.ID, first, p.id, ErrPrecedingRecordFailed)}
			continue
		}
		if errs[i] != nil {
			failed[p] = i
			results[i] = driver.WriteResult{Err: errs[i]}
			continue
		}
		t := r.Time
		if t.IsZero() {
			t = now
		}
		ptr := PointerAt(uint64(len(p.recs)))
		p.recs = append(p.recs, driver.Record{
			ID:        r.ID,
			Key:       clip(r.Key),
			Value:     clip(r.Value),
			Headers:   cloneHeaders(r.Headers),
			Time:      t,
			Stream:    st.name,
			Partition: p.id,
			Pointer:   ptr,
		})
		results[i] = driver.WriteResult{Partition: p.id, Pointer: ptr}
	}
	return nil
}

// routeLocked picks the open partition of a key; st.mu must be held for
// writing (the round-robin counter changes).
func (st *state) routeLocked(key []byte) *partition {
	p := st.peekLocked(key)
	if len(key) == 0 {
		st.rr++
	}
	return p
}

// peekLocked returns the open partition of a key without advancing the
// round-robin counter; st.mu must be held.
func (st *state) peekLocked(key []byte) *partition {
	n := uint64(len(st.open))
	if len(key) == 0 {
		return st.open[st.rr%n]
	}
	h := fnv.New32a()
	h.Write(key)
	return st.open[uint64(h.Sum32())%n]
}

// clip copies b into a slice of exact capacity, so that a reader appending
// to a fetched record cannot write into shared memory. nil stays nil.
func clip(b []byte) []byte {
	if b == nil {
		return nil
	}
	c := make([]byte, len(b))
	copy(c, b)
	return c
}

func cloneHeaders(hs []driver.Header) []driver.Header {
	if hs == nil {
		return nil
	}
	out := make([]driver.Header, len(hs))
	for i, h := range hs {
		out[i] = driver.Header{Key: h.Key, Value: clip(h.Value)}
	}
	return out
}

// Close closes the writer; Write fails with ErrClosed afterwards.
func (w *writer) Close() error {
	w.closed.Store(true)
	return nil
}

// PartitionFor returns the partition that a record with key would be written
// to now (a test helper; it does not advance the round-robin counter, so
// for an empty key it returns the next round-robin partition).
func (s *Stream) PartitionFor(key []byte) string {
	s.st.mu.RLock()
	defer s.st.mu.RUnlock()
	return s.st.peekLocked(key).id
}
