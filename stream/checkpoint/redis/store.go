package redis

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"

	goredis "github.com/redis/go-redis/v9"

	"github.com/unistream-go/unistream/stream/checkpoint"
)

// Store is a checkpoint.Store and checkpoint.Leaser on a Redis server. It
// is safe for concurrent use, and any number of processes may share a
// database. The layout, the compare-and-swap and the error classes are
// described in the package documentation.
type Store struct {
	client goredis.UniversalClient
	own    bool   // Close closes client
	addr   string // names the server in errors
	prefix string
	maxDoc int
	secret string // the password, scrubbed from errors

	save, lease *goredis.Script
	id          string        // random, names this store's writes
	writes      atomic.Uint64 // numbers this store's writes

	mu        sync.Mutex
	seen      map[checkpoint.Key]seenDoc     // last document read or written per key
	seenLease map[checkpoint.Key]leaseFields // last lease fields read or written per key
}

// seenDoc is the version and digest of the document last read or written.
type seenDoc struct {
	version uint64
	digest  string
}

var (
	_ checkpoint.Store  = (*Store)(nil)
	_ checkpoint.Leaser = (*Store)(nil)
)

// New connects to the server and checks that it answers (PING); the error
// names the server (never the password) and is classified for
// checkpoint.IsPermanent. Close the store when done.
func New(ctx context.Context, opts ...Option) (*Store, error) {
	c, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	s := &Store{client: c.client, addr: c.addr, prefix: c.prefix, maxDoc: c.maxDoc, secret: c.password,
		save: goredis.NewScript(saveSource), lease: goredis.NewScript(leaseSource),
		id:   rand.Text()[:16],
		seen: map[checkpoint.Key]seenDoc{}, seenLease: map[checkpoint.Key]leaseFields{}}
	if s.client == nil {
		tc := c.tls
		if tc != nil && tc.ServerName == "" && !tc.InsecureSkipVerify {
			tc = tc.Clone()
			tc.ServerName, _, _ = net.SplitHostPort(c.addr)
		}
		s.client = goredis.NewClient(&goredis.Options{
			Addr: c.addr, DB: c.db, Username: c.username, Password: c.password, TLSConfig: tc,
			DialTimeout: c.dialTimeout, ReadTimeout: c.timeout, WriteTimeout: c.timeout,
			ContextTimeoutEnabled: true,
		})
		s.own = true
	} else {
		s.addr = clientAddr(c.client)
	}
	if err := s.client.Ping(ctx).Err(); err != nil {
		s.Close()
		return nil, s.errorf("ping: %w", err)
	}
	return s, nil
}

// clientAddr names the server of a client given with WithClient.
func clientAddr(c goredis.UniversalClient) string {
	if cl, ok := c.(*goredis.Client); ok {
		return cl.Options().Addr
	}
	return fmt.Sprintf("%T", c)
}

// Addr returns the server address the store names in its errors.
func (s *Store) Addr() string { return s.addr }

// KeyPrefix returns the prefix of the store's keys.
func (s *Store) KeyPrefix() string { return s.prefix }

// Client returns the Redis client the store uses.
func (s *Store) Client() goredis.UniversalClient { return s.client }

// Close closes the store's connections, unless the client was given with
// WithClient. It deletes nothing.
func (s *Store) Close() error {
	if !s.own {
		return nil
	}
	if err := s.client.Close(); err != nil && !errors.Is(err, goredis.ErrClosed) {
		return s.errorf("close: %w", err)
	}
	return nil
}

// errorf returns an error naming the store's server, with a client error
// among the arguments classified (see classify) and the password scrubbed
// from the message.
func (s *Store) errorf(format string, args ...any) error {
	for i, a := range args {
		if err, ok := a.(error); ok {
			args[i] = classify(err)
		}
	}
	return scrub(fmt.Errorf("redis checkpoint store %s: "+format, append([]any{s.addr}, args...)...), s.secret)
}

// writeID returns a new id for a write: the script stores it with the
// data, so that a write the client sent twice (its reply was lost) is
// recognised as this store's own.
func (s *Store) writeID() string {
	return s.id + "-" + strconv.FormatUint(s.writes.Add(1), 36)
}

// where names a key in errors: the Redis key and the checkpoint key.
func (s *Store) where(rkey string, k checkpoint.Key) string {
	return fmt.Sprintf("redis %s, key %q (checkpoint %s)", s.addr, rkey, k)
}

// whereIndex names the set of a group's partitions in errors.
func (s *Store) whereIndex(ik, consumer, stream string) string {
	return fmt.Sprintf("redis %s, key %q (the partitions of %s/%s)", s.addr, ik, consumer, stream)
}

