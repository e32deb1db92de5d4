//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package checkpoint_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/unistream-go/unistream/stream/checkpoint"
)

// A consumer's progress on one partition, kept in a directory: load, change,
// save with compare-and-swap, and what happens to a writer that lost
// ownership.
func ExampleFileStore() {
	dir, err := os.MkdirTemp("", "checkpoints")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	ctx := context.Background()
	store, err := checkpoint.NewFileStore(dir)
	if err != nil {
		panic(err)
	}
	key := checkpoint.Key{Consumer: "billing", Stream: "orders", Partition: "0"}

	cp, err := store.Load(ctx, key) // nothing saved yet: version 0
	if err != nil {
		panic(err)
	}
	fmt.Println("loaded version", cp.Version)

	cp.Committed = []byte("offset-41")
	cp.Counts.Succeeded = 42
	if err := store.Save(ctx, cp); err != nil {
		panic(err)
	}
	fmt.Println("saved version", cp.Version)

	// Another owner saves from the same version: it loses.
	stale := &checkpoint.Checkpoint{Key: key}
	err = store.Save(ctx, stale)
	fmt.Println("stale save is a conflict:", errors.Is(err, checkpoint.ErrConflict))

	list, err := store.List(ctx, "billing", "orders")
	if err != nil {
		panic(err)
	}
	for _, c := range list {
		fmt.Printf("%s: version %d, committed %s, %d succeeded\n", c.Key, c.Version, c.Committed, c.Counts.Succeeded)
	}
	path, _ := store.Path(key)
	fmt.Println("file:", filepath.Base(path))

	// Output:
	// loaded version 0
	// saved version 1
	// stale save is a conflict: true
	// billing/orders/0: version 1, committed offset-41, 42 succeeded
	// file: billing,orders,0.json
}
