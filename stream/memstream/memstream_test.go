package memstream

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/unistream-go/unistream/stream/driver"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var bg = context.Background()

// write writes records through a new writer and fails the test on a
// whole-call error.
func write(t *testing.T, s *Stream, recs ...driver.Record) []driver.WriteResult {
	t.Helper()
	w, err := s.OpenWriter(bg)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	res := make([]driver.WriteResult, len(recs))
	if err := w.Write(bg, recs, res); err != nil {
		t.Fatalf("Write: %v", err)
	}
	return res
}

func rec(key, value string) driver.Record {
	var k []byte
	if key != "" {
		k = []byte(key)
	}
	return driver.Record{ID: "id-" + key + "-" + value, Key: k, Value: []byte(value)}
}

// fetchAll reads a partition from start until nothing new, returning values.
func fetchAll(t *testing.T, s *Stream, partition string, start driver.Start) ([]driver.Record, error) {
	t.Helper()
	r, err := s.OpenReader(bg, partition, start)
	if err != nil {
		t.Fatalf("OpenReader(%s, %v): %v", partition, start.Kind, err)
	}
	defer r.Close()
	var out []driver.Record
	for {
		b, err := r.Fetch(bg, 3)
		out = append(out, b...)
		if err != nil || len(b) == 0 {
			return out, err
		}
	}
}

func values(rs []driver.Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r.Value)
	}
	return out
}

func fnvPart(key string, n int) string {
	h := fnv.New32a()
	h.Write([]byte(key))
	return strconv.Itoa(int(h.Sum32() % uint32(n)))
}

func TestRoutingByKeyStableAndOrdered(t *testing.T) {
	s := New("orders", WithPartitions(4))
	keys := []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"}
	for round := range 5 {
		var batch []driver.Record
		for _, k := range keys {
			batch = append(batch, rec(k, fmt.Sprintf("%s-%d", k, round)))
		}
		for i, res := range write(t, s, batch...) {
			if res.Err != nil {
				t.Fatalf("record %d: %v", i, res.Err)
			}
			if want := fnvPart(keys[i], 4); res.Partition != want {
				t.Errorf("key %s went to partition %s, want %s (FNV-1a mod 4)", keys[i], res.Partition, want)
			}
			if got := s.PartitionFor([]byte(keys[i])); got != res.Partition {
				t.Errorf("PartitionFor(%s) = %s, wrote to %s", keys[i], got, res.Partition)
			}
		}
	}
	// Per key, the records are in write order in their partition.
	for p := range 4 {
		rs, err := fetchAll(t, s, strconv.Itoa(p), driver.Start{})
		if err != nil {
			t.Fatal(err)
		}
		next := map[string]int{}
		for i, r := range rs {
			k := string(r.Key)
			if want := fmt.Sprintf("%s-%d", k, next[k]); string(r.Value) != want {
				t.Errorf("partition %d: got %s, want %s", p, r.Value, want)
			}
			next[k]++
			if off, _ := Offset(r.Pointer); off != uint64(i) {
				t.Errorf("partition %d record %d: offset %d", p, i, off)
			}
			if r.Stream != "orders" || r.Partition != strconv.Itoa(p) {
				t.Errorf("record has Stream %q Partition %q", r.Stream, r.Partition)
			}
		}
	}
}

func TestEmptyKeyRoundRobin(t *testing.T) {
	s := New("rr", WithPartitions(3))
	var batch []driver.Record
	for i := range 9 {
		batch = append(batch, rec("", strconv.Itoa(i)))
	}
	res := write(t, s, batch...)
	for i, r := range res {
		if want := strconv.Itoa(i % 3); r.Partition != want {
			t.Errorf("keyless record %d went to %s, want %s", i, r.Partition, want)
		}
	}
}

