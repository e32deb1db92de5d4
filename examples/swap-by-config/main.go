// Command swap-by-config is one program for every backend: the stream, the
// checkpoint store and the DLQ are URLs from the environment (or a
// --config file, as the CLI reads them), so moving from Kafka to Pulsar or
// Kinesis, or to the in-memory backend in tests, changes configuration,
// not code.
//
//	go run ./examples/swap-by-config                                  # embedded Kafka
//	UNISTREAM_STREAM='mem://orders?partitions=2' go run ./examples/swap-by-config
//	UNISTREAM_STREAM=kafka://127.0.0.1:9092/orders?create_topic=true \
//	UNISTREAM_CHECKPOINT=file:///tmp/orders-cp go run ./examples/swap-by-config
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"time"

	"github.com/unistream-go/unistream/config"
	"github.com/unistream-go/unistream/examples/internal/broker"
	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/dlq"
)

func main() {
	configPath := flag.String("config", "", "a unistream YAML configuration file")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	cfg := &config.Config{}
	if *configPath != "" {
		c, err := config.Load(*configPath)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		cfg = c
	}
	if err := cfg.ApplyEnv(os.LookupEnv); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if err := run(ctx, os.Stdout, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "swap-by-config:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer, cfg *config.Config) error {
	if cfg.Stream == "" {
		url, stopBroker, err := broker.StreamURL("orders", 2)
		if err != nil {
			return err
		}
		defer stopBroker()
		cfg.Stream = url
	}
	if cfg.Checkpoint == "" {
		cfg.Checkpoint = "mem://"
	}
	if cfg.DLQ == "" {
		dir, err := os.MkdirTemp("", "swap-by-config-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		cfg.DLQ = "file://" + filepath.ToSlash(filepath.Join(dir, "dlq.jsonl"))
	}

	s, err := stream.Open(ctx, cfg.Stream)
	if err != nil {
		return err
	}
	defer s.Close()
	fmt.Fprintf(out, "stream %s (%s), checkpoint %s\n", s.Name(), cfg.Stream, cfg.Checkpoint)

	popts, err := cfg.ProducerOptions()
	if err != nil {
		return err
	}
	p, err := stream.NewProducer(s, popts...)
	if err != nil {
		return err
	}
	const n = 6
	for i := range n {
		key := []string{"alice", "bob"}[i%2]
		if err := p.Put(ctx, stream.Record{ID: fmt.Sprintf("order-%d", i), Key: []byte(key), Value: []byte(fmt.Sprintf("%s bought item %d", key, i))}); err != nil {
			p.Close(ctx)
			return err
		}
	}
	if err := p.Close(ctx); err != nil {
		return err
	}

	store, err := checkpoint.Open(ctx, cfg.Checkpoint)
	if err != nil {
		return err
	}
	defer checkpoint.CloseStore(store)
	sink, err := dlq.Open(ctx, cfg.DLQ)
	if err != nil {
		return err
	}
	defer sink.Close()
	copts, err := cfg.ConsumerOptions()
	if err != nil {
		return err
	}
	// consumer.leases needs the opened store: Leases builds its option
	// (nil when the file does not ask for leases).
	leases, err := cfg.Leases(store)
	if err != nil {
		return err
	}
	if leases != nil {
		copts = append(copts, leases)
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var (
		mu   sync.Mutex
		seen int
	)
	c, err := stream.NewConsumer(s, func(ctx context.Context, r *stream.Record) error {
		mu.Lock()
		defer mu.Unlock()
		seen++
		fmt.Fprintf(out, "partition %s: %s\n", r.Partition, r.Value)
		if seen == n {
			stop()
		}
		return nil
	}, append(copts, stream.WithCheckpointStore(store), stream.WithDLQ(sink), stream.WithPollInterval(20*time.Millisecond))...)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Run(runCtx); err != nil {
		return err
	}
	fmt.Fprintf(out, "consumed %d records from %s\n", seen, s.Name())
	return nil
}
