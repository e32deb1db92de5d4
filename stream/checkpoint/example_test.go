package checkpoint_test

import (
	"context"
	"fmt"

	"github.com/unistream-go/unistream/stream/checkpoint"
)

// A MemoryStore serves tests and examples: same contract, nothing on disk.
func ExampleMemoryStore() {
	ctx := context.Background()
	store := checkpoint.NewMemoryStore()
	cp, _ := store.Load(ctx, checkpoint.Key{Consumer: "billing", Stream: "orders", Partition: "0"})
	cp.Counts.Succeeded++
	if err := store.Save(ctx, cp); err != nil {
		panic(err)
	}
	again, _ := store.Load(ctx, cp.Key)
	fmt.Println(again.Version, again.Counts.Succeeded)
	// Output: 1 1
}
