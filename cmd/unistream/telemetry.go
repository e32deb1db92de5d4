package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	"go.opentelemetry.io/otel/trace"

	"github.com/unistream-go/unistream/config"
	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/otelstream"
)

// telemetryShutdownTimeout bounds flushing the metrics and spans not yet
// exported when the command ends (the OTLP exports at exit).
const telemetryShutdownTimeout = 5 * time.Second

// serviceName is the resource's service.name unless OTEL_SERVICE_NAME or
// OTEL_RESOURCE_ATTRIBUTES says otherwise.
const serviceName = "unistream"

// telemetry is what --metrics-addr and --otlp-endpoint give consume and
// produce: one meter provider whose readers are the Prometheus exporter of
// the metrics server and the periodic OTLP reader, and, with OTLP, a
// tracer provider. The command owns it: Close stops the server and
// flushes what is not exported yet.
type telemetry struct {
	server *metricsServer           // --metrics-addr; nil without
	otlp   *otlpExport              // --otlp-endpoint; nil without
	meters *sdkmetric.MeterProvider // nil without either
	// hists aggregates messaging.process.duration for the observers
	// (otelstream.WithHistograms: exact, a few atomic adds per attempt),
	// registered with every reader as a producer.
	hists  *otelstream.Histograms
	stderr io.Writer // where Close reports a failed flush
	system string    // messaging.system, from the stream URL's scheme
}

// otlpExport is the OTLP side of telemetry (otlp.go; the lite build has
// none).
type otlpExport struct {
	endpoint string               // the base URL, as given
	reader   sdkmetric.Reader     // pushes the metrics periodically and at shutdown
	tracers  trace.TracerProvider // exports the spans in batches
	shutdown func(context.Context) error
}

// startTelemetry builds what cfg.MetricsAddr and cfg.OTLPEndpoint ask for
// the command on streamURL, saying on stderr where the metrics go. Without
// either it returns a telemetry that does nothing. A bad address or URL is
// a usage error naming the flag.
func startTelemetry(ctx context.Context, cfg *config.Config, streamURL string, stderr io.Writer) (*telemetry, error) {
	t := &telemetry{stderr: stderr}
	if u, err := url.Parse(streamURL); err == nil && u.Scheme != "" {
		t.system = otelstream.SystemForScheme(u.Scheme)
	}
	if cfg.MetricsAddr == "" && cfg.OTLPEndpoint == "" {
		return t, nil
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", serviceName)),
		resource.WithTelemetrySDK(),
		resource.WithFromEnv()) // OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES
	if err != nil {
		// A malformed OTEL_RESOURCE_ATTRIBUTES: res holds the rest.
		fmt.Fprintf(stderr, "unistream: warning: telemetry resource: %v\n", err)
	}
	opts := []sdkmetric.Option{sdkmetric.WithResource(res)}
	t.hists = otelstream.NewHistograms()
	if cfg.MetricsAddr != "" {
		if t.server, err = startMetrics(cfg.MetricsAddr, t.hists, stderr); err != nil {
			return nil, err
		}
		opts = append(opts, sdkmetric.WithReader(t.server.reader))
	}
	if cfg.OTLPEndpoint != "" {
		if t.otlp, err = startOTLP(ctx, cfg.OTLPEndpoint, res, t.hists); err != nil {
			t.Close()
			return nil, err
		}
		opts = append(opts, sdkmetric.WithReader(t.otlp.reader))
		fmt.Fprintf(stderr, "unistream: sending traces and metrics over OTLP/HTTP to %s\n", cfg.OTLPEndpoint)
	}
	t.meters = sdkmetric.NewMeterProvider(opts...)
	return t, nil
}

// observer returns the otelstream observer recording on the meter
// provider, with messaging.system from the stream URL's scheme and, for a
// consumer, messaging.consumer.group.name set to group; nil without
// metrics.
func (t *telemetry) observer(group string) (stream.Observer, error) {
	if t.meters == nil {
		return nil, nil
	}
	o, err := otelstream.NewObserver(append(t.attrs(group), otelstream.WithMeterProvider(t.meters), otelstream.WithHistograms(t.hists))...)
	if err != nil {
		return nil, fmt.Errorf("telemetry: %w", err)
	}
	return o, nil
}

// attrs returns the otelstream options of the system and the group.
func (t *telemetry) attrs(group string) []otelstream.Option {
	var opts []otelstream.Option
	if t.system != "" {
		opts = append(opts, otelstream.WithSystem(t.system))
	}
	if group != "" {
		opts = append(opts, otelstream.WithConsumerGroup(group))
	}
	return opts
}

