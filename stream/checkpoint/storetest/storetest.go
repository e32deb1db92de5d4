// Package storetest is the shared test suite of checkpoint stores: every
// checkpoint.Store implementation runs it from its tests.
//
//	func TestMyStore(t *testing.T) {
//		storetest.Run(t, storetest.Harness{
//			New: func(t *testing.T) checkpoint.Store { return newMyStore(t) },
//		})
//	}
//
// The suite compares checkpoints after normalising them: times are compared
// as instants (location and monotonic clock reading dropped, nanoseconds
// kept) and nil and empty slices are equal. A store must keep everything
// else, including every field of a fully populated checkpoint.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/unistream-go/unistream/stream/checkpoint"
)

// Harness tells Run how to make and manipulate the store under test.
type Harness struct {
	// New returns a new, empty store. Required. Use t.Cleanup to release it.
	New func(t *testing.T) checkpoint.Store
	// Corrupt, if set, damages the stored data of key (which has been
	// saved) so that it can no longer be decoded. Without it the
	// corrupt-data test is skipped.
	Corrupt func(t *testing.T, s checkpoint.Store, key checkpoint.Key)
	// Reopen, if set, returns a new store over the same data as s, as a
	// restarted process would open it. Without it the reload test is
	// skipped.
	Reopen func(t *testing.T, s checkpoint.Store) checkpoint.Store
}

// Run runs the whole suite against the store made by h.New.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.New == nil {
		t.Fatal("storetest: Harness.New is nil")
	}
	tests := []struct {
		name string
		fn   func(*testing.T, Harness)
	}{
		{"LoadMissing", testLoadMissing},
		{"SaveLoad", testSaveLoad},
		{"Conflict", testConflict},
		{"ConcurrentWriters", testConcurrentWriters},
		{"Reopen", testReopen},
		{"List", testList},
		{"Isolation", testIsolation},
		{"InvalidKey", testInvalidKey},
		{"InvalidCheckpoint", testInvalidCheckpoint},
		{"Corrupt", testCorrupt},
		{"ContextDone", testContextDone},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, h) })
	}
}

// key returns a valid key of consumer "c", stream "s" and the partition.
func key(partition string) checkpoint.Key {
	return checkpoint.Key{Consumer: "c", Stream: "s", Partition: partition}
}

// trickyKeys are keys whose parts are hard to store (separators, dots, case,
// non-ASCII, very long strings).
func trickyKeys() []checkpoint.Key {
	long := strings.Repeat("x", 300)
	return []checkpoint.Key{
		key("0"),
		{Consumer: "billing", Stream: "orders", Partition: "shardId-000000000001"},
		{Consumer: "a/b", Stream: "../../etc", Partition: "passwd"},
		{Consumer: ".", Stream: "..", Partition: "."},
		{Consumer: "a,b", Stream: "c,d", Partition: "e,f"},
		{Consumer: "Case", Stream: "Orders", Partition: "P"},
		{Consumer: "case", Stream: "orders", Partition: "p"},
		{Consumer: "spaces and %41 escapes", Stream: "persistent://tenant/ns/topic", Partition: "topic-partition-3"},
		{Consumer: "ünïcödé", Stream: "流", Partition: "\x00\u00ff"},
		{Consumer: long, Stream: long, Partition: long},
	}
}

// fullNow is a time with a monotonic clock reading, the same in every
// checkpoint Full returns.
var fullNow = time.Now()

