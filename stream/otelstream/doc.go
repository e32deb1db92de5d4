// Package otelstream turns the events of unistream's engines (stream.Event)
// into OpenTelemetry metrics, and carries traces from producers to
// consumers through record headers. An Observer is a stream.Observer: give
// it to a consumer or a producer with stream.WithObserver. TracePut and
// TraceHandler are a producer option and a consumer option (see Traces).
//
//	obs, err := otelstream.NewObserver(
//		otelstream.WithMeterProvider(provider), // default: otel.GetMeterProvider()
//		otelstream.WithSystem(otelstream.SystemForScheme("kafka")),
//		otelstream.WithConsumerGroup("billing"))
//	...
//	defer obs.Close() // after the consumers and producers it serves
//	c, err := stream.OpenConsumer(ctx, url, handler, stream.WithName("billing"), stream.WithObserver(obs))
//
// Only this package imports OpenTelemetry: the engines do not depend on it.
//
// # Metrics
//
// Metrics named by the OpenTelemetry messaging semantic conventions:
//
//   - messaging.client.consumed.messages (counter, {message}): records
//     fetched and handed to the consumer's workers (EventBatchFetched).
//   - messaging.process.duration (histogram, s): the handler's time for one
//     attempt (EventAttemptSucceeded, EventAttemptFailed, EventSkipped),
//     with error.type on a failed attempt.
//   - messaging.client.sent.messages (counter, {message}): records the
//     producer tried to send: acknowledged ones without error.type, failed
//     ones (retried later) and refused ones (dropped or dead-lettered) with
//     it.
//   - messaging.client.operation.duration (histogram, s): the duration of
//     each producer Write call to the backend, once per Write (the outcome
//     event with stream.Event.Timed), with error.type when a record of the
//     Write failed.
//
// unistream's own, under the prefix "unistream.":
//
//   - unistream.consumer.retries (counter, {attempt}): failed attempts
//     after which the record is tried again.
//   - unistream.consumer.exhausted (counter, {message}): records whose last
//     attempt failed (attempts used up or a permanent error): dead-lettered
//     or halted.
//   - unistream.consumer.skipped (counter, {message}): records skipped by
//     the handler (stream.Skip).
//   - unistream.consumer.dead_lettered (counter, {message}): records
//     written to the consumer's DLQ.
//   - unistream.consumer.halts (counter, {halt}): partitions halted at a
//     record.
//   - unistream.consumer.batch.duration (histogram, s): the processing time
//     of a finished batch (EventBatchDone).
//   - unistream.consumer.lag.messages (gauge, {message}): records after the
//     last one fetched, when the backend tells (Kafka, memstream).
//   - unistream.consumer.lag.time (gauge, s): how far the last record
//     fetched is behind the partition's newest one, when the backend tells
//     (Kinesis).
//   - unistream.consumer.fetch.errors (counter, {error}): failed reads or
//     partition listings.
//   - unistream.consumer.checkpoint.errors (counter, {error}): failed
//     checkpoint loads and saves.
//   - unistream.consumer.checkpoint.save.duration (histogram, s): the
//     store's Save call of each successful checkpoint save
//     (EventCheckpointSaved).
//   - unistream.producer.holds (counter, {hold}) and
//     unistream.producer.hold.duration (histogram, s): the holds of a send
//     lane after a failed write, by unistream.producer.lane.
//   - unistream.producer.dead_lettered and unistream.producer.dropped
//     (counters, {message}): records refused for good by the stream,
//     written to the producer's DLQ or dropped, by send lane.
//   - unistream.producer.dlq.errors (counter, {error}): failed writes to
//     the producer's DLQ, by send lane.
//   - unistream.producer.replayed (counter, {message}): unacknowledged
//     records recovered from the write-ahead log at open.
//   - unistream.producer.wal.fsync.duration (histogram, s): each fsync of
//     the producer's write-ahead log (EventProducerWALSynced).
//   - unistream.producer.buffer.records (gauge, {message}) and
//     unistream.producer.buffer.bytes (gauge, By): the records a producer
//     holds, waiting or in flight, and their bytes, by send lane, read from
//     Producer.Stats at each collection for the producers given to
//     WatchProducer.
//
// The WAL fsync and checkpoint save durations have buckets from 100 µs to
// 10 s; the other durations the conventions' 5 ms to 10 s.
//
// # Attributes
//
// messaging.system (set by WithSystem; absent without it: events do not
// carry the stream's scheme), messaging.destination.name (the stream's
// name), messaging.destination.partition.id (consumer metrics, when the
// event names a partition), messaging.consumer.group.name (consumer
// metrics, set by WithConsumerGroup), messaging.operation.name and
// messaging.operation.type (receive, process or send, on the semantic
// convention metrics), error.type (see WithErrorType) and
// unistream.producer.lane.
//
// # Traces
//
// TracePut (a producer option, on stream.WithPutHook) writes the trace
// context of Put's context into the record's headers, traceparent and
// tracestate by default (W3C Trace Context; WithPropagator): Kafka
// headers, Pulsar properties, the Kinesis envelope, kept by DLQ envelopes
// and re-sent by `unistream dlq replay`. TraceHandler (a consumer option,
// on stream.WithHandlerMiddleware) runs each attempt of the handler in a
// "process <stream>" span of kind consumer, child of the context read from
// the headers, with the messaging attributes, unistream.attempt and
// unistream.outcome, and status Error on a failed attempt.
//
//	p, err := stream.OpenProducer(ctx, url, stream.WithWAL(path), otelstream.TracePut())
//	c, err := stream.OpenConsumer(ctx, url, handler, otelstream.TraceHandler(otelstream.WithTracerProvider(tp)))
//
// # Not built yet
//
// These need data the events do not carry today:
//
//   - messaging.destination.partition.id on producer metrics: needs the
//     partition on producer events (each Record's own Partition is not
//     documented as set).
//   - halted partitions as a current count (an up-down counter): needs an
//     event when a halted partition is released or revoked.
//
// # Cost
//
// The counters are OpenTelemetry observable counters: an event adds to an
// atomic count kept with the cached attribute sets of its stream and
// partition (or send lane, and error type on a producer failure), and a
// callback registered on the meter reports the counts at each collection,
// cumulative as a counter's. A counter's event costs one atomic add and two
// map lookups (about 20 ns); Close unregisters the callback.
//
// The histograms are recorded on their events through the SDK (about
// 0.3 µs a value with the OpenTelemetry SDK, most of it the SDK's own
// handling of the attribute set). The batch and hold durations and the
// lag gauges come once per batch or hold, the Write, WAL fsync and
// checkpoint save durations once per Write, fsync or save (the engines
// read their clock around these only when someone observes them);
// messaging.process.duration comes
// once per attempt, which makes it the Observer's one per-record cost. It
// is recorded for every attempt by default, as the conventions define it
// (its count is the attempts, its points without error.type the successes
// and skips); WithProcessDurationSampling records one attempt in n
// instead, for consumers whose handler is so fast that 0.3 µs a record
// matters, at the price of an approximate count and sum (the counters stay
// exact).
//
// Observing an event allocates nothing once its attribute sets exist (see
// TestObserveAllocs). The Observer is safe for concurrent use.
package otelstream
