package kafka

import (
	"context"
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
	return &writer{s: s, cl: cl}, nil
}

// writer writes to the topic through its own client.
type writer struct {
	s      *Stream
	cl     *kgo.Client
	rr     uint64 // round-robin counter of records without a key
	closed atomic.Bool
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
// The records are buffered, then flushed (franz-go's manual flushing);
// when a batch fails, franz-go fails every later buffered record of its
// partition, and the idempotent producer's sequence numbers make the
// broker refuse a later batch after a missing one, so a partition stays a
// log without holes. The delivery_timeout option bounds the wait for the
// broker. If ctx is done while records are in flight, the records not yet
// acknowledged are aborted and fail with the context's error (some may
// still have been written: re-sending them duplicates them, with the same
// ID).
func (w *writer) Write(ctx context.Context, records []driver.Record, results []driver.WriteResult) error {
	s := w.s
	topic := s.o.Topic
	where := "kafka: write to " + topic
	if w.closed.Load() {
		return fmt.Errorf("%s: writer is closed: %w", where, ErrClosed)
	}
	if err := s.check(ctx, "write to"); err != nil {
		return err
	}
	if len(results) != len(records) {
		return fmt.Errorf("%s: %d results for %d records: expected one result per record", where, len(results), len(records))
	}
	if err := takeWriteFault(topic); err != nil {
		return fmt.Errorf("%s: %w", where, err)
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
	n, err := s.partitionCount(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}

	// The delivery timeout bounds the records' wait for the broker; a
	// record not yet sent when it passes fails with the context's error.
	dctx, cancel := context.WithTimeout(ctx, s.o.DeliveryTimeout)
	defer cancel()
	maxEncoded := int(batchMaxBytes(caps.MaxRecordBytes)) - batchHeaderLen
	parts := make([]int32, len(records))
	errs := make([]error, len(records))
	offsets := make([]int64, len(records))
	sent := make([]bool, len(records))
	firstFailed := map[int32]int{} // partition -> index of its first failed record
	var wg sync.WaitGroup
	for i := range records {
		r := &records[i]
		if len(r.Key) > 0 {
			parts[i] = keyPartition(r.Key, n)
		} else {
			parts[i] = int32(w.rr % uint64(n))
			w.rr++
		}
		p := parts[i]
		if _, failed := firstFailed[p]; failed {
			continue // reported below
		}
		if sz := r.Size(); sz > caps.MaxRecordBytes {
			errs[i] = fmt.Errorf("%s: record %d (id %q) is %d bytes, MaxRecordBytes is %d: %w", where, i, r.ID, sz, caps.MaxRecordBytes, driver.ErrRecordTooLarge)
			firstFailed[p] = i
			continue
		}
		kr := toKgo(r, topic, p)
		if sz := encodedSize(kr); sz > maxEncoded {
			errs[i] = fmt.Errorf("%s: record %d (id %q) encodes to %d bytes with its %d headers, the producer's batch limit is %d: %w",
				where, i, r.ID, sz, len(r.Headers), maxEncoded, driver.ErrRecordTooLarge)
			firstFailed[p] = i
			continue
		}
		wg.Add(1)
		sent[i] = true
		w.cl.Produce(dctx, kr, func(kr *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				errs[i] = err
				return
			}
			offsets[i] = kr.Offset
		})
	}
	// Flush sends what is buffered; then wait for every promise. If ctx
	// or the delivery timeout ends first, abort what is not acknowledged
	// (AbortBufferedRecords waits for the requests in flight, bounded by
	// the request timeout).
	if err := w.cl.Flush(dctx); err != nil {
		_ = w.cl.AbortBufferedRecords(context.WithoutCancel(ctx))
	}
	wg.Wait()

	for k := range firstFailed {
		delete(firstFailed, k)
	}
	for i := range records {
		p := parts[i]
		id := records[i].ID
		if first, failed := firstFailed[p]; failed {
			msg := fmt.Sprintf("%s: record %d (id %q) not written: record %d of partition %d failed earlier in this call (a partition is a log without holes)", where, i, id, first, p)
			switch {
			case !sent[i]:
				results[i] = driver.WriteResult{Err: fmt.Errorf("%s: %w", msg, driver.ErrPrecedingRecordFailed)}
			case errs[i] != nil:
				results[i] = driver.WriteResult{Err: fmt.Errorf("%s: %w: %w", msg, driver.ErrPrecedingRecordFailed, errs[i])}
			default:
				// Acknowledged after a failed record of its partition
				// (franz-go fails the later buffered records, so this
				// should not happen): it cannot be unwritten, so it is
				// reported failed, to be re-sent after the failed one
				// and keep the order, as a duplicate with the same ID.
				results[i] = driver.WriteResult{Err: fmt.Errorf("%s; it was written at offset %d out of order and will repeat when re-sent: %w", msg, offsets[i], driver.ErrPrecedingRecordFailed)}
			}
			continue
		}
		if err := errs[i]; err != nil {
			firstFailed[p] = i
			if !errors.Is(err, driver.ErrRecordTooLarge) {
				err = fmt.Errorf("%s: record %d (id %q) to partition %d: %w", where, i, id, p, err)
			}
			results[i] = driver.WriteResult{Err: err}
			continue
		}
		results[i] = driver.WriteResult{Partition: strconv.Itoa(int(p)), Pointer: PointerAt(offsets[i])}
	}
	return nil
}

// writeFaults counts the injected whole-call write failures per topic, for
// the conformance harness (see export_test.go): a broker fault fails
// produce requests, and one Write may take more than one request, so a
// broker fault cannot fail exactly n Write calls.
var writeFaults sync.Map // topic -> *atomic.Int64

// errInjectedWrite is the error of an injected write failure.
var errInjectedWrite = errors.New("injected transient write failure")

// takeWriteFault consumes one injected failure of topic, if any.
func takeWriteFault(topic string) error {
	v, ok := writeFaults.Load(topic)
	if !ok {
		return nil
	}
	n := v.(*atomic.Int64)
	for {
		left := n.Load()
		if left <= 0 {
			return nil
		}
		if n.CompareAndSwap(left, left-1) {
			return errInjectedWrite
		}
	}
}

// toKgo builds the franz-go record of r for partition p, with the id header
// last.
func toKgo(r *driver.Record, topic string, p int32) *kgo.Record {
	hs := make([]kgo.RecordHeader, 0, len(r.Headers)+1)
	for _, h := range r.Headers {
		hs = append(hs, kgo.RecordHeader{Key: h.Key, Value: h.Value})
	}
	hs = append(hs, kgo.RecordHeader{Key: HeaderID, Value: []byte(r.ID)})
	return &kgo.Record{
		Topic:     topic,
		Partition: p,
		Key:       r.Key,
		Value:     r.Value,
		Headers:   hs,
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
