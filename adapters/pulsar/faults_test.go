package pulsar_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/unistream-go/unistream/adapters/pulsar"
	"github.com/unistream-go/unistream/adapters/pulsar/pulsartest"
	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/driver"
)

// faultScheme is the URL scheme of the conformance harness's streams: a
// pulsar:// stream behind a fault layer (faultStream) that fails Fetch and
// Write calls on demand. Pulsar has no broker fault for either: the broker
// pushes messages (there is no fetch request to fail), and
// pulsar-client-go resends a message the broker refused until its send
// timeout, so a broker fault cannot fail a Write call promptly. The layer
// lives here, in the tests, so that the adapter carries no fault code.
const faultScheme = "pulsar+faults"

// errInjected is the error of an injected failure.
var errInjected = errors.New("injected transient failure")

// topicFaults counts the failures injected into the streams of one topic,
// for every handle, reader and writer of it.
type topicFaults struct {
	mu            sync.Mutex
	fetch, writes int
}

// take consumes one failure of *n and reports whether there was one.
func (f *topicFaults) take(n *int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if *n <= 0 {
		return false
	}
	*n--
	return true
}

// failFetches makes the next n Fetch calls fail (n <= 0 clears it).
func (f *topicFaults) failFetches(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fetch = max(n, 0)
}

// failWrites makes the next n Write calls fail whole (n <= 0 clears it).
func (f *topicFaults) failWrites(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes = max(n, 0)
}

// faultTopics maps a topic (as the URL names it) to its faults; the
// harness's Faults hook and the faultScheme opener share it.
var faultTopics sync.Map // string -> *topicFaults

// faultsOf returns the faults of topic, made on first use.
func faultsOf(topic string) *topicFaults {
	f, _ := faultTopics.LoadOrStore(topic, &topicFaults{})
	return f.(*topicFaults)
}

func init() { driver.Register(faultScheme, driver.OpenerFunc(openFaulty)) }

// openFaulty opens the pulsar:// stream of u and puts the fault layer of
// its topic in front of it.
func openFaulty(ctx context.Context, u *url.URL) (driver.Stream, error) {
	inner := *u
	inner.Scheme = "pulsar"
	o, ok := driver.Lookup("pulsar")
	if !ok {
		return nil, errors.New("the pulsar scheme is not registered")
	}
	s, err := o.Open(ctx, &inner)
	if err != nil {
		return nil, err
	}
	fs := &faultStream{Stream: s, f: faultsOf(strings.TrimPrefix(u.Path, "/"))}
	if g, ok := s.(driver.Grouper); ok {
		return &faultGroupStream{faultStream: fs, Grouper: g}, nil
	}
	return fs, nil
}

// unwrap returns the pulsar stream behind the fault layer.
func unwrap(s driver.Stream) driver.Stream {
	switch fs := s.(type) {
	case *faultGroupStream:
		return fs.Stream
	case *faultStream:
		return fs.Stream
	}
	return s
}

// faultStream is a stream whose readers' Fetch and writers' Write fail
// while its topic has failures left; its pointers' human form names
// faultScheme, the URL's scheme, as the suite expects.
type faultStream struct {
	driver.Stream
	f *topicFaults
}

// faultGroupStream is a faultStream of a driver.Grouper, which it stays.
type faultGroupStream struct {
	*faultStream
	driver.Grouper
}

func (s *faultStream) OpenReader(ctx context.Context, partition string, start driver.Start) (driver.Reader, error) {
	r, err := s.Stream.OpenReader(ctx, partition, start)
	if err != nil {
		return nil, err
	}
	return &faultReader{Reader: r, f: s.f, where: s.Name() + "/" + partition}, nil
}

func (s *faultStream) OpenWriter(ctx context.Context) (driver.Writer, error) {
	w, err := s.Stream.OpenWriter(ctx)
	if err != nil {
		return nil, err
	}
	return &faultWriter{Writer: w, f: s.f, name: s.Name()}, nil
}

func (s *faultStream) Codec() driver.PointerCodec { return faultCodec{s.Stream.Codec()} }

// faultReader fails Fetch while its topic has fetch failures left.
type faultReader struct {
	driver.Reader
	f     *topicFaults
	where string
}

func (r *faultReader) Fetch(ctx context.Context, max int) ([]driver.Record, error) {
	if max > 0 && r.f.take(&r.f.fetch) {
		return nil, fmt.Errorf("pulsar: fetch %s: %w", r.where, errInjected)
	}
	return r.Reader.Fetch(ctx, max)
}

