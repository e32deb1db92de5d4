package checkpoint_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/checkpoint/storetest"
)

var allStatuses = []struct {
	s    checkpoint.Status
	name string
	fin  bool
}{
	{checkpoint.Pending, "pending", false},
	{checkpoint.InProgress, "in_progress", false},
	{checkpoint.Failed, "failed", false},
	{checkpoint.Succeeded, "succeeded", true},
	{checkpoint.DeadLettered, "dead_lettered", true},
	{checkpoint.Skipped, "skipped", true},
	{checkpoint.Halted, "halted", false},
}

func TestStatusText(t *testing.T) {
	for _, tc := range allStatuses {
		if got := tc.s.String(); got != tc.name {
			t.Errorf("%d.String() = %q, want %q", tc.s, got, tc.name)
		}
		b, err := tc.s.MarshalText()
		if err != nil || string(b) != tc.name {
			t.Errorf("%s.MarshalText() = %q, %v", tc.name, b, err)
		}
		var s checkpoint.Status = 99
		if err := s.UnmarshalText([]byte(tc.name)); err != nil || s != tc.s {
			t.Errorf("UnmarshalText(%q) = %d, %v; want %d", tc.name, s, err, tc.s)
		}
		if p, err := checkpoint.ParseStatus(tc.name); err != nil || p != tc.s {
			t.Errorf("ParseStatus(%q) = %d, %v", tc.name, p, err)
		}
		if got := tc.s.Final(); got != tc.fin {
			t.Errorf("%s.Final() = %v, want %v", tc.name, got, tc.fin)
		}
		// Through JSON, as files hold it.
		j, err := json.Marshal(struct{ S checkpoint.Status }{tc.s})
		if err != nil || string(j) != `{"S":"`+tc.name+`"}` {
			t.Errorf("JSON of %s = %s, %v", tc.name, j, err)
		}
	}
}

func TestStatusBadNames(t *testing.T) {
	for _, name := range []string{"", "Pending", "PENDING", "done", "halted ", " failed", "in-progress", "3", "status(3)"} {
		_, err := checkpoint.ParseStatus(name)
		if err == nil {
			t.Errorf("ParseStatus(%q) succeeded", name)
			continue
		}
		if !strings.Contains(err.Error(), fmt.Sprintf("%q", name)) || !strings.Contains(err.Error(), "dead_lettered") {
			t.Errorf("ParseStatus(%q) error %q does not name the input and the expected names", name, err)
		}
		s := checkpoint.Succeeded
		if err := s.UnmarshalText([]byte(name)); err == nil || s != checkpoint.Succeeded {
			t.Errorf("UnmarshalText(%q) = %v, status %s; want an error and no change", name, err, s)
		}
	}
	bad := checkpoint.Status(7)
	if got := bad.String(); got != "status(7)" {
		t.Errorf("String of an unknown status = %q", got)
	}
	if _, err := bad.MarshalText(); err == nil {
		t.Error("MarshalText of an unknown status succeeded")
	}
	if bad.Final() {
		t.Error("an unknown status is final")
	}
}

func TestKeyValidate(t *testing.T) {
	cases := []struct {
		k  checkpoint.Key
		ok bool
	}{
		{checkpoint.Key{Consumer: "c", Stream: "s", Partition: "0"}, true},
		{checkpoint.Key{Consumer: "ü", Stream: "流", Partition: "a/b"}, true},
		{checkpoint.Key{}, false},
		{checkpoint.Key{Stream: "s", Partition: "0"}, false},
		{checkpoint.Key{Consumer: "c", Partition: "0"}, false},
		{checkpoint.Key{Consumer: "c", Stream: "s"}, false},
		{checkpoint.Key{Consumer: "c", Stream: "s", Partition: "\xff"}, false},
	}
	for _, tc := range cases {
		if err := tc.k.Validate(); (err == nil) != tc.ok {
			t.Errorf("%q.Validate() = %v, want ok=%v", tc.k, err, tc.ok)
		}
	}
	if got := (checkpoint.Key{Consumer: "c", Stream: "s", Partition: "0"}).String(); got != "c/s/0" {
		t.Errorf("String = %q", got)
	}
}

