package otelstream_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/memstream"
	"github.com/unistream-go/unistream/stream/otelstream"
)

// everyEvent returns one event of every kind the observer records, with
// the data each needs.
func everyEvent() []stream.Event {
	boom := errors.New("boom")
	lag := &stream.Lag{Records: 3, Time: time.Second}
	c := func(k stream.EventKind) stream.Event {
		return stream.Event{Kind: k, Stream: "orders", Partition: "0", Count: 1, Elapsed: time.Millisecond, Err: boom, Lag: lag, Delay: time.Second}
	}
	p := func(k stream.EventKind) stream.Event {
		return stream.Event{Kind: k, Stream: "orders", Lane: 1, Count: 1, Err: boom, Delay: time.Second, Elapsed: time.Millisecond, Timed: true}
	}
	final := c(stream.EventAttemptFailed)
	final.Final = true
	return []stream.Event{
		c(stream.EventBatchFetched), c(stream.EventBatchDone), c(stream.EventAttemptSucceeded), c(stream.EventAttemptFailed), final,
		c(stream.EventSkipped), c(stream.EventDeadLettered), c(stream.EventHalted), c(stream.EventFetchError), c(stream.EventCheckpointError),
		c(stream.EventCheckpointSaved),
		p(stream.EventProducerSent), p(stream.EventProducerFailed), p(stream.EventProducerDeadLettered), p(stream.EventProducerDropped),
		p(stream.EventProducerHold), p(stream.EventProducerDLQError), p(stream.EventProducerReplayed), p(stream.EventProducerWALSynced),
	}
}

// promNames returns the names the Prometheus exporter gives a metric:
// dots become underscores, a unit of seconds adds _seconds, a counter
// ends in _total, a histogram is its _bucket, _sum and _count.
func promNames(m metricdata.Metrics) []string {
	base := strings.ReplaceAll(m.Name, ".", "_")
	if m.Unit == "s" {
		base += "_seconds"
	}
	switch m.Data.(type) {
	case metricdata.Sum[int64], metricdata.Sum[float64]:
		return []string{base + "_total"}
	case metricdata.Histogram[float64], metricdata.Histogram[int64]:
		return []string{base + "_bucket", base + "_sum", base + "_count"}
	}
	return []string{base}
}

// TestDocsAndDashboardNameEveryMetric: every metric the observer exports
// is in docs/observability.md's tables and nothing else is, and every
// metric docs/grafana/unistream.json queries is one the observer exports
// (under the Prometheus exporter's names). The observer sees every event
// kind it records and watches a producer.
func TestDocsAndDashboardNameEveryMetric(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	obs, err := otelstream.NewObserver(otelstream.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))))
	if err != nil {
		t.Fatal(err)
	}
	defer obs.Close()
	for _, e := range everyEvent() {
		obs.Observe(e)
	}
	p, err := stream.NewProducer(stream.NewStream(memstream.New("orders")), stream.WithoutWAL())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	defer obs.WatchProducer(p)()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	var exported []string     // OpenTelemetry names
	prom := map[string]bool{} // Prometheus names
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			exported = append(exported, m.Name)
			for _, n := range promNames(m) {
				prom[n] = true
			}
		}
	}
	slices.Sort(exported)

	doc, err := os.ReadFile("../../docs/observability.md")
	if err != nil {
		t.Fatal(err)
	}
	var documented []string
	for _, m := range regexp.MustCompile("(?m)^\\| `((?:messaging|unistream)\\.[a-z_.]+)` \\| (?:counter|histogram|gauge) \\|").FindAllSubmatch(doc, -1) {
		documented = append(documented, string(m[1]))
	}
	slices.Sort(documented)
	if !slices.Equal(exported, documented) {
		t.Errorf("docs/observability.md's tables name %v;\nthe observer exports %v", documented, exported)
	}

	raw, err := os.ReadFile("../../docs/grafana/unistream.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("docs/grafana/unistream.json: %v", err)
	}
	queried := 0
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("dashboard panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			for _, m := range regexp.MustCompile(`([a-z_]+)\{`).FindAllStringSubmatch(tg.Expr, -1) {
				queried++
				if !prom[m[1]] {
					t.Errorf("dashboard panel %q queries %s, which the observer does not export (it exports %v)", p.Title, m[1], prom)
				}
			}
		}
	}
	if queried == 0 {
		t.Fatal("the dashboard queries no metric")
	}
}
