package kinesis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/unistream-go/unistream/stream/driver"
)

// maxThrottleFactor caps the reader's throttle backoff at this many times
// the throttle_backoff option.
const maxThrottleFactor = 30

// emptyRetries is how many more GetRecords calls one Fetch makes when a
// call returns nothing but says the reader is behind (AWS may answer empty
// pages in a sparse shard).
const emptyRetries = 3

// OpenReader opens a reader of one shard at a start position, getting its
// first shard iterator at once (so that Latest means the records written
// after the open):
//
//   - Earliest: TRIM_HORIZON, the oldest retained record;
//   - Latest: LATEST;
//   - AtTime(t): AT_TIMESTAMP, then the reader skips the first records
//     whose time (the producer's event time, or the arrival time of a record
//     without the adapter's envelope) is before t, up to the first one at
//     or after t. Kinesis positions by arrival time, which is at or after
//     the event time unless the producer's clock runs ahead;
//   - After(p): AFTER_SEQUENCE_NUMBER, or for a pointer into a KPL
//     aggregate AT_SEQUENCE_NUMBER skipping the aggregate's records up to
//     and including p's;
//   - At(p): AT_SEQUENCE_NUMBER (skipping an aggregate's records before
//     p's); the first record read must be p's, or Fetch fails with
//     driver.ErrPointerNotFound.
//
// Kinesis refuses a sequence number that did not come from the shard with
// InvalidArgumentException; OpenReader then fails with an error wrapping
// driver.ErrPointerNotFound.
func (s *Stream) OpenReader(ctx context.Context, shard string, start driver.Start) (driver.Reader, error) {
	if err := s.check(ctx, "open reader of"); err != nil {
		return nil, err
	}
	if err := validateShardID(shard); err != nil {
		return nil, fmt.Errorf("kinesis: open reader of %s: %w", s.o.Stream, err)
	}
	r := &reader{s: s, shard: shard, start: start, openTime: time.Now()}
	r.bgCtx, r.bgCancel = context.WithCancel(s.bgCtx)
	where := fmt.Sprintf("kinesis: open reader of %s/%s at start %s", s.o.Stream, shard, start.Kind)
	switch start.Kind {
	case driver.StartEarliest, driver.StartLatest:
	case driver.StartAtTime:
		r.timeFilter, r.atTime = true, start.Time
	case driver.StartAfter, driver.StartAt:
		pos, err := ParsePosition(start.Pointer)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		r.startPos = pos
		r.skipActive = true
		r.checkFirst = start.Kind == driver.StartAt
	default:
		return nil, fmt.Errorf("kinesis: open reader of %s/%s: unknown start kind %s (expected earliest, latest, at-time, after or at)", s.o.Stream, shard, start.Kind)
	}
	in := r.startInput(false)
	iter, err := r.getIterator(ctx, in)
	if err != nil {
		if (start.Kind == driver.StartAfter || start.Kind == driver.StartAt) && apiCode(err) == "InvalidArgumentException" {
			return nil, fmt.Errorf("%s %s: Kinesis refuses the sequence number (%w): %w", where, Codec{}.Format(s.o.Stream, shard, start.Pointer), err, driver.ErrPointerNotFound)
		}
		r.bgCancel()
		return nil, fmt.Errorf("%s: %w", where, classify(err))
	}
	r.iter = iter
	return r, nil
}

var _ driver.LagReporter = (*reader)(nil)

// reader reads one shard with a GetRecords loop.
type reader struct {
	s        *Stream
	shard    string
	start    driver.Start
	openTime time.Time
	closed   atomic.Bool

	iter     *string // the next shard iterator; nil once the shard is finished
	finished bool

	// Where the reader is: the last Kinesis record whose user records are
	// all in buf or returned, to refresh an expired iterator from.
	last    string
	hasLast bool

	// Start filters.
	startPos   Position
	skipActive bool // drop records at or before (After) or before (At) startPos while at its sequence number
	checkFirst bool // StartAt: the first record must be at startPos
	timeFilter bool // AtTime: drop records before atTime until the first at or after it
	atTime     time.Time

	pf       *prefetch          // a GetRecords call made ahead, or nil
	bgCtx    context.Context    // of the prefetch: ends on Close
	bgCancel context.CancelFunc //

	buf       []driver.Record
	fatal     error
	throttles int
	idle      int // GetRecords calls in a row that found nothing new
	nextCall  time.Time
	behind    atomic.Int64 // MillisBehindLatest of the last GetRecords
}

