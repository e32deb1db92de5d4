// Package kafka is the Kafka backend of unistream: a driver.Stream over
// one Kafka topic, built on franz-go (kgo for the clients, kadm for
// metadata and offsets). A partition is a Kafka partition ("0" to "N-1"),
// a pointer is a record's offset.
//
// Importing the package registers the kafka URL scheme:
//
//	import _ "github.com/unistream-go/unistream/adapters/kafka"
//
//	c, err := stream.OpenConsumer(ctx, "kafka://broker1:9092,broker2:9092/orders?client_id=billing", handle, ...)
//
// # URL
//
//	kafka://HOST:PORT[,HOST:PORT...]/TOPIC?key=value&...
//
// The host part lists the seed brokers (the port defaults to 9092), the
// path names the topic. User information (kafka://user:password@host/...)
// gives the SASL credentials. The query keys are:
//
//	client_id=ID                client id sent to the brokers (default unistream)
//	tls=true                    connect with TLS (implied by any tls_* key)
//	tls_ca=FILE                 PEM CAs that sign the brokers' certificates
//	tls_cert=FILE, tls_key=FILE client certificate and key (mutual TLS)
//	tls_server_name=NAME        name checked in the brokers' certificates
//	tls_insecure=true           skip certificate verification (tests only)
//	sasl_mechanism=M            PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512
//	sasl_user=U, sasl_password=P  SASL credentials (the password is redacted in Options.String)
//	compression=C               none, gzip, snappy (default), lz4 or zstd
//	max_record_bytes=B          largest record, driver.Record.Size (default 1,000,000)
//	fetch_max_bytes=B           largest fetch response, and the records the readers buffer (default 4 MiB)
//	dial_timeout=D              connecting to a broker (default 10s)
//	request_timeout=D           admin requests and the read overhead of every request (default 30s)
//	delivery_timeout=D          a written record's wait for the broker (default 30s)
//	fetch_wait=D                the longest Fetch waits when nothing is buffered (default 100ms)
//	metadata_min_age=D          least time between metadata refreshes (default 5s)
//	conn_idle_timeout=D         an idle connection is closed after D (default 30s)
//	reader_client=C             shared (default): the readers share a pool of clients; partition: a client each
//	reader_clients=N            the pool's clients (default 4)
//	session_timeout=D           group mode: a silent member's partitions move after D (default 45s)
//	rebalance_timeout=D         group mode: the longest a rebalance waits for a drain (default 60s)
//	create_topic=true           create the topic if missing (tests, demos) ...
//	partitions=N                ... with N partitions (default 1)
//
// Each key also has an environment variable, UNISTREAM_KAFKA_ and the key
// in upper case (UNISTREAM_KAFKA_CLIENT_ID), which the URL overrides. An
// unknown or repeated key, or a bad value, is an error naming the key and
// the expected form. The options, their URL keys, environment variables,
// With* functions and defaults are generated from adapter.yaml; see
// docs/adapters.md for the full table.
//
// # Reading
//
// The Readers of a stream share a small pool of franz-go clients
// (reader_client=shared, the default; reader_clients of them, partition p
// on client p mod reader_clients) that consume their partitions directly,
// with no consumer group: the engine's checkpoint store holds the
// progress, in both ownership modes. One goroutine per client polls it
// and hands each partition's records to its reader, pausing a partition
// whose reader buffers more than its share of fetch_max_bytes, so a
// stream holds a few connections (one fetch connection per client and
// broker once the seed and metadata connections have been idle for
// conn_idle_timeout) and about fetch_max_bytes of records however many
// partitions it reads; a reader reopened at another position never sees a
// record fetched for the old one. With reader_client=partition each Reader
// owns a client, as before. OpenReader resolves the start
// position to an exact offset (Latest is the end of the log at the open,
// AtTime uses ListOffsets by timestamp) and checks a start pointer against
// the log: a pointer that was trimmed by retention or lies past the end
// fails with driver.ErrPointerNotFound, and so does a Fetch whose position
// was trimmed while reading. Fetch returns what the client has buffered at
// once and otherwise waits at most fetch_wait; the client fetches the next
// records in the background meanwhile. Retriable broker errors are retried
// inside the client.
//
// # Consumer groups
//
// A Stream is a driver.Grouper: with stream.WithGroup(name) the engine
// joins the Kafka consumer group name and runs only the partitions the
// group assigns to this process (group ownership mode; the default,
// standalone mode, owns every partition). The group client (JoinGroup)
// serves membership only, with the cooperative-sticky balancer: it never
// fetches and never commits by itself. Readers still read each assigned
// partition from the engine's checkpoint, as in standalone mode. On a
// revoke the rebalance waits until the engine has drained the partition
// and persisted it; a member fenced out of the group (an expired session)
// loses its partitions at once. session_timeout and rebalance_timeout
// tune the group.
//
// Store keeps checkpoints in Kafka itself: a checkpoint is the consumer
// group's committed offset of the partition (Committed+1, as Kafka counts)
// with the batch state in the commit metadata. Its commits carry the
// member's id and generation, so the broker rejects those of a fenced
// member (checkpoint.ErrConflict). Kafka tools show the engine's lag.
//
//	s, err := stream.Open(ctx, "kafka://broker:9092/orders")
//	var ks *kafka.Stream
//	s.As(&ks) // true for a kafka:// stream
//	c, err := stream.NewConsumer(s, handle, stream.WithGroup("billing"),
//		stream.WithCheckpointStore(kafka.NewStore(ks)), stream.WithDLQ(sink))
//
// # Writing
//
// Each Writer owns an idempotent producing client. A record with a key goes
// to the partition of the murmur2 hash of its key, as Kafka's Java client
// and franz-go's default partitioner place it, so that a key keeps its
// partition whichever client wrote it; records without a key go round
// robin. The record's ID travels in the HeaderID header, which readers
// remove; a record written by another producer gets RecordID of its
// position as its ID. Write reports a result per record: a partition's
// records after a failed one fail too (driver.ErrPrecedingRecordFailed), so
// that re-sending the failed records keeps the partition's order.
//
// # Tests
//
// Package kafkatest runs an embedded broker (franz-go's kfake) with fault
// injection; the conformance suite and the engine tests run on it.
package kafka
