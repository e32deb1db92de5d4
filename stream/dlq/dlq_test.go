package dlq_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/dlq"
	"github.com/unistream-go/unistream/stream/driver"
	"github.com/unistream-go/unistream/stream/memstream"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var bg = context.Background()

func envelope(id string) *dlq.Envelope {
	t0 := time.Date(2024, 3, 1, 10, 0, 0, 123456789, time.UTC)
	return &dlq.Envelope{
		Version: dlq.Version,
		ID:      id,
		Key:     []byte("key-" + id),
		Value:   []byte{0, 1, 2, 0xff, 0xfe, '\n', '"', '<'}, // binary, not UTF-8
		Headers: []dlq.Header{{Key: "trace", Value: []byte{0x80, 0x81}}, {Key: "trace", Value: []byte("again")}, {Key: "empty", Value: []byte{}}},
		Time:    t0,
		Source: dlq.Source{
			Scheme: "mem", Stream: "orders", Partition: "3",
			Pointer: memstream.PointerAt(42), PointerText: "mem:orders/3@42",
		},
		Consumer: "billing",
		Attempts: 3,
		Errors: []checkpoint.AttemptError{
			{Attempt: 2, Time: t0.Add(time.Second), Error: "timeout"},
			{Attempt: 3, Time: t0.Add(3 * time.Second), Error: "db down: \"quoted\"\nnewline"},
		},
		Reason:         "exhausted",
		FirstAttempt:   t0,
		LastAttempt:    t0.Add(3 * time.Second),
		DeadLetteredAt: t0.Add(4 * time.Second),
	}
}

func TestFileSinkRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "orders.dlq.jsonl")
	sink, err := dlq.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []dlq.Envelope{*envelope("a"), *envelope("b"), {ID: "minimal"}}
	for i := range want {
		e := want[i]
		if err := sink.Put(bg, &e); err != nil {
			t.Fatal(err)
		}
	}
	if want[2].Version != 0 {
		t.Fatal("Put changed the caller's envelope")
	}
	want[2].Version = dlq.Version // Put sets it in the file
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sink.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := sink.Put(bg, envelope("c")); !errors.Is(err, dlq.ErrClosed) {
		t.Errorf("Put after Close: %v", err)
	}

	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	raw, _ := os.ReadFile(path)
	if n := bytes.Count(raw, []byte("\n")); n != 3 {
		t.Errorf("%d lines, want 3:\n%s", n, raw)
	}
	got, err := dlq.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
	}

	// Reopening appends.
	sink, err = dlq.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := sink.Put(bg, envelope("d")); err != nil {
		t.Fatal(err)
	}
	sink.Close()
	if got, err := dlq.ReadFile(path); err != nil || len(got) != 4 || got[3].ID != "d" {
		t.Errorf("after reopen: %d envelopes, %v", len(got), err)
	}
}

func TestFileSinkErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := dlq.OpenFile(dir); err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("OpenFile(directory): %v", err)
	}
	if _, err := dlq.OpenFile(os.DevNull); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("OpenFile(%s): %v", os.DevNull, err)
	}
	if _, err := dlq.OpenFile(filepath.Join(dir, "missing", "x.jsonl")); err == nil {
		t.Error("OpenFile in a missing directory succeeded")
	}
	sink, err := dlq.OpenFile(filepath.Join(dir, "x.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	if err := sink.Put(bg, nil); err == nil {
		t.Error("Put(nil) succeeded")
	}
	ctx, cancel := context.WithCancel(bg)
	cancel()
	if err := sink.Put(ctx, envelope("a")); !errors.Is(err, context.Canceled) {
		t.Errorf("Put with a cancelled context: %v", err)
	}
	bad := envelope("badtime")
	bad.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) // not representable in RFC 3339
	if err := sink.Put(bg, bad); err == nil || !strings.Contains(err.Error(), `"badtime"`) {
		t.Errorf("Put of an unencodable envelope: %v", err)
	}
	if got, err := dlq.ReadFile(sink.Path()); err != nil || len(got) != 0 {
		t.Errorf("failed Puts left %d envelopes, %v", len(got), err)
	}
	if _, err := dlq.ReadFile(filepath.Join(dir, "nope")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadFile(missing): %v", err)
	}
}

