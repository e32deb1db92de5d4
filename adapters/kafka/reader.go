package kafka

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/unistream-go/unistream/internal/memlimit"
	"github.com/unistream-go/unistream/stream/driver"
)

// OpenReader opens a reader of one partition ("0" to "N-1") at a start
// position: Earliest (the log start), Latest (the records written after the
// open: the high watermark at the open), AtTime (the first record whose
// timestamp is at or after the time, by ListOffsets; the end of the log if
// none), After(pointer) or At(pointer). A pointer must be a valid Kafka
// pointer whose position is in the log: for At, a record between the log
// start and the end; for After, a record at most one before the log start
// (so that a checkpoint whose last record was trimmed by retention, but
// nothing after it, resumes) and before the end. Otherwise the error wraps
// driver.ErrPointerNotFound.
//
// With the reader_client=shared option (the default) the readers of the
// stream share one franz-go client, made at the first open and closed with
// the stream or the last reader (see consumer); a second reader of a
// partition already open on it gets a client of its own, as every reader
// does with reader_client=partition. The client starts fetching at once,
// in the background; Fetch takes what it has buffered.
func (s *Stream) OpenReader(ctx context.Context, partition string, start driver.Start) (driver.Reader, error) {
	if err := s.check(ctx, "open reader of"); err != nil {
		return nil, err
	}
	topic := s.o.Topic
	p, err := parsePartition(partition)
	if err != nil {
		return nil, fmt.Errorf("kafka: open reader of %s: %w", topic, err)
	}
	// The cached count: a metadata request per reader would cost the
	// readers of N partitions N requests of N partitions each. Kafka
	// partitions only grow, so only a partition beyond it asks again.
	n, err := s.partitionCount(ctx)
	if err == nil && int(p) >= n {
		n, err = s.readPartitionCount(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("kafka: open reader of %s/%s: %w", topic, partition, err)
	}
	if int(p) >= n {
		return nil, fmt.Errorf("kafka: open reader: topic %s has no partition %q (partitions: 0 to %d)", topic, partition, n-1)
	}
	at, err := s.startOffset(ctx, p, start)
	if err != nil {
		return nil, err
	}
	if s.o.ReaderClient != ReaderClientPartition {
		r, err := s.openShared(partition, p, at)
		if !errors.Is(err, errPartitionShared) {
			if err != nil {
				return nil, err
			}
			return r, nil
		}
		// Another reader has the partition on the shared client: this
		// one gets a client of its own.
	}
	if err := s.checkReaderMemory(2*(s.ownReaders.Load()+1), "readers with a client of their own × 2 fetch responses each"); err != nil {
		return nil, err
	}
	cl, err := s.newClient("open reader of",
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {p: at}}),
		kgo.ConsumeResetOffset(kgo.NoResetOffset()),
		kgo.FetchMaxBytes(int32(s.o.FetchMaxBytes)),
		kgo.FetchMaxPartitionBytes(int32(s.o.FetchMaxBytes)),
		// A client of one partition: KIP-714 client telemetry from each would
		// multiply the broker's metric streams, and its setup (an lz4
		// compressor per client) was a tenth of the consumer's CPU for
		// short-lived readers. The stream's own client still reports.
		kgo.DisableClientMetrics(),
		// Fetch sessions (KIP-227) save request bytes for clients of many
		// partitions; a reader has one. Without them the broker keeps no
		// session per reader, and Close does not race the fetch loop:
		// franz-go v1.22.3 kills the session in Close while a fetch in
		// flight may still bump its epoch (a data race under -race).
		kgo.DisableFetchSessions(),
	)
	if err != nil {
		return nil, err
	}
	s.ownReaders.Add(1)
	r := &reader{s: s, cl: cl, partition: partition, p: p}
	r.hw.Store(-1)
	r.next.Store(-1)
	return r, nil
}

