package containers_test

import (
	"context"
	"fmt"
	"log"

	"github.com/unistream-go/unistream/containers"
)

// Example starts Kafka for a test harness and makes a topic. It needs a
// Docker engine; without one Available says why, and a test would skip
// with that reason.
func Example() {
	ctx := context.Background()
	if err := containers.Available(ctx); err != nil {
		log.Printf("skip: %v", err) // a test: t.Skip(err)
		return
	}
	k, err := containers.StartKafka(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer k.Close()
	if err := k.CreateTopic(ctx, "orders", 3); err != nil {
		log.Fatal(err)
	}
	fmt.Println("kafka://" + k.Brokers[0] + "/orders")
}