func TestFileSinkConcurrentPuts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.jsonl")
	sink, err := dlq.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const goroutines, each = 8, 15
	big := bytes.Repeat([]byte("0123456789"), 8_000) // 80 kB, over any pipe buffer
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				e := envelope(fmt.Sprintf("g%d-%d", g, i))
				e.Value = big
				if err := sink.Put(bg, e); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	sink.Close()
	got, err := dlq.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != goroutines*each {
		t.Fatalf("%d envelopes, want %d", len(got), goroutines*each)
	}
	seen := map[string]bool{}
	for _, e := range got {
		if !bytes.Equal(e.Value, big) {
			t.Fatalf("envelope %s has a damaged value", e.ID)
		}
		seen[e.ID] = true
	}
	if len(seen) != goroutines*each {
		t.Errorf("%d distinct ids", len(seen))
	}
}

func line(t *testing.T, e *dlq.Envelope) string {
	t.Helper()
	r, err := dlq.EncodeRecord(e)
	if err != nil {
		t.Fatal(err)
	}
	return string(r.Value) + "\n"
}

// readAll reads with a FileReader, continuing past line errors.
func readAll(data string) (ids []string, errs []error) {
	r := dlq.NewFileReader(strings.NewReader(data), "test.jsonl")
	for {
		env, err := r.Next()
		if err == io.EOF {
			return ids, errs
		}
		if err != nil {
			var le *dlq.LineError
			if !errors.As(err, &le) {
				return ids, append(errs, err)
			}
			errs = append(errs, err)
			continue
		}
		ids = append(ids, env.ID)
	}
}

func TestReadBadLines(t *testing.T) {
	good1, good2 := line(t, envelope("one")), line(t, envelope("two"))
	torn := good2[:len(good2)/2]
	tests := []struct {
		name    string
		data    string
		ids     string // all envelopes a tolerant reader gets
		errLine int    // the bad line
		offset  int
		is      error
		msg     string
	}{
		{"malformed middle", good1 + "{not json}\n" + good2, "one two", 2, len(good1), dlq.ErrMalformedLine, "invalid character"},
		{"garbage", good1 + "hello\n", "one", 2, len(good1), dlq.ErrMalformedLine, "expected a JSON envelope"},
		{"empty line", good1 + "\n" + good2, "one two", 2, len(good1), dlq.ErrMalformedLine, "empty line"},
		{"not an object", "[1,2]\n", "", 1, 0, dlq.ErrMalformedLine, "expected a JSON envelope object"},
		{"missing version", `{"id":"x"}` + "\n", "", 1, 0, dlq.ErrMalformedLine, `version (field "v") is 0`},
		{"future version", `{"v":99,"id":"x"}` + "\n", "", 1, 0, dlq.ErrMalformedLine, `version (field "v") is 99: expected 1 to 1`},
		{"two values", `{"v":1}{"v":1}` + "\n", "", 1, 0, dlq.ErrMalformedLine, "after top-level value"},
		{"corrupt prefix", good1 + `{"v":1,"id":x` + "\n", "one", 2, len(good1), dlq.ErrMalformedLine, "invalid character"},
		{"torn last line", good1 + torn, "one", 2, len(good1), dlq.ErrTornLine, "ends without a newline"},
		{"complete last line without newline", good1 + good2[:len(good2)-1], "one", 2, len(good1), dlq.ErrTornLine, "ends without a newline"},
		{"sealed torn line", good1 + torn + "\n" + good2, "one two", 2, len(good1), dlq.ErrTornLine, "only the first"},
		{"torn with NUL padding", good1 + torn + "\x00\x00\x00\n" + good2, "one two", 2, len(good1), dlq.ErrTornLine, "only the first"},
		{"only NULs", good1 + "\x00\x00\n" + good2, "one two", 2, len(good1), dlq.ErrTornLine, "only the first"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bad.jsonl")
			if err := os.WriteFile(path, []byte(tt.data), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := dlq.ReadFile(path)
			var le *dlq.LineError
			if !errors.As(err, &le) {
				t.Fatalf("ReadFile error = %v, want a *LineError", err)
			}
			if !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
			if le.Line != tt.errLine || le.Offset != int64(tt.offset) || le.File != path {
				t.Errorf("LineError at %s line %d offset %d, want line %d offset %d", le.File, le.Line, le.Offset, tt.errLine, tt.offset)
			}
			for _, want := range []string{path, fmt.Sprintf("line %d (byte offset %d)", tt.errLine, tt.offset), tt.msg} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if len(got) != tt.errLine-1 {
				t.Errorf("ReadFile returned %d envelopes before the bad line, want %d", len(got), tt.errLine-1)
			}
			ids, errs := readAll(tt.data)
			if strings.Join(ids, " ") != tt.ids || len(errs) != 1 {
				t.Errorf("tolerant read = %v, %v; want %s and one error", ids, errs, tt.ids)
			}
		})
	}
}

