package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"

	"github.com/unistream-go/unistream/adapters/kafka/kafkatest"
	"github.com/unistream-go/unistream/config"
	"github.com/unistream-go/unistream/stream"
)

// scrapeClient keeps no idle connection, so that nothing of the test's
// outlives a scrape.
var scrapeClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}

// scrape fetches url and parses it as the Prometheus text format.
func scrape(url string) (map[string]*dto.MetricFamily, string, error) {
	resp, err := scrapeClient.Get(url)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, "", err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, string(body), fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	return fams, string(body), err
}

// counterSum adds the values of the counter family name (the sample
// counts of a histogram) over the series whose labels include want.
func counterSum(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	f := fams[name]
	if f == nil {
		return 0
	}
	var sum float64
series:
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue series
			}
		}
		if h := m.GetHistogram(); h != nil {
			sum += float64(h.GetSampleCount())
		} else {
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

// TestConsumeMetricsScrape runs consume with --metrics-addr 127.0.0.1:0
// over 10 records (one failing its first attempt, one failing for good
// into the DLQ: 11 attempts), reads the bound address from standard error, scrapes
// /metrics while consume runs until the counts match the run, and checks
// that the server is gone once consume stopped.
func TestConsumeMetricsScrape(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic("orders", 2))
	url := c.URL("orders", "fetch_wait", "50ms")
	dir := t.TempDir()
	in := tenRecords(func(i int, v string) string { return fmt.Sprintf("r%d %s", i, v) })
	r := mustCLI(t, in, "produce", url, "--max-age", "20ms", "--metrics-addr", "127.0.0.1:0")
	if !strings.Contains(r.stderr, "serving metrics on http://127.0.0.1:") {
		t.Errorf("produce --metrics-addr does not say where it serves: %s", r)
	}

	b := start(t, "", "consume", url, "--checkpoint", fileURL(filepath.Join(dir, "cp")), "--dlq", fileURL(filepath.Join(dir, "dlq.jsonl")),
		"--name", "billing", "--exec", handler(t, dir), "--permanent-exit-code", "3", "--max-attempts", "3",
		"--retry-initial", "10ms", "--poll-interval", "20ms", "--metrics-addr", "127.0.0.1:0")
	b.waitOutput(t, "/metrics\n")
	_, stderr := b.output()
	m := regexp.MustCompile(`serving metrics on (http://127\.0\.0\.1:\d+/metrics)\n`).FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("no metrics address on stderr:\n%s", stderr)
	}
	metricsURL := m[1]

	labels := map[string]string{
		"messaging_system":              "kafka",
		"messaging_destination_name":    "orders",
		"messaging_consumer_group_name": "billing",
	}
	const (
		consumed = "messaging_client_consumed_messages_total"
		retries  = "unistream_consumer_retries_total"
		dead     = "unistream_consumer_dead_lettered_total"
		exhaust  = "unistream_consumer_exhausted_total"
		attempts = "messaging_process_duration_seconds"
	)
	var (
		fams map[string]*dto.MetricFamily
		body string
		err  error
	)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(failTimeout)
	for {
		fams, body, err = scrape(metricsURL)
		if err == nil && counterSum(fams, consumed, labels) >= 10 && counterSum(fams, retries, labels) >= 1 && counterSum(fams, dead, labels) >= 1 &&
			counterSum(fams, attempts, labels) >= 11 {
			break
		}
		select {
		case <-tick.C:
		case <-b.done:
			o, e := b.output()
			t.Fatalf("consume exited (%v) during the scrapes\n%s\n%s", b.err, o, e)
		case <-deadline:
			t.Fatalf("the counts did not reach the run's within %s: last scrape %v\n%s", failTimeout, err, body)
		}
	}
	for _, w := range []struct {
		name string
		want float64
	}{{consumed, 10}, {retries, 1}, {dead, 1}, {exhaust, 1}, {attempts, 11}} {
		if got := counterSum(fams, w.name, labels); got != w.want {
			t.Errorf("%s{%v} = %v, want %v\n%s", w.name, labels, got, w.want, body)
		}
	}
	if out := os.Getenv("UNISTREAM_METRICS_SAMPLE"); out != "" {
		os.WriteFile(out, []byte(body), 0o600) // the sample in docs/observability.md
	}

	b.signal(t)
	if r := b.wait(t); r.code != 0 {
		t.Fatalf("consume after SIGINT: %s", r)
	}
	if _, _, err := scrape(metricsURL); err == nil {
		t.Errorf("%s still answers after consume exited", metricsURL)
	}
}

