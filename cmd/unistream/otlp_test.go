//go:build !unistream_lite

package main

import (
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	colmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricpb "go.opentelemetry.io/proto/otlp/metrics/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/unistream-go/unistream/adapters/kafka/kafkatest"
	"github.com/unistream-go/unistream/adapters/kinesis/kinesistest"
	"github.com/unistream-go/unistream/stream/otelstream"
)

// otlpReceiver is an OTLP/HTTP receiver in the test process: it decodes
// the protobuf bodies POSTed to /v1/traces and /v1/metrics and keeps them
// in arrival order.
type otlpReceiver struct {
	srv     *httptest.Server
	mu      sync.Mutex
	traces  []*coltracepb.ExportTraceServiceRequest
	metrics []*colmetricpb.ExportMetricsServiceRequest
	bad     []string // requests that were not an OTLP export
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	r := &otlpReceiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *otlpReceiver) serve(w http.ResponseWriter, req *http.Request) {
	var msg, resp proto.Message
	switch req.URL.Path {
	case "/v1/traces":
		msg, resp = &coltracepb.ExportTraceServiceRequest{}, &coltracepb.ExportTraceServiceResponse{}
	case "/v1/metrics":
		msg, resp = &colmetricpb.ExportMetricsServiceRequest{}, &colmetricpb.ExportMetricsServiceResponse{}
	}
	fail := func(code int, why string) {
		r.mu.Lock()
		r.bad = append(r.bad, fmt.Sprintf("%s %s: %s", req.Method, req.URL.Path, why))
		r.mu.Unlock()
		http.Error(w, why, code)
	}
	if msg == nil || req.Method != http.MethodPost {
		fail(http.StatusNotFound, "not an OTLP export path")
		return
	}
	if ct := req.Header.Get("Content-Type"); ct != "application/x-protobuf" {
		fail(http.StatusUnsupportedMediaType, "Content-Type "+ct)
		return
	}
	var body io.Reader = req.Body
	if req.Header.Get("Content-Encoding") == "gzip" {
		gz, err := gzip.NewReader(req.Body)
		if err != nil {
			fail(http.StatusBadRequest, err.Error())
			return
		}
		body = gz
	}
	b, err := io.ReadAll(body)
	if err == nil {
		err = proto.Unmarshal(b, msg)
	}
	if err != nil {
		fail(http.StatusBadRequest, err.Error())
		return
	}
	r.mu.Lock()
	switch m := msg.(type) {
	case *coltracepb.ExportTraceServiceRequest:
		r.traces = append(r.traces, m)
	case *colmetricpb.ExportMetricsServiceRequest:
		r.metrics = append(r.metrics, m)
	}
	r.mu.Unlock()
	out, _ := proto.Marshal(resp)
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Write(out)
}

// receivedSpan is a span with its resource's and its own attributes.
type receivedSpan struct {
	*tracepb.Span
	resource, attrs map[string]string
	scope           string
}

// spans returns every span received, in arrival order.
func (r *otlpReceiver) spans() []receivedSpan {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []receivedSpan
	for _, req := range r.traces {
		for _, rs := range req.GetResourceSpans() {
			res := attrMap(rs.GetResource().GetAttributes())
			for _, ss := range rs.GetScopeSpans() {
				for _, s := range ss.GetSpans() {
					out = append(out, receivedSpan{Span: s, resource: res, attrs: attrMap(s.GetAttributes()), scope: ss.GetScope().GetName()})
				}
			}
		}
	}
	return out
}

// metricRequests counts the metric exports that hold metric name.
func (r *otlpReceiver) metricRequests(name string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, req := range r.metrics {
		if len(metricsNamed(req, name)) > 0 {
			n++
		}
	}
	return n
}

// metricsNamed returns the metrics of req named name, with their
// resource's attributes.
func metricsNamed(req *colmetricpb.ExportMetricsServiceRequest, name string) (out []*metricpb.Metric) {
	for _, rm := range req.GetResourceMetrics() {
		for _, sm := range rm.GetScopeMetrics() {
			for _, m := range sm.GetMetrics() {
				if m.GetName() == name {
					out = append(out, m)
				}
			}
		}
	}
	return out
}

