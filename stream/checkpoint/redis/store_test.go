package redis

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/checkpoint/storetest"
)

// testAddr is the server the tests use: $UNISTREAM_TEST_REDIS_ADDR, or
// 127.0.0.1:6379.
var testAddr = cmp.Or(os.Getenv("UNISTREAM_TEST_REDIS_ADDR"), "127.0.0.1:6379")

// startHint says how to start the server the tests need.
const startHint = `redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log`

func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// server is the answer of the first PING, shared by the tests.
var server struct {
	once sync.Once
	err  error
}

// needServer skips t unless a server answers at testAddr.
func needServer(t testing.TB) {
	t.Helper()
	server.once.Do(func() {
		c := goredis.NewClient(&goredis.Options{Addr: testAddr, DialTimeout: time.Second, MaxRetries: -1})
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		server.err = c.Ping(ctx).Err()
	})
	if server.err != nil {
		t.Skipf("no Redis server answers at %s (%v); start one with: %s", testAddr, server.err, startHint)
	}
}

// run names this test process's keys, so that runs (and -count) never
// share keys.
var run = fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano())

var prefixes atomic.Int64

// newPrefix returns a key prefix no other test uses, and deletes the keys
// under it when t ends (SCAN of the prefix, then DEL: nothing else).
func newPrefix(t testing.TB) string {
	t.Helper()
	needServer(t)
	p := fmt.Sprintf("unistream-test:%s:%d:", run, prefixes.Add(1))
	t.Cleanup(func() { deletePrefix(t, p) })
	return p
}

// deletePrefix deletes the keys that start with prefix, which holds no
// glob characters.
func deletePrefix(t testing.TB, prefix string) {
	c := goredis.NewClient(&goredis.Options{Addr: testAddr})
	defer c.Close()
	ctx := context.Background()
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Errorf("scan the keys of %s: %v", prefix, err)
		return
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, prefix) {
			t.Errorf("SCAN %s* returned %q", prefix, k)
			return
		}
	}
	if len(keys) > 0 {
		if err := c.Del(ctx, keys...).Err(); err != nil {
			t.Errorf("delete the keys of %s: %v", prefix, err)
		}
	}
}

// newStore returns a store under a new prefix.
func newStore(t testing.TB, opts ...Option) *Store {
	t.Helper()
	return openStore(t, newPrefix(t), opts...)
}

