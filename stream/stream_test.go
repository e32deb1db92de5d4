package stream_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/driver"
	"github.com/unistream-go/unistream/stream/memstream"
)

// TestStreamPortable runs the portable Stream's methods on memstream,
// opened by URL and wrapped with NewStream: name, scheme, partitions, a
// write → read round trip, pointers, As, and Close.
func TestStreamPortable(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name       string
		open       func(t *testing.T) *stream.Stream
		stream     string
		wantBroker bool // As(**memstream.Broker) holds
	}{
		{"Open", func(t *testing.T) *stream.Stream {
			memstream.Default().Delete("portable-open") // fresh under -count
			s, err := stream.Open(ctx, "mem://portable-open?partitions=3")
			if err != nil {
				t.Fatal(err)
			}
			return s
		}, "portable-open", true},
		{"NewStream", func(*testing.T) *stream.Stream {
			return stream.NewStream(memstream.New("portable-new", memstream.WithPartitions(3)))
		}, "portable-new", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.open(t)
			if s.Name() != tt.stream || s.Scheme() != "mem" || s.String() != "mem:"+tt.stream {
				t.Errorf("Name, Scheme, String = %q, %q, %q; want %q, mem, mem:%s", s.Name(), s.Scheme(), s.String(), tt.stream, tt.stream)
			}
			parts, err := s.Partitions(ctx)
			if err != nil || len(parts) != 3 {
				t.Fatalf("Partitions = %v, %v; want 3", parts, err)
			}
			if caps := s.Capabilities(); !caps.ConsumerGroups || !caps.PerKeyOrder {
				t.Errorf("Capabilities = %+v, want groups and per-key order", caps)
			}

			// Write → read.
			w, err := s.OpenWriter(ctx)
			if err != nil {
				t.Fatal(err)
			}
			recs := []stream.Record{{ID: "a", Key: []byte("k"), Value: []byte("1")}, {ID: "b", Key: []byte("k"), Value: []byte("2")}}
			res, err := w.Write(ctx, recs)
			if err != nil || len(res) != 2 || res[0].Err != nil || res[1].Err != nil || res[0].Partition != res[1].Partition {
				t.Fatalf("Write = %+v, %v; want two records stored in one partition", res, err)
			}
			if empty, err := w.Write(ctx, nil); err != nil || len(empty) != 0 {
				t.Errorf("Write(nil) = %v, %v; want no results and no error", empty, err)
			}
			if err := w.Close(); err != nil {
				t.Error(err)
			}
			r, err := s.OpenReader(ctx, res[0].Partition, stream.Earliest())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.Fetch(ctx, 0); err == nil || !strings.Contains(err.Error(), "at least 1") {
				t.Errorf("Fetch(max 0) = %v, want an error saying at least 1", err)
			}
			got, err := r.Fetch(ctx, 10)
			if err != nil || len(got) != 2 || got[0].ID != "a" || got[1].ID != "b" || got[1].Stream != tt.stream {
				t.Fatalf("Fetch = %+v, %v; want a and b of %s", got, err, tt.stream)
			}
			if lag, ok := r.Lag(); !ok || lag.Records != 0 {
				t.Errorf("Lag = %+v, %v; want 0 records behind, reported", lag, ok)
			}
			r.Close()

			// Pointers.
			text := s.FormatPointer(res[1].Partition, res[1].Pointer)
			if want := fmt.Sprintf("mem:%s/%s@1", tt.stream, res[1].Partition); text != want {
				t.Errorf("FormatPointer = %q, want %q", text, want)
			}
			part, p, err := s.ParsePointer(text)
			if err != nil || part != res[1].Partition || s.ComparePointers(p, res[1].Pointer) != 0 || s.ComparePointers(res[0].Pointer, p) != -1 {
				t.Errorf("ParsePointer(%q) = %q, %x, %v; want partition %s and the written pointer", text, part, p, err, res[1].Partition)
			}
			if got := s.FormatPointer("0", nil); got != "(none)" {
				t.Errorf("FormatPointer(nil) = %q, want (none)", got)
			}
			for _, bad := range []string{"mem:" + tt.stream + "/0@x", "kafka:" + tt.stream + "/0@1", "mem:other/0@1", ""} {
				if _, _, err := s.ParsePointer(bad); err == nil || !strings.Contains(err.Error(), "expected") || !strings.Contains(err.Error(), fmt.Sprintf("%q", bad)) {
					t.Errorf("ParsePointer(%q) = %v, want an error naming it and what was expected", bad, err)
				}
			}

			// As.
			var ms *memstream.Stream
			if !s.As(&ms) || ms.Name() != tt.stream {
				t.Errorf("As(**memstream.Stream) = %v, want the memstream handle", ms)
			}
			var ds driver.Stream
			if !s.As(&ds) || ds != s.Driver() {
				t.Errorf("As(*driver.Stream) = %v, want the driver stream", ds)
			}
			var b *memstream.Broker
			if ok := s.As(&b); ok != tt.wantBroker || (ok && b != memstream.Default()) {
				t.Errorf("As(**memstream.Broker) = %v (%p), want %v (the Default broker of mem:// URLs)", ok, b, tt.wantBroker)
			}
			wrong := "untouched"
			var nilTarget **memstream.Stream
			for name, target := range map[string]any{"*string": &wrong, "nil": nil, "non-pointer": ms, "nil **memstream.Stream": nilTarget, "*int": new(int)} {
				if s.As(target) {
					t.Errorf("As(%s) = true, want false", name)
				}
			}
			if wrong != "untouched" {
				t.Errorf("As(*string) changed its target to %q", wrong)
			}

			// Close is idempotent, and closes the driver stream.
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Errorf("second Close = %v, want nil", err)
			}
			if _, err := s.OpenReader(ctx, "0", stream.Earliest()); !errors.Is(err, memstream.ErrClosed) {
				t.Errorf("OpenReader after Close = %v, want memstream.ErrClosed", err)
			}
		})
	}
}

