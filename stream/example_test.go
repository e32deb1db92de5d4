package stream_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/dlq"
	"github.com/unistream-go/unistream/stream/memstream" // registers mem://
)

// A producer writes through its write-ahead log; a consumer with a file
// checkpoint and a file DLQ reads the records, retrying a failing one and
// dead-lettering a bad one.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "unistream-example-")
	defer os.RemoveAll(dir)

	p, err := stream.OpenProducer(ctx, "mem://example-orders?partitions=2", stream.WithWAL(filepath.Join(dir, "orders.wal")))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, v := range []string{"apple", "pear", "rotten", "plum"} {
		if err := p.Put(ctx, stream.Record{ID: v, Key: []byte(v), Value: []byte(v)}); err != nil {
			fmt.Println(err)
		}
	}
	if err := p.Close(ctx); err != nil { // flushes everything
		fmt.Println(err)
	}

	store, _ := checkpoint.NewFileStore(filepath.Join(dir, "checkpoints"))
	sink, _ := dlq.OpenFile(filepath.Join(dir, "dlq.jsonl"))
	defer sink.Close()
	var handled atomic.Int32
	runCtx, stop := context.WithCancel(ctx)
	c, err := stream.OpenConsumer(ctx, "mem://example-orders",
		func(ctx context.Context, r *stream.Record) error {
			if handled.Add(1) == 4 {
				stop() // a graceful stop: this record still finishes and is persisted
			}
			if string(r.Value) == "rotten" {
				return stream.Permanent(errors.New("cannot bill a rotten order"))
			}
			return nil
		},
		stream.WithName("billing"), stream.WithCheckpointStore(store), stream.WithDLQ(sink),
		stream.WithPollInterval(10*time.Millisecond))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	fmt.Println("run:", c.Run(runCtx))

	envs, _ := dlq.ReadFile(filepath.Join(dir, "dlq.jsonl"))
	for _, e := range envs {
		fmt.Printf("dead-lettered %s after %d attempt(s): %s\n", e.ID, e.Attempts, e.Errors[0].Error)
	}
	// Output:
	// run: <nil>
	// dead-lettered rotten after 1 attempt(s): permanent: cannot bill a rotten order
}

// A stream opened by URL is the same *stream.Stream whatever the backend:
// it writes, reads and prints pointers, and As hands out the backend's
// own client (here memstream's broker; a *kgo.Client for kafka://, a
// pulsar.Client for pulsar://, a *kinesis.Client for kinesis://).
func ExampleOpen() {
	ctx := context.Background()
	s, err := stream.Open(ctx, "mem://example-open?partitions=2")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	fmt.Println(s.Scheme(), s.Name())

	w, _ := s.OpenWriter(ctx)
	defer w.Close()
	res, err := w.Write(ctx, []stream.Record{{ID: "1", Key: []byte("alice"), Value: []byte("coffee")}})
	if err != nil || res[0].Err != nil {
		fmt.Println(err, res[0].Err)
		return
	}
	fmt.Println("stored at", s.FormatPointer(res[0].Partition, res[0].Pointer))

	r, _ := s.OpenReader(ctx, res[0].Partition, stream.Earliest())
	defer r.Close()
	recs, _ := r.Fetch(ctx, 10)
	fmt.Printf("read %s=%s\n", recs[0].Key, recs[0].Value)

	var b *memstream.Broker
	if s.As(&b) {
		fmt.Println("broker holds example-open:", slices.Contains(b.Names(), "example-open"))
	}
	var wrong *strings.Builder
	fmt.Println("As(**strings.Builder):", s.As(&wrong))
	// Output:
	// mem example-open
	// stored at mem:example-open/1@0
	// read alice=coffee
	// broker holds example-open: true
	// As(**strings.Builder): false
}