// Full returns a checkpoint of key in which every field, of every nested
// struct, is set: a committed pointer, a batch with records in every status,
// errors, retry and attempt times, reasons and counts. Times carry a
// monotonic reading and a non-UTC location, which stores need not keep.
func Full(key checkpoint.Key) *checkpoint.Checkpoint {
	zone := time.FixedZone("UTC+2", 2*3600)
	base := time.Date(2024, 5, 6, 7, 8, 9, 123456789, zone)
	now := fullNow
	at := func(s int) time.Time { return base.Add(time.Duration(s) * time.Second) }
	rec := func(i int, st checkpoint.Status) checkpoint.RecordState {
		r := checkpoint.RecordState{
			Pointer:      []byte{0, byte(i), 0xff, byte(st)},
			ID:           fmt.Sprintf("id-%d", i),
			Status:       st,
			Attempts:     i + 1,
			FirstAttempt: at(i),
			LastAttempt:  at(10 + i),
		}
		for a := 1; a <= i; a++ {
			r.AddError(a, at(20+a), fmt.Sprintf("attempt %d of record %d failed: \"quoted\" \n newline", a, i))
		}
		return r
	}
	var recs []checkpoint.RecordState
	for i, st := range []checkpoint.Status{
		checkpoint.Succeeded, checkpoint.DeadLettered, checkpoint.Skipped,
		checkpoint.InProgress, checkpoint.Failed, checkpoint.Failed,
		checkpoint.Halted, checkpoint.Pending,
	} {
		recs = append(recs, rec(i, st))
	}
	recs[1].Reason = "permanent"
	recs[2].Reason = "skipped by handler: bad payload"
	recs[4].NextRetry = now.Add(time.Minute)
	recs[5].NextRetry = at(100)
	recs[5].Exhausted = true
	recs[5].Interrupted = 2
	recs[5].Reason = "exhausted"
	recs[6].Reason = "dlq unavailable: disk full"
	return &checkpoint.Checkpoint{
		Key:       key,
		Committed: []byte("committed-pointer\x00\x01"),
		Batch: &checkpoint.Batch{
			Seq:     42,
			First:   []byte{0, 0, 0, 1},
			Last:    []byte{0, 0, 0, 9},
			Size:    9,
			Records: recs,
			Running: true,
			Careful: true,
		},
		Finished: true,
		Counts:   checkpoint.Counts{Succeeded: 1000, DeadLettered: 3, Skipped: 2, Retries: 17},
		// Version is left 0: it is set by Save.
		UpdatedAt: now,
	}
}

// Normalize returns a deep copy of cp in the form the suite compares: times
// in UTC without a monotonic reading, empty slices nil. It returns nil for
// nil.
func Normalize(cp *checkpoint.Checkpoint) *checkpoint.Checkpoint {
	if cp == nil {
		return nil
	}
	out := cp.Clone()
	normalizeValue(reflect.ValueOf(out).Elem())
	return out
}

var timeType = reflect.TypeFor[time.Time]()

func normalizeValue(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		if v.Type() == timeType {
			t := v.Interface().(time.Time)
			v.Set(reflect.ValueOf(t.UTC().Round(0)))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				normalizeValue(v.Field(i))
			}
		}
	case reflect.Pointer:
		if !v.IsNil() {
			normalizeValue(v.Elem())
		}
	case reflect.Slice:
		if v.Len() == 0 {
			v.SetZero()
			return
		}
		for i := range v.Len() {
			normalizeValue(v.Index(i))
		}
	}
}

// Equal reports whether a and b are equal once normalised (see Normalize).
func Equal(a, b *checkpoint.Checkpoint) bool {
	return reflect.DeepEqual(Normalize(a), Normalize(b))
}

// requireEqual fails t if got and want differ once normalised.
func requireEqual(t *testing.T, what string, got, want *checkpoint.Checkpoint) {
	t.Helper()
	if !Equal(got, want) {
		t.Fatalf("%s: %s differs", what, diff(Normalize(got), Normalize(want)))
	}
}