// startInput returns the GetShardIterator input of the start position, or
// of the reader's position when it has read something. A refresh of a
// LATEST reader that read nothing starts at the time of the open.
func (r *reader) startInput(refresh bool) *kinesis.GetShardIteratorInput {
	in := &kinesis.GetShardIteratorInput{StreamName: r.s.nameArg(), StreamARN: r.s.arnArg(), ShardId: aws.String(r.shard)}
	if r.hasLast {
		in.ShardIteratorType = types.ShardIteratorTypeAfterSequenceNumber
		in.StartingSequenceNumber = aws.String(r.last)
		return in
	}
	switch r.start.Kind {
	case driver.StartEarliest:
		in.ShardIteratorType = types.ShardIteratorTypeTrimHorizon
	case driver.StartLatest:
		if !refresh {
			in.ShardIteratorType = types.ShardIteratorTypeLatest
		} else {
			// An expired LATEST iterator that read nothing: the records
			// that arrived since the open.
			in.ShardIteratorType = types.ShardIteratorTypeAtTimestamp
			in.Timestamp = aws.Time(r.openTime)
		}
	case driver.StartAtTime:
		t := r.atTime
		if now := time.Now(); t.After(now) {
			// Kinesis refuses a future timestamp; the records at or after
			// t arrive after now.
			t = now
		}
		in.ShardIteratorType = types.ShardIteratorTypeAtTimestamp
		in.Timestamp = aws.Time(t)
	case driver.StartAfter, driver.StartAt:
		in.StartingSequenceNumber = aws.String(r.startPos.Seq)
		in.ShardIteratorType = types.ShardIteratorTypeAtSequenceNumber
		if r.start.Kind == driver.StartAfter && !r.startPos.HasSub {
			in.ShardIteratorType = types.ShardIteratorTypeAfterSequenceNumber
		}
	}
	return in
}

// getIterator calls GetShardIterator.
func (r *reader) getIterator(ctx context.Context, in *kinesis.GetShardIteratorInput) (*string, error) {
	rctx, cancel := r.s.reqCtx(ctx)
	defer cancel()
	out, err := r.s.client.GetShardIterator(rctx, in)
	if err != nil {
		return nil, err
	}
	if out.ShardIterator == nil {
		return nil, errors.New("GetShardIterator returned no iterator")
	}
	return out.ShardIterator, nil
}

// MillisBehindLatest returns how far the reader was behind the tip of its
// shard at its last GetRecords call, as Kinesis reports it.
func (r *reader) MillisBehindLatest() int64 { return r.behind.Load() }

// Lag is MillisBehindLatest as a duration (driver.LagReporter); Kinesis
// does not tell the records (-1).
func (r *reader) Lag() driver.Lag {
	return driver.Lag{Records: -1, Time: time.Duration(r.behind.Load()) * time.Millisecond}
}

// Fetch returns up to max records of the shard, in order, the records of a
// KPL aggregate de-aggregated. It makes one GetRecords call (a few when
// Kinesis answers empty pages while the reader is behind), and waits
// before it only after calls that found nothing new (poll_interval,
// doubling with each such call in a row up to max_poll_interval, so that
// idle shards cost few calls), or to back off after
// ProvisionedThroughputExceeded (throttle_backoff, doubling); a throttled
// call returns no records and no error. An expired
// iterator is replaced from the last record read. A closed shard read to
// its end (no NextShardIterator) returns driver.ErrPartitionFinished, then
// and on every later call. Other errors are returned wrapped; the reader
// stays usable and the next Fetch goes on from the same position.
//
// When a call returns a full page (or Kinesis says the reader is behind),
// the reader makes the next GetRecords call at once in the background, so
// that the next page arrives while the engine handles this one; the next
// Fetch takes its result, errors included.
func (r *reader) Fetch(ctx context.Context, max int) ([]driver.Record, error) {
	where := func() string { return "kinesis: fetch " + r.s.o.Stream + "/" + r.shard }
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
	for tries := 0; len(r.buf) == 0 && !r.finished && tries <= emptyRetries; tries++ {
		if err := sleep(ctx, time.Until(r.nextCall)); err != nil {
			return nil, fmt.Errorf("%s: %w", where(), err)
		}
		more, err := r.getRecords(ctx, max)
		if err != nil {
			if r.fatal != nil {
				return nil, r.fatal
			}
			return nil, fmt.Errorf("%s: %w", where(), classify(err))
		}
		if !more {
			break
		}
	}
	if len(r.buf) == 0 {
		if r.finished {
			return nil, fmt.Errorf("%s: %w", where(), driver.ErrPartitionFinished)
		}
		return nil, nil
	}
	n := min(max, len(r.buf))
	out := r.buf[:n:n]
	r.buf = r.buf[n:]
	if len(r.buf) == 0 {
		r.buf = nil
	}
	return out, nil
}

