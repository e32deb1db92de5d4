// Package stream is the portable API of unistream: one consumer engine and
// one producer engine over Kafka, Apache Pulsar, AWS Kinesis Data Streams and
// the in-memory backend, chosen by URL.
//
// A Consumer reads every partition of a stream from its checkpoint, runs a
// handler per record, retries failures with exponential backoff and jitter,
// sends records that exhaust their attempts to a dead-letter queue (or, in
// ordered mode, halts the partition durably), and persists its progress: a
// commit per batch (WithCommit), failures when they happen. A Producer buffers records in a write-ahead log on disk,
// sends them in batches by count, bytes and age, retries failed sends with
// backoff, and replays the log after a crash.
//
// The guarantees are the same on every backend; see docs/design.md in the
// repository (section 4 for the consumer, 6 for the producer) and the
// conformance suite that proves them.
//
// Backends register a URL scheme (mem://, kafka://, pulsar://, kinesis://)
// by being imported:
//
//	import _ "github.com/unistream-go/unistream/stream/memstream"
//
//	c, err := stream.OpenConsumer(ctx, "mem://orders?partitions=4", handle,
//		stream.WithName("billing"),
//		stream.WithCheckpointStore(store),
//		stream.WithDLQ(sink))
//	if err != nil { ... }
//	defer c.Close()
//	err = c.Run(ctx) // returns nil after ctx is cancelled and in-flight work is persisted
//
// Open returns a Stream, the same type for every backend: NewConsumer and
// NewProducer run on it, it reads (OpenReader) and writes (OpenWriter)
// directly, formats and parses pointers, and hands out the backend's own
// client with As (a *kgo.Client for kafka://, a pulsar.Client for
// pulsar://, a *kinesis.Client for kinesis://). Programs never need
// package stream/driver, the seam the adapters implement; NewStream wraps
// a driver stream built in code.
package stream
