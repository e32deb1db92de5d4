package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/otelstream"
)

// metricsShutdownTimeout bounds stopping the metrics server when the
// command ends.
const metricsShutdownTimeout = 2 * time.Second

// metricsServer serves the OpenTelemetry metrics of a command's consumer
// or producer in the Prometheus text format on http://ADDR/metrics. Its
// reader joins the command's meter provider (see telemetry). The command
// owns it: Close stops the server and waits for its goroutine.
type metricsServer struct {
	srv    *http.Server
	reader sdkmetric.Reader // the Prometheus exporter
	addr   string           // the bound address (a port 0 resolved)
	done   chan struct{}    // closed when Serve returns
}

// startMetrics listens on addr (--metrics-addr, HOST:PORT; port 0 picks a
// free one) and serves /metrics from a registry of its own, fed by the
// Prometheus exporter it returns as the server's reader. It says on stderr
// where it serves. A bad or busy address is a usage error naming the flag.
func startMetrics(addr string, hs *otelstream.Histograms, stderr io.Writer) (*metricsServer, error) {
	_, port, err := net.SplitHostPort(addr)
	if err == nil {
		if _, perr := strconv.ParseUint(port, 10, 16); perr != nil {
			err = fmt.Errorf("port %q is not a number from 0 to 65535", port)
		}
	}
	if err != nil {
		return nil, &usageError{fmt.Errorf("--metrics-addr %q: %v: expected HOST:PORT, such as 127.0.0.1:9464 or :9464 (port 0 picks a free port)", addr, err)}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, &usageError{fmt.Errorf("--metrics-addr %q: %v: expected a HOST:PORT this process can listen on (a local address, a port not in use)", addr, err)}
	}
	reg := prometheus.NewRegistry()
	exp, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithProducer(hs))
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("--metrics-addr: build the Prometheus exporter: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	m := &metricsServer{
		srv:    &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second},
		reader: exp,
		addr:   ln.Addr().String(),
		done:   make(chan struct{}),
	}
	go func() {
		defer close(m.done)
		m.srv.Serve(ln) // returns http.ErrServerClosed after Shutdown or Close
	}()
	fmt.Fprintf(stderr, "unistream: serving metrics on %s\n", m.URL())
	return m, nil
}

// URL returns the address of the metrics page.
func (m *metricsServer) URL() string {
	return (&url.URL{Scheme: "http", Host: m.addr, Path: "/metrics"}).String()
}

// Close stops the server, letting a scrape in progress finish within
// metricsShutdownTimeout (then closing its connection), and waits for the
// serving goroutine. The meter provider is its owner's to shut down.
func (m *metricsServer) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), metricsShutdownTimeout)
	defer cancel()
	if m.srv.Shutdown(ctx) != nil {
		m.srv.Close()
	}
	<-m.done
}

// fanOut returns an observer that gives each event to every non-nil
// observer of obs, in order; nil when there is none. stream.WithObserver
// takes one observer: the commands combine their display with metrics
// through it.
func fanOut(obs ...stream.Observer) stream.Observer {
	var list []stream.Observer
	for _, o := range obs {
		if o != nil {
			list = append(list, o)
		}
	}
	switch len(list) {
	case 0:
		return nil
	case 1:
		return list[0]
	}
	return stream.ObserverFunc(func(e stream.Event) {
		for _, o := range list {
			o.Observe(e)
		}
	})
}

// consumerGroupName is the consumer's name as the engine sees it: the
// name, else the group, else stream.DefaultConsumerName.
func consumerGroupName(name, group string) string {
	switch {
	case name != "":
		return name
	case group != "":
		return group
	}
	return stream.DefaultConsumerName
}
