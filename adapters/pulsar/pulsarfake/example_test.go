package pulsarfake_test

import (
	"context"
	"fmt"
	"log"

	"github.com/apache/pulsar-client-go/pulsar"

	"github.com/unistream-go/unistream/adapters/pulsar/pulsarfake"
)

func ExampleNewBroker() {
	ctx := context.Background()
	b, err := pulsarfake.NewBroker()
	if err != nil {
		log.Fatal(err)
	}
	if err := b.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer b.Close()

	client, err := pulsar.NewClient(pulsar.ClientOptions{URL: b.ServiceURL(), Logger: quietLogger()})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	consumer, err := client.Subscribe(pulsar.ConsumerOptions{Topic: "greetings", SubscriptionName: "example"})
	if err != nil {
		log.Fatal(err)
	}
	defer consumer.Close()
	producer, err := client.CreateProducer(pulsar.ProducerOptions{Topic: "greetings"})
	if err != nil {
		log.Fatal(err)
	}
	defer producer.Close()
	if _, err := producer.Send(ctx, &pulsar.ProducerMessage{Payload: []byte("hello")}); err != nil {
		log.Fatal(err)
	}
	msg, err := consumer.Receive(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(msg.Payload()))
	if err := consumer.Ack(msg); err != nil {
		log.Fatal(err)
	}
	// Output: hello
}