// diff describes the first difference between two normalised checkpoints.
func diff(got, want *checkpoint.Checkpoint) string {
	if got == nil || want == nil {
		return fmt.Sprintf("the checkpoint (got %v, want %v)", got != nil, want != nil)
	}
	var walk func(path string, a, b reflect.Value) string
	walk = func(path string, a, b reflect.Value) string {
		if reflect.DeepEqual(a.Interface(), b.Interface()) {
			return ""
		}
		switch a.Kind() {
		case reflect.Pointer:
			if !a.IsNil() && !b.IsNil() {
				return walk(path, a.Elem(), b.Elem())
			}
		case reflect.Struct:
			if a.Type() != timeType {
				for i := range a.NumField() {
					if d := walk(path+"."+a.Type().Field(i).Name, a.Field(i), b.Field(i)); d != "" {
						return d
					}
				}
			}
		case reflect.Slice:
			if a.Len() == b.Len() && a.Type().Elem().Kind() != reflect.Uint8 {
				for i := range a.Len() {
					if d := walk(fmt.Sprintf("%s[%d]", path, i), a.Index(i), b.Index(i)); d != "" {
						return d
					}
				}
			}
		}
		return fmt.Sprintf("%s (got %#v, want %#v)", path, a.Interface(), b.Interface())
	}
	return walk("Checkpoint", reflect.ValueOf(got), reflect.ValueOf(want))
}

// dump formats a checkpoint for failure messages.
func dump(cp *checkpoint.Checkpoint) string {
	if cp == nil {
		return "<nil>"
	}
	n := Normalize(cp)
	s := fmt.Sprintf("%+v", *n)
	if n.Batch != nil {
		s += fmt.Sprintf(" batch=%+v", *n.Batch)
	}
	return s
}

// mustLoad loads key or fails t.
func mustLoad(t *testing.T, s checkpoint.Store, k checkpoint.Key) *checkpoint.Checkpoint {
	t.Helper()
	cp, err := s.Load(context.Background(), k)
	if err != nil {
		t.Fatalf("Load(%s): %v", k, err)
	}
	if cp == nil {
		t.Fatalf("Load(%s) returned a nil checkpoint and no error", k)
	}
	return cp
}

// mustSave saves cp or fails t, and checks the version increment.
func mustSave(t *testing.T, s checkpoint.Store, cp *checkpoint.Checkpoint) {
	t.Helper()
	v := cp.Version
	if err := s.Save(context.Background(), cp); err != nil {
		t.Fatalf("Save(%s, version %d): %v", cp.Key, v, err)
	}
	if cp.Version != v+1 {
		t.Fatalf("Save(%s, version %d): version became %d, want %d", cp.Key, v, cp.Version, v+1)
	}
}

func testLoadMissing(t *testing.T, h Harness) {
	s := h.New(t)
	mustSave(t, s, Full(key("other")))
	for i, k := range trickyKeys() {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			got := mustLoad(t, s, k)
			want := &checkpoint.Checkpoint{Key: k}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("Load of a missing key = %s, want %s", dump(got), dump(want))
			}
		})
	}
}

func testSaveLoad(t *testing.T, h Harness) {
	assertFullyPopulated(t, Full(key("0")))
	minimal := func(k checkpoint.Key) *checkpoint.Checkpoint { return &checkpoint.Checkpoint{Key: k} }
	emptyBatch := func(k checkpoint.Key) *checkpoint.Checkpoint {
		return &checkpoint.Checkpoint{Key: k, Committed: []byte{7}, Batch: &checkpoint.Batch{Seq: 1, First: []byte{8}, Last: []byte{9}, Size: 2}}
	}
	cases := []struct {
		name string
		make func(checkpoint.Key) *checkpoint.Checkpoint
	}{
		{"full", Full},
		{"minimal", minimal},
		{"batch without records", emptyBatch},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := h.New(t)
			for _, k := range trickyKeys() {
				cp := tc.make(k)
				want := cp.Clone()
				mustSave(t, s, cp)
				want.Version = 1
				requireEqual(t, "Save then Load "+k.String(), mustLoad(t, s, k), want)

				// A second save from the loaded copy, changed.
				cp2 := mustLoad(t, s, k)
				cp2.Counts.Retries += 5
				cp2.Committed = append(cp2.Committed, 0xee)
				want2 := cp2.Clone()
				mustSave(t, s, cp2)
				want2.Version = 2
				requireEqual(t, "second Save then Load "+k.String(), mustLoad(t, s, k), want2)
			}
			// Every key kept its own data.
			for _, k := range trickyKeys() {
				if got := mustLoad(t, s, k); got.Key != k || got.Version != 2 {
					t.Fatalf("Load(%s) = key %s version %d, want the key itself at version 2", k, got.Key, got.Version)
				}
			}
		})
	}
}

