package checkpoint_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/unistream-go/unistream/stream/checkpoint"
)

// Two workers race for the same lease: compare-and-swap on the counter lets
// exactly one take it. The other takes it over once it is released.
func ExampleLeaser() {
	ctx := context.Background()
	var store checkpoint.Leaser = checkpoint.NewMemoryStore()
	key := checkpoint.Key{Consumer: "billing", Stream: "orders", Partition: "shardId-000000000001"}
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

	seenByA, _ := store.LoadLease(ctx, key)
	seenByB, _ := store.LoadLease(ctx, key)
	fmt.Println(store.AcquireLease(ctx, seenByA, "worker-a", now.Add(10*time.Second)))
	err := store.AcquireLease(ctx, seenByB, "worker-b", now.Add(10*time.Second))
	fmt.Println(errors.Is(err, checkpoint.ErrLeaseConflict))

	fmt.Println(store.ReleaseLease(ctx, seenByA))
	seenByB, _ = store.LoadLease(ctx, key)
	fmt.Println(store.AcquireLease(ctx, seenByB, "worker-b", now.Add(10*time.Second)))
	fmt.Println(seenByB)
	// Output:
	// <nil>
	// true
	// <nil>
	// <nil>
	// lease billing/orders/shardId-000000000001 (owner "worker-b" until 2026-01-01T12:00:10Z, counter 3)
}
