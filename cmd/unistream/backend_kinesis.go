//go:build !unistream_lite

package main

import (
	"context"
	"net"
	"strconv"

	"github.com/unistream-go/unistream/adapters/kinesis"
	"github.com/unistream-go/unistream/adapters/kinesis/kinesisfake"
	"github.com/unistream-go/unistream/adapters/kinesis/kinesistest"

	// The Kinesis scheme, and the DynamoDB checkpoint store (dynamodb://)
	// that goes with it: both bring the AWS SDK, which the lite build
	// (make demo) leaves out to compile fast on a fresh machine.
	_ "github.com/unistream-go/unistream/stream/checkpoint/dynamodb"
)

// kinesisAdmin deletes Kinesis streams (DeleteStream, then waits until
// they are gone: a DELETING stream still counts against the shard limit).
var kinesisAdmin = streamAdmin{delete: kinesis.DeleteStreamURL, perShard: true}

var kinesisEmbedded = embeddedBackend{name: "kinesis", port: 4567, start: startKinesis}

// kinesisBackend is the kinesisfake emulator through kinesistest, spoken
// to by the real aws-sdk-go-v2 client over HTTP on loopback.
type kinesisBackend struct{ b *kinesistest.Broker }

func startKinesis(_ context.Context, o embedOptions) (runningBackend, error) {
	var opts []kinesisfake.Option
	if o.port != 0 {
		opts = append(opts, kinesisfake.Addr(net.JoinHostPort("127.0.0.1", strconv.Itoa(o.port))))
	}
	b, err := kinesistest.New(opts...)
	if err != nil {
		return nil, err
	}
	return kinesisBackend{b}, nil
}

func (k kinesisBackend) URL(name string, partitions int) string {
	return k.b.URL(name, "create_stream", "true", "shards", strconv.Itoa(partitions), "poll_interval", "50ms", "max_poll_interval", "200ms")
}
func (k kinesisBackend) Addr() string { return k.b.Endpoint() }
func (k kinesisBackend) Close()       { k.b.Close() }
