package kafka

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/unistream-go/unistream/stream/driver"
)

// OpenWriter opens a writer to the topic. The writer owns an idempotent
// franz-go producing client, so that retried produce requests are never
// duplicated or reordered by the broker.
func (s *Stream) OpenWriter(ctx context.Context) (driver.Writer, error) {
	if err := s.check(ctx, "open writer to"); err != nil {
		return nil, err
	}
	cl, err := s.newClient("open writer to",
		kgo.DefaultProduceTopic(s.o.Topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ManualFlushing(),
		kgo.MaxBufferedRecords(DefaultMaxBatchRecords),
		kgo.ProducerBatchMaxBytes(batchMaxBytes(s.o.MaxRecordBytes)),
		kgo.ProducerBatchCompression(compressionCodec(s.o.Compression)),
		// No kgo.RecordDeliveryTimeout: franz-go measures it from the
		// record's timestamp, so a record with an old event time (a DLQ
		// replay, a backfill) would time out at once. Write bounds the
		// delivery with a context instead.
	)
	if err != nil {
		return nil, err
	}
	w := &writer{s: s, cl: cl}
	w.promise = w.delivered
	return w, nil
}

// writer writes to the topic through its own client. It is used by one
// goroutine at a time (the driver.Writer contract), so the per-call
// scratch below is reused from call to call without locking: a Write
// returns only after franz-go has called the promise of every record it
// was given, and franz-go holds no record after its promise.
type writer struct {
	s      *Stream
	cl     *kgo.Client
	rr     uint64 // round-robin counter of records without a key
	closed atomic.Bool

	// promise is w.delivered, made once: one callback serves every record.
	promise func(*kgo.Record, error)
	// pending counts the records given to the client and not yet promised.
	pending sync.WaitGroup
	// mu guards failed, the errors of the records that failed (keyed by
	// their franz-go record, an element of recs), written by the promise
	// and by Write. It is empty but for failures, so success costs no
	// lookup.
	mu     sync.Mutex
	failed map[*kgo.Record]error

	// Per-call scratch, reused.
	recs        []kgo.Record       // the franz-go record of each record
	hdrs        []kgo.RecordHeader // the headers of every record, in order
	ids         []byte             // the id header values, back to back
	parts       []int32            // the partition of each record
	sent        []bool             // whether each record was given to the client
	firstFailed []int              // per partition: index of its first failed record, or -1
	partNames   []string           // per partition: its id as a string
}

// Write writes records per the driver contract and waits for the broker's
// acknowledgement of each.
//
// A record with a key goes to the partition of the murmur2 hash of its key
// (as Kafka's Java client and franz-go's default partitioner place it);
// records without a key go round robin. The record's ID travels in the
// HeaderID header; a zero Time is stamped by the client.
//
// Whole-call errors: a closed writer or stream, a done context before the
// write, len(results) != len(records), more than MaxBatchRecords records,
// more than MaxBatchBytes of records that fit MaxRecordBytes, or a failure
// to read the partition count. Per-record errors: a record over
// MaxRecordBytes (driver.ErrRecordTooLarge, not sent), the broker's or the
// client's error for the record, and for every record that follows a
// failed record of its partition in the call, an error wrapping
// driver.ErrPrecedingRecordFailed.
//
// The records are buffered, then flushed in one go (franz-go's manual
// flushing: one produce request per call when its records fit);
// when a batch fails, franz-go fails every later buffered record of its
// partition, and the idempotent producer's sequence numbers make the
// broker refuse a later batch after a missing one, so a partition stays a
// log without holes. The delivery_timeout option bounds the wait for the
// broker. If ctx is done while records are in flight, the records not yet
// acknowledged are aborted and fail with the context's error (some may
// still have been written: re-sending them duplicates them, with the same
// ID).
//
// A successful call allocates the results' pointers (one array for the
// call) and a few small values: the franz-go records, their headers and
// the id header values live in buffers the writer reuses from call to
// call, and one promise serves every record.
func (w *writer) Write(ctx context.Context, records []driver.Record, results []driver.WriteResult) error {
	s := w.s
	topic := s.o.Topic
	if w.closed.Load() {
		return fmt.Errorf("kafka: write to %s: writer is closed: %w", topic, ErrClosed)
	}
	if err := s.check(ctx, "write to"); err != nil {
		return err
	}
	if len(results) != len(records) {
		return fmt.Errorf("kafka: write to %s: %d results for %d records: expected one result per record", topic, len(results), len(records))
	}
	caps := s.Capabilities()
	if len(records) > caps.MaxBatchRecords {
		return fmt.Errorf("kafka: write to %s: %d records in one call, MaxBatchRecords is %d", topic, len(records), caps.MaxBatchRecords)
	}
	batchBytes, idBytes, nHdrs := 0, 0, 0
	for i := range records {
		r := &records[i]
		if sz := r.Size(); sz <= caps.MaxRecordBytes {
			batchBytes += sz
		}
		idBytes += len(r.ID)
		nHdrs += len(r.Headers) + 1
	}
	if batchBytes > caps.MaxBatchBytes {
		return fmt.Errorf("kafka: write to %s: %d bytes in one call, MaxBatchBytes is %d", topic, batchBytes, caps.MaxBatchBytes)
	}
	if len(records) == 0 {
		return nil
	}
	n, err := s.partitionCount(ctx)
	if err != nil {
		return fmt.Errorf("kafka: write to %s: %w", topic, err)
	}
	w.prepare(len(records), n, nHdrs, idBytes)

	// Build the franz-go records and decide which are sent: not a record
	// too large, nor one after a failed record of its partition.
	maxEncoded := int(batchMaxBytes(caps.MaxRecordBytes)) - batchHeaderLen
	nSent := 0
	for i := range records {
		r := &records[i]
		kr := &w.recs[i]
		w.fill(kr, r, topic)
		var p int32
		if len(r.Key) > 0 {
			p = keyPartition(r.Key, n)
		} else {
			p = int32(w.rr % uint64(n))
			w.rr++
		}
		kr.Partition = p
		w.parts[i] = p
		if w.firstFailed[p] >= 0 {
			continue // reported below
		}
		if sz := r.Size(); sz > caps.MaxRecordBytes {
			w.failed[kr] = fmt.Errorf("kafka: write to %s: record %d (id %q) is %d bytes, MaxRecordBytes is %d: %w", topic, i, r.ID, sz, caps.MaxRecordBytes, driver.ErrRecordTooLarge)
			w.firstFailed[p] = i
			continue
		}
		if sz := encodedSize(kr); sz > maxEncoded {
			w.failed[kr] = fmt.Errorf("kafka: write to %s: record %d (id %q) encodes to %d bytes with its %d headers, the producer's batch limit is %d: %w",
				topic, i, r.ID, sz, len(r.Headers), maxEncoded, driver.ErrRecordTooLarge)
			w.firstFailed[p] = i
			continue
		}
		w.sent[i] = true
		nSent++
	}

	// The delivery timeout bounds the records' wait for the broker; a
	// record not yet sent when it passes fails with the context's error.
	dctx, cancel := context.WithTimeout(ctx, s.o.DeliveryTimeout)
	defer cancel()
	w.pending.Add(nSent)
	for i := range records {
		if w.sent[i] {
			w.cl.Produce(dctx, &w.recs[i], w.promise)
		}
	}
	// Flush sends what is buffered; then wait for every promise. If ctx
	// or the delivery timeout ends first, abort what is not acknowledged
	// (AbortBufferedRecords waits for the requests in flight, bounded by
	// the request timeout).
	if nSent > 0 {
		if err := w.cl.Flush(dctx); err != nil {
			_ = w.cl.AbortBufferedRecords(context.WithoutCancel(ctx))
		}
	}
	w.pending.Wait()

	// Every promise has run: w.failed and the records' offsets are
	// settled.
	for p := range w.firstFailed {
		w.firstFailed[p] = -1
	}
	anyFailed := len(w.failed) > 0
	var ptrs []byte // the results' pointers, back to back
	for i := range records {
		p := w.parts[i]
		kr := &w.recs[i]
		if first := w.firstFailed[p]; first >= 0 {
			results[i] = driver.WriteResult{Err: w.precedingErr(i, first, p, records[i].ID, kr)}
			continue
		}
		if anyFailed {
			if err, ok := w.failed[kr]; ok {
				w.firstFailed[p] = i
				if !errors.Is(err, driver.ErrRecordTooLarge) {
					err = fmt.Errorf("kafka: write to %s: record %d (id %q) to partition %d: %w", topic, i, records[i].ID, p, err)
				}
				results[i] = driver.WriteResult{Err: err}
				continue
			}
		}
		if kr.Offset < 0 {
			// franz-go reports an unknown offset only with acks=0, which
			// the writer does not use: a record without a place is
			// reported failed rather than given a made-up pointer.
			w.firstFailed[p] = i
			results[i] = driver.WriteResult{Err: fmt.Errorf("kafka: write to %s: record %d (id %q) to partition %d: acknowledged without an offset (%d)", topic, i, records[i].ID, p, kr.Offset)}
			continue
		}
		if ptrs == nil {
			ptrs = make([]byte, PointerLen*(len(records)-i))
		}
		ptr := ptrs[:PointerLen:PointerLen]
		ptrs = ptrs[PointerLen:]
		binary.BigEndian.PutUint64(ptr, uint64(kr.Offset)) // PointerAt without an allocation per record
		results[i] = driver.WriteResult{Partition: w.partNames[p], Pointer: ptr}
	}
	w.release(len(records))
	return nil
}

// precedingErr is the error of record i, of partition p, after the failed
// record first of that partition in the same call.
func (w *writer) precedingErr(i, first int, p int32, id string, kr *kgo.Record) error {
	msg := fmt.Sprintf("kafka: write to %s: record %d (id %q) not written: record %d of partition %d failed earlier in this call (a partition is a log without holes)", w.s.o.Topic, i, id, first, p)
	err, failed := w.failed[kr]
	switch {
	case !w.sent[i]:
		return fmt.Errorf("%s: %w", msg, driver.ErrPrecedingRecordFailed)
	case failed:
		return fmt.Errorf("%s: %w: %w", msg, driver.ErrPrecedingRecordFailed, err)
	default:
		// Acknowledged after a failed record of its partition (franz-go
		// fails the later buffered records, so this should not happen): it
		// cannot be unwritten, so it is reported failed, to be re-sent
		// after the failed one and keep the order, as a duplicate with the
		// same ID.
		return fmt.Errorf("%s; it was written at offset %d out of order and will repeat when re-sent: %w", msg, kr.Offset, driver.ErrPrecedingRecordFailed)
	}
}

// delivered is the promise of every record: it keeps the error of a
// failed record, classified (permanent or transient), and counts the
// record done. franz-go sets the offset of a
// written record before calling it.
func (w *writer) delivered(kr *kgo.Record, err error) {
	if err != nil {
		w.mu.Lock()
		w.failed[kr] = classifyData(err)
		w.mu.Unlock()
	}
	w.pending.Done()
}

// prepare sizes the per-call scratch for nRecs records over nParts
// partitions, with nHdrs headers (the id headers included) and idBytes
// bytes of ids, reusing the previous calls' buffers where they fit.
func (w *writer) prepare(nRecs, nParts, nHdrs, idBytes int) {
	w.recs = grow(w.recs, nRecs)
	w.parts = grow(w.parts, nRecs)
	w.sent = grow(w.sent, nRecs)
	clear(w.sent)
	w.hdrs = grow(w.hdrs, nHdrs)[:0]
	w.ids = grow(w.ids, idBytes)[:0]
	w.firstFailed = grow(w.firstFailed, nParts)
	for p := range w.firstFailed {
		w.firstFailed[p] = -1
	}
	for p := len(w.partNames); p < nParts; p++ {
		w.partNames = append(w.partNames, strconv.Itoa(p))
	}
	if w.failed == nil {
		w.failed = map[*kgo.Record]error{}
	}
}

// release drops the references the scratch holds to the caller's records
// (keys, values, header values), so that a reused buffer does not keep
// them alive, and forgets the call's failures.
func (w *writer) release(nRecs int) {
	clear(w.recs[:nRecs])
	clear(w.hdrs)
	w.hdrs = w.hdrs[:0]
	clear(w.failed)
}

// grow returns s with length n, reallocated only when its capacity is
// short.
func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// fill sets kr to the franz-go record of r (partition unset), its headers
// and id header value carved from the writer's buffers, the id header
// last.
func (w *writer) fill(kr *kgo.Record, r *driver.Record, topic string) {
	h0 := len(w.hdrs)
	for _, h := range r.Headers {
		w.hdrs = append(w.hdrs, kgo.RecordHeader{Key: h.Key, Value: h.Value})
	}
	i0 := len(w.ids)
	w.ids = append(w.ids, r.ID...)
	w.hdrs = append(w.hdrs, kgo.RecordHeader{Key: HeaderID, Value: w.ids[i0:len(w.ids):len(w.ids)]})
	*kr = kgo.Record{
		Topic:     topic,
		Key:       r.Key,
		Value:     r.Value,
		Headers:   w.hdrs[h0:len(w.hdrs):len(w.hdrs)],
		Timestamp: r.Time,
	}
}

// Close closes the writer's client, failing records still buffered (none
// between Write calls); Write fails with ErrClosed afterwards. It is
// idempotent.
func (w *writer) Close() error {
	if w.closed.CompareAndSwap(false, true) {
		w.s.closeClient(w.cl)
	}
	return nil
}

// toKgo builds the franz-go record of r for partition p as Write does,
// with the id header last, in buffers of its own.
func toKgo(r *driver.Record, topic string, p int32) *kgo.Record {
	var w writer
	kr := new(kgo.Record)
	w.fill(kr, r, topic)
	kr.Partition = p
	return kr
}
