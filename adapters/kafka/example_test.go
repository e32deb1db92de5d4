package kafka_test

import (
	"context"
	"fmt"

	"github.com/unistream-go/unistream/adapters/kafka/kafkatest"
	"github.com/unistream-go/unistream/stream"
)

// A stream on an embedded broker: write two records of one key, then read
// their partition from the start.
func Example() {
	ctx := context.Background()
	c, err := kafkatest.New(kafkatest.Topic("orders", 2))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	s, err := stream.Open(ctx, c.URL("orders", "client_id", "example"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	w, _ := s.OpenWriter(ctx)
	defer w.Close()
	recs := []stream.Record{
		{ID: "1", Key: []byte("alice"), Value: []byte("coffee")},
		{ID: "2", Key: []byte("alice"), Value: []byte("cake")},
	}
	results, err := w.Write(ctx, recs)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, res := range results {
		fmt.Println("stored at", s.FormatPointer(res.Partition, res.Pointer), res.Err)
	}

	r, _ := s.OpenReader(ctx, results[0].Partition, stream.Earliest())
	defer r.Close()
	var got []stream.Record
	for len(got) < 2 {
		batch, err := r.Fetch(ctx, 10)
		if err != nil {
			fmt.Println(err)
			return
		}
		got = append(got, batch...)
	}
	for _, rec := range got {
		fmt.Printf("%s %s=%s\n", rec.ID, rec.Key, rec.Value)
	}
	// Output:
	// stored at kafka:orders/1@0 <nil>
	// stored at kafka:orders/1@1 <nil>
	// 1 alice=coffee
	// 2 alice=cake
}
