package otelstream

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// Histograms aggregates messaging.process.duration, the Observer's one
// per-record measurement, itself: exactly (every attempt, the same buckets,
// count, sum, min and max as the SDK's explicit-bucket histogram) for a
// few atomic adds per attempt, about 20 ns, instead of a Record through
// the OpenTelemetry SDK for every attempt (about 0.3 µs, most of it the
// SDK's handling of the attribute set). It hands the aggregate to the SDK
// at each collection as an sdkmetric.Producer, so it must be registered
// with the reader that collects the meter provider's metrics:
//
//	hs := otelstream.NewHistograms()
//	reader := sdkmetric.NewManualReader(sdkmetric.WithProducer(hs)) // or prometheus.New(prometheus.WithProducer(hs)), sdkmetric.NewPeriodicReader(exp, sdkmetric.WithProducer(hs))
//	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
//	obs, err := otelstream.NewObserver(otelstream.WithMeterProvider(mp), otelstream.WithHistograms(hs))
//
// The histogram is cumulative from NewHistograms. One Histograms may serve
// several Observers (their series are told apart by their attributes). It
// is safe for concurrent use.
type Histograms struct {
	start time.Time

	mu     sync.Mutex
	series map[attribute.Distinct]*series
}

var _ sdkmetric.Producer = (*Histograms)(nil)

// NewHistograms returns an empty Histograms.
func NewHistograms() *Histograms {
	return &Histograms{start: time.Now(), series: map[attribute.Distinct]*series{}}
}

// WithHistograms makes the Observer aggregate messaging.process.duration in
// hs (see Histograms) instead of recording each attempt through the meter
// provider's SDK. hs must be registered with the provider's reader as a
// producer, or the histogram is not exported. A nil hs keeps the default.
func WithHistograms(hs *Histograms) Option {
	return func(c *config) {
		if hs != nil {
			c.hists = hs
		}
	}
}

// processBucketsNs are processBuckets in nanoseconds.
var processBucketsNs = func() []int64 {
	out := make([]int64, len(processBuckets))
	for i, b := range processBuckets {
		out[i] = int64(math.Round(b * 1e9))
	}
	return out
}()

// series is the histogram of one attribute set.
type series struct {
	set     attribute.Set
	sumNs   atomic.Int64
	minNs   atomic.Int64 // math.MaxInt64 before the first value
	maxNs   atomic.Int64 // -1 before the first value
	buckets [15]atomic.Uint64
}

// of returns the series of set, making it on first use.
func (h *Histograms) of(set attribute.Set) *series {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.series[set.Equivalent()]
	if s == nil {
		s = &series{set: set}
		s.minNs.Store(math.MaxInt64)
		s.maxNs.Store(-1)
		h.series[set.Equivalent()] = s
	}
	return s
}

// record adds one duration: three atomic adds and two loads in the usual
// case (the count is the buckets' total, read at collection). A value on a
// bucket's upper bound counts in that bucket, as in the SDK's
// explicit-bucket histogram.
func (s *series) record(d time.Duration) {
	ns := int64(d)
	if ns < 0 {
		ns = 0
	}
	i := 0
	for i < len(processBucketsNs) && ns > processBucketsNs[i] {
		i++
	}
	s.buckets[i].Add(1)
	s.sumNs.Add(ns)
	for {
		m := s.minNs.Load()
		if ns >= m || s.minNs.CompareAndSwap(m, ns) {
			break
		}
	}
	for {
		m := s.maxNs.Load()
		if ns <= m || s.maxNs.CompareAndSwap(m, ns) {
			break
		}
	}
}

// Produce returns messaging.process.duration with a data point per
// attribute set that has values. It implements sdkmetric.Producer.
func (h *Histograms) Produce(context.Context) ([]metricdata.ScopeMetrics, error) {
	h.mu.Lock()
	all := make([]*series, 0, len(h.series))
	for _, s := range h.series {
		all = append(all, s)
	}
	h.mu.Unlock()
	now := time.Now()
	var points []metricdata.HistogramDataPoint[float64]
	for _, s := range all {
		counts := make([]uint64, len(s.buckets))
		var total uint64
		for i := range s.buckets {
			counts[i] = s.buckets[i].Load()
			total += counts[i]
		}
		if total == 0 {
			continue
		}
		p := metricdata.HistogramDataPoint[float64]{
			Attributes:   s.set,
			StartTime:    h.start,
			Time:         now,
			Bounds:       processBuckets,
			Count:        total,
			BucketCounts: counts,
			Sum:          float64(s.sumNs.Load()) / 1e9,
			Min:          metricdata.NewExtrema(float64(s.minNs.Load()) / 1e9),
			Max:          metricdata.NewExtrema(float64(s.maxNs.Load()) / 1e9),
		}
		points = append(points, p)
	}
	if len(points) == 0 {
		return nil, nil
	}
	return []metricdata.ScopeMetrics{{
		Scope: instrumentation.Scope{Name: ScopeName},
		Metrics: []metricdata.Metrics{{
			Name:        "messaging.process.duration",
			Description: "Duration of one handler attempt.",
			Unit:        "s",
			Data:        metricdata.Histogram[float64]{Temporality: metricdata.CumulativeTemporality, DataPoints: points},
		}},
	}}, nil
}
