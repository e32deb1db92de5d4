package kinesis_test

import (
	"context"
	"fmt"
	"net/url"
	"testing"

	"github.com/unistream-go/unistream/adapters/kinesis"
	"github.com/unistream-go/unistream/conformance"
	"github.com/unistream-go/unistream/internal/nodeemu"
)

// startKinesalite starts kinesalite for one test and stops it at its end.
func startKinesalite(t *testing.T) string {
	t.Helper()
	p, err := nodeemu.Start(context.Background(), "kinesalite", nodeemu.Kinesalite)
	if err != nil {
		t.Fatalf("start kinesalite: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("kinesalite output:\n%s", p.Output())
		}
		p.Close()
	})
	return "http://" + p.Addr
}

// kinesaliteURL returns the URL of stream on the kinesalite at endpoint.
func kinesaliteURL(endpoint, stream string, kv ...string) string {
	q := url.Values{}
	q.Set("endpoint", endpoint)
	q.Set("region", "us-east-1")
	q.Set("access_key_id", "kinesalite")
	q.Set("secret_access_key", "kinesalite")
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	return "kinesis://" + stream + "?" + q.Encode()
}

// TestConformanceKinesalite runs the shared conformance suite against the
// adapter on kinesalite, a second, independent Kinesis emulator, so that
// kinesisfake cannot hide a misunderstanding of the protocol. Kinesalite
// has no fault injection (the harness declares none, and the fault
// scenarios are skipped by that capability); it splits shards. The lease
// scenario runs with the memory, file and DynamoDB (dynalite) stores.
func TestConformanceKinesalite(t *testing.T) {
	endpoint := startKinesalite(t)
	conformance.Run(t, conformance.Harness{
		Name: "kinesis-kinesalite",
		// nodeemu reaps the node process, and os/exec copies its output,
		// in goroutines that live as long as the emulator.
		BrokerFunctions: nodeFunctions,
		// The lease scenario also keeps its shard leases in DynamoDB
		// (dynalite), as a KCL-style deployment would.
		LeaseStores: append(conformance.DefaultStores(), dynamoStore(t)),
		NewStream: func(t conformance.T, spec conformance.StreamSpec) (string, error) {
			name := fmt.Sprintf("kinesalite-%d", conformanceSeq.Add(1))
			ctx := context.Background()
			u, err := url.Parse(kinesaliteURL(endpoint, name, "create_stream", "true", "shards", fmt.Sprint(spec.Partitions)))
			if err != nil {
				return "", err
			}
			o, err := kinesis.ParseURL(u)
			if err != nil {
				return "", err
			}
			s, err := kinesis.Open(ctx, o)
			if err != nil {
				return "", err
			}
			s.Close() // no connection stays open while the scenario runs
			return kinesaliteURL(endpoint, name, fastKeys...), nil
		},
		// Kinesalite counts every stream's shards, DELETING ones too,
		// against shardLimit: the suite deletes each stream when its
		// scenario ends, and waits for it to be gone.
		DeleteStream: func(t conformance.T, url string) error { return kinesis.DeleteStreamURL(context.Background(), url) },
		CanSplit:     true,
		Split:        splitVia,
	})
}
