// Package kinesistest runs an embedded Kinesis for tests and demos: the
// in-process emulator of package kinesisfake on 127.0.0.1, which the real
// aws-sdk-go-v2 client (and so the kinesis adapter) talks to over real
// sockets, with its fault injection at hand.
//
//	func TestOrders(t *testing.T) {
//		b := kinesistest.Start(t)
//		if err := b.CreateStream("orders", 4); err != nil { t.Fatal(err) }
//		s, err := stream.Open(ctx, b.URL("orders"))
//		...
//		b.Fake().Throttle("orders", "GetRecords", 2) // the next two GetRecords are throttled
//	}
//
// A program (the CLI's demo) starts one with New and closes it when done:
//
//	b, err := kinesistest.New()
//	...
//	defer b.Close()
//	url := b.URL("orders", "create_stream", "true", "shards", "4")
package kinesistest

import (
	"fmt"
	"net/url"

	"github.com/unistream-go/unistream/adapters/kinesis/kinesisfake"
	"github.com/unistream-go/unistream/stream/streamtest"
)

// Region is the region of the URLs a Broker makes.
const Region = "us-east-1"

// Broker is a running embedded Kinesis.
type Broker struct {
	srv *kinesisfake.Server
}

// New starts an emulator on a free port of 127.0.0.1 with the given
// options. Close it when done.
func New(opts ...kinesisfake.Option) (*Broker, error) {
	srv, err := kinesisfake.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("kinesistest: %w", err)
	}
	return &Broker{srv: srv}, nil
}

// TB is the part of testing.TB that Start uses (streamtest.TB): the package
// names no type of package testing, so that the shipped CLI, whose embedded
// broker it starts, does not link testing.
type TB = streamtest.TB

// Start is New for a test: it fails the test if the emulator does not
// start, and closes it when the test ends.
func Start(t TB, opts ...kinesisfake.Option) *Broker {
	t.Helper()
	b, err := New(opts...)
	if err != nil {
		t.Fatal(fmt.Sprintf("kinesistest: %v", err))
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// Endpoint returns the emulator's base URL, "http://127.0.0.1:PORT".
func (b *Broker) Endpoint() string { return b.srv.Endpoint() }

// URL returns a ready-to-use kinesis URL of stream on this emulator:
// kinesis://STREAM?endpoint=...&region=us-east-1 with static dummy
// credentials (the emulator accepts any signature), then the extra query
// keys and values given in pairs, such as URL("orders", "create_stream",
// "true", "shards", "4"). An odd trailing key gets an empty value.
func (b *Broker) URL(stream string, kv ...string) string {
	q := url.Values{}
	q.Set("endpoint", b.Endpoint())
	q.Set("region", Region)
	q.Set("access_key_id", "kinesistest")
	q.Set("secret_access_key", "kinesistest")
	for i := 0; i < len(kv); i += 2 {
		v := ""
		if i+1 < len(kv) {
			v = kv[i+1]
		}
		q.Set(kv[i], v)
	}
	return "kinesis://" + stream + "?" + q.Encode()
}

// CreateStream creates a stream with n shards; it is ACTIVE at once.
func (b *Broker) CreateStream(name string, shards int) error { return b.srv.CreateStream(name, shards) }

// Fake returns the emulator, for fault injection (Throttle, Fail,
// FailRecords, ExpireIterators, DropConnections) and call counts.
func (b *Broker) Fake() *kinesisfake.Server { return b.srv }

// Close stops the emulator. It is idempotent.
func (b *Broker) Close() error { return b.srv.Close() }
