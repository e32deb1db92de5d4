package memstream_test

import (
	"context"
	"fmt"

	"github.com/unistream-go/unistream/stream/driver"
	"github.com/unistream-go/unistream/stream/memstream"
)

func Example() {
	ctx := context.Background()
	s := memstream.New("orders", memstream.WithPartitions(2))
	defer s.Close()

	w, _ := s.OpenWriter(ctx)
	recs := []driver.Record{
		{ID: "1", Key: []byte("alice"), Value: []byte("coffee")},
		{ID: "2", Key: []byte("alice"), Value: []byte("cake")},
	}
	results := make([]driver.WriteResult, len(recs))
	if err := w.Write(ctx, recs, results); err != nil {
		panic(err)
	}
	for _, res := range results {
		fmt.Println("stored at", s.Codec().Format(s.Name(), res.Partition, res.Pointer), res.Err)
	}

	r, _ := s.OpenReader(ctx, results[0].Partition, driver.Start{Kind: driver.StartEarliest})
	batch, _ := r.Fetch(ctx, 10)
	for _, rec := range batch {
		fmt.Printf("%s %s=%s\n", rec.ID, rec.Key, rec.Value)
	}
	// Output:
	// stored at mem:orders/1@0 <nil>
	// stored at mem:orders/1@1 <nil>
	// 1 alice=coffee
	// 2 alice=cake
}

// A test injects faults to exercise retry paths.
func ExampleStream_FailRecords() {
	ctx := context.Background()
	s := memstream.New("payments")
	w, _ := s.OpenWriter(ctx)

	s.FailRecords(0) // the first record of the next Write fails
	recs := []driver.Record{{ID: "a", Key: []byte("k")}, {ID: "b", Key: []byte("k")}}
	results := make([]driver.WriteResult, 2)
	_ = w.Write(ctx, recs, results)
	fmt.Println(results[0].Err)
	fmt.Println(results[1].Err != nil) // same partition after a failure: not written
	// Output:
	// memstream: write to payments: record 0 (id "a"): memstream: injected failure
	// true
}
