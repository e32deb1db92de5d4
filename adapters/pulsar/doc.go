// Package pulsar is the Apache Pulsar adapter of unistream, built on
// pulsar-client-go: a topic is a stream, a topic partition a partition
// ("0" to "N-1"; a non-partitioned topic is the one partition "0") and a
// message id (ledger, entry, batch index, partition) a pointer, written
// "pulsar:orders/2@123:45:-1".
//
// Importing the package registers the pulsar URL scheme:
//
//	pulsar://HOST:PORT[,HOST:PORT...]/TOPIC?OPTIONS
//	pulsar://HOST:PORT[,HOST:PORT...]/TENANT/NAMESPACE/TOPIC?OPTIONS
//
// A short topic name lives in the tenant and namespace options
// (public/default). lookup=http makes the hosts the HTTP service
// (http:// or https://); tls=true (or any tls_* option) makes the client
// connect with TLS. Authentication is a token (auth_token, redacted in
// String, or auth_token_file), OAuth2 client credentials (oauth2_*) or a
// TLS client certificate (tls_cert, tls_key). The options and their
// environment variables are listed in docs/adapters.md.
//
// Each Reader is an Exclusive consumer of one partition on a non-durable
// subscription of its own, positioned with Seek at a message id, and the
// engine's checkpoint store holds the progress, so a batch that was partly
// processed resumes at the right batch index (the client drops a batch's
// messages before the start id). After a reconnect the Reader drops what
// the broker sends again, so nothing repeats. (pulsar-client-go's own
// Reader is not used: its Next races with its reconnect,
// apache/pulsar-client-go#605.)
//
// Scale-out: a consumer run with stream.WithGroup(name) joins the Failover
// subscription called name (used for membership; durable with
// durable_group=true, and then NewAckStore around the checkpoint store
// makes its cumulative ack follow the committed pointers); the
// broker makes one member active per partition and the member reads the
// partitions it is active for, from the checkpoint store. Leave hands
// partitions over after draining them; a partition the broker moves to a
// joining member is revoked from the old one at once, and the store's
// compare-and-swap makes the new owner reload until the old one has
// persisted its last state. Records keep their ID, headers and time through message properties
// (PropertyID, PropertyHeaders) and the event time; a message written by
// another producer gets its position as its ID and its properties as
// headers.
//
// Writers send with one batching producer per partition, shared by the
// stream's writers, route keyed records by the FNV-1a hash of the key (so
// per-key order holds) and report
// a per-record result from the producers' receipts; a send that gets no
// receipt within send_timeout is a retryable record error, and later
// records of the same partition in the call fail with
// driver.ErrPrecedingRecordFailed.
//
// Package pulsartest runs pulsarfake, the in-process broker, for tests and
// demos:
//
//	b := pulsartest.Start(t, pulsartest.Topic("orders", 4))
//	c, err := stream.OpenConsumer(ctx, b.URL("orders"), handler, stream.WithCheckpointStore(store))
package pulsar
