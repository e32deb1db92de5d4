package dynamodb

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"go.uber.org/goleak"

	"github.com/unistream-go/unistream/internal/nodeemu"
	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/checkpoint/storetest"
)

// emu is the dynalite process shared by the tests of this package, started
// on first use and stopped by TestMain.
var emu struct {
	once sync.Once
	p    *nodeemu.Process
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if emu.p != nil {
		emu.p.Close()
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// endpoint returns the URL of dynalite, starting it the first time.
func endpoint(t testing.TB) string {
	t.Helper()
	emu.once.Do(func() {
		emu.p, emu.err = nodeemu.Start(context.Background(), "dynalite", nodeemu.Dynalite)
	})
	if emu.err != nil {
		t.Fatalf("start dynalite (npm dynalite 4.0.0, installed by `make tools`): %v", emu.err)
	}
	return "http://" + emu.p.Addr
}

var tables atomic.Int64

// testOptions connect to dynalite with static credentials.
func testOptions(t testing.TB) []Option {
	return []Option{
		WithEndpoint(endpoint(t)),
		WithRegion("us-east-1"),
		WithStaticCredentials("AKIDTEST", "secret-test", ""),
	}
}

// newStore returns a store on a new table of dynalite.
func newStore(t testing.TB, opts ...Option) *Store {
	t.Helper()
	name := fmt.Sprintf("checkpoints-%d", tables.Add(1))
	s, err := New(context.Background(), name, append(append(testOptions(t), WithCreateTable(10*time.Second)), opts...)...)
	if err != nil {
		t.Fatalf("New(%s): %v", name, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// reopen returns another store on s's table, as another process would.
func reopen(t testing.TB, s *Store) *Store {
	t.Helper()
	r, err := New(context.Background(), s.Table(), testOptions(t)...)
	if err != nil {
		t.Fatalf("reopen %s: %v", s.Table(), err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// setAttr overwrites one attribute of key's item, bypassing the store.
func setAttr(t testing.TB, s *Store, key checkpoint.Key, name string, v types.AttributeValue) {
	t.Helper()
	_, err := s.client.UpdateItem(context.Background(), &ddb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       itemKey(key),
		UpdateExpression:          aws.String("SET #a = :v"),
		ExpressionAttributeNames:  map[string]string{"#a": name},
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": v},
	})
	if err != nil {
		t.Fatalf("damage %s of %s: %v", name, key, err)
	}
}

func TestStore(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		New: func(t *testing.T) checkpoint.Store { return newStore(t) },
		Corrupt: func(t *testing.T, s checkpoint.Store, key checkpoint.Key) {
			setAttr(t, s.(*Store), key, attrCheckpoint, str(`{"format": 1, "checkpoint": {"consumer": `))
		},
		Reopen: func(t *testing.T, s checkpoint.Store) checkpoint.Store { return reopen(t, s.(*Store)) },
	})
}

func TestStoreLeases(t *testing.T) {
	storetest.RunLeases(t, storetest.LeaseHarness{
		New: func(t *testing.T) checkpoint.Leaser { return newStore(t) },
		Corrupt: func(t *testing.T, l checkpoint.Leaser, key checkpoint.Key) {
			setAttr(t, l.(*Store), key, attrExpires, str("tomorrow"))
		},
		Reopen: func(t *testing.T, l checkpoint.Leaser) checkpoint.Leaser { return reopen(t, l.(*Store)) },
	})
}

// TestStorePagination runs List and ListLeases over many Query pages.
func TestStorePagination(t *testing.T) {
	s := newStore(t)
	s.pageLimit = 3
	ctx := context.Background()
	const n = 11
	for i := range n {
		k := checkpoint.Key{Consumer: "c", Stream: "s", Partition: fmt.Sprintf("p%02d", i)}
		if err := s.Save(ctx, &checkpoint.Checkpoint{Key: k, Committed: []byte{byte(i)}}); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			if err := s.AcquireLease(ctx, &checkpoint.Lease{Key: k}, "w", time.Unix(1e9, 0)); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A lease-only item between checkpoints.
	if err := s.AcquireLease(ctx, &checkpoint.Lease{Key: checkpoint.Key{Consumer: "c", Stream: "s", Partition: "p05x"}}, "w", time.Unix(1e9, 0)); err != nil {
		t.Fatal(err)
	}
	list, err := s.List(ctx, "c", "s")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != n {
		t.Fatalf("List over pages of 3 returned %d checkpoints, want %d", len(list), n)
	}
	for i, cp := range list {
		if want := fmt.Sprintf("p%02d", i); cp.Partition != want || cp.Committed[0] != byte(i) {
			t.Fatalf("List[%d] = %s committed %v, want %s committed [%d]", i, cp.Partition, cp.Committed, want, i)
		}
	}
	leases, err := s.ListLeases(ctx, "c", "s")
	if err != nil {
		t.Fatal(err)
	}
	if len(leases) != (n+1)/2+1 {
		t.Fatalf("ListLeases over pages returned %d leases, want %d", len(leases), (n+1)/2+1)
	}
}

// TestStoreCorruptItems: each kind of damaged item gives ErrCorrupt naming
// the table, the key and what was expected, and is never overwritten.
func TestStoreCorruptItems(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	doc := func(k checkpoint.Key, v uint64) string {
		b, err := checkpoint.EncodeDocument(&checkpoint.Checkpoint{Key: k, Version: v})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	other := checkpoint.Key{Consumer: "c", Stream: "s", Partition: "other"}
	cases := []struct {
		name   string
		attr   string
		value  func(k checkpoint.Key) types.AttributeValue
		expect string
	}{
		{"version not a number", attrVersion, func(checkpoint.Key) types.AttributeValue { return str("1") }, "expected a number"},
		{"version zero", attrVersion, func(checkpoint.Key) types.AttributeValue { return num(0) }, "expected an integer from 1"},
		{"version differs from document", attrVersion, func(checkpoint.Key) types.AttributeValue { return num(7) }, "expected them equal"},
		{"document binary", attrCheckpoint, func(checkpoint.Key) types.AttributeValue { return &types.AttributeValueMemberB{Value: []byte("x")} }, "expected a string holding the JSON checkpoint document"},
		{"document of another key", attrCheckpoint, func(checkpoint.Key) types.AttributeValue { return str(doc(other, 1)) }, `expected key "c/s/`},
		{"document format", attrCheckpoint, func(k checkpoint.Key) types.AttributeValue {
			return str(strings.Replace(doc(k, 1), `"format":1`, `"format":9`, 1))
		}, "expected format 1"},
		{"document not JSON", attrCheckpoint, func(checkpoint.Key) types.AttributeValue { return str("garbage") }, "invalid JSON"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k := checkpoint.Key{Consumer: "c", Stream: "s", Partition: fmt.Sprintf("k%d", i)}
			cp := storetest.Full(k)
			if err := s.Save(ctx, cp); err != nil {
				t.Fatal(err)
			}
			setAttr(t, s, k, tc.attr, tc.value(k))
			check := func(what string, err error) {
				t.Helper()
				if !errors.Is(err, checkpoint.ErrCorrupt) || !strings.Contains(err.Error(), s.Table()) ||
					!strings.Contains(err.Error(), k.String()) || !strings.Contains(err.Error(), tc.expect) {
					t.Fatalf("%s: err = %v, want ErrCorrupt naming table %s, key %s and %q", what, err, s.Table(), k, tc.expect)
				}
			}
			_, err := s.Load(ctx, k)
			check("Load", err)
			check("Save", s.Save(ctx, cp)) // the store has seen version 1: conditional write
			fresh := reopen(t, s)
			c2 := storetest.Full(k)
			c2.Version = 1
			check("Save from another store", fresh.Save(ctx, c2))
			_, err = s.List(ctx, "c", "s")
			check("List", err)
			_, err = s.Load(ctx, k)
			check("Load after refused saves", err)
			// Repair for the next case's List.
			setAttr(t, s, k, attrVersion, num(1))
			setAttr(t, s, k, attrCheckpoint, str(doc(k, 1)))
		})
	}
	// Half an item.
	k := checkpoint.Key{Consumer: "c", Stream: "s2", Partition: "half"}
	setAttr(t, s, k, attrVersion, num(3))
	if _, err := s.Load(ctx, k); !errors.Is(err, checkpoint.ErrCorrupt) || !strings.Contains(err.Error(), `without "checkpoint"`) {
		t.Fatalf("Load of an item with a version and no document: err = %v, want ErrCorrupt", err)
	}
	if err := s.Save(ctx, &checkpoint.Checkpoint{Key: k}); !errors.Is(err, checkpoint.ErrCorrupt) {
		t.Fatalf("Save over an item with a version and no document: err = %v, want ErrCorrupt", err)
	}
}

func TestNewErrors(t *testing.T) {
	ctx := context.Background()
	// A table with another key schema.
	s := newStore(t)
	wrong := fmt.Sprintf("wrong-schema-%d", tables.Add(1)) // dynalite outlives a run of -count
	_, err := s.client.CreateTable(ctx, &ddb.CreateTableInput{
		TableName:            aws.String(wrong),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
	})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		table string
		opts  []Option
		want  string
	}{
		{"missing table", "no-such-table", testOptions(t), "does not exist"},
		{"wrong schema", wrong, testOptions(t), `expected partition key "pk" (S) and sort key "sk" (S)`},
		{"empty table name", "", testOptions(t), "expected a DynamoDB table name"},
		{"bad table name", "t:80", testOptions(t), "3 to 255 letters"},
		{"bad endpoint", "tbl", []Option{WithEndpoint("127.0.0.1:1")}, "expected an absolute http:// or https:// URL"},
		{"empty region", "tbl", []Option{WithRegion("")}, "expected a non-empty AWS region"},
		{"empty secret", "tbl", []Option{WithStaticCredentials("id", "", "")}, "expected a non-empty access key id"},
		{"negative create timeout", "tbl", []Option{WithCreateTable(-1)}, "expected a non-negative duration"},
		{"nil client", "tbl", []Option{WithClient(nil)}, "non-nil"},
		{"nil credentials", "tbl", []Option{WithCredentials(nil)}, "non-nil"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(ctx, tc.table, tc.opts...)
			if err == nil {
				s.Close()
				t.Fatalf("New succeeded, want an error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: err = %v, want one containing %q", err, tc.want)
			}
		})
	}
	// The secret is never printed.
	_, err = New(ctx, "tbl", WithStaticCredentials("", "super-secret", ""))
	if err == nil || strings.Contains(err.Error(), "super-secret") {
		t.Fatalf("New with an empty access key: err = %v, want an error without the secret", err)
	}
}

// TestSharedClient: WithClient uses the given client and Close leaves it
// usable.
func TestSharedClient(t *testing.T) {
	s := newStore(t)
	r, err := New(context.Background(), s.Table(), WithClient(s.Client()))
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	k := checkpoint.Key{Consumer: "c", Stream: "s", Partition: "0"}
	if err := r.Save(context.Background(), &checkpoint.Checkpoint{Key: k}); err != nil {
		t.Fatal(err)
	}
	if cp, err := s.Load(context.Background(), k); err != nil || cp.Version != 1 {
		t.Fatalf("Load through the other store = %v, %v; want version 1", cp, err)
	}
}

func TestStoreTooLarge(t *testing.T) {
	s := newStore(t)
	k := checkpoint.Key{Consumer: "c", Stream: "s", Partition: "0"}
	cp := &checkpoint.Checkpoint{Key: k, Committed: make([]byte, 400*1024)}
	err := s.Save(context.Background(), cp)
	if err == nil || !strings.Contains(err.Error(), "at most") || cp.Version != 0 {
		t.Fatalf("Save of a 400 KiB pointer: err = %v, version %d; want an error naming the limit and the version unchanged", err, cp.Version)
	}
	if got, err := s.Load(context.Background(), k); err != nil || got.Version != 0 {
		t.Fatalf("Load after a refused Save = %v, %v; want nothing stored", got, err)
	}
}