// metricTotal adds, over the series of metric name whose attributes
// include want, the latest cumulative value received: a sum's value, a
// histogram's count.
func (r *otlpReceiver) metricTotal(name string, want map[string]string) (float64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	latest := map[string]float64{}
	for _, req := range r.metrics {
		for _, m := range metricsNamed(req, name) {
			points, err := cumulativePoints(m)
			if err != nil {
				return 0, err
			}
		series:
			for _, p := range points {
				for k, v := range want {
					if p.attrs[k] != v {
						continue series
					}
				}
				latest[fmt.Sprint(p.attrs)] = p.value
			}
		}
	}
	var total float64
	for _, v := range latest {
		total += v
	}
	return total, nil
}

// seriesPoint is one data point: its attributes and its value (a sum's
// value, a histogram's count).
type seriesPoint struct {
	attrs map[string]string
	value float64
}

// cumulativePoints returns the data points of m, a sum or a histogram. A
// delta temporality is an error: the exporter's default is cumulative.
func cumulativePoints(m *metricpb.Metric) ([]seriesPoint, error) {
	var out []seriesPoint
	temporality := metricpb.AggregationTemporality_AGGREGATION_TEMPORALITY_UNSPECIFIED
	switch d := m.Data.(type) {
	case *metricpb.Metric_Sum:
		temporality = d.Sum.GetAggregationTemporality()
		for _, p := range d.Sum.GetDataPoints() {
			out = append(out, seriesPoint{attrMap(p.GetAttributes()), p.GetAsDouble() + float64(p.GetAsInt())})
		}
	case *metricpb.Metric_Histogram:
		temporality = d.Histogram.GetAggregationTemporality()
		for _, p := range d.Histogram.GetDataPoints() {
			out = append(out, seriesPoint{attrMap(p.GetAttributes()), float64(p.GetCount())})
		}
	default:
		return nil, fmt.Errorf("%s is a %T, want a sum or a histogram", m.GetName(), m.Data)
	}
	if temporality != metricpb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE {
		return nil, fmt.Errorf("%s: temporality %v, want cumulative", m.GetName(), temporality)
	}
	return out, nil
}

// attrMap returns attributes as strings.
func attrMap(kvs []*commonpb.KeyValue) map[string]string {
	m := map[string]string{}
	for _, kv := range kvs {
		v := kv.GetValue()
		switch v.Value.(type) {
		case *commonpb.AnyValue_StringValue:
			m[kv.GetKey()] = v.GetStringValue()
		case *commonpb.AnyValue_IntValue:
			m[kv.GetKey()] = fmt.Sprint(v.GetIntValue())
		default:
			m[kv.GetKey()] = fmt.Sprint(v)
		}
	}
	return m
}

