package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/unistream-go/unistream/stream/checkpoint"
)

// Fencing is the harness of RunFencing: two stores over the same data, as
// two processes would hold them, and a way to fence the first one out (as
// a group rebalance or an expired lease does) while the second one owns
// the checkpoint.
type Fencing struct {
	// New returns two stores over the same, empty data. Required.
	New func(t *testing.T) (a, b checkpoint.Store)
	// Fence makes a a fenced writer of key and b its owner. Required.
	Fence func(t *testing.T, key checkpoint.Key)
}

// RunFencing checks that a fenced writer cannot save even with the current
// version: its Save fails with an error matching checkpoint.ErrConflict,
// its argument and the stored checkpoint are unchanged, and the owner goes
// on saving. Stores whose only fencing is the version (memory, file) do
// not run it: for them compare-and-swap is the whole story.
func RunFencing(t *testing.T, h Fencing) {
	t.Helper()
	if h.New == nil || h.Fence == nil {
		t.Fatal("storetest: Fencing.New and Fencing.Fence are required")
	}
	ctx := context.Background()
	a, b := h.New(t)
	k := key("0")
	cp := Full(k)
	mustSave(t, a, cp) // version 1, written by a while it owns the key
	h.Fence(t, k)

	// a saves from the current version: the version matches, the fence
	// must still refuse it.
	stale := mustLoad(t, a, k)
	if stale.Version != 1 {
		t.Fatalf("Load by the fenced store: version %d, want 1", stale.Version)
	}
	stale.Counts.Succeeded = 424242
	before := stale.Clone()
	err := a.Save(ctx, stale)
	if !errors.Is(err, checkpoint.ErrConflict) {
		t.Fatalf("Save by a fenced store at the current version: err = %v, want an error matching ErrConflict", err)
	}
	if !Equal(stale, before) || stale.Version != before.Version {
		t.Errorf("a fenced Save changed its argument")
	}
	want := cp.Clone()
	requireEqual(t, "stored checkpoint after a fenced Save", mustLoad(t, b, k), want)

	// The owner goes on from the stored version.
	own := mustLoad(t, b, k)
	own.Counts.Retries++
	wantOwn := own.Clone()
	mustSave(t, b, own)
	wantOwn.Version = 2
	requireEqual(t, "the owner's Save after the fence", mustLoad(t, b, k), wantOwn)
}