func TestLongLine(t *testing.T) {
	defer dlq.SetMaxLineBytes(1000)()
	var b strings.Builder
	b.WriteString(`{"v":1,"id":"`)
	b.WriteString(strings.Repeat("x", 5000))
	b.WriteString("\"}\n")
	b.WriteString(line(t, envelope("after")))
	ids, errs := readAll(b.String())
	if len(errs) != 1 || !errors.Is(errs[0], dlq.ErrMalformedLine) || !strings.Contains(errs[0].Error(), "5016 bytes, more than MaxLineBytes (1000)") {
		t.Errorf("errors = %v", errs)
	}
	if strings.Join(ids, " ") != "after" {
		t.Errorf("ids after the long line = %v", ids)
	}

	// Put refuses an envelope the reader could not read back.
	sink, err := dlq.OpenFile(filepath.Join(t.TempDir(), "long.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	e := envelope("huge")
	e.Value = make([]byte, 2000)
	if err := sink.Put(bg, e); err == nil || !strings.Contains(err.Error(), `envelope "huge" encodes to`) {
		t.Errorf("Put of a huge envelope: %v", err)
	}
}

type failingReader struct{ data io.Reader }

func (f failingReader) Read(p []byte) (int, error) {
	n, err := f.data.Read(p)
	if err == io.EOF {
		return n, errors.New("disk on fire")
	}
	return n, err
}

func TestReaderIOError(t *testing.T) {
	r := dlq.NewFileReader(failingReader{strings.NewReader(line(t, envelope("a")))}, "f.jsonl")
	if e, err := r.Next(); err != nil || e.ID != "a" {
		t.Fatalf("Next = %v, %v", e, err)
	}
	for range 2 {
		if _, err := r.Next(); err == nil || !strings.Contains(err.Error(), "disk on fire") || !strings.Contains(err.Error(), "f.jsonl") {
			t.Errorf("Next after an I/O error = %v", err)
		}
	}
}

func TestReopenAfterTornLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "torn.jsonl")
	good := line(t, envelope("before"))
	torn := line(t, envelope("torn"))[:40]
	if err := os.WriteFile(path, []byte(good+torn), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := dlq.ReadFile(path); !errors.Is(err, dlq.ErrTornLine) {
		t.Fatalf("before reopen: %v", err)
	}
	sink, err := dlq.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := sink.Put(bg, envelope("after")); err != nil {
		t.Fatal(err)
	}
	sink.Close()
	raw, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(raw), good+torn+"\n{") {
		t.Errorf("the torn line is not kept and ended with a newline:\n%q", raw)
	}
	// Reopening a clean file adds nothing.
	sink, _ = dlq.OpenFile(path)
	sink.Close()
	if raw2, _ := os.ReadFile(path); !bytes.Equal(raw, raw2) {
		t.Error("reopening a file that ends in a newline changed it")
	}

	r := dlq.NewFileReader(bytes.NewReader(raw), path)
	var got []string
	for {
		env, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			var le *dlq.LineError
			if !errors.Is(err, dlq.ErrTornLine) || !errors.As(err, &le) || le.Line != 2 || le.Offset != int64(len(good)) {
				t.Fatalf("line error = %v", err)
			}
			got = append(got, "TORN")
			continue
		}
		got = append(got, env.ID)
	}
	if strings.Join(got, " ") != "before TORN after" {
		t.Errorf("read %v", got)
	}
}