// openStore returns a store under prefix, as another process would open it.
func openStore(t testing.TB, prefix string, opts ...Option) *Store {
	t.Helper()
	s, err := New(context.Background(), append([]Option{WithAddr(testAddr), WithKeyPrefix(prefix)}, opts...)...)
	if err != nil {
		t.Fatalf("New(%s): %v", prefix, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func reopen(t testing.TB, s *Store) *Store { return openStore(t, s.KeyPrefix()) }

// hset writes fields of key's hash, bypassing the store.
func hset(t testing.TB, s *Store, key checkpoint.Key, fields ...string) {
	t.Helper()
	args := make([]any, len(fields))
	for i, f := range fields {
		args[i] = f
	}
	if err := s.client.HSet(context.Background(), partitionKey(s.prefix, key), args...).Err(); err != nil {
		t.Fatalf("damage %s: %v", key, err)
	}
}

func TestStore(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		New: func(t *testing.T) checkpoint.Store { return newStore(t) },
		Corrupt: func(t *testing.T, s checkpoint.Store, key checkpoint.Key) {
			hset(t, s.(*Store), key, fieldCheckpoint, `{"format": 1, "checkpoint": {"consumer": `)
		},
		Reopen: func(t *testing.T, s checkpoint.Store) checkpoint.Store { return reopen(t, s.(*Store)) },
	})
}

func TestStoreLeases(t *testing.T) {
	storetest.RunLeases(t, storetest.LeaseHarness{
		New: func(t *testing.T) checkpoint.Leaser { return newStore(t) },
		Corrupt: func(t *testing.T, l checkpoint.Leaser, key checkpoint.Key) {
			hset(t, l.(*Store), key, fieldExpires, "tomorrow")
		},
		Reopen: func(t *testing.T, l checkpoint.Leaser) checkpoint.Leaser { return reopen(t, l.(*Store)) },
	})
}

// TestStoreCorruptKeys: each kind of key that is not a unistream
// checkpoint gives ErrCorrupt naming the Redis key and what was expected,
// from Load, Save (by this store and by a fresh one), List and the lease
// methods, and is never overwritten.
func TestStoreCorruptKeys(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	doc := func(k checkpoint.Key, v uint64) string { return encode(t, &checkpoint.Checkpoint{Key: k, Version: v}) }
	other := checkpoint.Key{Consumer: "c", Stream: "s", Partition: "other"}
	type damage func(t *testing.T, k checkpoint.Key, rk string)
	setFields := func(fields ...string) damage {
		return func(t *testing.T, k checkpoint.Key, _ string) { hset(t, s, k, fields...) }
	}
	replace := func(fn func(c *goredis.Client, rk string) error) damage {
		return func(t *testing.T, _ checkpoint.Key, rk string) {
			c := s.client.(*goredis.Client)
			if err := c.Del(ctx, rk).Err(); err != nil {
				t.Fatal(err)
			}
			if err := fn(c, rk); err != nil {
				t.Fatal(err)
			}
		}
	}
	cases := []struct {
		name   string
		damage damage
		expect string
	}{
		{"string key", replace(func(c *goredis.Client, rk string) error { return c.Set(ctx, rk, "garbage", 0).Err() }), "holds a string (expected a hash"},
		{"list key", replace(func(c *goredis.Client, rk string) error { return c.RPush(ctx, rk, "x").Err() }), "holds a list (expected a hash"},
		{"hash without the fields", replace(func(c *goredis.Client, rk string) error { return c.HSet(ctx, rk, "name", "alice").Err() }), `without the field "schema"`},
		{"another schema", setFields(fieldSchema, "2"), `schema "2" (expected "1"`},
		{"unknown field", setFields("extra", "x"), `unknown fields "extra"`},
		{"version not a number", setFields(fieldVersion, "one"), "expected a decimal integer from 1"},
		{"version not canonical", setFields(fieldVersion, "01"), "expected a decimal integer from 1"},
		{"version zero", setFields(fieldVersion, "0"), "expected a decimal integer from 1"},
		{"version differs from document", setFields(fieldVersion, "7"), "expected them equal"},
		{"version without document", replace(func(c *goredis.Client, rk string) error {
			return c.HSet(ctx, rk, fieldSchema, Schema, fieldVersion, "1").Err()
		}), `field "version" without "checkpoint"`},
		{"document of another key", setFields(fieldCheckpoint, doc(other, 1)), `expected key "c/s/`},
		{"document format", setFields(fieldCheckpoint, strings.Replace(doc(other, 1), `"format":1`, `"format":9`, 1)), "expected format 1"},
		{"document not JSON", setFields(fieldCheckpoint, "garbage"), "invalid JSON"},
		{"lease counter zero", setFields(fieldCounter, "0"), "expected a decimal integer from 1"},
		{"lease expiry garbage", setFields(fieldCounter, "1", fieldOwner, "w", fieldExpires, "tomorrow"), "expected an RFC 3339 time"},
		{"lease owner empty", setFields(fieldCounter, "1", fieldOwner, "", fieldExpires, formatTime(time.Unix(1e9, 0))), "expected a worker id"},
		{"lease owner without expiry", func(t *testing.T, _ checkpoint.Key, rk string) {
			if err := s.client.HDel(ctx, rk, fieldExpires).Err(); err != nil {
				t.Fatal(err)
			}
		}, "expected both set"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k := checkpoint.Key{Consumer: "c", Stream: "s", Partition: fmt.Sprintf("k%d", i)}
			rk := partitionKey(s.prefix, k)
			cp := storetest.Full(k)
			if err := s.Save(ctx, cp); err != nil {
				t.Fatal(err)
			}
			lease := &checkpoint.Lease{Key: k}
			if err := s.AcquireLease(ctx, lease, "a", time.Unix(2e9, 0)); err != nil {
				t.Fatal(err)
			}
			defer func() { // repair for the next case's List
				if err := s.client.Del(ctx, rk).Err(); err != nil {
					t.Fatal(err)
				}
			}()
			tc.damage(t, k, rk)
			dump := func() string {
				c := s.client.(*goredis.Client)
				typ := c.Type(ctx, rk).Val()
				if typ == "hash" {
					return fmt.Sprint(c.HGetAll(ctx, rk).Val())
				}
				return typ + " " + fmt.Sprint(c.Dump(ctx, rk).Val())
			}
			before := dump()
			leaseField := strings.HasPrefix(tc.name, "lease")
			check := func(what string, err error) {
				t.Helper()
				if !errors.Is(err, checkpoint.ErrCorrupt) || !strings.Contains(err.Error(), rk) || !strings.Contains(err.Error(), tc.expect) {
					t.Errorf("%s: err = %v, want ErrCorrupt naming key %q and %q", what, err, rk, tc.expect)
				}
				storetest.CheckClass(t, err, storetest.Corrupt)
			}
			if !leaseField {
				_, err := s.Load(ctx, k)
				check("Load", err)
				check("Save", s.Save(ctx, cp)) // the store has seen version 1
				c2 := storetest.Full(k)
				c2.Version = 1
				check("Save from another store", reopen(t, s).Save(ctx, c2))
				check("Save of version 0", s.Save(ctx, storetest.Full(k)))
				_, err = s.List(ctx, "c", "s")
				check("List", err)
			}
			if leaseField || !strings.Contains(tc.name, "version") && !strings.Contains(tc.name, "document") {
				_, err := s.LoadLease(ctx, k)
				check("LoadLease", err)
				check("RenewLease", s.RenewLease(ctx, lease.Clone(), time.Unix(3e9, 0)))
				check("RenewLease from another store", reopen(t, s).RenewLease(ctx, lease.Clone(), time.Unix(3e9, 0)))
				check("AcquireLease of counter 0", s.AcquireLease(ctx, &checkpoint.Lease{Key: k}, "b", time.Unix(3e9, 0)))
				_, err = s.ListLeases(ctx, "c", "s")
				check("ListLeases", err)
			}
			if after := dump(); after != before {
				t.Fatalf("the corrupt key changed: before %s, after %s", before, after)
			}
		})
	}
}