// TestOTLPProduceConsume: produce and consume with --otlp-endpoint send
// their spans and metrics to an OTLP/HTTP receiver. produce makes a create
// span per record; consume's process spans (one per attempt: 11 for 10
// records, one retried and one failing for good into the DLQ) are
// children of the create span of their record, in its trace. consume,
// with OTEL_METRIC_EXPORT_INTERVAL=100ms, pushes its counts while it runs
// (they reach the run's before it is stopped) and once more at exit.
func TestOTLPProduceConsume(t *testing.T) {
	recv := newOTLPReceiver(t)
	c := kafkatest.Start(t, kafkatest.Topic("orders", 2))
	url := c.URL("orders", "fetch_wait", "50ms")
	dir := t.TempDir()
	in := tenRecords(func(i int, v string) string { return fmt.Sprintf(`{"id":"r%d","v":"%s"}`, i, v) })
	r := mustCLI(t, in, "produce", url, "--format", "json", "--id-field", "id", "--max-age", "20ms", "--otlp-endpoint", recv.srv.URL)
	if want := "sending traces and metrics over OTLP/HTTP to " + recv.srv.URL; !strings.Contains(r.stderr, want) {
		t.Errorf("produce does not say %q: %s", want, r)
	}
	// produce exported at exit: its spans and its sent count are there.
	create := map[string]receivedSpan{} // by record id
	for _, s := range recv.spans() {
		if s.GetName() != "create orders" {
			t.Errorf("produce exported span %q, want only create orders", s.GetName())
			continue
		}
		if s.GetKind() != tracepb.Span_SPAN_KIND_PRODUCER || s.attrs["messaging.operation.type"] != "create" || s.attrs["messaging.system"] != "kafka" ||
			s.attrs["messaging.destination.name"] != "orders" || s.resource["service.name"] != "unistream" || s.scope != otelstream.ScopeName {
			t.Errorf("create span: kind %v, attributes %v, resource %v, scope %s", s.GetKind(), s.attrs, s.resource, s.scope)
		}
		create[s.attrs["messaging.message.id"]] = s
	}
	if len(create) != 10 {
		t.Fatalf("produce exported create spans for %d record ids, want 10", len(create))
	}
	if got, err := recv.metricTotal("messaging.client.sent.messages", map[string]string{"messaging.system": "kafka", "messaging.destination.name": "orders"}); err != nil || got != 10 {
		t.Errorf("messaging.client.sent.messages = %v (%v), want 10", got, err)
	}

	// The --exec command notes the TRACEPARENT it is given, then handles.
	noteAndHandle := fmt.Sprintf(`echo "$UNISTREAM_RECORD_ID $TRACEPARENT" >> %s/traceparent.txt; exec %s`, dir, handler(t, dir))
	t.Setenv("OTEL_METRIC_EXPORT_INTERVAL", "100") // milliseconds
	b := start(t, "", "consume", url, "--checkpoint", fileURL(filepath.Join(dir, "cp")), "--dlq", fileURL(filepath.Join(dir, "dlq.jsonl")),
		"--name", "billing", "--exec", noteAndHandle, "--permanent-exit-code", "3", "--max-attempts", "3",
		"--retry-initial", "10ms", "--poll-interval", "20ms", "--otlp-endpoint", recv.srv.URL)
	labels := map[string]string{"messaging.system": "kafka", "messaging.destination.name": "orders", "messaging.consumer.group.name": "billing"}
	want := []struct {
		name string
		n    float64
	}{
		{"messaging.client.consumed.messages", 10},
		{"messaging.process.duration", 11}, // attempts
		{"unistream.consumer.retries", 1},
		{"unistream.consumer.exhausted", 1},
		{"unistream.consumer.dead_lettered", 1},
	}
	totals := func() (string, bool) {
		var report []string
		ok := true
		for _, w := range want {
			got, err := recv.metricTotal(w.name, labels)
			report = append(report, fmt.Sprintf("%s=%v (%v)", w.name, got, err))
			ok = ok && err == nil && got == w.n
		}
		return strings.Join(report, ", "), ok
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(failTimeout)
	for {
		if _, ok := totals(); ok {
			break
		}
		select {
		case <-tick.C:
		case <-b.done:
			o, e := b.output()
			t.Fatalf("consume exited (%v) before its metrics were pushed\n%s\n%s", b.err, o, e)
		case <-deadline:
			report, _ := totals()
			t.Fatalf("the pushed counts did not reach the run's within %s: %s", failTimeout, report)
		}
	}
	before := recv.metricRequests("messaging.client.consumed.messages")
	b.signal(t)
	if r := b.wait(t); r.code != 0 {
		t.Fatalf("consume after SIGINT: %s", r)
	}
	if after := recv.metricRequests("messaging.client.consumed.messages"); after <= before {
		t.Errorf("no metric export at exit: %d exports with the consumer's metrics before SIGINT, %d after", before, after)
	}
	if report, ok := totals(); !ok {
		t.Errorf("after exit: %s", report)
	}

	// Every attempt's span, flushed by exit at the latest.
	attempts := map[string][]receivedSpan{} // by record id
	for _, s := range recv.spans() {
		if s.GetName() == "process orders" {
			attempts[s.attrs["messaging.message.id"]] = append(attempts[s.attrs["messaging.message.id"]], s)
		}
	}
	given := map[string]bool{} // record id and TRACEPARENT of each --exec run
	noted, err := os.ReadFile(filepath.Join(dir, "traceparent.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for l := range strings.Lines(string(noted)) {
		given[strings.TrimSpace(l)] = true
	}
	n := 0
	for id, spans := range attempts {
		n += len(spans)
		parent, ok := create[id]
		if !ok {
			t.Errorf("process spans of record %q, which produce did not create", id)
			continue
		}
		wantOutcomes := "success"
		switch id {
		case "r4":
			wantOutcomes = "failed success"
		case "r7":
			wantOutcomes = "failed"
		}
		outcomes := make([]string, len(spans))
		for _, s := range spans {
			a := s.attrs["unistream.attempt"]
			var i int
			if _, err := fmt.Sscan(a, &i); err != nil || i < 1 || i > len(spans) {
				t.Errorf("record %s: span with unistream.attempt %q, want 1 to %d", id, a, len(spans))
				continue
			}
			outcomes[i-1] = s.attrs["unistream.outcome"]
			if tp := fmt.Sprintf("%s 00-%x-%x-01", id, s.GetTraceId(), s.GetSpanId()); !given[tp] {
				t.Errorf("record %s attempt %s: --exec was not given TRACEPARENT of its span (%q); it noted:\n%s", id, a, tp, noted)
			}
			if string(s.GetTraceId()) != string(parent.GetTraceId()) || string(s.GetParentSpanId()) != string(parent.GetSpanId()) {
				t.Errorf("record %s attempt %s: trace %x parent %x, want the create span's: trace %x span %x",
					id, a, s.GetTraceId(), s.GetParentSpanId(), parent.GetTraceId(), parent.GetSpanId())
			}
			if s.GetKind() != tracepb.Span_SPAN_KIND_CONSUMER || s.attrs["messaging.consumer.group.name"] != "billing" || s.attrs["messaging.system"] != "kafka" {
				t.Errorf("record %s attempt %s: kind %v, attributes %v", id, a, s.GetKind(), s.attrs)
			}
			if failed := s.attrs["unistream.outcome"] == "failed"; failed != (s.GetStatus().GetCode() == tracepb.Status_STATUS_CODE_ERROR) {
				t.Errorf("record %s attempt %s: outcome %s with status %v", id, a, s.attrs["unistream.outcome"], s.GetStatus())
			}
		}
		if got := strings.Join(outcomes, " "); got != wantOutcomes {
			t.Errorf("record %s: outcomes by attempt %q, want %q", id, got, wantOutcomes)
		}
	}
	if n != 11 || len(attempts) != 10 {
		t.Errorf("%d process spans for %d records, want 11 for 10", n, len(attempts))
	}
	recv.mu.Lock()
	defer recv.mu.Unlock()
	if len(recv.bad) > 0 {
		t.Errorf("requests that were not OTLP exports: %q", recv.bad)
	}
}

// TestOTLPTraceparentEnv: with TRACEPARENT in its environment, produce's
// create spans are children of that span, in its trace.
func TestOTLPTraceparentEnv(t *testing.T) {
	recv := newOTLPReceiver(t)
	const traceID, spanID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	r := cli(t, "a\nb\n", []string{"TRACEPARENT=00-" + traceID + "-" + spanID + "-01"}, "produce", "mem://otlp-traceparent", "--otlp-endpoint", recv.srv.URL)
	if r.code != 0 {
		t.Fatalf("produce: %s", r)
	}
	spans := recv.spans()
	if len(spans) != 2 {
		t.Fatalf("%d spans, want a create span per record (2)", len(spans))
	}
	for _, s := range spans {
		if got := fmt.Sprintf("%x %x", s.GetTraceId(), s.GetParentSpanId()); got != traceID+" "+spanID {
			t.Errorf("span %s: trace and parent %s, want TRACEPARENT's %s %s", s.GetName(), got, traceID, spanID)
		}
	}
}

// TestOTLPPlainRecords: on a stream that writes plain records (Kinesis
// with envelope=false), which carry no headers, produce sends its create
// spans but does not put the trace in the records, which the stream would
// refuse: the records are sent, and a warning says so.
func TestOTLPPlainRecords(t *testing.T) {
	recv := newOTLPReceiver(t)
	k := kinesistest.Start(t)
	r := cli(t, "a\nb\n", nil, "produce", k.URL("plain", "create_stream", "true", "envelope", "false"), "--otlp-endpoint", recv.srv.URL)
	if r.code != 0 || !strings.Contains(r.stdout, "sent 2, failed sends 0") {
		t.Fatalf("produce to a plain Kinesis stream with --otlp-endpoint: %s", r)
	}
	if want := "plain writes plain records, which carry no headers"; !strings.Contains(r.stderr, want) {
		t.Errorf("stderr lacks %q: %s", want, r)
	}
	if n := len(recv.spans()); n != 2 {
		t.Errorf("%d spans, want a create span per record (2)", n)
	}
}

// TestOTLPEndpointDown: a receiver that is not there costs a warning on
// standard error at exit, within the exporter's timeout
// (OTEL_EXPORTER_OTLP_TIMEOUT, honoured), not the command's outcome.
func TestOTLPEndpointDown(t *testing.T) {
	endpoint := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	began := time.Now()
	r := cli(t, "a\nb\n", []string{"OTEL_EXPORTER_OTLP_TIMEOUT=300"}, "produce", "mem://otlp-down", "--otlp-endpoint", endpoint)
	if r.code != 0 {
		t.Fatalf("produce with an unreachable --otlp-endpoint: %s", r)
	}
	if want := "warning: OTLP export to " + endpoint + " at exit"; !strings.Contains(r.stderr, want) {
		t.Errorf("stderr lacks %q: %s", want, r)
	}
	if d := time.Since(began); d > telemetryShutdownTimeout+10*time.Second {
		t.Errorf("produce took %s with the receiver down, want the export bounded", d)
	}
}

// TestBadOTLPEndpoint: an --otlp-endpoint that is not an http(s) base URL
// is a usage error naming the flag and the expected form, as is the
// variable's; serve takes no telemetry flag.
func TestBadOTLPEndpoint(t *testing.T) {
	dlqURL := fileURL(filepath.Join(t.TempDir(), "d.jsonl"))
	for _, v := range []string{"127.0.0.1:4318", "localhost", "grpc://127.0.0.1:4317", "http://", "http://127.0.0.1:99999", "http://u:p@127.0.0.1:4318", "http://127.0.0.1:4318?x=1", "http://[::1"} {
		for _, cmd := range [][]string{
			{"consume", "mem://x", "--dlq", dlqURL, "--otlp-endpoint", v},
			{"produce", "mem://x", "--otlp-endpoint", v},
		} {
			t.Run(cmd[0]+" "+v, func(t *testing.T) {
				wantErr(t, cli(t, "", nil, cmd...), exitUsage, fmt.Sprintf("flag --otlp-endpoint: otlp_endpoint: got %q", v), "expected http://HOST:PORT or https://")
			})
		}
	}
	t.Run("environment", func(t *testing.T) {
		wantErr(t, cli(t, "", []string{"UNISTREAM_OTLP_ENDPOINT=localhost:4318"}, "produce", "mem://x"), exitError,
			`environment variable UNISTREAM_OTLP_ENDPOINT: otlp_endpoint: got "localhost:4318"`, "expected http://HOST:PORT")
	})
	for _, flag := range []string{"--otlp-endpoint", "--metrics-addr"} {
		t.Run("serve "+flag, func(t *testing.T) {
			wantErr(t, cli(t, "", nil, "serve", flag, "x"), exitUsage, "unknown flag: "+flag)
		})
	}
}

// TestOTLPURLs: the signal paths are added to the base URL's path.
func TestOTLPURLs(t *testing.T) {
	tests := []struct{ in, traces, metrics string }{
		{"http://127.0.0.1:4318", "http://127.0.0.1:4318/v1/traces", "http://127.0.0.1:4318/v1/metrics"},
		{"http://127.0.0.1:4318/", "http://127.0.0.1:4318/v1/traces", "http://127.0.0.1:4318/v1/metrics"},
		{"https://otel.example.com/otlp", "https://otel.example.com/otlp/v1/traces", "https://otel.example.com/otlp/v1/metrics"},
		{"https://[::1]:4318/a/b/", "https://[::1]:4318/a/b/v1/traces", "https://[::1]:4318/a/b/v1/metrics"},
	}
	for _, tt := range tests {
		tr, m, err := otlpURLs(tt.in)
		if err != nil || tr != tt.traces || m != tt.metrics {
			t.Errorf("otlpURLs(%q) = %q, %q, %v; want %q, %q", tt.in, tr, m, err, tt.traces, tt.metrics)
		}
	}
}