func TestStreamSinkRoundTrip(t *testing.T) {
	s := memstream.New("orders.dlq", memstream.WithPartitions(2))
	sink, err := dlq.NewStreamSink(s)
	if err != nil {
		t.Fatal(err)
	}
	want := []*dlq.Envelope{envelope("a"), envelope("b"), {ID: "noversion", Key: []byte("k")}}
	for _, e := range want {
		if err := sink.Put(bg, e); err != nil {
			t.Fatal(err)
		}
	}
	var recs []driver.Record
	for _, p := range []string{"0", "1"} {
		rs, _ := s.Records(p)
		recs = append(recs, rs...)
	}
	if len(recs) != 3 {
		t.Fatalf("%d records, want 3", len(recs))
	}
	byID := map[string]*dlq.Envelope{}
	for i := range recs {
		r := &recs[i]
		if len(r.Headers) != 1 || r.Headers[0].Key != dlq.HeaderVersion || string(r.Headers[0].Value) != "1" {
			t.Errorf("record %s headers %v", r.ID, r.Headers)
		}
		env, err := dlq.DecodeRecord(r)
		if err != nil {
			t.Fatal(err)
		}
		if env.ID != r.ID || !bytes.Equal(env.Key, r.Key) {
			t.Errorf("record id/key %q/%q, envelope %q/%q", r.ID, r.Key, env.ID, env.Key)
		}
		byID[env.ID] = env
	}
	for _, w := range want {
		w := *w
		if w.Version == 0 {
			w.Version = dlq.Version
		}
		if !reflect.DeepEqual(byID[w.ID], &w) {
			t.Errorf("round trip of %s:\n got %+v\nwant %+v", w.ID, byID[w.ID], &w)
		}
	}
	if !recs[0].Time.Equal(want[0].DeadLetteredAt) && !recs[1].Time.Equal(want[0].DeadLetteredAt) {
		t.Error("record Time is not DeadLetteredAt")
	}

	// Errors of the write come back from Put.
	s.FailRecords(0)
	if err := sink.Put(bg, envelope("x")); !errors.Is(err, memstream.ErrInjected) || !strings.Contains(err.Error(), `"x"`) {
		t.Errorf("per-record failure: %v", err)
	}
	s.FailWrites(1, nil)
	if err := sink.Put(bg, envelope("y")); !errors.Is(err, memstream.ErrInjected) {
		t.Errorf("whole-call failure: %v", err)
	}
	if err := sink.Put(bg, nil); err == nil {
		t.Error("Put(nil) succeeded")
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sink.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := sink.Put(bg, envelope("z")); !errors.Is(err, dlq.ErrClosed) {
		t.Errorf("Put after Close: %v", err)
	}

	small := memstream.New("small", memstream.WithMaxRecordBytes(50))
	sink2, _ := dlq.NewStreamSink(small)
	defer sink2.Close()
	if err := sink2.Put(bg, envelope("big")); !errors.Is(err, driver.ErrRecordTooLarge) || !strings.Contains(err.Error(), "MaxRecordBytes is 50") {
		t.Errorf("too large: %v", err)
	}
	if _, err := dlq.NewStreamSink(nil); err == nil {
		t.Error("NewStreamSink(nil) succeeded")
	}
	closed := memstream.New("closed")
	closed.Close()
	if _, err := dlq.NewStreamSink(closed); !errors.Is(err, memstream.ErrClosed) {
		t.Errorf("NewStreamSink(closed stream): %v", err)
	}
}

func TestDecodeRecordErrors(t *testing.T) {
	good, err := dlq.EncodeRecord(envelope("a"))
	if err != nil {
		t.Fatal(err)
	}
	hdr := func(v string) []driver.Header { return []driver.Header{{Key: dlq.HeaderVersion, Value: []byte(v)}} }
	tests := []struct {
		name string
		rec  *driver.Record
		want string
	}{
		{"nil", nil, "nil record"},
		{"bad header", &driver.Record{ID: "r", Stream: "s", Partition: "0", Headers: hdr("one"), Value: good.Value}, `record "r" of s/0: header unistream-dlq-version is "one"`},
		{"future header", &driver.Record{Headers: hdr("2"), Value: good.Value}, "expected an envelope version from 1 to 1"},
		{"bad json", &driver.Record{Headers: hdr("1"), Value: []byte("{")}, "value is not a JSON envelope"},
		{"no header, not an envelope", &driver.Record{Value: []byte("hello")}, "no unistream-dlq-version header"},
		{"no header, no version", &driver.Record{Value: []byte(`{"id":"x"}`)}, "no unistream-dlq-version header"},
		{"header with bad envelope version", &driver.Record{Headers: hdr("1"), Value: []byte(`{"v":0}`)}, `version (field "v") is 0`},
	}
	for _, tt := range tests {
		if _, err := dlq.DecodeRecord(tt.rec); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
	}
	// Without the header (a backend without headers) a valid value decodes.
	noHdr := good
	noHdr.Headers = nil
	if env, err := dlq.DecodeRecord(&noHdr); err != nil || env.ID != "a" {
		t.Errorf("without header: %v, %v", env, err)
	}
}

func TestEnvelopeRecord(t *testing.T) {
	e := envelope("a")
	r := e.Record()
	want := driver.Record{
		ID: "a", Key: e.Key, Value: e.Value, Time: e.Time,
		Headers: []driver.Header{{Key: "trace", Value: []byte{0x80, 0x81}}, {Key: "trace", Value: []byte("again")}, {Key: "empty", Value: []byte{}}},
	}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("Record() = %+v\nwant %+v", r, want)
	}
	r.Value[0] = 'X'
	if e.Value[0] == 'X' {
		t.Error("Record shares the envelope's bytes")
	}
	if r := (&dlq.Envelope{ID: "b"}).Record(); r.Headers != nil || r.Key != nil {
		t.Errorf("minimal Record() = %+v", r)
	}

	// Replay: the rebuilt record writes back to its stream.
	s := memstream.New("orders")
	w, _ := s.OpenWriter(bg)
	res := make([]driver.WriteResult, 1)
	if err := w.Write(bg, []driver.Record{e.Record()}, res); err != nil || res[0].Err != nil {
		t.Fatal(err, res[0].Err)
	}
}

func FuzzReadFile(f *testing.F) {
	var seed bytes.Buffer
	r, _ := dlq.EncodeRecord(envelope("seed"))
	seed.Write(r.Value)
	seed.WriteByte('\n')
	f.Add(seed.Bytes())
	f.Add(append(bytes.Clone(seed.Bytes()), seed.Bytes()[:30]...))
	f.Add([]byte("{\"v\":1}\n\n\x00\x00{\n[]\nnull\n"))
	f.Add([]byte(`{"v":1,"key":"!!","time":"bad"}` + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := dlq.NewFileReader(bytes.NewReader(data), "fuzz.jsonl")
		for i := 0; ; i++ {
			if i > len(data)+1 {
				t.Fatal("the reader does not advance")
			}
			env, err := r.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				var le *dlq.LineError
				if !errors.As(err, &le) || le.Offset < 0 || le.Offset > int64(len(data)) || le.Line != i+1 {
					t.Fatalf("bad error %v", err)
				}
				continue
			}
			if env.Version != dlq.Version {
				t.Fatalf("accepted version %d", env.Version)
			}
		}
	})
}
