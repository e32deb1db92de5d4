package checkpoint

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestMemEntrySetMatchesCopyTo drives one entry through a sequence of
// checkpoints (records changed, added, removed, nil and empty slices,
// batch cleared and back) and checks after each step that the stored copy,
// made over the entry's reused buffers, is exactly a fresh deep copy and
// shares no memory with the source.
func TestMemEntrySetMatchesCopyTo(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	base := func() *Checkpoint { return benchBatch("0", 4) }
	steps := []struct {
		name   string
		change func(cp *Checkpoint)
	}{
		{"initial", func(cp *Checkpoint) {}},
		{"same again", func(cp *Checkpoint) {}},
		{"status", func(cp *Checkpoint) { cp.Batch.Records[2].Status = Succeeded }},
		{"attempts", func(cp *Checkpoint) { cp.Batch.Records[0].Attempts = 3 }},
		{"exhausted", func(cp *Checkpoint) { cp.Batch.Records[1].Exhausted = true }},
		{"id", func(cp *Checkpoint) { cp.Batch.Records[1].ID = "other" }},
		{"reason", func(cp *Checkpoint) { cp.Batch.Records[3].Reason = "permanent" }},
		{"next retry", func(cp *Checkpoint) { cp.Batch.Records[3].NextRetry = t0.Add(time.Second) }},
		{"first attempt location", func(cp *Checkpoint) {
			cp.Batch.Records[0].FirstAttempt = cp.Batch.Records[0].FirstAttempt.In(time.FixedZone("X", 0))
		}},
		{"last attempt monotonic", func(cp *Checkpoint) { cp.Batch.Records[0].LastAttempt = time.Now() }},
		{"pointer bytes", func(cp *Checkpoint) { cp.Batch.Records[2].Pointer = []byte{1, 2, 3} }},
		{"pointer empty", func(cp *Checkpoint) { cp.Batch.Records[2].Pointer = []byte{} }},
		{"pointer nil", func(cp *Checkpoint) { cp.Batch.Records[2].Pointer = nil }},
		{"error added", func(cp *Checkpoint) { cp.Batch.Records[1].AddError(1, t0, "boom") }},
		{"error text", func(cp *Checkpoint) { cp.Batch.Records[1].Errors[0].Error = "bang" }},
		{"errors empty", func(cp *Checkpoint) { cp.Batch.Records[1].Errors = []AttemptError{} }},
		{"errors nil", func(cp *Checkpoint) { cp.Batch.Records[1].Errors = nil }},
		{"record removed", func(cp *Checkpoint) {
			cp.Batch.Records = append(cp.Batch.Records[:1], cp.Batch.Records[2:]...)
		}},
		{"records grown", func(cp *Checkpoint) {
			for i := range 6 {
				cp.Batch.Records = append(cp.Batch.Records, RecordState{Pointer: []byte{9, byte(i)}, Status: Failed})
			}
		}},
		{"records empty", func(cp *Checkpoint) { cp.Batch.Records = []RecordState{} }},
		{"records nil", func(cp *Checkpoint) { cp.Batch.Records = nil }},
		{"records back", func(cp *Checkpoint) { cp.Batch.Records = base().Batch.Records[:2] }},
		{"batch fields", func(cp *Checkpoint) { cp.Batch.Seq++; cp.Batch.Size = 7; cp.Batch.First = []byte{} }},
		{"batch cleared", func(cp *Checkpoint) { cp.Committed = []byte{7}; cp.Batch = nil }},
		{"new batch", func(cp *Checkpoint) { cp.Batch = base().Batch }},
		{"committed nil", func(cp *Checkpoint) { cp.Committed = nil; cp.Finished = true; cp.Counts.Retries = 4 }},
	}
	var e memEntry
	cp := base()
	for _, st := range steps {
		st.change(cp)
		want := cp.Clone()
		e.set(cp)
		if !reflect.DeepEqual(&e.cp, want) {
			t.Fatalf("%s: stored %+v, want %+v", st.name, e.cp, *want)
		}
		// Scribble over every buffer of the source: the stored copy must
		// not change.
		scribble(cp)
		if !reflect.DeepEqual(&e.cp, want) {
			t.Fatalf("%s: stored copy shares memory with the source", st.name)
		}
		cp = want.Clone()
	}
}

