// Package pulsarfake is an in-process Apache Pulsar broker for tests: it
// speaks the Pulsar binary protocol (v20) on a loopback port, so the real
// pulsar-client-go (or any other client) talks to it over a real socket, as
// franz-go's kfake does for Kafka.
//
// It keeps topics in memory (or, with WithDataDir, in a journal that a
// later broker on the same folder reads back) and supports lookups (binary
// and HTTP), partitioned topics, producers with batching, the four
// subscription types with durable and non-durable cursors, individual,
// cumulative and batch-index acknowledgements, redelivery with counts,
// seeking by message id and by publish time, and fault injection
// (DropConnections, FailSends, FailLookups, SetDelay).
//
// Usage:
//
//	b, err := pulsarfake.NewBroker()
//	if err != nil { ... }
//	if err := b.Start(ctx); err != nil { ... }
//	defer b.Close()
//	client, err := pulsar.NewClient(pulsar.ClientOptions{URL: b.ServiceURL()})
//
// Message ids: every topic (and every partition) has its own ledger id,
// entries are numbered from 0, and a batch is one entry whose messages are
// told apart by the batch index the client assigns.
//
// Behaviour of pulsar-client-go v0.19.0 worth knowing, reproduced here as a
// Pulsar broker does it:
//   - Seek and SeekByTime make the broker close the consumer
//     (CLOSE_CONSUMER); the client subscribes again from the new position
//     and drops the message it sought to, so it resumes after it.
//   - A send error other than NotAllowed or TopicTerminated makes the client
//     drop the connection and send again: FailSends surfaces to the
//     application only if sends keep failing until the producer's SendTimeout.
//   - Negative acknowledgements on Exclusive and Failover subscriptions
//     rewind every unacknowledged message of the consumer (the broker keeps
//     order), so messages the client still holds may come twice.
//   - A batch that is only partly acknowledged is delivered whole again,
//     unless the consumer enables batch index acknowledgement.
//   - Failover consumers learn whether they are active after their first
//     FLOW (the client registers its handler only after SUBSCRIBE succeeds).
package pulsarfake