func testConflict(t *testing.T, h Harness) {
	cases := []struct {
		name    string
		stored  int    // saves done before
		version uint64 // version given to Save
	}{
		{"stale version", 3, 1},
		{"version 0 on an existing key", 1, 0},
		{"version 0 on a key saved several times", 3, 0},
		{"version ahead of the stored one", 2, 5},
		{"version on a missing key", 0, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := h.New(t)
			k := key("0")
			var before *checkpoint.Checkpoint
			if tc.stored > 0 {
				cp := Full(k)
				for range tc.stored {
					cp.Counts.Succeeded++
					mustSave(t, s, cp)
				}
				before = mustLoad(t, s, k)
			} else {
				before = &checkpoint.Checkpoint{Key: k}
			}
			cp := Full(k)
			cp.Counts.Succeeded = 999
			cp.Version = tc.version
			cpBefore := cp.Clone()
			err := s.Save(context.Background(), cp)
			if !errors.Is(err, checkpoint.ErrConflict) {
				t.Fatalf("Save with version %d over %d saves: err = %v, want ErrConflict", tc.version, tc.stored, err)
			}
			if !strings.Contains(err.Error(), k.String()) {
				t.Errorf("conflict error %q does not name the key %s", err, k)
			}
			if !reflect.DeepEqual(cp, cpBefore) {
				t.Errorf("a conflicting Save changed its argument:\n got  %s\n want %s", dump(cp), dump(cpBefore))
			}
			requireEqual(t, "stored checkpoint after a conflicting Save", mustLoad(t, s, k), before)
		})
	}
}

