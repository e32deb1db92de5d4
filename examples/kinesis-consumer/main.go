// Command kinesis-consumer is the original's consumer example on Kinesis: a dozen
// records consumed by a handler that fails at random, with retries and
// backoff, a dead-letter file for records out of attempts, and a
// checkpoint directory (see package original).
//
//	go run ./examples/kinesis-consumer                     # embedded Kinesis
//	UNISTREAM_STREAM=URL go run ./examples/kinesis-consumer  # your own stream
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"time"

	"github.com/unistream-go/unistream/examples/internal/original"
)

func main() {
	records := flag.Int("records", 12, "records to write and consume")
	failRate := flag.Float64("fail-rate", 0.4, "chance that one attempt fails")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	dir, err := os.MkdirTemp("", "kinesis-consumer-")
	if err == nil {
		defer os.RemoveAll(dir)
		rnd := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
		_, err = original.Consume(ctx, os.Stdout, "kinesis", dir, *records, *failRate, rnd)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "kinesis-consumer:", err)
		os.Exit(1)
	}
}
