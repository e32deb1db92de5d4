// Command pulsar-producer is the original's producer example on Pulsar: records
// put one by one through the crash-safe producer while sends fail at
// random, so it holds with exponential backoff and re-sends the same
// batch, in order, until it succeeds (see package original).
//
//	go run ./examples/pulsar-producer                     # embedded Pulsar
//	UNISTREAM_STREAM=URL go run ./examples/pulsar-producer  # your own stream
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
	records := flag.Int("records", 12, "records to put")
	failRate := flag.Float64("fail-rate", 0.3, "chance that one send fails")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rnd := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	if err := original.Produce(ctx, os.Stdout, "pulsar", *records, *failRate, rnd); err != nil {
		fmt.Fprintln(os.Stderr, "pulsar-producer:", err)
		os.Exit(1)
	}
}
