package otelstream_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/otelstream"
)

// processPoints returns the messaging.process.duration data points of a
// collection, keyed by their attribute set's encoding.
func processPoints(t *testing.T, r *sdkmetric.ManualReader) map[string]metricdata.HistogramDataPoint[float64] {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]metricdata.HistogramDataPoint[float64]{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "messaging.process.duration" {
				continue
			}
			if m.Unit != "s" {
				t.Errorf("unit %q, want s", m.Unit)
			}
			h, ok := m.Data.(metricdata.Histogram[float64])
			if !ok || h.Temporality != metricdata.CumulativeTemporality {
				t.Fatalf("messaging.process.duration is %T (%v), want a cumulative float64 histogram", m.Data, m.Data)
			}
			for _, p := range h.DataPoints {
				out[p.Attributes.Encoded(attribute.DefaultEncoder())] = p
			}
		}
	}
	return out
}

// TestHistogramsMatchSDK: the same attempts observed through the SDK and
// through Histograms give the same data points: bounds, bucket counts
// (values on a bound included), count, sum, min and max, per attribute set
// (partition, error.type).
func TestHistogramsMatchSDK(t *testing.T) {
	sdkObs, sdkReader := newObserved(t, otelstream.WithSystem("kafka"))
	defer sdkObs.Close()
	hs := otelstream.NewHistograms()
	hReader := sdkmetric.NewManualReader(sdkmetric.WithProducer(hs))
	hObs, err := otelstream.NewObserver(otelstream.WithSystem("kafka"), otelstream.WithHistograms(hs),
		otelstream.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(hReader))))
	if err != nil {
		t.Fatal(err)
	}
	defer hObs.Close()
	durations := []time.Duration{0, time.Microsecond, 5 * time.Millisecond, 5*time.Millisecond + 1, 30 * time.Millisecond,
		time.Second, 10 * time.Second, time.Minute, 250 * time.Millisecond}
	for i := range 200 {
		d := durations[i%len(durations)]
		e := stream.Event{Kind: stream.EventAttemptSucceeded, Stream: "orders", Partition: fmt.Sprint(i % 3), Elapsed: d}
		switch i % 7 {
		case 3:
			e.Kind, e.Err = stream.EventAttemptFailed, errors.New("boom")
		case 5:
			e.Kind, e.Err, e.Final = stream.EventAttemptFailed, context.DeadlineExceeded, true
		case 6:
			e.Kind = stream.EventSkipped
		}
		sdkObs.Observe(e)
		hObs.Observe(e)
	}
	want, got := processPoints(t, sdkReader), processPoints(t, hReader)
	if len(want) != 9 {
		t.Fatalf("the SDK has %d series, want 9 (3 partitions × ok, _OTHER, timeout)", len(want))
	}
	if len(got) != len(want) {
		t.Fatalf("Histograms has %d series, the SDK %d", len(got), len(want))
	}
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Fatalf("series %s missing from Histograms", k)
		}
		wMin, _ := w.Min.Value()
		gMin, _ := g.Min.Value()
		wMax, _ := w.Max.Value()
		gMax, _ := g.Max.Value()
		if g.Count != w.Count || !slices.Equal(g.Bounds, w.Bounds) || !slices.Equal(g.BucketCounts, w.BucketCounts) ||
			math.Abs(g.Sum-w.Sum) > 1e-9*math.Max(1, w.Sum) || gMin != wMin || gMax != wMax {
			t.Errorf("series %s:\n got count %d sum %v min %v max %v buckets %v\nwant count %d sum %v min %v max %v buckets %v",
				k, g.Count, g.Sum, gMin, gMax, g.BucketCounts, w.Count, w.Sum, wMin, wMax, w.BucketCounts)
		}
	}
	// Cumulative: a later collection adds to the earlier one.
	hObs.Observe(stream.Event{Kind: stream.EventAttemptSucceeded, Stream: "orders", Partition: "0", Elapsed: time.Millisecond})
	var before, after uint64
	for _, p := range got {
		before += p.Count
	}
	for _, p := range processPoints(t, hReader) {
		after += p.Count
	}
	if after != before+1 {
		t.Errorf("count %d after one more attempt, was %d", after, before)
	}
}

// TestHistogramsAllocs: recording an attempt into Histograms allocates
// nothing once its series exists.
func TestHistogramsAllocs(t *testing.T) {
	hs := otelstream.NewHistograms()
	obs, err := otelstream.NewObserver(otelstream.WithHistograms(hs),
		otelstream.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader(sdkmetric.WithProducer(hs))))))
	if err != nil {
		t.Fatal(err)
	}
	defer obs.Close()
	e := stream.Event{Kind: stream.EventAttemptSucceeded, Stream: "s", Partition: "0", Elapsed: time.Millisecond}
	obs.Observe(e)
	if n := testing.AllocsPerRun(1000, func() { obs.Observe(e) }); n != 0 {
		t.Fatalf("%v allocations per attempt, want 0", n)
	}
}
