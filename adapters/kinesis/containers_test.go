package kinesis_test

import (
	"context"
	"fmt"
	"net/url"
	"testing"

	"github.com/unistream-go/unistream/conformance"
	"github.com/unistream-go/unistream/internal/containers"
)

// containersHarness runs the suite on LocalStack's Kinesis in Docker
// (UNISTREAM_TARGET=containers), started by testcontainers-go. LocalStack
// has no fault injection, so the fault scenarios are skipped by
// capability; splits go through the adapter as on the emulators.
func containersHarness(t *testing.T) conformance.Harness {
	ctx := context.Background()
	if err := containers.Available(ctx); err != nil {
		t.Skipf("UNISTREAM_TARGET=containers: %v", err)
	}
	l, err := containers.StartLocalStack(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return conformance.Harness{
		Name:            "kinesis",
		NeedsDocker:     true,
		BrokerFunctions: serverFunctions,
		NewStream: func(t conformance.T, spec conformance.StreamSpec) (string, error) {
			name := fmt.Sprintf("conformance-%d", conformanceSeq.Add(1))
			if err := l.CreateStream(context.Background(), name, spec.Partitions); err != nil {
				return "", err
			}
			q := url.Values{"endpoint": {l.Endpoint}, "region": {l.Region}, "access_key_id": {l.AccessKeyID}, "secret_access_key": {l.SecretAccessKey}}
			for i := 0; i+1 < len(fastKeys); i += 2 {
				q.Set(fastKeys[i], fastKeys[i+1])
			}
			return "kinesis://" + name + "?" + q.Encode(), nil
		},
		CanSplit: true,
		Split:    splitVia,
	}
}