func testConcurrentWriters(t *testing.T, h Harness) {
	const writers, saves = 8, 20
	s := h.New(t)
	keys := []checkpoint.Key{key("0"), key("1")}
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := map[checkpoint.Key]int{}
	var conflicts int
	errc := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			k := keys[w%len(keys)]
			for n := 0; n < saves; {
				cp, err := s.Load(context.Background(), k)
				if err != nil {
					errc <- fmt.Errorf("writer %d: Load: %w", w, err)
					return
				}
				cp.Counts.Succeeded++
				cp.Committed = fmt.Appendf(cp.Committed[:0], "w%d-%d", w, n)
				err = s.Save(context.Background(), cp)
				if errors.Is(err, checkpoint.ErrConflict) {
					mu.Lock()
					conflicts++
					mu.Unlock()
					continue // another writer won: reload and retry
				}
				if err != nil {
					errc <- fmt.Errorf("writer %d: Save: %w", w, err)
					return
				}
				n++
				mu.Lock()
				won[k]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	for _, k := range keys {
		cp := mustLoad(t, s, k)
		if got, want := cp.Counts.Succeeded, uint64(won[k]); got != want {
			t.Errorf("%s: counter = %d after %d successful saves: lost updates", k, got, want)
		}
		if got, want := cp.Version, uint64(won[k]); got != want {
			t.Errorf("%s: version = %d after %d successful saves", k, got, want)
		}
	}
	t.Logf("%d saves, %d conflicts", writers*saves, conflicts)
}

func testReopen(t *testing.T, h Harness) {
	if h.Reopen == nil {
		t.Skip("Harness.Reopen not set: the store cannot be reopened over the same data")
	}
	s := h.New(t)
	var want []*checkpoint.Checkpoint
	for i, k := range trickyKeys() {
		cp := Full(k)
		cp.Counts.Succeeded = uint64(i)
		mustSave(t, s, cp)
		want = append(want, cp.Clone())
	}
	r := h.Reopen(t, s)
	for _, w := range want {
		requireEqual(t, "Load after Reopen", mustLoad(t, r, w.Key), w)
	}
	list, err := r.List(context.Background(), "c", "s")
	if err != nil {
		t.Fatalf("List after Reopen: %v", err)
	}
	if len(list) != 1 || !Equal(list[0], want[0]) {
		t.Fatalf("List(c, s) after Reopen = %d checkpoints, want exactly %s", len(list), dump(want[0]))
	}
	// Compare-and-swap holds across the reopen.
	stale := want[0].Clone()
	stale.Version--
	if err := r.Save(context.Background(), stale); !errors.Is(err, checkpoint.ErrConflict) {
		t.Fatalf("stale Save after Reopen: err = %v, want ErrConflict", err)
	}
	next := want[0].Clone()
	mustSave(t, r, next)
	if err := s.Save(context.Background(), want[0].Clone()); !errors.Is(err, checkpoint.ErrConflict) {
		t.Fatalf("Save on the first store after the reopened one saved: err = %v, want ErrConflict", err)
	}
}

func testList(t *testing.T, h Harness) {
	s := h.New(t)
	ctx := context.Background()
	mine := []string{"2", "10", "1", "a/b", "shardId-000000000001", "Z", "z"}
	for _, p := range mine {
		cp := Full(checkpoint.Key{Consumer: "c", Stream: "s", Partition: p})
		cp.Counts.Succeeded = uint64(len(p))
		mustSave(t, s, cp)
	}
	others := []checkpoint.Key{
		{Consumer: "c", Stream: "s2", Partition: "1"},
		{Consumer: "c2", Stream: "s", Partition: "1"},
		{Consumer: "c,s", Stream: "x", Partition: "1"},
		{Consumer: "c", Stream: "s,x", Partition: "1"},
		{Consumer: "C", Stream: "s", Partition: "1"},
		{Consumer: "c", Stream: "S", Partition: "1"},
	}
	for _, k := range others {
		mustSave(t, s, Full(k))
	}
	list, err := s.List(ctx, "c", "s")
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	want := []string{"1", "10", "2", "Z", "a/b", "shardId-000000000001", "z"}
	var got []string
	for _, cp := range list {
		got = append(got, cp.Partition)
		if cp.Consumer != "c" || cp.Stream != "s" {
			t.Errorf("List(c, s) returned %s", cp.Key)
		}
		requireEqual(t, "List entry "+cp.Key.String(), cp, mustLoad(t, s, cp.Key))
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("List(c, s) partitions = %q, want %q (sorted)", got, want)
	}

	// The result is a deep copy.
	for _, cp := range list {
		cp.Committed[0] ^= 0xff
		cp.Batch.First[0] ^= 0xff
		cp.Batch.Records[0].Pointer[0] ^= 0xff
		cp.Batch.Records[3].Errors[0].Error = "changed"
		cp.Batch.Records = cp.Batch.Records[:1]
		cp.Counts.Succeeded = 12345
		cp.Version = 77
	}
	again, err := s.List(ctx, "c", "s")
	if err != nil {
		t.Fatalf("second List: %v", err)
	}
	for _, cp := range again {
		w := Full(cp.Key)
		w.Counts.Succeeded = uint64(len(cp.Partition))
		w.Version = 1
		requireEqual(t, "List entry after changing the previous List result", cp, w)
	}

	// Long names of one group.
	long := strings.Repeat("L", 250)
	for _, p := range []string{"b", "a"} {
		mustSave(t, s, &checkpoint.Checkpoint{Key: checkpoint.Key{Consumer: long, Stream: long, Partition: p}})
	}
	mustSave(t, s, &checkpoint.Checkpoint{Key: checkpoint.Key{Consumer: long, Stream: long + "x", Partition: "c"}})
	ll, err := s.List(ctx, long, long)
	if err != nil {
		t.Fatalf("List of long names: %v", err)
	}
	if len(ll) != 2 || ll[0].Partition != "a" || ll[1].Partition != "b" {
		t.Fatalf("List of long names returned %d checkpoints, want partitions a and b", len(ll))
	}

	for _, g := range [][2]string{{"nobody", "s"}, {"c", "nothing"}, {"c", "s/"}} {
		l, err := s.List(ctx, g[0], g[1])
		if err != nil || len(l) != 0 {
			t.Errorf("List(%q, %q) = %d checkpoints, %v; want none and no error", g[0], g[1], len(l), err)
		}
	}
	for _, g := range [][2]string{{"", "s"}, {"c", ""}, {"", ""}} {
		if _, err := s.List(ctx, g[0], g[1]); err == nil {
			t.Errorf("List(%q, %q) succeeded, want an error for the empty part", g[0], g[1])
		}
	}
}

func testIsolation(t *testing.T, h Harness) {
	s := h.New(t)
	k := key("0")
	cp := Full(k)
	mustSave(t, s, cp)
	want := cp.Clone()

	// Changing the saved checkpoint after Save.
	cp.Committed[0] ^= 0xff
	cp.Batch.First[0] ^= 0xff
	cp.Batch.Last[0] ^= 0xff
	cp.Batch.Records[2].Pointer[0] ^= 0xff
	cp.Batch.Records[2].Errors[0].Error = "changed"
	cp.Batch.Records[1].Status = checkpoint.Halted
	cp.Batch.Records = append(cp.Batch.Records, checkpoint.RecordState{})
	cp.Counts.Succeeded = 1
	requireEqual(t, "stored checkpoint after changing the saved one", mustLoad(t, s, k), want)

	// Changing a loaded checkpoint.
	a := mustLoad(t, s, k)
	a.Committed[0] ^= 0xff
	a.Batch.Last[0] ^= 0xff
	a.Batch.Records[3].Errors[1].Error = "changed"
	a.Batch.Records[3].Pointer[0] ^= 0xff
	a.Batch.Records[0].ID = "changed"
	a.Batch = nil
	requireEqual(t, "stored checkpoint after changing a loaded one", mustLoad(t, s, k), want)

	// Two loads do not share memory.
	b, c := mustLoad(t, s, k), mustLoad(t, s, k)
	b.Batch.Records[0].Pointer[1] ^= 0xff
	requireEqual(t, "a loaded checkpoint after changing another", c, want)

	// Saving a checkpoint with shorter slices, then longer again.
	short := mustLoad(t, s, k)
	short.Batch.Records = short.Batch.Records[:2]
	short.Batch.Records[1].Errors = nil
	short.Committed = nil
	wantShort := short.Clone()
	mustSave(t, s, short)
	wantShort.Version++
	requireEqual(t, "stored checkpoint after saving shorter slices", mustLoad(t, s, k), wantShort)
	full := Full(k)
	full.Version = short.Version
	wantFull := full.Clone()
	mustSave(t, s, full)
	wantFull.Version++
	requireEqual(t, "stored checkpoint after saving longer slices", mustLoad(t, s, k), wantFull)
	// And without a batch.
	nob := mustLoad(t, s, k)
	nob.Batch = nil
	wantNob := nob.Clone()
	mustSave(t, s, nob)
	wantNob.Version++
	requireEqual(t, "stored checkpoint after clearing the batch", mustLoad(t, s, k), wantNob)
}

func testInvalidKey(t *testing.T, h Harness) {
	s := h.New(t)
	ctx := context.Background()
	bad := []checkpoint.Key{
		{},
		{Stream: "s", Partition: "0"},
		{Consumer: "c", Partition: "0"},
		{Consumer: "c", Stream: "s"},
		{Consumer: "c", Stream: "s", Partition: "\xff"},
		{Consumer: "c\xc3", Stream: "s", Partition: "0"},
	}
	for _, k := range bad {
		t.Run(fmt.Sprintf("%q", k.String()), func(t *testing.T) {
			if cp, err := s.Load(ctx, k); err == nil {
				t.Errorf("Load(%q) = %s, want an error", k, dump(cp))
			}
			cp := Full(k)
			before := cp.Clone()
			if err := s.Save(ctx, cp); err == nil {
				t.Errorf("Save(%q) succeeded, want an error", k)
			} else if errors.Is(err, checkpoint.ErrConflict) || errors.Is(err, checkpoint.ErrCorrupt) {
				t.Errorf("Save(%q) = %v, want an invalid-key error, not a conflict or corruption", k, err)
			}
			if !reflect.DeepEqual(cp, before) {
				t.Errorf("a refused Save changed its argument")
			}
			if k.Consumer != "" && k.Stream != "" {
				// An error is fine too (for example for invalid UTF-8).
				if l, err := s.List(ctx, k.Consumer, k.Stream); len(l) != 0 {
					t.Errorf("List after a refused Save = %d checkpoints, %v; want none", len(l), err)
				}
			}
		})
	}
	if err := s.Save(ctx, nil); err == nil {
		t.Error("Save(nil) succeeded, want an error")
	}
}

func testInvalidCheckpoint(t *testing.T, h Harness) {
	s := h.New(t)
	ctx := context.Background()
	cases := []struct {
		name   string
		change func(*checkpoint.Checkpoint)
	}{
		{"unknown status", func(cp *checkpoint.Checkpoint) { cp.Batch.Records[0].Status = 200 }},
		{"negative attempts", func(cp *checkpoint.Checkpoint) { cp.Batch.Records[1].Attempts = -1 }},
		{"negative interrupted attempts", func(cp *checkpoint.Checkpoint) { cp.Batch.Records[1].Interrupted = -1 }},
		{"negative batch size", func(cp *checkpoint.Checkpoint) { cp.Batch.Size = -1 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k := key(tc.name)
			cp := Full(k)
			tc.change(cp)
			before := cp.Clone()
			if err := s.Save(ctx, cp); err == nil {
				t.Fatalf("Save of a checkpoint with %s succeeded, want an error", tc.name)
			}
			if !reflect.DeepEqual(cp, before) {
				t.Errorf("a refused Save changed its argument")
			}
			if got := mustLoad(t, s, k); got.Version != 0 {
				t.Errorf("a refused Save stored version %d", got.Version)
			}
		})
	}
}

func testCorrupt(t *testing.T, h Harness) {
	if h.Corrupt == nil {
		t.Skip("Harness.Corrupt not set: the store has no way to hold corrupt data")
	}
	s := h.New(t)
	ctx := context.Background()
	k, other := key("0"), key("1")
	cp := Full(k)
	mustSave(t, s, cp)
	mustSave(t, s, Full(other))
	h.Corrupt(t, s, k)

	if got, err := s.Load(ctx, k); !errors.Is(err, checkpoint.ErrCorrupt) {
		t.Fatalf("Load of corrupt data = %s, %v; want an error matching ErrCorrupt", dump(got), err)
	}
	for _, v := range []uint64{0, 1, 2} {
		c := Full(k)
		c.Version = v
		before := c.Clone()
		if err := s.Save(ctx, c); !errors.Is(err, checkpoint.ErrCorrupt) {
			t.Errorf("Save(version %d) over corrupt data: err = %v, want an error matching ErrCorrupt", v, err)
		}
		if !reflect.DeepEqual(c, before) {
			t.Errorf("Save over corrupt data changed its argument")
		}
	}
	if _, err := s.Load(ctx, k); !errors.Is(err, checkpoint.ErrCorrupt) {
		t.Fatalf("Load after Save attempts over corrupt data: err = %v, want ErrCorrupt still (corrupt data must never be overwritten)", err)
	}
	if _, err := s.List(ctx, "c", "s"); !errors.Is(err, checkpoint.ErrCorrupt) {
		t.Errorf("List of a group holding corrupt data: err = %v, want ErrCorrupt", err)
	}
	// Other keys are not affected.
	w := Full(other)
	w.Version = 1
	requireEqual(t, "another key next to corrupt data", mustLoad(t, s, other), w)
	if _, err := s.List(ctx, "c", "other-stream"); err != nil {
		t.Errorf("List of another group: %v", err)
	}
}

// testContextDone: a store may honour a done context (returning an error
// matching the context's error, with nothing changed) or ignore it (and
// work); it must never leave partial or corrupt data.
func testContextDone(t *testing.T, h Harness) {
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	cases := []struct {
		name string
		ctx  context.Context
		want error
	}{
		{"cancelled", cancelled, context.Canceled},
		{"deadline exceeded", expired, context.DeadlineExceeded},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := h.New(t)
			k := key("0")
			first := Full(k)
			mustSave(t, s, first)
			stored := first.Clone()

			if cp, err := s.Load(tc.ctx, k); err != nil {
				if !errors.Is(err, tc.want) {
					t.Errorf("Load with a done context: err = %v, want nil or one matching %v", err, tc.want)
				}
			} else {
				requireEqual(t, "Load with a done context", cp, stored)
			}

			next := stored.Clone()
			next.Counts.Succeeded++
			before := next.Clone()
			if err := s.Save(tc.ctx, next); err != nil {
				if !errors.Is(err, tc.want) {
					t.Errorf("Save with a done context: err = %v, want nil or one matching %v", err, tc.want)
				}
				if !reflect.DeepEqual(next, before) {
					t.Errorf("a failed Save changed its argument")
				}
				requireEqual(t, "stored checkpoint after a failed Save", mustLoad(t, s, k), stored)
			} else {
				if next.Version != before.Version+1 {
					t.Errorf("Save with a done context succeeded with version %d, want %d", next.Version, before.Version+1)
				}
				requireEqual(t, "stored checkpoint after Save with a done context", mustLoad(t, s, k), next)
			}

			if l, err := s.List(tc.ctx, "c", "s"); err != nil {
				if !errors.Is(err, tc.want) {
					t.Errorf("List with a done context: err = %v, want nil or one matching %v", err, tc.want)
				}
			} else if len(l) != 1 {
				t.Errorf("List with a done context returned %d checkpoints, want 1", len(l))
			}

			// The store still works.
			cur := mustLoad(t, s, k)
			cur.Counts.Retries++
			mustSave(t, s, cur)
			requireEqual(t, "Load after Save", mustLoad(t, s, k), cur)
		})
	}
}

