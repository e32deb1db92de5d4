package kinesis_test

import (
	"context"
	"fmt"

	"github.com/unistream-go/unistream/adapters/kinesis/kinesistest"
	"github.com/unistream-go/unistream/stream"
)

// Example writes records to a stream of the embedded emulator and reads
// them back through the portable stream.
func Example() {
	ctx := context.Background()
	b, err := kinesistest.New()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close()
	s, err := stream.Open(ctx, b.URL("orders", "create_stream", "true"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	w, err := s.OpenWriter(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer w.Close()
	recs := []stream.Record{
		{ID: "o-1", Key: []byte("alice"), Value: []byte("book")},
		{ID: "o-2", Key: []byte("bob"), Value: []byte("pen")},
	}
	res, err := w.Write(ctx, recs)
	if err != nil {
		fmt.Println(err)
		return
	}
	r, err := s.OpenReader(ctx, res[0].Partition, stream.Earliest())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()
	got, err := r.Fetch(ctx, 10)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, rec := range got {
		fmt.Printf("%s %s=%s\n", rec.ID, rec.Key, rec.Value)
	}
	// Output:
	// o-1 alice=book
	// o-2 bob=pen
}