// TestStoreCorruptIndex: a group's set of partitions that is not a set
// gives ErrCorrupt naming it, and writes to the group change nothing.
func TestStoreCorruptIndex(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	k := checkpoint.Key{Consumer: "c", Stream: "s", Partition: "0"}
	ik := indexKey(s.prefix, "c", "s")
	if err := s.client.Set(ctx, ik, "garbage", 0).Err(); err != nil {
		t.Fatal(err)
	}
	for what, err := range map[string]error{
		"Save":         s.Save(ctx, &checkpoint.Checkpoint{Key: k}),
		"AcquireLease": s.AcquireLease(ctx, &checkpoint.Lease{Key: k}, "w", time.Unix(2e9, 0)),
	} {
		if !errors.Is(err, checkpoint.ErrCorrupt) || !strings.Contains(err.Error(), ik) || !strings.Contains(err.Error(), "expected a set of partitions") {
			t.Errorf("%s with a corrupt partition set: err = %v, want ErrCorrupt naming %q", what, err, ik)
		}
	}
	if _, err := s.List(ctx, "c", "s"); !errors.Is(err, checkpoint.ErrCorrupt) {
		t.Errorf("List with a corrupt partition set: err = %v, want ErrCorrupt", err)
	}
	if _, err := s.ListLeases(ctx, "c", "s"); !errors.Is(err, checkpoint.ErrCorrupt) {
		t.Errorf("ListLeases with a corrupt partition set: err = %v, want ErrCorrupt", err)
	}
	if n := s.client.Exists(ctx, partitionKey(s.prefix, k)).Val(); n != 0 {
		t.Errorf("a refused write created the partition's hash")
	}
}