// Lag is the wrapped reader's, so that the suite sees the lag a Pulsar
// reader reports (driver.LagReporter); unknown if it reports none.
func (r *faultReader) Lag() driver.Lag {
	if lr, ok := r.Reader.(driver.LagReporter); ok {
		return lr.Lag()
	}
	return driver.Lag{Records: -1, Time: -1}
}

// faultWriter fails Write calls whole, sending nothing, while its topic
// has write failures left.
type faultWriter struct {
	driver.Writer
	f    *topicFaults
	name string
}

func (w *faultWriter) Write(ctx context.Context, records []driver.Record, results []driver.WriteResult) error {
	if len(records) > 0 && w.f.take(&w.f.writes) {
		return fmt.Errorf("pulsar: write %s: %w", w.name, errInjected)
	}
	return w.Writer.Write(ctx, records, results)
}

// faultCodec is the pulsar codec with faultScheme in the human form.
type faultCodec struct{ driver.PointerCodec }

func (c faultCodec) Format(stream, partition string, p driver.Pointer) string {
	return faultScheme + strings.TrimPrefix(c.PointerCodec.Format(stream, partition, p), "pulsar")
}

func (c faultCodec) Parse(s string) (stream, partition string, p driver.Pointer, err error) {
	rest, ok := strings.CutPrefix(s, faultScheme+":")
	if !ok {
		return "", "", nil, fmt.Errorf("pointer %q: expected %s:TOPIC/PARTITION@LEDGER:ENTRY:BATCH", s, faultScheme)
	}
	return c.PointerCodec.Parse("pulsar:" + rest)
}

// TestFaultLayer: the harness's fault layer fails exactly the next n Write
// calls whole, storing nothing of them, and the next n Fetch calls; the
// stream behind it is the pulsar adapter's, and its pointers' human form
// names the URL's scheme and parses back.
func TestFaultLayer(t *testing.T) {
	b := pulsartest.Start(t)
	const topic = "fault-layer"
	if err := b.CreateTopic(topic, 1); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(b.URL(topic, "fetch_wait", "5ms"))
	if err != nil {
		t.Fatal(err)
	}
	u.Scheme = faultScheme
	ctx := context.Background()
	s, err := stream.Open(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	d := s.Driver() // the test works at the seam, where the fault layer sits
	if _, ok := unwrap(d).(*pulsar.Stream); !ok {
		t.Fatalf("behind the fault layer: %T, want *pulsar.Stream", unwrap(d))
	}
	if _, ok := d.(driver.Grouper); !ok {
		t.Errorf("the fault layer hides the stream's driver.Grouper")
	}
	w, err := d.OpenWriter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	f := faultsOf(topic)
	f.failWrites(2)
	var ptrs []driver.Pointer
	for i, want := range []bool{true, true, false, false} { // whether the call fails
		res := make([]driver.WriteResult, 1)
		err := w.Write(ctx, []driver.Record{{ID: fmt.Sprint("r", i), Value: []byte("v")}}, res)
		if got := errors.Is(err, errInjected); got != want {
			t.Fatalf("Write %d = %v, want an injected failure: %v", i, err, want)
		}
		if err == nil {
			if res[0].Err != nil {
				t.Fatalf("Write %d: %v", i, res[0].Err)
			}
			ptrs = append(ptrs, res[0].Pointer)
		}
	}
	f.failFetches(1)
	r, err := d.OpenReader(ctx, "0", driver.Start{Kind: driver.StartEarliest})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Fetch(ctx, 10); !errors.Is(err, errInjected) {
		t.Fatalf("the first Fetch = %v, want an injected failure", err)
	}
	var got []string
	deadline := time.Now().Add(10 * time.Second)
	for len(got) < 2 && time.Now().Before(deadline) {
		recs, err := r.Fetch(ctx, 10)
		if err != nil {
			t.Fatalf("Fetch after the injected failure: %v", err)
		}
		for _, rec := range recs {
			got = append(got, rec.ID)
		}
	}
	if strings.Join(got, " ") != "r2 r3" {
		t.Errorf("the topic holds %q, want \"r2 r3\" (nothing of the failed calls)", got)
	}
	text := d.Codec().Format(d.Name(), "0", ptrs[0])
	if !strings.HasPrefix(text, faultScheme+":") {
		t.Errorf("human form %q, want it to start with %s:", text, faultScheme)
	}
	if _, p, ptr, err := d.Codec().Parse(text); err != nil || p != "0" || d.Codec().Compare(ptr, ptrs[0]) != 0 {
		t.Errorf("Parse(%q) = %q, %x, %v; want partition 0, %x", text, p, ptr, err, ptrs[0])
	}
}