func TestWriteCopiesAndStampsTime(t *testing.T) {
	fixed := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	s := New("copy", WithClock(func() time.Time { return fixed }))
	key, val, hv := []byte("k"), []byte("v"), []byte("h")
	given := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	write(t, s,
		driver.Record{ID: "a", Key: key, Value: val, Headers: []driver.Header{{Key: "h", Value: hv}}},
		driver.Record{ID: "b", Key: key, Value: val, Time: given})
	key[0], val[0], hv[0] = 'X', 'X', 'X' // the caller reuses its buffers
	rs, _ := s.Records("0")
	if string(rs[0].Key) != "k" || string(rs[0].Value) != "v" || string(rs[0].Headers[0].Value) != "h" {
		t.Errorf("stored record changed with the caller's buffers: %+v", rs[0])
	}
	if !rs[0].Time.Equal(fixed) {
		t.Errorf("zero Time stamped %v, want %v", rs[0].Time, fixed)
	}
	if !rs[1].Time.Equal(given) {
		t.Errorf("given Time changed to %v", rs[1].Time)
	}
	if rs[0].ID != "a" {
		t.Errorf("ID %q", rs[0].ID)
	}
}

func TestStartPositions(t *testing.T) {
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	s := New("starts")
	var batch []driver.Record
	for i := range 5 {
		r := rec("k", strconv.Itoa(i))
		r.Time = base.Add(time.Duration(i) * time.Minute)
		batch = append(batch, r)
	}
	write(t, s, batch...)

	tests := []struct {
		name  string
		start driver.Start
		want  string
	}{
		{"earliest", driver.Start{Kind: driver.StartEarliest}, "0 1 2 3 4"},
		{"latest", driver.Start{Kind: driver.StartLatest}, ""},
		{"at-time before all", driver.Start{Kind: driver.StartAtTime, Time: base.Add(-time.Hour)}, "0 1 2 3 4"},
		{"at-time exact", driver.Start{Kind: driver.StartAtTime, Time: base.Add(2 * time.Minute)}, "2 3 4"},
		{"at-time between", driver.Start{Kind: driver.StartAtTime, Time: base.Add(150 * time.Second)}, "3 4"},
		{"at-time after all", driver.Start{Kind: driver.StartAtTime, Time: base.Add(time.Hour)}, ""},
		{"after first", driver.Start{Kind: driver.StartAfter, Pointer: PointerAt(0)}, "1 2 3 4"},
		{"after last", driver.Start{Kind: driver.StartAfter, Pointer: PointerAt(4)}, ""},
		{"at first", driver.Start{Kind: driver.StartAt, Pointer: PointerAt(0)}, "0 1 2 3 4"},
		{"at middle", driver.Start{Kind: driver.StartAt, Pointer: PointerAt(3)}, "3 4"},
		{"at last", driver.Start{Kind: driver.StartAt, Pointer: PointerAt(4)}, "4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, err := fetchAll(t, s, "0", tt.start)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(values(rs), " "); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}

	t.Run("latest sees later writes", func(t *testing.T) {
		s := New("latest")
		write(t, s, rec("k", "old"))
		r, err := s.OpenReader(bg, "0", driver.Start{Kind: driver.StartLatest})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if b, err := r.Fetch(bg, 10); err != nil || len(b) != 0 {
			t.Fatalf("Fetch before new writes = %v, %v; want empty", values(b), err)
		}
		write(t, s, rec("k", "new1"), rec("k", "new2"))
		b, err := r.Fetch(bg, 10)
		if err != nil || strings.Join(values(b), " ") != "new1 new2" {
			t.Fatalf("Fetch = %v, %v", values(b), err)
		}
	})

	errTests := []struct {
		name      string
		partition string
		start     driver.Start
		want      []string
	}{
		{"after beyond end", "0", driver.Start{Kind: driver.StartAfter, Pointer: PointerAt(5)}, []string{"mem:starts/0@5", "beyond the end", "5 records"}},
		{"at beyond end", "0", driver.Start{Kind: driver.StartAt, Pointer: PointerAt(99)}, []string{"mem:starts/0@99", "beyond the end"}},
		{"malformed pointer", "0", driver.Start{Kind: driver.StartAfter, Pointer: driver.Pointer{1, 2}}, []string{"got 2 bytes, expected 8 (big-endian offset)"}},
		{"nil pointer", "0", driver.Start{Kind: driver.StartAt}, []string{"got 0 bytes, expected 8"}},
		{"unknown partition", "7", driver.Start{}, []string{`no partition "7"`, "partitions: 0"}},
		{"unknown kind", "0", driver.Start{Kind: 42}, []string{"unknown start kind StartKind(42)"}},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.OpenReader(bg, tt.partition, tt.start)
			if err == nil {
				t.Fatal("OpenReader succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestFetchBatchesAndFreshSlices(t *testing.T) {
	s := New("fetch")
	write(t, s, rec("k", "a"), rec("k", "b"), rec("k", "c"))
	r, _ := s.OpenReader(bg, "0", driver.Start{})
	defer r.Close()
	if _, err := r.Fetch(bg, 0); err == nil || !strings.Contains(err.Error(), "max 0") {
		t.Errorf("Fetch(0) error = %v", err)
	}
	b1, _ := r.Fetch(bg, 2)
	b1[0] = driver.Record{ID: "clobbered"}
	b1 = append(b1, driver.Record{ID: "appended"})
	_ = b1
	b2, _ := r.Fetch(bg, 2)
	if got := values(b2); len(got) != 1 || got[0] != "c" {
		t.Fatalf("second fetch = %v", got)
	}
	all, _ := s.Records("0")
	if all[0].ID != "id-k-a" {
		t.Errorf("changing a fetched slice changed the log: %q", all[0].ID)
	}
	b3, err := r.Fetch(bg, 2)
	if err != nil || len(b3) != 0 {
		t.Errorf("fetch at end = %v, %v; want empty, nil", b3, err)
	}
}

func TestReaderLag(t *testing.T) {
	s := New("lag")
	write(t, s, rec("k", "a"), rec("k", "b"), rec("k", "c"))
	r, _ := s.OpenReader(bg, "0", driver.Start{})
	defer r.Close()
	lr := r.(driver.LagReporter)
	if l := lr.Lag(); l.Records != 3 || l.Time != -1 {
		t.Fatalf("lag before a fetch = %+v, want 3 records, time unknown", l)
	}
	if _, err := r.Fetch(bg, 2); err != nil {
		t.Fatal(err)
	}
	if l := lr.Lag(); l.Records != 1 {
		t.Fatalf("lag after 2 of 3 = %+v, want 1", l)
	}
	write(t, s, rec("k", "d"))
	if l := lr.Lag(); l.Records != 2 {
		t.Fatalf("lag after a write = %+v, want 2", l)
	}
}

func TestCodec(t *testing.T) {
	c := Codec{}
	offs := []uint64{0, 1, 9, 10, 255, 256, 65535, 1 << 32, 1<<63 - 1, 1 << 63, 1<<64 - 1}
	for i, off := range offs {
		p := PointerAt(off)
		text := c.Format("orders.v2", "3", p)
		if want := "mem:orders.v2/3@" + strconv.FormatUint(off, 10); text != want {
			t.Errorf("Format = %q, want %q", text, want)
		}
		st, part, q, err := c.Parse(text)
		if err != nil || st != "orders.v2" || part != "3" || c.Compare(p, q) != 0 {
			t.Errorf("Parse(%q) = %q %q %v %v", text, st, part, q, err)
		}
		d, err := c.Decode(p)
		if err != nil || c.Compare(d, p) != 0 {
			t.Errorf("Decode: %v %v", d, err)
		}
		if i > 0 {
			prev := PointerAt(offs[i-1])
			if c.Compare(prev, p) != -1 || c.Compare(p, prev) != 1 {
				t.Errorf("Compare(%d, %d) does not order", offs[i-1], off)
			}
		}
	}
	for _, n := range []int{0, 1, 7, 9} {
		_, err := c.Decode(make([]byte, n))
		want := fmt.Sprintf("memstream: pointer: got %d bytes, expected 8 (big-endian offset)", n)
		if err == nil || err.Error() != want {
			t.Errorf("Decode(%d bytes) error = %v, want %q", n, err, want)
		}
	}
	if got := c.Format("s", "0", driver.Pointer{0xab}); got != "mem:s/0@invalid(ab)" {
		t.Errorf("Format(invalid) = %q", got)
	}

	parseErrs := []struct{ in, want string }{
		{"", `missing the "mem:" prefix`},
		{"kafka:orders/0@1", `missing the "mem:" prefix`},
		{"mem:orders/0", "missing '@OFFSET'"},
		{"mem:orders@1", "missing '/PARTITION'"},
		{"mem:/0@1", "stream name is empty"},
		{"mem:or ders/0@1", `stream name "or ders"`},
		{"mem:orders/@1", `partition ""`},
		{"mem:orders/01@1", `partition "01"`},
		{"mem:orders/-1@1", `partition "-1"`},
		{"mem:orders/0@", `offset ""`},
		{"mem:orders/0@-3", `offset "-3"`},
		{"mem:orders/0@007", `offset "007"`},
		{"mem:orders/0@1x", `offset "1x"`},
		{"mem:orders/0@18446744073709551616", "expected a decimal offset up to 18446744073709551615"},
	}
	for _, tt := range parseErrs {
		_, _, _, err := c.Parse(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) error = %v, want it to contain %q", tt.in, err, tt.want)
		}
	}
}

func TestFaultInjection(t *testing.T) {
	boom := errors.New("boom")

	t.Run("FailFetches", func(t *testing.T) {
		s := New("ff", WithPartitions(2))
		write(t, s, rec("", "a"), rec("", "b"))
		r0, _ := s.OpenReader(bg, "0", driver.Start{})
		r1, _ := s.OpenReader(bg, "1", driver.Start{})
		defer r0.Close()
		defer r1.Close()
		s.FailFetches(2, boom)
		if _, err := r0.Fetch(bg, 1); !errors.Is(err, boom) || !strings.Contains(err.Error(), "ff/0") {
			t.Errorf("first fetch err = %v", err)
		}
		if _, err := r1.Fetch(bg, 1); !errors.Is(err, boom) {
			t.Errorf("second fetch (other partition) err = %v", err)
		}
		if b, err := r0.Fetch(bg, 1); err != nil || len(b) != 1 {
			t.Errorf("third fetch = %v, %v; want the record", b, err)
		}
		s.FailFetches(1, nil)
		if _, err := r1.Fetch(bg, 1); !errors.Is(err, ErrInjected) {
			t.Errorf("nil err: got %v, want ErrInjected", err)
		}
		// The failed fetch did not consume records.
		if b, err := r1.Fetch(bg, 1); err != nil || len(b) != 1 {
			t.Errorf("fetch after failure = %v, %v", b, err)
		}
	})

	t.Run("FailWrites", func(t *testing.T) {
		s := New("fw")
		w, _ := s.OpenWriter(bg)
		defer w.Close()
		s.FailWrites(1, boom)
		res := make([]driver.WriteResult, 1)
		if err := w.Write(bg, []driver.Record{rec("k", "a")}, res); !errors.Is(err, boom) {
			t.Errorf("write err = %v", err)
		}
		if rs, _ := s.Records("0"); len(rs) != 0 {
			t.Errorf("a failed write stored %d records", len(rs))
		}
		if err := w.Write(bg, []driver.Record{rec("k", "b")}, res); err != nil || res[0].Err != nil {
			t.Errorf("second write = %v, %v", err, res[0].Err)
		}
		// Faults are shared by every handle of a broker stream.
		b := NewBroker()
		h1, _ := b.Stream("x")
		h2, _ := b.Stream("x")
		h1.FailWrites(1, nil)
		w2, _ := h2.OpenWriter(bg)
		if err := w2.Write(bg, []driver.Record{rec("k", "a")}, res); !errors.Is(err, ErrInjected) {
			t.Errorf("fault on another handle: err = %v", err)
		}
	})

	t.Run("FailRecords one shot", func(t *testing.T) {
		s := New("fr")
		s.FailRecords(0, 9) // 9 is out of range and ignored
		w, _ := s.OpenWriter(bg)
		defer w.Close()
		res := make([]driver.WriteResult, 1)
		if err := w.Write(bg, []driver.Record{rec("k", "a")}, res); err != nil || !errors.Is(res[0].Err, ErrInjected) {
			t.Errorf("write = %v, %v; want a per-record ErrInjected", err, res[0].Err)
		}
		if err := w.Write(bg, []driver.Record{rec("k", "a")}, res); err != nil || res[0].Err != nil {
			t.Errorf("next write = %v, %v; want success", err, res[0].Err)
		}
	})

	t.Run("hook", func(t *testing.T) {
		s := New("hook")
		s.SetRecordHook(func(i int, r *driver.Record) error {
			if string(r.Value) == "bad" {
				return boom
			}
			_ = s.PartitionFor(r.Key) // may call the stream without deadlock
			return nil
		})
		res := write(t, s, rec("k", "ok"), rec("j", "bad"))
		if res[0].Err != nil || !errors.Is(res[1].Err, boom) {
			t.Errorf("results = %+v", res)
		}
		s.SetRecordHook(nil)
		if res := write(t, s, rec("j", "bad")); res[0].Err != nil {
			t.Errorf("after removing the hook: %v", res[0].Err)
		}
	})

	t.Run("Delay", func(t *testing.T) {
		s := New("delay")
		s.Delay(time.Hour)
		ctx, cancel := context.WithTimeout(bg, 20*time.Millisecond)
		defer cancel()
		r, _ := s.OpenReader(bg, "0", driver.Start{})
		defer r.Close()
		if _, err := r.Fetch(ctx, 1); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("delayed fetch err = %v", err)
		}
		w, _ := s.OpenWriter(bg)
		if err := w.Write(ctx, []driver.Record{rec("k", "a")}, make([]driver.WriteResult, 1)); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("delayed write err = %v", err)
		}
		s.Delay(10 * time.Millisecond)
		start := time.Now()
		if _, err := r.Fetch(bg, 1); err != nil {
			t.Fatal(err)
		}
		if time.Since(start) < 10*time.Millisecond {
			t.Error("Fetch did not wait for the delay")
		}
		s.ClearFaults()
		start = time.Now()
		if _, err := r.Fetch(bg, 1); err != nil || time.Since(start) > 5*time.Millisecond {
			t.Errorf("after ClearFaults fetch took %v, err %v", time.Since(start), err)
		}
	})
}

// keysFor finds n keys for each of the given partitions of a 2-partition
// stream.
func keyFor(t *testing.T, partition string, n int) string {
	t.Helper()
	for i := range 1000 {
		k := fmt.Sprintf("key%d", i)
		if fnvPart(k, n) == partition {
			return k
		}
	}
	t.Fatal("no key found")
	return ""
}

func TestPartialWriteFailure(t *testing.T) {
	ka, kb := keyFor(t, "0", 2), keyFor(t, "1", 2)
	tests := []struct {
		name   string
		inject func(s *Stream)
		recs   []driver.Record
		// want per record: "" success, "fail" the cause, "hole" preceding failure
		want []string
		is   error
	}{
		{
			name:   "injected",
			inject: func(s *Stream) { s.FailRecords(1) },
			recs:   []driver.Record{rec(ka, "a0"), rec(ka, "a1"), rec(kb, "b0"), rec(ka, "a2"), rec(kb, "b1")},
			want:   []string{"", "fail", "", "hole", ""},
			is:     ErrInjected,
		},
		{
			name:   "too large",
			inject: func(*Stream) {},
			recs:   []driver.Record{rec(kb, "b0"), rec(kb, strings.Repeat("x", 200)), rec(ka, "a0"), rec(kb, "b2"), rec(kb, "b3")},
			want:   []string{"", "fail", "", "hole", "hole"},
			is:     driver.ErrRecordTooLarge,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New("partial", WithPartitions(2), WithMaxRecordBytes(100))
			tt.inject(s)
			res := write(t, s, tt.recs...)
			var failed []driver.Record
			for i, r := range res {
				switch tt.want[i] {
				case "":
					if r.Err != nil || r.Pointer == nil || r.Partition == "" {
						t.Errorf("record %d: %+v, want success", i, r)
					}
				case "fail":
					if !errors.Is(r.Err, tt.is) || r.Pointer != nil {
						t.Errorf("record %d: %+v, want %v", i, r, tt.is)
					}
					failed = append(failed, tt.recs[i])
				case "hole":
					if !errors.Is(r.Err, ErrPrecedingRecordFailed) || !strings.Contains(r.Err.Error(), "log without holes") {
						t.Errorf("record %d: %+v, want ErrPrecedingRecordFailed", i, r)
					}
					failed = append(failed, tt.recs[i])
				}
			}
			// Re-sending the failed records in order keeps per-key order.
			if tt.name == "injected" {
				write(t, s, failed...)
				rs, _ := s.Records("0")
				if got := strings.Join(values(rs), " "); got != "a0 a1 a2" {
					t.Errorf("partition 0 after re-send = %q", got)
				}
			}
		})
	}
}

func TestWholeCallErrors(t *testing.T) {
	s := New("limits", WithMaxBatchRecords(2), WithMaxBatchBytes(10))
	w, _ := s.OpenWriter(bg)
	tests := []struct {
		name string
		recs []driver.Record
		res  int
		want string
	}{
		{"too many records", []driver.Record{{}, {}, {}}, 3, "3 records in one call, max_batch_records is 2"},
		{"too many bytes", []driver.Record{{Value: make([]byte, 6)}, {Value: make([]byte, 6)}}, 2, "12 bytes in one call, max_batch_bytes is 10"},
		{"results length", []driver.Record{{}}, 0, "0 results for 1 records"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := w.Write(bg, tt.recs, make([]driver.WriteResult, tt.res))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
	if rs, _ := s.Records("0"); len(rs) != 0 {
		t.Errorf("failed calls stored %d records", len(rs))
	}
	if err := w.Write(bg, nil, nil); err != nil {
		t.Errorf("empty write: %v", err)
	}
	ctx, cancel := context.WithCancel(bg)
	cancel()
	if err := w.Write(ctx, []driver.Record{{}}, make([]driver.WriteResult, 1)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled write: %v", err)
	}
}

func TestSplitMergeAndFinished(t *testing.T) {
	s := New("shards", WithPartitions(2))
	write(t, s, rec("", "p0-a"), rec("", "p1-a"), rec("", "p0-b"))
	r0, _ := s.OpenReader(bg, "0", driver.Start{})
	defer r0.Close()
	if b, _ := r0.Fetch(bg, 1); len(b) != 1 {
		t.Fatal("want one record before the split")
	}

	children, err := s.Split("0")
	if err != nil || children != [2]string{"2", "3"} {
		t.Fatalf("Split = %v, %v", children, err)
	}
	parts, _ := s.Partitions(bg)
	want := []driver.Partition{{ID: "0", Closed: true}, {ID: "1"}, {ID: "2", Parents: []string{"0"}}, {ID: "3", Parents: []string{"0"}}}
	if fmt.Sprint(parts) != fmt.Sprint(want) {
		t.Errorf("Partitions = %v, want %v", parts, want)
	}
	// The reader of the closed parent gets its last record, then finished.
	if b, err := r0.Fetch(bg, 10); err != nil || strings.Join(values(b), " ") != "p0-b" {
		t.Errorf("fetch after split = %v, %v", values(b), err)
	}
	for range 2 {
		if _, err := r0.Fetch(bg, 10); !errors.Is(err, driver.ErrPartitionFinished) {
			t.Errorf("fetch at end of closed partition = %v, want ErrPartitionFinished", err)
		}
	}
	// New writes go to open partitions only.
	for _, r := range write(t, s, rec("", "x"), rec("", "y"), rec("", "z"), rec("k1", "k"), rec("k2", "k")) {
		if r.Partition == "0" {
			t.Errorf("a write went to the closed partition")
		}
	}
	if _, err := s.Split("0"); err == nil || !strings.Contains(err.Error(), "closed already") {
		t.Errorf("split of a closed partition: %v", err)
	}
	if _, err := s.Split("9"); err == nil || !strings.Contains(err.Error(), `no partition "9"`) {
		t.Errorf("split of an unknown partition: %v", err)
	}

	child, err := s.Merge("2", "3")
	if err != nil || child != "4" {
		t.Fatalf("Merge = %q, %v", child, err)
	}
	parts, _ = s.Partitions(bg)
	if p := parts[4]; fmt.Sprint(p.Parents) != "[2 3]" || p.Closed || !parts[2].Closed || !parts[3].Closed {
		t.Errorf("after merge: %v", parts)
	}
	if _, err := s.Merge("1", "1"); err == nil {
		t.Error("merge with itself succeeded")
	}
	if _, err := s.Merge("1", "2"); err == nil || !strings.Contains(err.Error(), "closed already") {
		t.Errorf("merge with a closed partition: %v", err)
	}

	ids, err := s.AddPartitions(2)
	if err != nil || fmt.Sprint(ids) != "[5 6]" {
		t.Errorf("AddPartitions = %v, %v", ids, err)
	}
	if _, err := s.AddPartitions(0); err == nil {
		t.Error("AddPartitions(0) succeeded")
	}
	seen := map[string]bool{}
	for _, r := range write(t, s, rec("", "1"), rec("", "2"), rec("", "3"), rec("", "4")) {
		seen[r.Partition] = true
	}
	if fmt.Sprint(seen) != "map[1:true 4:true 5:true 6:true]" {
		t.Errorf("round robin over open partitions went to %v", seen)
	}
	caps := s.Capabilities()
	if !caps.Resharding || !caps.PerKeyOrder || caps.MaxRecordBytes != DefaultMaxRecordBytes ||
		caps.MaxBatchRecords != 500 || caps.MaxBatchBytes != 5<<20 {
		t.Errorf("Capabilities = %+v", caps)
	}
}

func TestClosed(t *testing.T) {
	s := New("closed")
	r, _ := s.OpenReader(bg, "0", driver.Start{})
	w, _ := s.OpenWriter(bg)
	r2, _ := s.OpenReader(bg, "0", driver.Start{})
	w2, _ := s.OpenWriter(bg)
	if err := r2.Close(); err != nil {
		t.Fatal(err)
	}
	_ = w2.Close()
	if _, err := r2.Fetch(bg, 1); !errors.Is(err, ErrClosed) || !strings.Contains(err.Error(), "reader is closed") {
		t.Errorf("fetch on closed reader: %v", err)
	}
	if err := w2.Write(bg, nil, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("write on closed writer: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	checks := map[string]error{}
	_, checks["fetch"] = r.Fetch(bg, 1)
	checks["write"] = w.Write(bg, nil, nil)
	_, checks["partitions"] = s.Partitions(bg)
	_, checks["reader"] = s.OpenReader(bg, "0", driver.Start{})
	_, checks["writer"] = s.OpenWriter(bg)
	_, checks["split"] = s.Split("0")
	_, checks["merge"] = s.Merge("0", "1")
	_, checks["add"] = s.AddPartitions(1)
	_, checks["records"] = s.Records("0")
	for op, err := range checks {
		if !errors.Is(err, ErrClosed) || !strings.Contains(err.Error(), "closed") {
			t.Errorf("%s on closed stream: %v", op, err)
		}
	}
}

func TestSharedRegistryByURL(t *testing.T) {
	o, ok := driver.Lookup("mem")
	if !ok {
		t.Fatal("mem scheme is not registered")
	}
	name := "shared-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	defer Default().Delete(name)
	open := func(raw string) (driver.Stream, error) {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		return o.Open(bg, u)
	}
	s1, err := open("mem://" + name + "?partitions=3")
	if err != nil {
		t.Fatal(err)
	}
	s2, err := open("mem:" + name) // no partitions= uses the existing stream
	if err != nil {
		t.Fatal(err)
	}
	if ps, _ := s2.Partitions(bg); len(ps) != 3 {
		t.Errorf("second open sees %d partitions, want 3", len(ps))
	}
	w, _ := s1.OpenWriter(bg)
	res := make([]driver.WriteResult, 1)
	if err := w.Write(bg, []driver.Record{rec("k", "v")}, res); err != nil || res[0].Err != nil {
		t.Fatal(err, res[0].Err)
	}
	r, _ := s2.OpenReader(bg, res[0].Partition, driver.Start{})
	if b, err := r.Fetch(bg, 10); err != nil || len(b) != 1 || string(b[0].Value) != "v" {
		t.Errorf("second handle fetch = %v, %v", b, err)
	}
	// Closing one handle leaves the other working.
	_ = s1.Close()
	if _, err := s2.Partitions(bg); err != nil {
		t.Errorf("other handle after Close: %v", err)
	}
	if _, err := open("mem://" + name + "?partitions=3"); err != nil {
		t.Errorf("same explicit partitions: %v", err)
	}
	for _, q := range []string{"partitions=2", "max_record_bytes=5"} {
		if _, err := open("mem://" + name + "?" + q); err == nil || !strings.Contains(err.Error(), "exists with") {
			t.Errorf("open with %s: %v, want a mismatch error", q, err)
		}
	}
	if _, err := open("mem://" + name + "?bogus=1"); err == nil || !strings.Contains(err.Error(), "valid keys") {
		t.Errorf("unknown key: %v", err)
	}
	ctx, cancel := context.WithCancel(bg)
	cancel()
	if _, err := o.Open(ctx, &url.URL{Scheme: "mem", Host: name}); !errors.Is(err, context.Canceled) {
		t.Errorf("open with a cancelled context: %v", err)
	}

	found := false
	for _, n := range Default().Names() {
		found = found || n == name
	}
	if !found {
		t.Errorf("Default().Names() lacks %s", name)
	}
	if !Default().Delete(name) || Default().Delete(name) {
		t.Error("Delete reports wrongly")
	}
	s3, _ := open("mem://" + name)
	if ps, _ := s3.Partitions(bg); len(ps) != 1 {
		t.Errorf("after Delete the stream is not new: %d partitions", len(ps))
	}
	b := NewBroker()
	_, _ = b.Stream("a")
	b.Reset()
	if len(b.Names()) != 0 {
		t.Error("Reset left streams")
	}
}

func TestConcurrentUse(t *testing.T) {
	s := New("conc", WithPartitions(3))
	const writers, perWriter = 4, 200
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			wr, _ := s.OpenWriter(bg)
			defer wr.Close()
			for i := range perWriter {
				r := rec(fmt.Sprintf("w%d", w), strconv.Itoa(i))
				res := make([]driver.WriteResult, 1)
				if err := wr.Write(bg, []driver.Record{r}, res); err != nil || res[0].Err != nil {
					t.Error(err, res[0].Err)
					return
				}
			}
		})
	}
	got := make([]int, 3)
	for p := range 3 {
		wg.Go(func() {
			r, _ := s.OpenReader(bg, strconv.Itoa(p), driver.Start{})
			defer r.Close()
			next := map[string]int{}
			deadline := time.Now().Add(10 * time.Second)
			for time.Now().Before(deadline) {
				b, err := r.Fetch(bg, 50)
				if err != nil {
					t.Error(err)
					return
				}
				for _, rc := range b {
					k := string(rc.Key)
					if string(rc.Value) != strconv.Itoa(next[k]) {
						t.Errorf("key %s out of order: %s after %d", k, rc.Value, next[k])
					}
					next[k]++
					got[p]++
				}
				total := 0
				for _, n := range next {
					total += n
				}
				if want := countFor(p); total == want {
					return
				}
				if len(b) == 0 {
					time.Sleep(time.Millisecond)
				}
			}
			t.Errorf("partition %d: timed out", p)
		})
	}
	wg.Wait()
	if got[0]+got[1]+got[2] != writers*perWriter {
		t.Errorf("read %v records, want %d", got, writers*perWriter)
	}
}

// countFor is how many records TestConcurrentUse writes to partition p.
func countFor(p int) int {
	n := 0
	for w := range 4 {
		if fnvPart(fmt.Sprintf("w%d", w), 3) == strconv.Itoa(p) {
			n += 200
		}
	}
	return n
}

func FuzzPointerParse(f *testing.F) {
	for _, s := range []string{"mem:orders/0@42", "mem:a/1@18446744073709551615", "mem:/@", "mem:a/01@1", "mem:x@y/z@1", ""} {
		f.Add(s)
	}
	c := Codec{}
	f.Fuzz(func(t *testing.T, s string) {
		st, part, p, err := c.Parse(s)
		if err != nil {
			return
		}
		if _, err := c.Decode(p); err != nil {
			t.Errorf("Parse(%q) returned an undecodable pointer: %v", s, err)
		}
		if back := c.Format(st, part, p); back != s {
			t.Errorf("Format(Parse(%q)) = %q", s, back)
		}
	})
}