// checkReaderMemory refuses to open a reader when the readers' buffers
// could then hold fetches × fetch_max_bytes, what explains the count, and
// that is more than half of the process's memory limit (internal/memlimit:
// GOMEMLIMIT, a container's memory.max or the machine's memory), so that a
// fetch size or a partition count that cannot fit is refused at open with
// its numbers rather than found by the OOM killer.
func (s *Stream) checkReaderMemory(fetches int64, what string) error {
	lim, src := memlimit.Limit()
	need := fetches * int64(s.o.FetchMaxBytes)
	if lim <= 0 || need <= lim/2 {
		return nil
	}
	return fmt.Errorf("kafka: open reader of %s: the readers could buffer %d bytes (%d = %s, × fetch_max_bytes %d), more than half of %s (%d bytes): expected a smaller fetch_max_bytes, fewer reader_clients, or reader_client=shared",
		s.o.Topic, need, fetches, what, s.o.FetchMaxBytes, src, lim)
}

// startOffset resolves a start position to the offset the reader consumes
// from, checking pointers against the log's bounds.
func (s *Stream) startOffset(ctx context.Context, p int32, start driver.Start) (kgo.Offset, error) {
	topic := s.o.Topic
	partition := strconv.Itoa(int(p))
	where := fmt.Sprintf("kafka: open reader of %s/%s at start %s", topic, partition, start.Kind)
	switch start.Kind {
	case driver.StartEarliest:
		return kgo.NewOffset().AtStart(), nil
	case driver.StartLatest:
		_, end, err := s.bounds(ctx, p)
		if err != nil {
			return kgo.Offset{}, fmt.Errorf("%s: %w", where, err)
		}
		return kgo.NewOffset().At(end), nil
	case driver.StartAtTime:
		rctx, cancel := s.reqCtx(ctx)
		defer cancel()
		listed, err := s.adm.ListOffsetsAfterMilli(rctx, ceilMilli(start.Time), topic)
		lo, err := pick(listed, err, topic, p)
		if err != nil {
			return kgo.Offset{}, fmt.Errorf("%s %s: list offsets by time: %w", where, start.Time.Format(time.RFC3339Nano), err)
		}
		return kgo.NewOffset().At(lo.Offset), nil
	case driver.StartAfter, driver.StartAt:
		off, err := Offset(start.Pointer)
		if err != nil {
			return kgo.Offset{}, fmt.Errorf("%s: %w", where, err)
		}
		logStart, end, err := s.bounds(ctx, p)
		if err != nil {
			return kgo.Offset{}, fmt.Errorf("%s: %w", where, err)
		}
		next := off
		if start.Kind == driver.StartAfter {
			next = off + 1
		}
		human := Codec{}.Format(topic, partition, start.Pointer)
		if off >= end {
			return kgo.Offset{}, fmt.Errorf("%s %s: the pointer is beyond the end of the log (next offset %d): %w", where, human, end, driver.ErrPointerNotFound)
		}
		if next < logStart {
			return kgo.Offset{}, fmt.Errorf("%s %s: the records from offset %d were deleted (the log starts at offset %d, retention or DeleteRecords): %w",
				where, human, next, logStart, driver.ErrPointerNotFound)
		}
		return kgo.NewOffset().At(next), nil
	}
	return kgo.Offset{}, fmt.Errorf("kafka: open reader of %s/%s: unknown start kind %s (expected earliest, latest, at-time, after or at)", topic, partition, start.Kind)
}

// Bounds returns the log start offset of a partition (the offset of its
// oldest retained record) and its end offset (the offset the next record
// gets, the high watermark). end - logStart is the number of retained
// offsets, and end minus a consumer's next offset is its lag.
func (s *Stream) Bounds(ctx context.Context, partition string) (logStart, end int64, err error) {
	if err := s.check(ctx, "list offsets of"); err != nil {
		return 0, 0, err
	}
	p, err := parsePartition(partition)
	if err != nil {
		return 0, 0, fmt.Errorf("kafka: list offsets of %s: %w", s.o.Topic, err)
	}
	logStart, end, err = s.bounds(ctx, p)
	if err != nil {
		return 0, 0, fmt.Errorf("kafka: list offsets of %s/%s: %w", s.o.Topic, partition, err)
	}
	return logStart, end, nil
}