// TestStoreKeyLayout pins the documented layout: the keys, the fields and
// their values after a Save and a lease acquire.
func TestStoreKeyLayout(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	k := checkpoint.Key{Consumer: "bill{ing}", Stream: "or/ders%", Partition: "3"}
	cp := &checkpoint.Checkpoint{Key: k, Committed: []byte{1}}
	if err := s.Save(ctx, cp); err != nil {
		t.Fatal(err)
	}
	exp := time.Date(2030, 1, 2, 3, 4, 5, 6, time.FixedZone("X", 3600))
	if err := s.AcquireLease(ctx, &checkpoint.Lease{Key: k}, "worker-1", exp); err != nil {
		t.Fatal(err)
	}
	rk := s.prefix + "{bill%7Bing%7D/or%2Fders%25}:cp:3"
	if got := partitionKey(s.prefix, k); got != rk {
		t.Fatalf("partitionKey = %q, want %q", got, rk)
	}
	h, err := s.client.HGetAll(ctx, rk).Result()
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := checkpoint.EncodeDocument(&checkpoint.Checkpoint{Key: k, Committed: []byte{1}, Version: 1})
	want := map[string]string{fieldSchema: "1", fieldVersion: "1", fieldCheckpoint: string(doc),
		fieldCounter: "1", fieldOwner: "worker-1", fieldExpires: "2030-01-02T02:04:05.000000006Z",
		fieldWriter: s.id + "-1", fieldLeaseWriter: s.id + "-2"}
	if fmt.Sprint(h) != fmt.Sprint(want) {
		t.Fatalf("hash %s = %v, want %v", rk, h, want)
	}
	members, err := s.client.SMembers(ctx, s.prefix+"{bill%7Bing%7D/or%2Fders%25}:partitions").Result()
	if err != nil || len(members) != 1 || members[0] != "3" {
		t.Fatalf("partition set = %v, %v; want [3]", members, err)
	}
}

// savedFull returns a new store holding storetest.Full of key c/s/0 at
// version 1, the key and the checkpoint.
func savedFull(t *testing.T) (*Store, checkpoint.Key, *checkpoint.Checkpoint) {
	t.Helper()
	s := newStore(t)
	k := checkpoint.Key{Consumer: "c", Stream: "s", Partition: "0"}
	cp := storetest.Full(k)
	if err := s.Save(context.Background(), cp); err != nil {
		t.Fatal(err)
	}
	return s, k, cp
}