// getRecords makes one GetRecords call and appends what it read to buf.
// more reports that another call right away may find records.
func (r *reader) getRecords(ctx context.Context, max int) (more bool, err error) {
	limit := int32(min(max, r.s.o.GetRecordsLimit, 10000))
	for refreshed := 0; ; refreshed++ {
		var out *kinesis.GetRecordsOutput
		var err error
		if pf := r.pf; pf != nil {
			select {
			case <-pf.done:
			case <-ctx.Done():
				return false, ctx.Err() // the prefetch stays for the next Fetch
			}
			r.pf = nil
			out, err = pf.out, pf.err
		} else {
			out, err = r.s.getRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: r.iter, Limit: aws.Int32(limit), StreamARN: r.s.arnArg()})
		}
		if err != nil {
			switch code := apiCode(err); {
			case code == "ExpiredIteratorException" && refreshed < 2:
				iter, ierr := r.getIterator(ctx, r.startInput(true))
				if ierr != nil {
					return false, fmt.Errorf("refresh the expired iterator: %w (GetRecords: %w)", ierr, err)
				}
				r.iter = iter
				continue
			case code == "ProvisionedThroughputExceededException":
				r.throttles++
				d := r.s.o.ThrottleBackoff << min(r.throttles-1, 5)
				r.nextCall = time.Now().Add(min(d, maxThrottleFactor*r.s.o.ThrottleBackoff))
				slog.Debug("kinesis: GetRecords throttled", "stream", r.s.o.Stream, "shard", r.shard, "backoff", time.Until(r.nextCall))
				return false, nil
			}
			if ctx.Err() != nil {
				return false, ctx.Err()
			}
			return false, err
		}
		r.throttles = 0
		behind := aws.ToInt64(out.MillisBehindLatest)
		r.behind.Store(behind)
		r.iter = out.NextShardIterator
		if r.iter == nil {
			r.finished = true
		}
		before := len(r.buf)
		for i := range out.Records {
			if err := r.add(&out.Records[i]); err != nil {
				r.fatal = err
				return false, err
			}
		}
		switch {
		case len(out.Records) == 0 && behind <= 0:
			r.idle++
			r.nextCall = time.Now().Add(r.s.idleWait(r.idle))
			return false, nil
		case len(r.buf) == before:
			// Nothing kept (empty page, or records skipped by the start
			// filters): call again.
			return !r.finished, nil
		}
		r.nextCall, r.idle = time.Time{}, 0
		if r.iter != nil && (len(out.Records) >= int(limit) || behind > 0) {
			// More is waiting: fetch the next page while the engine
			// handles this one.
			r.startPrefetch(limit)
		}
		return false, nil
	}
}

// idleWait is the wait before the next GetRecords call of a shard after
// idle calls in a row found nothing new: poll_interval, doubling with each
// such call, up to max_poll_interval (never below poll_interval).
func (s *Stream) idleWait(idle int) time.Duration {
	d, most := s.o.PollInterval, max(s.o.MaxPollInterval, s.o.PollInterval)
	for i := 1; i < idle && d < most; i++ {
		d *= 2
	}
	return min(d, most)
}

// prefetch is one GetRecords call made ahead, in the background, while
// the records of the last call are handled.
type prefetch struct {
	done chan struct{} // closed when out and err are set
	out  *kinesis.GetRecordsOutput
	err  error
}

