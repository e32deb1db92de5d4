package stream

import (
	"context"
	"testing"
)

// A Put hook that leaves the record alone costs Put no allocation: the
// record the hooks see is pooled.
func TestProducerPutHookAllocs(t *testing.T) {
	prodLeakCheck(t)
	s := newProdFakeStream(1)
	seen := 0
	p, _, _ := newTestProducer(t, s, WithMaxRecords(1<<20), WithMaxBytes(1<<30),
		WithPutHook(func(_ context.Context, r *Record) { seen += len(r.Key) }))
	rec := Record{Key: []byte("customer-1"), Value: make([]byte, 100)}
	ctx := context.Background()
	allocs := testing.AllocsPerRun(2000, func() {
		if err := p.Put(ctx, rec); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("Put with a hook: %v allocations per record, want 0", allocs)
	}
	if seen == 0 {
		t.Fatal("the hook did not run")
	}
}
