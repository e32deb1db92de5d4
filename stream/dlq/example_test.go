package dlq_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/unistream-go/unistream/stream/dlq"
)

func Example() {
	dir, _ := os.MkdirTemp("", "dlq-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "orders.dlq.jsonl")

	sink, err := dlq.OpenFile(path)
	if err != nil {
		panic(err)
	}
	err = sink.Put(context.Background(), &dlq.Envelope{
		ID: "order-17", Key: []byte("alice"), Value: []byte(`{"total":12}`),
		Source:   dlq.Source{Scheme: "mem", Stream: "orders", Partition: "0", PointerText: "mem:orders/0@41"},
		Consumer: "billing", Attempts: 5, Reason: "exhausted",
	})
	if err != nil {
		panic(err)
	}
	sink.Close()

	envs, err := dlq.ReadFile(path)
	if err != nil {
		panic(err)
	}
	for _, e := range envs {
		fmt.Printf("%s from %s after %d attempts: %s\n", e.ID, e.Source.PointerText, e.Attempts, e.Value)
	}
	// Output:
	// order-17 from mem:orders/0@41 after 5 attempts: {"total":12}
}

// A FileReader goes on past torn lines, which a crash during Put leaves.
func ExampleFileReader() {
	data := `{"v":1,"id":"a","value":null}` + "\n" +
		`{"v":1,"id":"b","val` + "\n" + // torn by a crash, then sealed by OpenFile
		`{"v":1,"id":"c","value":null}` + "\n"
	r := dlq.NewFileReader(strings.NewReader(data), "orders.dlq.jsonl")
	for {
		env, err := r.Next()
		if err == io.EOF {
			break
		}
		if errors.Is(err, dlq.ErrTornLine) {
			fmt.Println("skipping:", err)
			continue
		}
		if err != nil {
			panic(err)
		}
		fmt.Println("envelope", env.ID)
	}
	// Output:
	// envelope a
	// skipping: dlq: file orders.dlq.jsonl: line 2 (byte offset 30): torn DLQ line (a write cut short by a crash): the line holds only the first 20 bytes of an envelope
	// envelope c
}