// scribble overwrites the bytes of every buffer of cp in place.
func scribble(cp *Checkpoint) {
	fill := func(b []byte) {
		for i := range b {
			b[i] = 0xEE
		}
	}
	fill(cp.Committed)
	if b := cp.Batch; b != nil {
		fill(b.First)
		fill(b.Last)
		for i := range b.Records {
			r := &b.Records[i]
			fill(r.Pointer)
			r.Status = Halted
			for j := range r.Errors {
				r.Errors[j].Error = "scribbled"
			}
		}
	}
}

// TestMemoryStoreSaveAlternatingKeys checks the compare-and-swap against the
// right entry when saves alternate between keys (the last-key cache must
// never answer for another key), and that a refused save changes nothing.
func TestMemoryStoreSaveAlternatingKeys(t *testing.T) {
	ctx := context.Background()
	s := NewMemoryStore()
	a, b := benchBatch("a", 2), benchBatch("b", 2)
	for i := range 3 {
		for _, cp := range []*Checkpoint{a, b, a} {
			cp.Counts.Succeeded++
			if err := s.Save(ctx, cp); err != nil {
				t.Fatalf("round %d: save %s: %v", i, cp.Key, err)
			}
		}
	}
	if a.Version != 6 || b.Version != 3 {
		t.Fatalf("versions a=%d b=%d, want 6 and 3", a.Version, b.Version)
	}
	// b's version is right for b only: saved as a's partition, it conflicts.
	stale := b.Clone()
	stale.Partition = "a"
	if err := s.Save(ctx, stale); !errors.Is(err, ErrConflict) {
		t.Fatalf("save with b's version under key a: %v, want ErrConflict", err)
	}
	// A bad record right after a good save of the same key is refused and
	// leaves the stored copy as it was.
	before, err := s.Load(ctx, a.Key)
	if err != nil {
		t.Fatal(err)
	}
	bad := a.Clone()
	bad.Batch.Records[1].Status = Status(200)
	if err := s.Save(ctx, bad); err == nil || !strings.Contains(err.Error(), "batch record 1 has unknown status 200") {
		t.Fatalf("save with unknown status: %v, want an error naming record 1 and status 200", err)
	}
	bad = a.Clone()
	bad.Batch.Records[0].Attempts = -1
	if err := s.Save(ctx, bad); err == nil || !strings.Contains(err.Error(), "batch record 0 has negative attempts -1") {
		t.Fatalf("save with negative attempts: %v, want an error naming record 0", err)
	}
	bad = a.Clone()
	bad.Batch.Size = -5
	if err := s.Save(ctx, bad); err == nil || !strings.Contains(err.Error(), "batch size -5 is negative") {
		t.Fatalf("save with negative size: %v, want an error naming the size", err)
	}
	bad = a.Clone()
	bad.Consumer = ""
	bad.Batch.Size = -5
	if err := s.Save(ctx, bad); err == nil || !strings.Contains(err.Error(), "must all be non-empty") {
		t.Fatalf("save with empty consumer and bad batch: %v, want the key error first", err)
	}
	after, err := s.Load(ctx, a.Key)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("refused saves changed the stored checkpoint:\n%+v\n%+v", before, after)
	}
	// A cancelled context refuses a valid save, after the key is known.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Save(cctx, a); !errors.Is(err, context.Canceled) {
		t.Fatalf("save with cancelled context: %v, want context.Canceled", err)
	}
}

// TestCheckBatchFirstBad checks that the branch-free pass and the slow pass
// agree on every status value and on the sign of the counts.
func TestCheckBatchFirstBad(t *testing.T) {
	for st := range 256 {
		for _, att := range []int{-1 << 62, -1, 0, 1, 1 << 62} {
			cp := benchBatch("0", 3)
			cp.Batch.Records[1].Status = Status(st)
			cp.Batch.Records[1].Attempts = att
			err := cp.checkBatch()
			valid := st < len(statusNames) && att >= 0
			if (err == nil) != valid {
				t.Fatalf("status %d attempts %d: checkBatch() = %v, want valid=%v", st, att, err, valid)
			}
		}
	}
}