// readHash returns the fields of the hash rkey (empty if the key is
// missing). A key of another type gives an error matching
// checkpoint.ErrCorrupt that names it.
func (s *Store) readHash(ctx context.Context, rkey string, k checkpoint.Key) (map[string]string, error) {
	h, err := s.client.HGetAll(ctx, rkey).Result()
	if err == nil {
		return h, nil
	}
	if goredis.HasErrorPrefix(err, "WRONGTYPE") {
		return nil, s.wrongType(ctx, rkey, s.where(rkey, k), "a hash")
	}
	return nil, err
}

// wrongType returns the ErrCorrupt error of a key that is not of the
// expected type, naming the type it has.
func (s *Store) wrongType(ctx context.Context, rkey, where, expected string) error {
	typ, err := s.client.Type(ctx, rkey).Result()
	if err != nil {
		typ = "another type"
	}
	return fmt.Errorf("%w: %s: the key holds a %s (expected %s, %s)", checkpoint.ErrCorrupt, where, typ, expected, hashExpected)
}

func (s *Store) remember(k checkpoint.Key, version uint64, digest string) {
	s.mu.Lock()
	s.seen[k] = seenDoc{version: version, digest: digest}
	s.mu.Unlock()
}

func (s *Store) forget(k checkpoint.Key) {
	s.mu.Lock()
	delete(s.seen, k)
	s.mu.Unlock()
}

// Load returns the checkpoint of key, or a new Checkpoint{Key: key} with
// Version 0 if none was saved (see checkpoint.Store). It is one HGETALL.
func (s *Store) Load(ctx context.Context, key checkpoint.Key) (*checkpoint.Checkpoint, error) {
	if err := ctx.Err(); err != nil {
		return nil, s.errorf("load %s: %w", key, err)
	}
	if err := key.Validate(); err != nil {
		return nil, err
	}
	rk := partitionKey(s.prefix, key)
	h, err := s.readHash(ctx, rk, key)
	if err != nil {
		return nil, s.errorf("load %s: %w", key, err)
	}
	st, err := decodeCheckpoint(s.where(rk, key), key, h)
	if err != nil {
		return nil, err
	}
	if st.cp == nil {
		return &checkpoint.Checkpoint{Key: key}, nil
	}
	s.remember(key, st.cp.Version, st.digest)
	return st.cp, nil
}

// Save writes cp if the stored version equals cp.Version (0: none may be
// stored), then increments cp.Version (see checkpoint.Store). It is one
// EVALSHA once the store has read or written the checkpoint. After an
// error other than a conflict, corruption or invalid argument, whether
// the checkpoint was written is unknown: Load again.
func (s *Store) Save(ctx context.Context, cp *checkpoint.Checkpoint) error {
	if err := cp.Validate(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return s.errorf("save %s: %w", cp.Key, err)
	}
	next := *cp // shallow: encoded only
	next.Version++
	doc, err := checkpoint.EncodeDocument(&next)
	if err != nil {
		return s.errorf("save %s: encode: %w", cp.Key, err)
	}
	if len(doc) > s.maxDoc {
		return s.errorf("save %s: %w: the encoded checkpoint is %d bytes (expected at most %d, see WithMaxDocumentBytes; use smaller batches)",
			cp.Key, checkpoint.ErrTooLarge, len(doc), s.maxDoc)
	}
	rk := partitionKey(s.prefix, cp.Key)
	prev, err := s.storedDigest(ctx, rk, cp)
	if err != nil {
		return err
	}
	docStr := string(doc)
	sum := digest(docStr)
	ik := indexKey(s.prefix, cp.Consumer, cp.Stream)
	id := s.writeID()
	n, err := s.save.Run(ctx, s.client, []string{rk, ik},
		Schema, strconv.FormatUint(cp.Version, 10), prev, strconv.FormatUint(next.Version, 10), docStr, id, cp.Partition).Int()
	if err == nil && n == 0 {
		err = s.diagnose(ctx, rk, cp.Key, cp.Version, id)
	}
	switch {
	case err != nil:
		s.forget(cp.Key)
		if errors.Is(err, checkpoint.ErrConflict) || errors.Is(err, checkpoint.ErrCorrupt) {
			return err
		}
		return s.errorf("save %s: %w", cp.Key, err)
	case n < 0:
		s.forget(cp.Key)
		return s.wrongType(ctx, ik, s.whereIndex(ik, cp.Consumer, cp.Stream), "a set of partitions")
	}
	s.remember(cp.Key, next.Version, sum)
	cp.Version++
	return nil
}

