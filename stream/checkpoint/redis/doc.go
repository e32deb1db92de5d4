// Package redis is a checkpoint store on Redis (go-redis v9): a
// checkpoint.Store with compare-and-swap in Lua scripts, and a
// checkpoint.Leaser for KCL-style partition leases (stream.WithLeases), so
// that several processes can share a stream. Importing it registers the
// redis:// and rediss:// schemes with checkpoint.Open (see ParseURL):
//
//	import _ "github.com/unistream-go/unistream/stream/checkpoint/redis"
//
//	store, err := checkpoint.Open(ctx, "redis://:PASSWORD@cache.internal:6379/0?prefix=billing:")
//
// or, with options:
//
//	store, err := redis.New(ctx, redis.WithAddr("cache.internal:6379"), redis.WithKeyPrefix("billing:"))
//	if err != nil { ... }
//	defer store.Close()
//	c, err := stream.NewConsumer(s, handler, stream.WithCheckpointStore(store),
//		stream.WithLeases(store))
//
// It passes the shared store and lease suites (checkpoint/storetest)
// against a real server.
//
// # Keys
//
// Every key starts with the prefix (WithKeyPrefix, default "unistream:"),
// then the group's hash tag: consumer and stream, each with '%', '/', '{'
// and '}' escaped as %25, %2F, %7B and %7D, joined by '/' in braces. The
// tag keeps a group's keys in one Redis Cluster slot, so that the scripts
// may touch two of them:
//
//	PREFIX{CONSUMER/STREAM}:cp:PARTITION   hash: the checkpoint and the lease of a partition
//	PREFIX{CONSUMER/STREAM}:partitions     set: the partitions of the group that have a hash
//
// The partition is stored as is (Redis keys are binary-safe). List and
// ListLeases read the group's set, then the hashes, in one pipeline per
// 256 partitions; nothing scans the keyspace.
//
// # Values
//
// A partition's hash holds, in schema 1:
//
//	schema         "1" (Schema): the layout and format below
//	version        the checkpoint's compare-and-swap version, decimal
//	checkpoint     the checkpoint as checkpoint.EncodeDocument writes it:
//	               {"format":1,"checkpoint":{...}}
//	writer         the id of the Save that wrote it (a store's random id
//	               and a number)
//	lease_counter  the lease counter, decimal
//	lease_owner    the lease owner (absent when released)
//	lease_expires  the lease expiry, RFC 3339 UTC with nanoseconds
//	               (absent when released)
//	lease_writer   the id of the write that wrote the lease
//
// The checkpoint and the lease share the hash but are written by separate
// scripts that touch only their own fields, so they never interfere.
//
// # Compare-and-swap
//
// Save is one EVALSHA (go-redis falls back to EVAL when the server does
// not have the script) of a Lua script that writes only if the stored
// version is the caller's and the SHA-1 of the stored document is that of
// the document this store last read or wrote for the key (no checkpoint
// for version 0). The store keeps that digest per key, so a Save never
// overwrites data it has not decoded: when it has not seen the stored
// document at the caller's version it reads it first (one HGETALL). A
// refused write is explained by reading the hash: corrupt data gives
// checkpoint.ErrCorrupt, anything else an error matching
// checkpoint.ErrConflict that names both versions; a hash written by this
// very Save (its writer field: go-redis sent the script again after the
// reply was lost) is a success. Lease writes work the same way on the lease fields,
// built with checkpoint.PrepareAcquire, PrepareRenew and PrepareRelease,
// and conflicts match checkpoint.ErrLeaseConflict; a renew of a lease this
// store wrote is one EVALSHA.
//
// # Leases and time
//
// Like every checkpoint.Leaser the store reads no clock: the expiry is
// the writer's, stored in lease_expires, and the caller (the balancer of
// stream.WithLeases) decides when a lease has expired and may be taken,
// as with the DynamoDB and file stores. Keys have no TTL: an expired lease
// stays until a worker takes or releases it, and its counter keeps
// fencing stale owners. The checkpoint's version fences the saves of a
// former owner (see checkpoint.Lease).
//
// # Durability
//
// A checkpoint is as durable as the server: without persistence (RDB or
// AOF) or replication a restart loses every checkpoint, and the consumers
// start over as if none was ever saved. Use appendonly yes (appendfsync
// everysec or always) in production, and a maxmemory-policy of
// noeviction: an evicted checkpoint is a checkpoint silently reset.
//
// # Bad data
//
// A key that is not a hash, a hash without the schema field or of another
// schema, a hash with fields schema 1 does not have, a version that is not
// a canonical decimal, a document that cannot be decoded or that disagrees
// with its key or version, and lease fields that do not decode make Load,
// Save, List and the lease methods return an error matching
// checkpoint.ErrCorrupt that names the server, the Redis key and what was
// expected. A corrupt key is never overwritten.
//
// # Errors
//
// Errors name the server (host:port, never the password) and are
// classified for checkpoint.IsPermanent (see classify): connection errors,
// timeouts, LOADING, BUSY, TRYAGAIN, MASTERDOWN, CLUSTERDOWN, READONLY,
// MISCONF and OOM are transient; NOAUTH, WRONGPASS, NOPERM, WRONGTYPE, an
// unknown command and a database out of range are permanent. A checkpoint
// larger than WithMaxDocumentBytes (default 4 MiB) matches
// checkpoint.ErrTooLarge.
package redis