// bounds returns the log start offset and the high watermark (the offset
// the next record gets) of partition p.
func (s *Stream) bounds(ctx context.Context, p int32) (logStart, end int64, err error) {
	rctx, cancel := s.reqCtx(ctx)
	defer cancel()
	starts, err := s.adm.ListStartOffsets(rctx, s.o.Topic)
	ls, err := pick(starts, err, s.o.Topic, p)
	if err != nil {
		return 0, 0, fmt.Errorf("list the log start offset: %w", err)
	}
	ends, err := s.adm.ListEndOffsets(rctx, s.o.Topic)
	le, err := pick(ends, err, s.o.Topic, p)
	if err != nil {
		return 0, 0, fmt.Errorf("list the end offset: %w", err)
	}
	return ls.Offset, le.Offset, nil
}

// pick returns the listed offset of one partition.
func pick(l kadm.ListedOffsets, err error, topic string, p int32) (kadm.ListedOffset, error) {
	if err != nil {
		return kadm.ListedOffset{}, err
	}
	lo, ok := l.Lookup(topic, p)
	if !ok {
		if e := l.Error(); e != nil {
			return kadm.ListedOffset{}, e
		}
		return kadm.ListedOffset{}, fmt.Errorf("partition %d of %s not in the response: %w", p, topic, kerr.UnknownTopicOrPartition)
	}
	if lo.Err != nil {
		return kadm.ListedOffset{}, lo.Err
	}
	return lo, nil
}

// ceilMilli returns t in Unix milliseconds, rounded up (Kafka timestamps are
// milliseconds: the first record at or after t is at or after the next
// whole millisecond), and at least 0 (negative timestamps are special
// values in ListOffsets).
func ceilMilli(t time.Time) int64 {
	ms := t.UnixMilli()
	if t.After(time.UnixMilli(ms)) {
		ms++
	}
	return max(ms, 0)
}

var _ driver.LagReporter = (*reader)(nil)

// reader reads one partition through the stream's shared consuming
// client (sh is its share of it) or through its own (cl).
//
// Fetch moves everything the client has buffered into buf at once, so that
// the client fetches the next records while the engine works on these ones
// (franz-go issues the next fetch of a partition only once its buffered
// fetch is drained). buf holds franz-go's records, bounded by about twice
// fetch_max_bytes; each Fetch converts only the records it returns, so
// that they are converted just before the engine works on them (while
// they are in the CPU's cache) and not all at once.
type reader struct {
	s         *Stream
	cl        *kgo.Client // the reader's own client, or nil
	sh        *share      // the reader's share of the shared client, or nil
	partition string
	p         int32
	closed    atomic.Bool

	buf     [][]*kgo.Record // fetched, not yet returned: non-empty slices in offset order
	n       int             // the number of records in buf
	pending error           // an error met after the records in buf
	fatal   error           // the reader's position is gone: every Fetch returns it
	idAt    []int32         // appendConverted's scratch, reused between fetches

	// For Lag: the partition's high watermark in the last fetch response
	// (-1 before one) and the offset after the last record returned (-1
	// before one).
	hw, next atomic.Int64
}

// Fetch returns up to max records of the partition, in offset order. It
// returns what the client has buffered at once; when nothing is buffered it
// waits for records at most the fetch_wait option (100 ms by default), and
// returns an empty batch and a nil error if none came. Errors that Kafka
// calls retriable (a leader moving, a broker restarting) are retried by the
// client and never returned. A fetch that finds the reader's offset out of
// range (the log was trimmed past it) returns an error wrapping
// driver.ErrPointerNotFound, and so does every later Fetch: the reader
// never skips to another position. Other broker errors are returned
// wrapped, after the records fetched before them, and the reader stays
// usable: the next Fetch goes on from the same position.
func (r *reader) Fetch(ctx context.Context, max int) ([]driver.Record, error) {
	where := func() string { return "kafka: fetch " + r.s.o.Topic + "/" + r.partition }
	if r.closed.Load() || r.s.isClosed() {
		return nil, fmt.Errorf("%s: reader is closed: %w", where(), ErrClosed)
	}
	if max < 1 {
		return nil, fmt.Errorf("%s: max %d: expected at least 1", where(), max)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", where(), err)
	}
	if r.fatal != nil {
		return nil, r.fatal
	}
	if r.n < max && r.pending == nil {
		r.pending = r.poll(ctx, nil)
		if r.n == 0 && r.pending == nil {
			wctx, cancel := context.WithTimeout(ctx, r.s.o.FetchWait)
			r.pending = r.poll(ctx, wctx)
			cancel()
		}
	}
	if r.n == 0 {
		err := r.pending
		r.pending = nil
		if errors.Is(err, driver.ErrPointerNotFound) {
			r.fatal = err
			if r.sh != nil {
				r.sh.retire()
			}
		}
		return nil, err
	}
	return r.take(min(max, r.n)), nil
}