// startPrefetch starts a GetRecords call with the current iterator. Its
// goroutine is owned by the reader: Close cancels it and waits for it, and
// the stream's Close cancels it too.
func (r *reader) startPrefetch(limit int32) {
	pf := &prefetch{done: make(chan struct{})}
	r.pf = pf
	iter := r.iter
	go func() {
		defer close(pf.done)
		pf.out, pf.err = r.s.getRecords(r.bgCtx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(limit), StreamARN: r.s.arnArg()})
	}()
}

// add converts one Kinesis record into driver records (one per user record
// of a KPL aggregate), applies the start filters, and appends the kept ones
// to buf.
func (r *reader) add(kr *types.Record) error {
	seq := aws.ToString(kr.SequenceNumber)
	if err := checkSeq(seq); err != nil {
		return fmt.Errorf("kinesis: the service returned a record with a bad %w: expected a decimal sequence number", err)
	}
	arrival := aws.ToTime(kr.ApproximateArrivalTimestamp)
	pk := aws.ToString(kr.PartitionKey)
	if r.skipActive && seq != r.startPos.Seq {
		r.skipActive = false
	}
	r.last, r.hasLast = seq, true
	if IsAggregated(kr.Data) {
		subs, err := Deaggregate(kr.Data)
		if err == nil {
			for i, u := range subs {
				pos := Position{Seq: seq, Sub: uint64(i), HasSub: true}
				if err := r.keep(pos, r.convert(pos, u.Data, u.PartitionKey, arrival)); err != nil {
					return err
				}
			}
			return nil
		}
		// As the KCL does, data with the magic that is not a valid
		// aggregate is an ordinary record.
		slog.Warn("kinesis: record with the KPL magic is not a valid aggregate; reading it as one record",
			"stream", r.s.o.Stream, "shard", r.shard, "sequence", seq, "err", err)
	}
	pos := Position{Seq: seq}
	return r.keep(pos, r.convert(pos, kr.Data, pk, arrival))
}

// keep appends rec unless a start filter drops it. A reader opened At a
// pointer fails with driver.ErrPointerNotFound when the first record it
// keeps is not at the pointer.
func (r *reader) keep(pos Position, rec driver.Record) error {
	if r.skipActive {
		c := Codec{}.Compare(pos.Pointer(), r.startPos.Pointer())
		if c < 0 || c == 0 && r.start.Kind == driver.StartAfter {
			return nil
		}
	}
	if r.checkFirst {
		r.checkFirst = false
		if (Codec{}).Compare(pos.Pointer(), r.startPos.Pointer()) != 0 {
			return fmt.Errorf("kinesis: fetch %s/%s: the reader opened at %s found %s first: the record is no longer (or not yet) in the shard: %w",
				r.s.o.Stream, r.shard, r.startPos, pos, driver.ErrPointerNotFound)
		}
	}
	if r.timeFilter {
		if rec.Time.Before(r.atTime) {
			return nil
		}
		r.timeFilter = false
	}
	r.buf = append(r.buf, rec)
	return nil
}

// convert builds the driver record of one (user) record.
func (r *reader) convert(pos Position, data []byte, pk string, arrival time.Time) driver.Record {
	rec := driver.Record{Stream: r.s.o.Stream, Partition: r.shard, Pointer: pos.Pointer(), Time: arrival, Value: data}
	keyFromEnvelope := false
	if hasEnvelope(data) {
		env := rec
		k, err := decodeEnvelope(data, &env)
		if err == nil {
			rec, keyFromEnvelope = env, k
		} else {
			slog.Warn("kinesis: record with the unistream envelope magic does not decode; reading its data as the value",
				"stream", r.s.o.Stream, "shard", r.shard, "pointer", pos.String(), "err", err)
		}
	}
	if !keyFromEnvelope {
		rec.Key = []byte(pk)
	}
	if rec.ID == "" {
		rec.ID = RecordID(r.s.o.Stream, r.shard, pos)
	}
	return rec
}

// Close releases the reader, stopping a GetRecords call made ahead; Fetch
// fails with ErrClosed afterwards. It is idempotent.
func (r *reader) Close() error {
	if r.closed.CompareAndSwap(false, true) {
		r.bgCancel()
		if r.pf != nil {
			<-r.pf.done
			r.pf = nil
		}
	}
	return nil
}