// storedDigest returns the digest of the document stored at cp.Version
// ("" for version 0): the one this store last read or wrote, or else the
// one it reads and decodes now, so that the script never overwrites a
// document the store has not decoded.
func (s *Store) storedDigest(ctx context.Context, rk string, cp *checkpoint.Checkpoint) (string, error) {
	if cp.Version == 0 {
		return "", nil
	}
	s.mu.Lock()
	seen, ok := s.seen[cp.Key]
	s.mu.Unlock()
	if ok && seen.version == cp.Version {
		return seen.digest, nil
	}
	h, err := s.readHash(ctx, rk, cp.Key)
	if err != nil {
		return "", s.errorf("save %s: read: %w", cp.Key, err)
	}
	st, err := decodeCheckpoint(s.where(rk, cp.Key), cp.Key, h)
	if err != nil {
		return "", err
	}
	var version uint64
	if st.cp != nil {
		version = st.cp.Version
	}
	if version != cp.Version {
		return "", checkpoint.ConflictError(cp.Key, cp.Version, version)
	}
	return st.digest, nil
}

// diagnose explains a refused Save by reading the hash: corrupt data, or a
// conflict naming both versions. It returns nil if the stored checkpoint
// was written by this very Save (the client sent it again after its reply
// was lost).
func (s *Store) diagnose(ctx context.Context, rk string, key checkpoint.Key, expected uint64, id string) error {
	h, err := s.readHash(ctx, rk, key)
	if err != nil {
		if errors.Is(err, checkpoint.ErrCorrupt) {
			return err
		}
		return fmt.Errorf("%w: %s: the compare-and-swap was refused, and reading the hash to see why failed: %w", checkpoint.ErrConflict, key, classify(err))
	}
	st, err := decodeCheckpoint(s.where(rk, key), key, h)
	if err != nil {
		return err
	}
	var version uint64
	if st.cp != nil {
		version = st.cp.Version
	}
	switch {
	case version == expected+1 && st.writer == id:
		return nil
	case version == expected && version > 0:
		return fmt.Errorf("%w: %s: version %d is stored but its document changed since this store read it (written by another process at the same version)", checkpoint.ErrConflict, key, version)
	}
	return checkpoint.ConflictError(key, expected, version)
}

// group reads the hashes of every partition of consumer on stream: the
// group's set (SMEMBERS), then the hashes in pipelines of listPipeline.
// It calls fn for each partition's hash that exists, sorted by partition.
func (s *Store) group(ctx context.Context, consumer, stream string, fn func(k checkpoint.Key, rk string, h map[string]string) error) error {
	ik := indexKey(s.prefix, consumer, stream)
	parts, err := s.client.SMembers(ctx, ik).Result()
	if goredis.HasErrorPrefix(err, "WRONGTYPE") {
		return s.wrongType(ctx, ik, s.whereIndex(ik, consumer, stream), "a set of partitions")
	}
	if err != nil {
		return err
	}
	sort.Strings(parts)
	for len(parts) > 0 {
		chunk := parts[:min(len(parts), listPipeline)]
		parts = parts[len(chunk):]
		cmds := make([]*goredis.MapStringStringCmd, len(chunk))
		_, err := s.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
			for i, part := range chunk {
				cmds[i] = p.HGetAll(ctx, partitionKey(s.prefix, checkpoint.Key{Consumer: consumer, Stream: stream, Partition: part}))
			}
			return nil
		})
		if err != nil && !goredis.HasErrorPrefix(err, "WRONGTYPE") {
			return err
		}
		for i, part := range chunk {
			k := checkpoint.Key{Consumer: consumer, Stream: stream, Partition: part}
			rk := partitionKey(s.prefix, k)
			h, err := cmds[i].Result()
			if goredis.HasErrorPrefix(err, "WRONGTYPE") {
				return s.wrongType(ctx, rk, s.where(rk, k), "a hash")
			}
			if err != nil {
				return err
			}
			if err := k.Validate(); err != nil {
				return fmt.Errorf("%w: redis %s, key %q: partition %q: %w", checkpoint.ErrCorrupt, s.addr, ik, part, err)
			}
			if err := fn(k, rk, h); err != nil {
				return err
			}
		}
	}
	return nil
}

// listPipeline is how many hashes List reads per round trip.
const listPipeline = 256

// List returns the saved checkpoints of consumer on stream, sorted by
// partition (see checkpoint.Store): one SMEMBERS and one pipelined HGETALL
// per partition.
func (s *Store) List(ctx context.Context, consumer, stream string) ([]*checkpoint.Checkpoint, error) {
	if err := ctx.Err(); err != nil {
		return nil, s.errorf("list %s/%s: %w", consumer, stream, err)
	}
	if err := checkpoint.ValidateGroup(consumer, stream); err != nil {
		return nil, err
	}
	var out []*checkpoint.Checkpoint
	err := s.group(ctx, consumer, stream, func(k checkpoint.Key, rk string, h map[string]string) error {
		st, err := decodeCheckpoint(s.where(rk, k), k, h)
		if err != nil {
			return err
		}
		if st.cp != nil {
			s.remember(k, st.cp.Version, st.digest)
			out = append(out, st.cp)
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, checkpoint.ErrCorrupt) {
			return nil, err
		}
		return nil, s.errorf("list %s/%s: %w", consumer, stream, err)
	}
	return out, nil
}