// take converts and removes the first n (at most r.n) buffered records.
func (r *reader) take(n int) []driver.Record {
	out := make([]driver.Record, 0, n)
	taken := 0 // bytes, for the shared client's flow control
	for len(out) < n {
		head := r.buf[0]
		k := min(n-len(out), len(head))
		if r.sh != nil {
			taken += recordsSize(head[:k])
		}
		r.next.Store(head[k-1].Offset + 1)
		out, r.idAt = appendConverted(out, head[:k], r.partition, r.idAt)
		if k < len(head) {
			r.buf[0] = head[k:]
		} else {
			r.buf[0] = nil
			r.buf = r.buf[1:]
		}
	}
	r.n -= n
	if r.n == 0 {
		r.buf = nil
	}
	if r.sh != nil {
		r.sh.release(taken)
	}
	return out
}

// poll appends what the client has buffered to r.buf, waiting until wctx
// is done if wctx is not nil and nothing is buffered. It returns the first
// error to report.
func (r *reader) poll(ctx, wctx context.Context) error {
	if r.sh != nil {
		return r.pollShared(ctx, wctx)
	}
	topic := r.s.o.Topic
	var fs kgo.Fetches
	if wctx == nil {
		//lint:ignore SA1012 a nil context is franz-go's way to drain what is buffered without waiting
		fs = r.cl.PollRecords(nil, -1)
	} else {
		fs = r.cl.PollRecords(wctx, -1)
	}
	fs.EachPartition(func(fp kgo.FetchTopicPartition) {
		if fp.Topic != topic || fp.Partition != r.p {
			return
		}
		if fp.Err == nil && fp.HighWatermark >= 0 {
			r.hw.Store(fp.HighWatermark)
		}
		if len(fp.Records) > 0 {
			r.buf = append(r.buf, fp.Records)
			r.n += len(fp.Records)
		}
	})
	return r.pollErrors(ctx, fs)
}

// pollShared is poll on the shared client: it takes what the consumer's
// goroutine routed to the reader's share, waiting for it until wctx is
// done if wctx is not nil and nothing came.
func (r *reader) pollShared(ctx, wctx context.Context) error {
	for {
		if err := r.sh.take(r); err != nil {
			return r.fetchErr(ctx, err)
		}
		if r.n > 0 || wctx == nil {
			return nil
		}
		select {
		case <-r.sh.ready:
		case <-r.sh.c.stopped:
			return fmt.Errorf("kafka: fetch %s/%s: reader is closed: %w", r.s.o.Topic, r.partition, ErrClosed)
		case <-wctx.Done():
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("kafka: fetch %s/%s: %w", r.s.o.Topic, r.partition, err)
			}
			return nil // fetch_wait passed: nothing new
		}
	}
}

// pollErrors returns the first error of a poll to report.
func (r *reader) pollErrors(ctx context.Context, fs kgo.Fetches) error {
	for _, fe := range fs.Errors() {
		if err := r.fetchErr(ctx, fe.Err); err != nil {
			return err
		}
	}
	return nil
}

// fetchErr returns the error to report for an error of a poll, or nil for
// none (fetch_wait passed).
func (r *reader) fetchErr(ctx context.Context, err error) error {
	where := "kafka: fetch " + r.s.o.Topic + "/" + r.partition
	switch {
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		return nil // fetch_wait passed: nothing new.
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: %w", where, ctx.Err())
	case errors.Is(err, kgo.ErrClientClosed):
		return fmt.Errorf("%s: reader is closed: %w", where, ErrClosed)
	case errors.Is(err, kerr.OffsetOutOfRange):
		return r.outOfRange(ctx, err)
	default:
		return fmt.Errorf("%s: %w", where, classifyData(err))
	}
}

