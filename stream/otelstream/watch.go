package otelstream

import (
	"slices"
	"sync"

	"go.opentelemetry.io/otel/metric"

	"github.com/unistream-go/unistream/stream"
)

// watch is a producer whose buffer the Observer reports.
type watch struct {
	p *stream.Producer
}

// WatchProducer reports p's buffer at each collection, from
// Producer.Stats: unistream.producer.buffer.records and
// unistream.producer.buffer.bytes, the records p holds (waiting or in
// flight) per send lane. The Observer's callback reads them when the meter
// provider collects: nothing runs in between, and no goroutine is started.
// Producers of one stream watched by one Observer are summed.
//
// Call stop, after p is closed, to stop reporting p; Observer.Close stops
// every watch. stop may be called more than once. A nil p, or a closed
// Observer, watches nothing.
func (o *Observer) WatchProducer(p *stream.Producer) (stop func()) {
	if p == nil || o.closed.Load() {
		return func() {}
	}
	w := &watch{p: p}
	o.mu.Lock()
	o.watched.Store(withWatch(o.watched.Load(), w, true))
	o.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			o.mu.Lock()
			o.watched.Store(withWatch(o.watched.Load(), w, false))
			o.mu.Unlock()
		})
	}
}

// withWatch returns a copy of ws (copy on write: the callback reads the
// old one) with w added or removed.
func withWatch(ws *[]*watch, w *watch, add bool) *[]*watch {
	var out []*watch
	if ws != nil {
		out = slices.Clone(*ws)
	}
	if add {
		out = append(out, w)
	} else {
		out = slices.DeleteFunc(out, func(x *watch) bool { return x == w })
	}
	return &out
}

// reportBuffers observes the buffers of the watched producers, per
// stream and send lane.
func (o *Observer) reportBuffers(ob metric.Observer, ws []*watch) {
	type buffer struct{ records, bytes int64 }
	sums := make(map[*group]*buffer)
	var order []*group
	for _, w := range ws {
		st := w.p.Stats()
		name := w.p.Stream().Name()
		for lane, ls := range st.Lanes {
			g := o.producer(stream.Event{Stream: name, Lane: lane})
			b := sums[g]
			if b == nil {
				b = &buffer{}
				sums[g] = b
				order = append(order, g)
			}
			b.records += int64(ls.Buffered)
			b.bytes += int64(ls.BufferedBytes)
		}
	}
	for _, g := range order {
		b := sums[g]
		ob.ObserveInt64(o.bufRecords, b.records, g.lane.obs...)
		ob.ObserveInt64(o.bufBytes, b.bytes, g.lane.obs...)
	}
}