// assertFullyPopulated fails t if a field of the checkpoint model, at any
// depth, is zero in every instance in cp: the round-trip test would then not
// cover it (a field added to the model must be added to Full).
func assertFullyPopulated(t *testing.T, cp *checkpoint.Checkpoint) {
	t.Helper()
	set := map[string]bool{}
	var walk func(path string, v reflect.Value)
	walk = func(path string, v reflect.Value) {
		switch v.Kind() {
		case reflect.Pointer:
			if !v.IsNil() {
				walk(path, v.Elem())
			}
		case reflect.Slice:
			if v.Type().Elem().Kind() == reflect.Struct {
				for i := range v.Len() {
					walk(path+"[]", v.Index(i))
				}
			}
		case reflect.Struct:
			if v.Type() == timeType {
				return
			}
			for i := range v.NumField() {
				f := v.Type().Field(i)
				if !f.IsExported() {
					continue
				}
				p := path + "." + f.Name
				if _, ok := set[p]; !ok {
					set[p] = false
				}
				if !v.Field(i).IsZero() {
					set[p] = true
				}
				walk(p, v.Field(i))
			}
		}
	}
	walk("Checkpoint", reflect.ValueOf(cp))
	for p, ok := range set {
		// Version is set by Save.
		if !ok && p != "Checkpoint.Version" {
			t.Errorf("storetest.Full leaves %s zero: set it so that stores are tested on it", p)
		}
	}
}