// bareStream is a driver stream that tells no scheme and has no groups.
type bareStream struct{ driver.Stream }

// TestNewStreamScheme: NewStream takes the scheme from driver.Schemer and
// says "" without it; a nil driver stream gives nil, which the engines
// refuse with an error naming what they expected.
func TestNewStreamScheme(t *testing.T) {
	if s := stream.NewStream(memstream.New("schemed")); s.Scheme() != "mem" {
		t.Errorf("NewStream(memstream).Scheme() = %q, want mem", s.Scheme())
	}
	bare := stream.NewStream(bareStream{memstream.New("bare")})
	if bare.Scheme() != "" || bare.String() != "bare" {
		t.Errorf("a driver without Scheme: Scheme, String = %q, %q; want \"\", bare", bare.Scheme(), bare.String())
	}
	if bare.Capabilities().ConsumerGroups {
		t.Error("Capabilities().ConsumerGroups = true for a driver stream without JoinGroup")
	}
	if stream.NewStream(nil) != nil {
		t.Error("NewStream(nil) != nil")
	}
	var oe *stream.OptionError
	h := func(context.Context, *stream.Record) error { return nil }
	if _, err := stream.NewConsumer(nil, h); !errors.As(err, &oe) || !strings.Contains(err.Error(), "*stream.Stream") {
		t.Errorf("NewConsumer(nil) = %v, want an OptionError asking for a *stream.Stream", err)
	}
	if _, err := stream.NewProducer(nil, stream.WithoutWAL()); !errors.As(err, &oe) || !strings.Contains(err.Error(), "*stream.Stream") {
		t.Errorf("NewProducer(nil) = %v, want an OptionError asking for a *stream.Stream", err)
	}
	_, err := stream.NewConsumer(bare, h, stream.WithGroup("g"), stream.WithOnExhausted(stream.Halt), stream.WithCheckpointStore(checkpoint.NewMemoryStore()))
	if err == nil || !strings.Contains(err.Error(), "tells no scheme") {
		t.Errorf("WithGroup on a stream without groups or scheme = %v, want an error saying the scheme is unknown", err)
	}
}

// TestWithWriteHook: the hook runs before every write of the view's
// writers and producers; its error fails the write and nothing is
// written; the original stream is not hooked, and closing the view closes
// both.
func TestWithWriteHook(t *testing.T) {
	ctx := context.Background()
	ms := memstream.New("hooked")
	s := stream.NewStream(ms)
	var calls atomic.Int32
	fail := errors.New("network down")
	hooked := s.WithWriteHook(func(_ context.Context, recs []stream.Record) error {
		calls.Add(1)
		if string(recs[0].Value) == "bad" {
			return fail
		}
		return nil
	})
	w, err := hooked.OpenWriter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(ctx, []stream.Record{{ID: "1", Value: []byte("bad")}}); !errors.Is(err, fail) {
		t.Errorf("hooked Write = %v, want the hook's error", err)
	}
	if res, err := w.Write(ctx, []stream.Record{{ID: "2", Value: []byte("good")}}); err != nil || res[0].Err != nil {
		t.Errorf("hooked Write = %+v, %v; want it written", res, err)
	}
	plain, _ := s.OpenWriter(ctx)
	if _, err := plain.Write(ctx, []stream.Record{{ID: "3", Value: []byte("bad")}}); err != nil {
		t.Errorf("the original stream's Write = %v, want no hook", err)
	}
	p, err := stream.NewProducer(hooked, stream.WithoutWAL(), stream.WithSendRetry(stream.RetryPolicy{Initial: time.Millisecond, Multiplier: 1, MaxInterval: time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Put(ctx, stream.Record{ID: "4", Value: []byte("via producer")}); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("the hook ran %d times, want 3 (two writes, one producer batch)", n)
	}
	got, _ := ms.Records("0")
	var ids []string
	for _, r := range got {
		ids = append(ids, r.ID)
	}
	if !slices.Equal(ids, []string{"2", "3", "4"}) {
		t.Errorf("written %v, want [2 3 4] (1 vetoed by the hook)", ids)
	}
	if err := hooked.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.OpenWriter(ctx); !errors.Is(err, memstream.ErrClosed) {
		t.Errorf("OpenWriter on the original after closing the view = %v, want memstream.ErrClosed", err)
	}
}
