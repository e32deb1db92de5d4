//go:build !unistream_lite

package main

import (
	"context"
	"fmt"
	"strings"

	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/unistream-go/unistream/config"
	"github.com/unistream-go/unistream/stream/otelstream"
)

// startOTLP builds the OTLP/HTTP exporters of endpoint, a base URL
// (--otlp-endpoint) to whose path /v1/traces and /v1/metrics are added, as
// OTEL_EXPORTER_OTLP_ENDPOINT's are: a periodic metric reader (every
// OTEL_METRIC_EXPORT_INTERVAL, default 60s, and at shutdown) and a tracer
// provider batching the spans, both with resource res. The exporters
// honour the other OTEL_EXPORTER_OTLP_* variables (headers, timeout,
// compression, certificates) and the SDK the OTEL_TRACES_SAMPLER,
// OTEL_BSP_* and OTEL_METRIC_EXPORT_* ones. Nothing connects before the
// first export. A URL that is not http:// or https:// is a usage error
// naming the flag.
func startOTLP(ctx context.Context, endpoint string, res *resource.Resource, hs *otelstream.Histograms) (*otlpExport, error) {
	traces, metrics, err := otlpURLs(endpoint)
	if err != nil {
		return nil, &usageError{fmt.Errorf("--otlp-endpoint %q: %v: expected http://HOST:PORT or https://HOST[:PORT][/PATH], the base URL of an OTLP/HTTP receiver such as http://127.0.0.1:4318", endpoint, err)}
	}
	texp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(traces))
	if err != nil {
		return nil, fmt.Errorf("--otlp-endpoint: build the trace exporter: %w", err)
	}
	mexp, err := otlpmetrichttp.New(ctx, otlpmetrichttp.WithEndpointURL(metrics))
	if err != nil {
		texp.Shutdown(ctx)
		return nil, fmt.Errorf("--otlp-endpoint: build the metric exporter: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(texp), sdktrace.WithResource(res))
	return &otlpExport{
		endpoint: endpoint,
		reader:   sdkmetric.NewPeriodicReader(mexp, sdkmetric.WithProducer(hs)),
		tracers:  tp,
		shutdown: tp.Shutdown,
	}, nil
}

// otlpURLs returns the traces and metrics URLs of the base URL endpoint
// (config.ParseOTLPEndpoint).
func otlpURLs(endpoint string) (traces, metrics string, err error) {
	u, err := config.ParseOTLPEndpoint(endpoint)
	if err != nil {
		return "", "", err
	}
	base := strings.TrimSuffix(u.Path, "/")
	u.Path, u.RawPath = base+"/v1/traces", ""
	traces = u.String()
	u.Path = base + "/v1/metrics"
	return traces, u.String(), nil
}
