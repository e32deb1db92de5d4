// Package memstream is the in-memory backend of unistream: a complete
// driver.Stream whose partitions are append-only logs in memory. It is the
// reference backend the conformance suite runs first, and the backend of
// unit tests and examples.
//
// Importing the package registers the mem URL scheme:
//
//	import _ "github.com/unistream-go/unistream/stream/memstream"
//
//	s, err := stream.Open(ctx, "mem://orders?partitions=4")
//
// The URL forms are mem://NAME?options and mem:NAME?options. NAME is the
// stream name (1 to 249 letters, digits, '.', '_' or '-'). The options are
//
//	partitions=N          partition count of a new stream (1..4096, default 1)
//	max_record_bytes=B    largest record, driver.Record.Size (default 1MiB)
//	max_batch_records=R   most records in one Write (default 500)
//	max_batch_bytes=B     largest sum of record sizes in one Write (default 5MiB)
//
// Sizes take units (64KiB, 5MiB). Each option also has an environment
// variable (UNISTREAM_MEM_PARTITIONS, ...); a URL query key beats its
// variable, which beats the default. The options are declared in
// adapter.yaml, from which go generate writes zz_generated_options.go (the
// Options type, ParseURL, the With functions), the scheme registration
// and the mem section of docs/adapters.md.
//
// URL streams live in the process-wide Default broker, so two opens of
// mem://orders see the same data, as two clients of one broker would. An
// option given in the URL or the environment must match an existing
// stream's value; an omitted
// one takes the existing value. Tests that want isolation use New (a
// standalone stream) or their own NewBroker.
//
// Records route to partitions by the FNV-1a 32 hash of their key modulo the
// number of open partitions; records without a key go round robin. A
// pointer is the record's offset as 8 big-endian bytes, shown as
// "mem:orders/0@42". Partition ids are "0", "1", ... in creation order.
//
// A Stream is a driver.Grouper: consumers that join one group of a stream
// (stream.WithGroup) share its partitions, round robin, and hand them over
// when a member joins or leaves (revoking first, then assigning), as a
// Kafka consumer group does. ExpireMember makes a member lose its
// partitions without a handover, as an expired session would.
//
// For tests a Stream reshards (Split, Merge, AddPartitions) and injects
// faults (FailFetches, FailWrites, FailRecords, SetRecordHook, Delay). No
// goroutine runs in the package except during a group rebalance: idle
// readers cost nothing.
package memstream
