//go:build unistream_lite

package main

import (
	"context"
	"errors"

	"github.com/unistream-go/unistream/stream/otelstream"
	"go.opentelemetry.io/otel/sdk/resource"
)

// startOTLP stands in for the OTLP exporters in the lite build (-tags
// unistream_lite, what make demo runs), which leaves them out: they bring
// gRPC and the OTLP protobuf types, most of the lite build's cold compile.
func startOTLP(context.Context, string, *resource.Resource, *otelstream.Histograms) (*otlpExport, error) {
	return nil, &usageError{errors.New("--otlp-endpoint: this binary was built with -tags unistream_lite (make demo), which leaves the OTLP exporters out: build it without the tag (go build ./cmd/unistream)")}
}
