package kinesis

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/unistream-go/unistream/stream/driver"
)

// OpenWriter opens a writer to the stream. Writers share the stream's SDK
// client.
func (s *Stream) OpenWriter(ctx context.Context) (driver.Writer, error) {
	if err := s.check(ctx, "open writer to"); err != nil {
		return nil, err
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	return &writer{s: s, prefix: hex.EncodeToString(b[:]) + "-"}, nil
}

// writer writes to the stream with PutRecords.
type writer struct {
	s      *Stream
	prefix string // of the partition keys of records without a key
	rr     uint64
	closed atomic.Bool
}

// entry is one record on its way into a PutRecords call.
type entry struct {
	i     int // index in the Write call
	pk    string
	data  []byte
	shard string // the open shard its hash key falls in, per the shard map
}

// partitionKey returns the partition key of r and whether r's key must
// travel in the envelope. A key that is valid UTF-8 of 1 to 256 characters
// is the partition key; another key (binary, or longer) is routed by the
// hex MD5 of its bytes, so one key still keeps one shard, and travels in
// the envelope; a record without a key gets a key of its own, spreading
// such records over the shards.
func (w *writer) partitionKey(r *driver.Record) (pk string, keyInEnvelope bool) {
	switch {
	case len(r.Key) == 0:
		w.rr++
		return w.prefix + strconv.FormatUint(w.rr, 10), false
	case validPartitionKey(r.Key):
		return string(r.Key), false
	}
	sum := md5.Sum(r.Key)
	return hex.EncodeToString(sum[:]), true
}

// Write writes records per the driver contract, in PutRecords calls of at
// most 500 records and 5 MiB (data and partition keys), one after the
// other, and reports a result per record: the shard and the sequence
// number, or the record's error. A record's data is its envelope and
// value, or with envelope=false its value alone; a record that form cannot
// carry (see checkPlain) fails alone with an error wrapping
// ErrNeedsEnvelope.
//
// Kinesis places a record by the MD5 of its partition key, and a
// PutRecords call may fail single records (ProvisionedThroughputExceeded,
// InternalFailure) while storing others. To keep per-key order, the writer
// predicts each record's shard from the hash key ranges of the open shards
// (listed with ListShards, cached) and, once a record fails, fails every
// later record of the call with the same partition key or the same shard
// with an error wrapping driver.ErrPrecedingRecordFailed: those not yet
// sent are not sent, and one that Kinesis stored after the failed one in
// the same PutRecords call is reported failed too, as written out of
// order: re-sending the failed records in order then repeats it after the
// failed one (a duplicate with the same ID). Failed records are not
// re-sent here: the producer engine backs off and re-sends only them, in
// their order.
//
// Whole-call errors (nothing stored): a closed writer or stream, a done
// context, len(results) != len(records), more than MaxBatchRecords
// records or MaxBatchBytes bytes, a failure to list the shards, or a
// failure of the first PutRecords call. A later PutRecords call that fails
// whole fails its records and every record after them, each with the
// error.
func (w *writer) Write(ctx context.Context, records []driver.Record, results []driver.WriteResult) error {
	s := w.s
	where := "kinesis: write to " + s.o.Stream
	if w.closed.Load() {
		return fmt.Errorf("%s: writer is closed: %w", where, ErrClosed)
	}
	if err := s.check(ctx, "write to"); err != nil {
		return err
	}
	if len(results) != len(records) {
		return fmt.Errorf("%s: %d results for %d records: expected one result per record", where, len(results), len(records))
	}
	caps := s.Capabilities()
	if len(records) > caps.MaxBatchRecords {
		return fmt.Errorf("%s: %d records in one call, MaxBatchRecords is %d", where, len(records), caps.MaxBatchRecords)
	}
	batchBytes := 0
	for i := range records {
		if sz := records[i].Size(); sz <= caps.MaxRecordBytes {
			batchBytes += sz
		}
	}
	if batchBytes > caps.MaxBatchBytes {
		return fmt.Errorf("%s: %d bytes in one call, MaxBatchBytes is %d", where, batchBytes, caps.MaxBatchBytes)
	}
	if len(records) == 0 {
		return nil
	}
	m, err := s.openShards(ctx)
	if err != nil {
		return fmt.Errorf("%s: list the open shards: %w", where, err)
	}
	for i := range results {
		results[i] = driver.WriteResult{}
	}
	wr := writeRun{w: w, where: where, records: records, results: results,
		failedShard: map[string]int{}, failedKey: map[string]int{}}
	var chunk []entry
	chunkBytes := 0
	for i := range records {
		r := &records[i]
		pk, keyInEnvelope := w.partitionKey(r)
		h := md5.Sum([]byte(pk))
		e := entry{i: i, pk: pk, shard: shardOf(m, h)}
		if wr.gate(e) {
			continue
		}
		if sz := r.Size(); sz > caps.MaxRecordBytes {
			wr.fail(e, fmt.Errorf("%s: record %d (id %q) is %d bytes, MaxRecordBytes is %d: %w", where, i, r.ID, sz, caps.MaxRecordBytes, driver.ErrRecordTooLarge))
			continue
		}
		if s.o.Envelope {
			if n := envelopeSize(r, keyInEnvelope) + len(pk); n > RecordMaxBytes {
				wr.fail(e, fmt.Errorf("%s: record %d (id %q) encodes to %d bytes with its partition key and %d headers, Kinesis takes at most %d: %w",
					where, i, r.ID, n, len(r.Headers), RecordMaxBytes, driver.ErrRecordTooLarge))
				continue
			}
			e.data = appendEnvelope(make([]byte, 0, envelopeSize(r, keyInEnvelope)), r, keyInEnvelope)
		} else {
			// The plain form: the value is the data, as other consumers
			// of the stream read it; what it cannot carry is refused.
			if err := checkPlain(r); err != nil {
				wr.fail(e, fmt.Errorf("%s: record %d (id %q): %w", where, i, r.ID, err))
				continue
			}
			if n := len(r.Value) + len(pk); n > RecordMaxBytes {
				wr.fail(e, fmt.Errorf("%s: record %d (id %q) is %d bytes with its partition key, Kinesis takes at most %d: %w",
					where, i, r.ID, n, RecordMaxBytes, driver.ErrRecordTooLarge))
				continue
			}
			e.data = r.Value
		}
		if n := len(e.data) + len(pk); len(chunk) == PutRecordsMaxEntries || chunkBytes+n > PutRecordsMaxBytes {
			if err := wr.send(ctx, chunk); err != nil {
				return err
			}
			if wr.broken != nil {
				wr.failRest(i)
				return nil
			}
			chunk, chunkBytes = nil, 0
			if wr.gate(e) { // a record of the sent chunk failed
				continue
			}
		}
		chunk = append(chunk, e)
		chunkBytes += len(e.data) + len(pk)
	}
	if len(chunk) > 0 {
		if err := wr.send(ctx, chunk); err != nil {
			return err
		}
	}
	return nil
}

// writeRun is the state of one Write call.
type writeRun struct {
	w           *writer
	where       string
	records     []driver.Record
	results     []driver.WriteResult
	failedShard map[string]int // shard -> index of its first failed record
	failedKey   map[string]int // partition key -> index of its first failed record
	stored      bool           // some record is stored
	broken      error          // a PutRecords call after the first failed whole
}

// gate fails e if an earlier record of its shard or partition key failed.
func (wr *writeRun) gate(e entry) bool {
	first, ok := wr.firstFailed(e)
	if !ok {
		return false
	}
	wr.results[e.i] = driver.WriteResult{Err: fmt.Errorf("%s: record %d (id %q) not written: record %d of the same shard or partition key failed earlier in this call (a shard is a log without holes): %w",
		wr.where, e.i, wr.records[e.i].ID, first, driver.ErrPrecedingRecordFailed)}
	return true
}

func (wr *writeRun) firstFailed(e entry) (int, bool) {
	if first, ok := wr.failedKey[e.pk]; ok {
		return first, true
	}
	if e.shard != "" {
		if first, ok := wr.failedShard[e.shard]; ok {
			return first, true
		}
	}
	return 0, false
}

// fail records e's error and gates the later records of its shard and key.
func (wr *writeRun) fail(e entry, err error) {
	wr.results[e.i] = driver.WriteResult{Err: err}
	if _, ok := wr.failedKey[e.pk]; !ok {
		wr.failedKey[e.pk] = e.i
	}
	if _, ok := wr.failedShard[e.shard]; e.shard != "" && !ok {
		wr.failedShard[e.shard] = e.i
	}
}

// failRest fails the records from index i on after a broken call.
func (wr *writeRun) failRest(i int) {
	for ; i < len(wr.records); i++ {
		if wr.results[i].Err == nil && wr.results[i].Pointer == nil {
			wr.results[i] = driver.WriteResult{Err: fmt.Errorf("%s: record %d (id %q) not sent: an earlier PutRecords call of this write failed: %w",
				wr.where, i, wr.records[i].ID, wr.broken)}
		}
	}
}

// send makes one PutRecords call of chunk and records the results. It
// returns an error only when the call fails whole before any record of the
// Write is stored; a later whole failure sets wr.broken.
func (wr *writeRun) send(ctx context.Context, chunk []entry) error {
	if len(chunk) == 0 {
		return nil
	}
	s := wr.w.s
	in := &kinesis.PutRecordsInput{StreamName: s.nameArg(), StreamARN: s.arnArg(), Records: make([]types.PutRecordsRequestEntry, len(chunk))}
	for j, e := range chunk {
		in.Records[j] = types.PutRecordsRequestEntry{Data: e.data, PartitionKey: aws.String(e.pk)}
	}
	rctx, cancel := s.reqCtx(ctx)
	out, err := s.client.PutRecords(rctx, in, noRetry)
	cancel()
	if err == nil && len(out.Records) != len(chunk) {
		err = fmt.Errorf("PutRecords returned %d results for %d records (some may be stored)", len(out.Records), len(chunk))
	}
	if err != nil {
		if apiCode(err) == "ProvisionedThroughputExceededException" {
			err = fmt.Errorf("%w: %w", ErrThrottled, err)
		}
		err = classify(err)
		if !wr.stored {
			return fmt.Errorf("%s: PutRecords of %d records: %w", wr.where, len(chunk), err)
		}
		wr.broken = err
		for _, e := range chunk {
			if !wr.gate(e) {
				wr.fail(e, fmt.Errorf("%s: record %d (id %q): PutRecords failed: %w", wr.where, e.i, wr.records[e.i].ID, err))
			}
		}
		return nil
	}
	for j, res := range out.Records {
		e := chunk[j]
		id := wr.records[e.i].ID
		if code := aws.ToString(res.ErrorCode); code != "" {
			err := fmt.Errorf("%s: record %d (id %q), partition key %q: %s: %s", wr.where, e.i, id, e.pk, code, aws.ToString(res.ErrorMessage))
			if code == "ProvisionedThroughputExceededException" {
				err = fmt.Errorf("%w: %w", err, ErrThrottled)
			} else if permanentCode(code) {
				err = driver.Permanent(err)
			}
			if _, gated := wr.firstFailed(e); gated {
				wr.gate(e)
				continue
			}
			wr.fail(e, err)
			continue
		}
		shard, seq := aws.ToString(res.ShardId), aws.ToString(res.SequenceNumber)
		wr.stored = true
		if shard != e.shard {
			s.markMapStale()
		}
		if err := checkSeq(seq); err != nil || shard == "" {
			wr.fail(e, fmt.Errorf("%s: record %d (id %q): Kinesis stored it but returned shard %q and %v: expected a shard id and a decimal sequence number", wr.where, e.i, id, shard, err))
			continue
		}
		first, ok := wr.failedKey[e.pk]
		if !ok || first > e.i {
			first, ok = wr.failedShard[shard]
		}
		if ok && first < e.i {
			wr.results[e.i] = driver.WriteResult{Err: fmt.Errorf("%s: record %d (id %q) was stored in %s at %s after record %d of the same shard or key failed: written out of order, it will repeat when re-sent: %w",
				wr.where, e.i, id, shard, seq, first, driver.ErrPrecedingRecordFailed)}
			continue
		}
		wr.results[e.i] = driver.WriteResult{Partition: shard, Pointer: driver.Pointer(seq)}
	}
	return nil
}

// Close closes the writer; Write fails with ErrClosed afterwards. It is
// idempotent.
func (w *writer) Close() error {
	w.closed.Store(true)
	return nil
}
