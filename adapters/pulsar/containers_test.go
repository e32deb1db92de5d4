package pulsar_test

import (
	"context"
	"fmt"
	"net/url"
	"testing"

	"github.com/unistream-go/unistream/adapters/pulsar/pulsartest"
	"github.com/unistream-go/unistream/conformance"
	"github.com/unistream-go/unistream/internal/containers"
)

// containersHarness runs the suite on Pulsar standalone in Docker
// (UNISTREAM_TARGET=containers), started by testcontainers-go. Faults are
// not injected there (no pulsarfake), so the fault scenarios are skipped by
// capability; the group scenario runs on the default WithGroup.
func containersHarness(t *testing.T) conformance.Harness {
	ctx := context.Background()
	if err := containers.Available(ctx); err != nil {
		t.Skipf("UNISTREAM_TARGET=containers: %v", err)
	}
	p, err := containers.StartPulsar(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return conformance.Harness{
		Name:            "pulsar",
		NeedsDocker:     true,
		BrokerFunctions: pulsartest.ClientLeaks(),
		NewStream: func(t conformance.T, spec conformance.StreamSpec) (string, error) {
			topic := fmt.Sprintf("conformance-%d", conformanceSeq.Add(1))
			if err := p.CreateTopic(context.Background(), topic, spec.Partitions); err != nil {
				return "", err
			}
			q := url.Values{"fetch_wait": {"5ms"}, "send_timeout": {"5s"}, "operation_timeout": {"10s"}}
			return p.ServiceURL + "/" + topic + "?" + q.Encode(), nil
		},
	}
}
