package otelstream_test

import (
	"context"
	"fmt"
	"testing"

	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/driver"
	"github.com/unistream-go/unistream/stream/memstream"
	"github.com/unistream-go/unistream/stream/otelstream"
)

// buffer returns the points of an int gauge: their number, the sum of
// their values, and whether each names the destination and a lane.
func (c collected) buffer(t *testing.T, name, destination string) (points int, total int64) {
	t.Helper()
	data, ok := c[name]
	if !ok {
		return 0, 0
	}
	g, ok := data.(metricdata.Gauge[int64])
	if !ok {
		t.Fatalf("%s is a %T, want a Gauge[int64]", name, data)
	}
	for _, p := range g.DataPoints {
		d, _ := p.Attributes.Value(otelstream.AttrDestination)
		if _, lane := p.Attributes.Value(otelstream.AttrLane); d.AsString() != destination || !lane {
			t.Errorf("%s point %v, want destination %s and a lane", name, p.Attributes.ToSlice(), destination)
		}
		total += p.Value
	}
	return len(g.DataPoints), total
}

// WatchProducer reports the watched producers' buffers per lane, summed
// over the producers of a stream, until stop or Close.
func TestWatchProducer(t *testing.T) {
	ms := memstream.New("orders", memstream.WithPartitions(1))
	release := make(chan struct{})
	ms.SetRecordHook(func(int, *driver.Record) error { <-release; return nil })
	released := false
	defer func() {
		if !released {
			close(release)
		}
	}()
	ctx := context.Background()
	open := func() *stream.Producer {
		p, err := stream.NewProducer(stream.NewStream(ms), stream.WithoutWAL(), stream.WithSendLanes(2))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close(ctx) })
		return p
	}
	p1, p2 := open(), open()
	obs, reader := newObserved(t)
	defer obs.Close()
	stop1, stop2 := obs.WatchProducer(p1), obs.WatchProducer(p2)
	put := func(p *stream.Producer, n int) {
		for i := range n {
			if err := p.Put(ctx, stream.Record{ID: fmt.Sprint(i), Key: []byte(fmt.Sprint(i)), Value: make([]byte, 10*(i+1))}); err != nil {
				t.Fatal(err)
			}
		}
	}
	put(p1, 3)
	put(p2, 2)
	wantBytes := int64(p1.Stats().BufferedBytes + p2.Stats().BufferedBytes)

	got := collect(t, reader)
	if pts, recs := got.buffer(t, "unistream.producer.buffer.records", "orders"); pts != 2 || recs != 5 {
		t.Errorf("buffer.records: %d points summing to %d, want 2 (one per lane, the producers summed) summing to 5", pts, recs)
	}
	if _, b := got.buffer(t, "unistream.producer.buffer.bytes", "orders"); b != wantBytes || b < 90 {
		t.Errorf("buffer.bytes sums to %d, want %d (Stats' BufferedBytes, at least the 90 bytes of values)", b, wantBytes)
	}

	close(release)
	released = true
	for _, p := range []*stream.Producer{p1, p2} {
		if err := p.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	got = collect(t, reader)
	if pts, recs := got.buffer(t, "unistream.producer.buffer.records", "orders"); pts != 2 || recs != 0 {
		t.Errorf("after Flush: buffer.records has %d points summing to %d, want 2 at 0", pts, recs)
	}

	stop1()
	stop1()
	got = collect(t, reader)
	if pts, _ := got.buffer(t, "unistream.producer.buffer.records", "orders"); pts != 2 {
		t.Errorf("after stopping one watch: %d buffer.records points, want 2 (the other producer's lanes)", pts)
	}
	stop2()
	got = collect(t, reader)
	if pts, _ := got.buffer(t, "unistream.producer.buffer.records", "orders"); pts != 0 {
		t.Errorf("after stopping both watches: %d buffer.records points, want none", pts)
	}

	obs.WatchProducer(p1)
	obs.WatchProducer(nil)() // watches nothing
	if err := obs.Close(); err != nil {
		t.Fatal(err)
	}
	obs.WatchProducer(p2)() // after Close: watches nothing
	got = collect(t, reader)
	if pts, _ := got.buffer(t, "unistream.producer.buffer.records", "orders"); pts != 0 {
		t.Errorf("after Close: %d buffer.records points, want none", pts)
	}
}