// outOfRange explains an OFFSET_OUT_OF_RANGE fetch error.
func (r *reader) outOfRange(ctx context.Context, err error) error {
	where := "kafka: fetch " + r.s.o.Topic + "/" + r.partition
	logStart, end, berr := r.s.bounds(ctx, r.p)
	if berr != nil {
		return fmt.Errorf("%s: the reader's offset is out of range (%w): %w", where, err, driver.ErrPointerNotFound)
	}
	return fmt.Errorf("%s: the reader's offset is out of range: the log holds offsets %d to %d; records were deleted (retention or DeleteRecords) or the log was truncated (%w): %w",
		where, logStart, end-1, err, driver.ErrPointerNotFound)
}

// appendConverted appends the driver records of fetched franz-go records
// of one partition to out, filling them in place. Their pointers share one
// allocation and their IDs one string, so a batch costs a few allocations,
// not a few per record; the key, value and header slices are franz-go's.
// idAt is scratch space for the index of each record's ID header (or -1),
// returned for reuse by the next call.
func appendConverted(out []driver.Record, krs []*kgo.Record, partition string, idAt []int32) ([]driver.Record, []int32) {
	idAt = slices.Grow(idAt[:0], len(krs))[:len(krs)]
	idLen := 0
	for i, kr := range krs {
		idAt[i] = -1
		for j := len(kr.Headers) - 1; j >= 0; j-- {
			if kr.Headers[j].Key == HeaderID {
				idAt[i] = int32(j)
				idLen += len(kr.Headers[j].Value)
				break
			}
		}
	}
	var allIDs string
	if idLen > 0 {
		idBytes := make([]byte, 0, idLen)
		for i, kr := range krs {
			if j := idAt[i]; j >= 0 {
				idBytes = append(idBytes, kr.Headers[j].Value...)
			}
		}
		allIDs = string(idBytes)
	}
	ptrs := make([]byte, PointerLen*len(krs))
	base := len(out)
	out = slices.Grow(out, len(krs))[:base+len(krs)]
	at := 0
	for i, kr := range krs {
		ptr := ptrs[i*PointerLen : (i+1)*PointerLen : (i+1)*PointerLen]
		binary.BigEndian.PutUint64(ptr, uint64(kr.Offset))
		rec := &out[base+i] // every field is set: the slot may be reused
		rec.Key = kr.Key
		rec.Value = kr.Value
		rec.Time = kr.Timestamp
		rec.Stream = kr.Topic
		rec.Partition = partition
		rec.Pointer = ptr
		j := int(idAt[i])
		var id string
		if j >= 0 {
			n := len(kr.Headers[j].Value)
			id = allIDs[at : at+n]
			at += n
		}
		if id == "" {
			id = RecordID(kr.Topic, kr.Partition, kr.Offset)
		}
		rec.ID = id
		rec.Headers = nil
		if n := len(kr.Headers); n > 1 || n == 1 && j < 0 {
			hs := make([]driver.Header, 0, n)
			for k, h := range kr.Headers {
				if k != j {
					hs = append(hs, driver.Header{Key: h.Key, Value: h.Value})
				}
			}
			rec.Headers = hs
		}
	}
	return out, idAt
}

// Lag returns the records in the partition after the last one Fetch
// returned, from the high watermark of the last fetch response
// (driver.LagReporter); -1 before the first response and record. The time
// is not told (-1). Control records (transaction markers) count as
// records, as in Kafka's own consumer lag.
func (r *reader) Lag() driver.Lag {
	hw, next := r.hw.Load(), r.next.Load()
	if hw < 0 || next < 0 {
		return driver.Lag{Records: -1, Time: -1}
	}
	return driver.Lag{Records: max(hw-next, 0), Time: -1}
}

// Close stops the reader: it closes the reader's own client, or gives its
// partition back to the shared client (closed with its last reader). Fetch
// fails with ErrClosed afterwards. It is idempotent.
func (r *reader) Close() error {
	if r.closed.CompareAndSwap(false, true) {
		if r.sh != nil {
			r.s.closeShare(r.sh)
		} else {
			r.s.closeClient(r.cl)
			r.s.ownReaders.Add(-1)
		}
	}
	return nil
}