// encode returns the stored document of cp.
func encode(t testing.TB, cp *checkpoint.Checkpoint) string {
	t.Helper()
	b, err := checkpoint.EncodeDocument(cp)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestStoreRetriedWrite: a write whose reply was lost and that the client
// sent again finds its own data and succeeds.
func TestStoreRetriedWrite(t *testing.T) {
	s, k, cp := savedFull(t)
	ctx := context.Background()
	// The first attempt of the next Save reached the server: the hash holds
	// version 2 with the document being saved.
	next := cp.Clone()
	next.Version++
	nextID := func() string { return s.id + "-" + strconv.FormatUint(s.writes.Load()+1, 36) }
	hset(t, s, k, fieldVersion, "2", fieldCheckpoint, encode(t, next), fieldWriter, nextID())
	if err := s.Save(ctx, cp); err != nil || cp.Version != 2 {
		t.Fatalf("Save finding its own write: err = %v, version %d; want success at version 2", err, cp.Version)
	}
	// The same document written at version 2 by another store is a
	// conflict.
	other := cp.Clone()
	other.Version = 1
	if err := reopen(t, s).Save(ctx, other); !errors.Is(err, checkpoint.ErrConflict) {
		t.Fatalf("Save at a stale version of the stored document: err = %v, want ErrConflict", err)
	}
	// The same for a lease.
	l := &checkpoint.Lease{Key: k}
	if err := s.AcquireLease(ctx, l, "w", time.Unix(2e9, 0)); err != nil {
		t.Fatal(err)
	}
	hset(t, s, k, fieldCounter, "2", fieldExpires, formatTime(time.Unix(3e9, 0)), fieldLeaseWriter, nextID())
	if err := s.RenewLease(ctx, l, time.Unix(3e9, 0)); err != nil || l.Counter != 2 {
		t.Fatalf("RenewLease finding its own write: err = %v, lease %v; want success at counter 2", err, l)
	}
}

// TestStoreSameVersionConflict: a document changed at the same version by
// another process is a conflict, not overwritten.
func TestStoreSameVersionConflict(t *testing.T) {
	s, k, cp := savedFull(t)
	ctx := context.Background()
	changed := cp.Clone()
	changed.Counts.Skipped = 99
	hset(t, s, k, fieldCheckpoint, encode(t, changed))
	err := s.Save(ctx, cp)
	if !errors.Is(err, checkpoint.ErrConflict) || !strings.Contains(err.Error(), "document changed") || cp.Version != 1 {
		t.Fatalf("Save over a document changed at the same version: err = %v, version %d; want ErrConflict saying the document changed", err, cp.Version)
	}
	got, err := s.Load(ctx, k)
	if err != nil || got.Counts.Skipped != 99 {
		t.Fatalf("Load = %v, %v; want the other process's document", got, err)
	}
}

func TestStoreTooLarge(t *testing.T) {
	s := newStore(t, WithMaxDocumentBytes(4096))
	k := checkpoint.Key{Consumer: "c", Stream: "s", Partition: "0"}
	cp := &checkpoint.Checkpoint{Key: k, Committed: make([]byte, 4096)}
	err := s.Save(context.Background(), cp)
	if !strings.Contains(err.Error(), "at most 4096") || cp.Version != 0 {
		t.Fatalf("Save of a 4 KiB pointer: err = %v, version %d; want an error naming the limit and the version unchanged", err, cp.Version)
	}
	storetest.CheckClass(t, err, storetest.TooLarge)
	if got, err := s.Load(context.Background(), k); err != nil || got.Version != 0 {
		t.Fatalf("Load after a refused Save = %v, %v; want nothing stored", got, err)
	}
}

// TestStoreSharedClient: WithClient uses the given client and Close leaves
// it usable.
func TestStoreSharedClient(t *testing.T) {
	s := newStore(t)
	r, err := New(context.Background(), WithClient(s.Client()), WithKeyPrefix(s.KeyPrefix()))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	k := checkpoint.Key{Consumer: "c", Stream: "s", Partition: "0"}
	if err := r.Save(context.Background(), &checkpoint.Checkpoint{Key: k}); err != nil {
		t.Fatal(err)
	}
	if cp, err := s.Load(context.Background(), k); err != nil || cp.Version != 1 {
		t.Fatalf("Load through the other store = %v, %v; want version 1", cp, err)
	}
	if r.Addr() != testAddr {
		t.Errorf("Addr of a store on a shared client = %q, want %q", r.Addr(), testAddr)
	}
}

// TestStorePrefixIsolation: stores under different prefixes share nothing.
func TestStorePrefixIsolation(t *testing.T) {
	a, b := newStore(t), newStore(t)
	ctx := context.Background()
	k := checkpoint.Key{Consumer: "c", Stream: "s", Partition: "0"}
	if err := a.Save(ctx, &checkpoint.Checkpoint{Key: k}); err != nil {
		t.Fatal(err)
	}
	if cp, err := b.Load(ctx, k); err != nil || cp.Version != 0 {
		t.Fatalf("Load under another prefix = %v, %v; want nothing", cp, err)
	}
	if l, err := b.List(ctx, "c", "s"); err != nil || len(l) != 0 {
		t.Fatalf("List under another prefix = %v, %v; want nothing", l, err)
	}
}

// TestStoreListManyPartitions lists more partitions than one pipeline
// reads.
func TestStoreListManyPartitions(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	const n = listPipeline + 7
	for i := range n {
		k := checkpoint.Key{Consumer: "c", Stream: "s", Partition: fmt.Sprintf("p%04d", i)}
		if err := s.Save(ctx, &checkpoint.Checkpoint{Key: k, Committed: []byte{byte(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	list, err := s.List(ctx, "c", "s")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != n {
		t.Fatalf("List returned %d checkpoints, want %d", len(list), n)
	}
	for i, cp := range list {
		if want := fmt.Sprintf("p%04d", i); cp.Partition != want || cp.Committed[0] != byte(i) {
			t.Fatalf("List[%d] = %s, want %s", i, cp.Partition, want)
		}
	}
}