// TestBadMetricsAddr: an unparsable or busy --metrics-addr is a usage
// error naming the flag and what it expects; a bad UNISTREAM_METRICS_ADDR
// is an error naming the variable, as for every key.
func TestBadMetricsAddr(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dlqURL := fileURL(filepath.Join(t.TempDir(), "d.jsonl"))
	tests := []struct {
		addr string
		want []string
	}{
		{"9464", []string{`flag --metrics-addr: metrics_addr: got "9464"`, "expected HOST:PORT"}},
		{"localhost", []string{`flag --metrics-addr: metrics_addr: got "localhost"`, "expected HOST:PORT"}},
		{"127.0.0.1:http", []string{`got "127.0.0.1:http"`, "expected HOST:PORT"}},
		{"127.0.0.1:70000", []string{`got "127.0.0.1:70000"`, "expected HOST:PORT"}},
		{"[::1:9464", []string{`got "[::1:9464"`, "expected HOST:PORT"}},
		{busy.Addr().String(), []string{`--metrics-addr "` + busy.Addr().String() + `"`, "address already in use", "a port not in use"}},
	}
	for _, tt := range tests {
		for _, cmd := range [][]string{
			{"consume", "mem://x", "--dlq", dlqURL, "--metrics-addr", tt.addr},
			{"produce", "mem://x", "--metrics-addr", tt.addr},
		} {
			t.Run(cmd[0]+" "+tt.addr, func(t *testing.T) {
				wantErr(t, cli(t, "", nil, cmd...), exitUsage, tt.want...)
			})
		}
	}
	t.Run("environment", func(t *testing.T) {
		wantErr(t, cli(t, "", []string{"UNISTREAM_METRICS_ADDR=9464"}, "produce", "mem://x"), exitError, // a bad setting outside the command line, as for every key
			`environment variable UNISTREAM_METRICS_ADDR: metrics_addr: got "9464"`, "expected HOST:PORT")
	})
}

// TestMetricsServerClose: the server serves what the observer records and
// the telemetry's Close leaves no goroutine and no listener behind.
func TestMetricsServerClose(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	var stderr strings.Builder
	tel, err := startTelemetry(t.Context(), &config.Config{MetricsAddr: "127.0.0.1:0"}, "mem://x", &stderr)
	if err != nil {
		t.Fatal(err)
	}
	m := tel.server
	if want := "serving metrics on " + m.URL(); !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr %q lacks %q", stderr.String(), want)
	}
	obs, err := tel.observer("g")
	if err != nil {
		t.Fatal(err)
	}
	obs.Observe(stream.Event{Kind: stream.EventBatchFetched, Stream: "x", Partition: "0", Count: 3})
	fams, body, err := scrape(m.URL())
	if err != nil {
		t.Fatal(err)
	}
	if got := counterSum(fams, "messaging_client_consumed_messages_total", map[string]string{"messaging_system": "mem", "messaging_consumer_group_name": "g"}); got != 3 {
		t.Errorf("consumed = %v, want 3\n%s", got, body)
	}
	tel.Close()
	if _, _, err := scrape(m.URL()); err == nil {
		t.Errorf("%s still answers after Close", m.URL())
	}
}

// TestFanOut: every observer sees each event, in order; nil ones are left
// out.
func TestFanOut(t *testing.T) {
	if fanOut(nil, nil) != nil {
		t.Error("fanOut of nils is not nil")
	}
	var got []string
	rec := func(name string) stream.Observer {
		return stream.ObserverFunc(func(e stream.Event) { got = append(got, name+":"+e.Kind.String()) })
	}
	fanOut(rec("a"), nil, rec("b")).Observe(stream.Event{Kind: stream.EventCommitted})
	if want := "a:committed b:committed"; strings.Join(got, " ") != want {
		t.Errorf("fanOut saw %q, want %q", strings.Join(got, " "), want)
	}
}