func halted() *checkpoint.Checkpoint {
	return &checkpoint.Checkpoint{
		Key: checkpoint.Key{Consumer: "c", Stream: "s", Partition: "0"},
		Batch: &checkpoint.Batch{Size: 3, Records: []checkpoint.RecordState{
			{Pointer: []byte{1}, Status: checkpoint.Succeeded, Attempts: 1},
			{Pointer: []byte{2}, Status: checkpoint.Halted, Attempts: 5, Exhausted: true, NextRetry: time.Unix(5, 0), Reason: "dlq down"},
		}},
		Counts: checkpoint.Counts{Succeeded: 1},
	}
}

func TestRetrySkip(t *testing.T) {
	now := time.Unix(1000, 0)

	cp := halted()
	if h := cp.Halted(); h == nil || h != &cp.Batch.Records[1] {
		t.Fatalf("Halted() = %v, want the second record", h)
	}
	if err := cp.Retry(now); err != nil {
		t.Fatal(err)
	}
	r := cp.Batch.Records[1]
	if r.Status != checkpoint.Failed || r.Attempts != 0 || r.Exhausted || !r.NextRetry.IsZero() || r.Reason != "retried by operator" || !cp.UpdatedAt.Equal(now) {
		t.Errorf("after Retry: %+v, updated %v", r, cp.UpdatedAt)
	}
	if cp.Halted() != nil {
		t.Error("still halted after Retry")
	}
	if err := cp.Retry(now); !errors.Is(err, checkpoint.ErrNotHalted) {
		t.Errorf("second Retry: err = %v, want ErrNotHalted", err)
	}

	cp = halted()
	if err := cp.Skip(now, "poison"); err != nil {
		t.Fatal(err)
	}
	r = cp.Batch.Records[1]
	if r.Status != checkpoint.Skipped || r.Reason != "poison" || cp.Counts.Skipped != 1 || !cp.UpdatedAt.Equal(now) {
		t.Errorf("after Skip: %+v, counts %+v, updated %v", r, cp.Counts, cp.UpdatedAt)
	}
	if err := cp.Skip(now, "again"); !errors.Is(err, checkpoint.ErrNotHalted) {
		t.Errorf("second Skip: err = %v, want ErrNotHalted", err)
	}
	if cp.Counts.Skipped != 1 || cp.Batch.Records[1].Reason != "poison" {
		t.Error("a refused Skip changed the checkpoint")
	}

	// Not halted at all.
	notHalted := []*checkpoint.Checkpoint{
		{Key: checkpoint.Key{Consumer: "c", Stream: "s", Partition: "1"}},
		{Key: checkpoint.Key{Consumer: "c", Stream: "s", Partition: "2"}, Batch: &checkpoint.Batch{}},
		{Key: checkpoint.Key{Consumer: "c", Stream: "s", Partition: "3"}, Batch: &checkpoint.Batch{Records: []checkpoint.RecordState{{Status: checkpoint.Failed}}}},
	}
	for _, cp := range notHalted {
		before := cp.Clone()
		if err := cp.Retry(now); !errors.Is(err, checkpoint.ErrNotHalted) || !strings.Contains(err.Error(), cp.Key.String()) {
			t.Errorf("Retry on %s: err = %v, want ErrNotHalted naming the key", cp.Key, err)
		}
		if err := cp.Skip(now, "x"); !errors.Is(err, checkpoint.ErrNotHalted) {
			t.Errorf("Skip on %s: err = %v, want ErrNotHalted", cp.Key, err)
		}
		if !reflect.DeepEqual(cp, before) {
			t.Errorf("refused Retry/Skip changed %s", cp.Key)
		}
	}
}

func TestCopyToDeep(t *testing.T) {
	src := storetest.Full(checkpoint.Key{Consumer: "c", Stream: "s", Partition: "0"})
	src.Version = 4
	want := src.Clone()
	if !reflect.DeepEqual(src, want) {
		t.Fatal("Clone differs from its source")
	}
	dst := &checkpoint.Checkpoint{}
	src.CopyTo(dst)

	// Changing the source does not change the copy, and back.
	src.Committed[0] ^= 0xff
	src.Batch.First[0] ^= 0xff
	src.Batch.Last[0] ^= 0xff
	src.Batch.Records[3].Pointer[0] ^= 0xff
	src.Batch.Records[3].Errors[0].Error = "changed"
	src.Batch.Records[3].AddError(9, time.Now(), "appended")
	src.Batch.Records[0].Status = checkpoint.Halted
	src.Batch.Seq = 0
	if !reflect.DeepEqual(dst, want) {
		t.Fatal("changing the source changed the copy")
	}
	dst.Batch.Records[1].Pointer[1] ^= 0xff
	dst.Batch.Records[1].Errors[0].Attempt = 77
	if !reflect.DeepEqual(src.Batch.Records[1], want.Batch.Records[1]) {
		t.Fatal("changing the copy changed the source")
	}
}

