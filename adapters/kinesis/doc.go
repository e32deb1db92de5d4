// Package kinesis is the Amazon Kinesis Data Streams backend of unistream:
// a driver.Stream over one Kinesis stream, built on aws-sdk-go-v2. A
// partition is a shard ("shardId-000000000001"), a pointer a record's
// sequence number (with a sub-sequence number for a record of a KPL
// aggregate).
//
// Importing the package registers the kinesis URL scheme:
//
//	import _ "github.com/unistream-go/unistream/adapters/kinesis"
//
//	c, err := stream.OpenConsumer(ctx, "kinesis://orders?region=eu-west-1", handle, ...)
//
// # URL
//
//	kinesis://STREAM?key=value&...
//	kinesis:///arn:aws:kinesis:REGION:ACCOUNT:stream/STREAM?key=value&...
//
// The query keys are region, endpoint (an emulator or VPC endpoint URL),
// profile, access_key_id, secret_access_key and session_token (the secrets
// are redacted in Options.String; without static keys the default AWS
// credential chain is used), max_record_bytes, max_batch_records,
// max_batch_bytes, get_records_limit, poll_interval, throttle_backoff,
// request_timeout, create_stream and shards. Each has an environment
// variable, UNISTREAM_KINESIS_ and the key in upper case, which the URL
// overrides. The options are generated from adapter.yaml; see
// docs/adapters.md for the full table.
//
// # Reading
//
// Partitions lists the shards with ListShards (following NextToken),
// closed shards included, with their parents after a split or merge, so
// that the engine reads a child only after its parents are finished. A
// Reader runs a GetRecords loop on its shard: it keeps poll_interval
// between calls that found nothing, backs off (throttle_backoff, doubling)
// after ProvisionedThroughputExceeded, replaces an expired iterator from
// the last record read, reports MillisBehindLatest as its Lag, and returns
// driver.ErrPartitionFinished once a closed shard is read to its end (no
// NextShardIterator).
//
// Records written by the KPL (aggregated: the magic 0xF3899AC2, a
// protobuf AggregatedRecord, an MD5) are de-aggregated: each user record
// is a record whose pointer is SEQ:SUB, and a reader resumes inside an
// aggregate. Sequence numbers compare as numbers of any size.
//
// # Writing
//
// A Kinesis record has only data and a partition key, so the writer puts
// the record's ID, event time, headers, and a key that is not a valid
// partition key in a small envelope before the value; readers take it
// off. Other consumers of the stream (Lambda, Firehose, the KCL) see the
// envelope as part of the data: with envelope=false (WithEnvelope(false))
// the writer puts the plain value, and a unistream reader reads it as
// another producer's record, while the producer refuses at Put what the
// plain form cannot carry (ErrNeedsEnvelope: headers, a key that is not a
// valid partition key, a value starting with the magic). A record from
// another producer is read with its data as the value,
// its partition key as the key, its arrival time as the time, and the
// human form of its position as its ID. A key that is valid UTF-8 of at
// most 256 characters is the partition key, so a key keeps its shard. The
// writer sends PutRecords calls of at most 500 records and 5 MiB and
// reports a result per record; after a failed record, the later records of
// its shard or key fail too (driver.ErrPrecedingRecordFailed), so that
// re-sending the failed records keeps each key's order.
//
// # Tests
//
// Package kinesisfake is an in-process Kinesis emulator with fault
// injection, and package kinesistest starts it for tests and demos. The
// conformance suite runs on kinesisfake and on kinesalite.
package kinesis
