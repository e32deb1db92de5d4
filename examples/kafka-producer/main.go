// Command kafka-producer is the original's producer example on Kafka: records
// put one by one through the crash-safe producer while sends fail at
// random, so it holds with exponential backoff and re-sends the same
// batch, in order, until it succeeds (see package original).
//
//	go run ./examples/kafka-producer                     # embedded Kafka
//	UNISTREAM_STREAM=URL go run ./examples/kafka-producer  # your own stream
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
	if err := original.Produce(ctx, os.Stdout, "kafka", *records, *failRate, rnd); err != nil {
		fmt.Fprintln(os.Stderr, "kafka-producer:", err)
		os.Exit(1)
	}
}