func TestCopyToKeepsNil(t *testing.T) {
	k := checkpoint.Key{Consumer: "c", Stream: "s", Partition: "0"}
	cases := []*checkpoint.Checkpoint{
		{Key: k},
		{Key: k, Committed: []byte{}},
		{Key: k, Batch: &checkpoint.Batch{}},
		{Key: k, Batch: &checkpoint.Batch{First: []byte{}, Records: []checkpoint.RecordState{}}},
		{Key: k, Batch: &checkpoint.Batch{Records: []checkpoint.RecordState{{}, {Pointer: []byte{}, Errors: []checkpoint.AttemptError{}}}}},
	}
	// Into an empty destination and into one full of other data.
	for i, src := range cases {
		for _, dst := range []*checkpoint.Checkpoint{{}, storetest.Full(checkpoint.Key{Consumer: "x", Stream: "y", Partition: "z"})} {
			src.CopyTo(dst)
			if !reflect.DeepEqual(dst, src) {
				t.Errorf("case %d: CopyTo gave %+v, want %+v", i, dst, src)
			}
		}
	}
}

func TestCopyToReusesBuffers(t *testing.T) {
	src := storetest.Full(checkpoint.Key{Consumer: "c", Stream: "s", Partition: "0"})
	dst := &checkpoint.Checkpoint{}
	src.CopyTo(dst)
	batch, recs := dst.Batch, &dst.Batch.Records[0]

	// A shorter source, then the longer one again: the buffers stay.
	short := src.Clone()
	short.Batch.Records = short.Batch.Records[:2]
	short.CopyTo(dst)
	if !reflect.DeepEqual(dst, short) {
		t.Fatal("CopyTo of a shorter source differs")
	}
	src.CopyTo(dst)
	if !reflect.DeepEqual(dst, src) {
		t.Fatal("CopyTo of a longer source differs")
	}
	if dst.Batch != batch || &dst.Batch.Records[0] != recs {
		t.Error("CopyTo did not reuse the destination's batch and records")
	}
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	if n := testing.AllocsPerRun(100, func() { src.CopyTo(dst) }); n != 0 {
		t.Errorf("repeated CopyTo into the same destination: %v allocations, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { short.CopyTo(dst); src.CopyTo(dst) }); n != 0 {
		t.Errorf("alternating CopyTo into the same destination: %v allocations, want 0", n)
	}
}

func TestAddError(t *testing.T) {
	var r checkpoint.RecordState
	if r.LastError() != "" {
		t.Error("LastError of no errors is not empty")
	}
	base := time.Unix(0, 0)
	for i := 1; i <= 20; i++ {
		r.AddError(i, base.Add(time.Duration(i)*time.Second), fmt.Sprintf("err %d", i))
		if len(r.Errors) != min(i, checkpoint.MaxErrors) {
			t.Fatalf("after %d errors: %d kept, want %d", i, len(r.Errors), min(i, checkpoint.MaxErrors))
		}
		if r.LastError() != fmt.Sprintf("err %d", i) {
			t.Fatalf("LastError = %q after adding err %d", r.LastError(), i)
		}
	}
	for j, e := range r.Errors { // the last MaxErrors, oldest first
		want := 20 - checkpoint.MaxErrors + 1 + j
		if e.Attempt != want || e.Error != fmt.Sprintf("err %d", want) || !e.Time.Equal(base.Add(time.Duration(want)*time.Second)) {
			t.Errorf("Errors[%d] = %+v, want attempt %d", j, e, want)
		}
	}

	// A record holding more than MaxErrors (a hand-edited file) is cut
	// back to MaxErrors, keeping the latest.
	var long checkpoint.RecordState
	for i := 1; i <= checkpoint.MaxErrors+3; i++ {
		long.Errors = append(long.Errors, checkpoint.AttemptError{Attempt: i})
	}
	long.AddError(100, base, "new")
	if len(long.Errors) != checkpoint.MaxErrors || long.Errors[0].Attempt != 5 || long.LastError() != "new" {
		t.Errorf("AddError on %d errors kept %d, first attempt %d, last %q", checkpoint.MaxErrors+3, len(long.Errors), long.Errors[0].Attempt, long.LastError())
	}
}