// traceHandler returns otelstream.TraceHandler on the tracer provider, or
// nil without traces.
func (t *telemetry) traceHandler(group string) stream.ConsumerOption {
	if t.otlp == nil {
		return nil
	}
	return otelstream.TraceHandler(append(t.attrs(group), otelstream.WithTracerProvider(t.otlp.tracers))...)
}

// tracePut returns otelstream.TracePut for a producer of s, or nil
// without traces. A stream that writes plain records (Kinesis with
// envelope=false) carries no headers and refuses a record with some: it
// gets no TracePut, and a warning on stderr says its records do not carry
// their trace.
func (t *telemetry) tracePut(s *stream.Stream) stream.ProducerOption {
	if t.otlp == nil {
		return nil
	}
	if s.Capabilities().PlainRecords {
		fmt.Fprintf(t.stderr, "unistream: warning: %s writes plain records, which carry no headers: its records do not carry their trace to the consumer (the create spans are still sent)\n", s.Name())
		return nil
	}
	return otelstream.TracePut()
}

// createSpans returns put run in a create span per record (see
// spanPerPut), or put itself without traces. The spans are children of
// the span in the TRACEPARENT (and TRACESTATE) environment variables, if
// any: a script that runs produce in a span of its own passes it so.
func (t *telemetry) createSpans(streamName string, put putFunc) putFunc {
	if t.otlp == nil {
		return put
	}
	parent := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), envCarrier{}))
	return spanPerPut(t.otlp.tracers.Tracer(otelstream.ScopeName), parent, t.system, streamName, put)
}

// envCarrier is a propagation.TextMapCarrier over the process's
// environment, read only: a key is a variable in upper case (TRACEPARENT).
type envCarrier struct{}

// Get returns the variable named key in upper case.
func (envCarrier) Get(key string) string { return os.Getenv(strings.ToUpper(key)) }

// Set does nothing: the environment is read only.
func (envCarrier) Set(string, string) {}

// Keys returns nothing; the propagators read known keys with Get.
func (envCarrier) Keys() []string { return nil }

// putFunc puts one record; Producer.Put.
type putFunc func(ctx context.Context, r stream.Record) error

// spanPerPut returns put run in a span named "create <stream>", of kind
// producer, per record: the messaging semantic conventions' creation
// context of a message, whose trace TracePut writes into the record's
// headers (during put, while the span is current) for the consumer's
// process spans to continue. The span covers Put (buffering, the WAL
// write, waiting for room), not the send, which happens later in a batch.
func spanPerPut(tracer trace.Tracer, parent trace.SpanContext, system, streamName string, put putFunc) putFunc {
	fixed := []attribute.KeyValue{
		otelstream.AttrDestination.String(streamName),
		otelstream.AttrOperationName.String("create"),
		otelstream.AttrOperationType.String("create"),
	}
	if system != "" {
		fixed = append(fixed, otelstream.AttrSystem.String(system))
	}
	name := "create " + streamName
	return func(ctx context.Context, r stream.Record) error {
		attrs := fixed
		if r.ID != "" {
			attrs = append(attrs[:len(attrs):len(attrs)], otelstream.AttrMessageID.String(r.ID))
		}
		if parent.IsValid() && !trace.SpanContextFromContext(ctx).IsValid() {
			ctx = trace.ContextWithRemoteSpanContext(ctx, parent)
		}
		ctx, span := tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(attrs...))
		defer span.End()
		err := put(ctx, r)
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		return err
	}
}

// Close stops the metrics server, then shuts the meter and tracer
// providers down: the OTLP reader exports the metrics a last time and the
// spans not yet exported are sent, all within telemetryShutdownTimeout.
// A failed export is reported on stderr; it does not change the command's
// outcome.
func (t *telemetry) Close() {
	if t.server != nil {
		t.server.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), telemetryShutdownTimeout)
	defer cancel()
	var errs []error
	if t.meters != nil {
		if err := t.meters.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("metrics: %w", err))
		}
	}
	if t.otlp != nil {
		if err := t.otlp.shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("traces: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil && t.otlp != nil {
		fmt.Fprintf(t.stderr, "unistream: warning: OTLP export to %s at exit: %v\n", t.otlp.endpoint, err)
	}
}

// bindTelemetry adds the --metrics-addr and --otlp-endpoint flags, the
// metrics_addr and otlp_endpoint keys.
func bindTelemetry(fs *pflag.FlagSet, b *bindings) {
	b.bind(fs, "metrics-addr", "metrics_addr", "serve the command's metrics in the Prometheus text format on http://HOST:PORT/metrics while it runs (port 0: a free port, printed on standard error)")
	b.bind(fs, "otlp-endpoint", "otlp_endpoint", "send the command's traces and metrics over OTLP/HTTP while it runs (metrics every OTEL_METRIC_EXPORT_INTERVAL, default 60s) and at exit")
}
