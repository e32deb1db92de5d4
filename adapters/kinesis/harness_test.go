package kinesis_test

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/unistream-go/unistream/adapters/kinesis"
	"github.com/unistream-go/unistream/adapters/kinesis/kinesisfake"
	"github.com/unistream-go/unistream/adapters/kinesis/kinesistest"
	"github.com/unistream-go/unistream/conformance"
	"github.com/unistream-go/unistream/internal/nodeemu"
	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/checkpoint/dynamodb"
)

// conformanceSeq numbers the streams the conformance harnesses create.
var conformanceSeq atomic.Uint64

// fastKeys are the URL options of the harnesses' streams: short waits, so
// that an idle shard and injected throttles cost little real time.
var fastKeys = []string{"poll_interval", "5ms", "max_poll_interval", "20ms", "throttle_backoff", "5ms", "request_timeout", "30s"}

// serverFunctions are the goroutines of an in-process HTTP server (the
// emulator's), which end on the server's schedule after a client closes.
var serverFunctions = []string{
	"net/http.(*conn).serve",
	"net/http.(*connReader).backgroundRead",
}

// nodeFunctions are the goroutines nodeemu runs for an npm emulator
// (reaping the node process, copying its output), which live as long as
// the emulator.
var nodeFunctions = []string{"github.com/unistream-go/unistream/internal/nodeemu.Start.func1", "os/exec.(*Cmd).Start.func2", "os/exec.(*Cmd).writerDescriptor.func1"}

// dynamoStore returns the store factory "dynamodb": the DynamoDB checkpoint
// store (which keeps shard leases too) on a new table of a dynalite that
// starts on first use and stops at the end of t.
func dynamoStore(t *testing.T) conformance.StoreFactory {
	d := newDynalite(t)
	return conformance.StoreFactory{Name: "dynamodb", New: func(st conformance.T) (checkpoint.Store, error) { return d.store(st) }}
}

// dynalite is a dynalite process started on first use and stopped at the
// end of the test or benchmark that made it.
type dynalite struct {
	once   sync.Once
	p      *nodeemu.Process
	err    error
	tables atomic.Int64
}

func newDynalite(tb testing.TB) *dynalite {
	d := new(dynalite)
	tb.Cleanup(func() {
		if d.p != nil {
			if tb.Failed() {
				tb.Logf("dynalite output:\n%s", d.p.Output())
			}
			d.p.Close()
		}
	})
	return d
}

// store returns the DynamoDB checkpoint store on a new table, closed at
// the end of c (a test or benchmark).
func (d *dynalite) store(c interface{ Cleanup(func()) }) (checkpoint.Store, error) {
	d.once.Do(func() { d.p, d.err = nodeemu.Start(context.Background(), "dynalite", nodeemu.Dynalite) })
	if d.err != nil {
		return nil, fmt.Errorf("start dynalite (npm dynalite 4.0.0, installed by `make tools`): %w", d.err)
	}
	table := fmt.Sprintf("checkpoints-%d", d.tables.Add(1))
	s, err := dynamodb.New(context.Background(), table,
		dynamodb.WithEndpoint("http://"+d.p.Addr), dynamodb.WithRegion("us-east-1"),
		dynamodb.WithStaticCredentials("dynalite", "dynalite", ""), dynamodb.WithCreateTable(10*time.Second))
	if err != nil {
		return nil, err
	}
	c.Cleanup(func() { s.Close() })
	return s, nil
}

// conformanceHarness describes the Kinesis adapter on kinesisfake to the
// conformance suite, in standalone ownership mode, on one emulator for the
// whole run: every stream is a fresh stream. Faults are injected in the
// emulator: failed GetRecords and PutRecords calls (InternalFailure),
// PutRecords entries failed with ProvisionedThroughputExceeded, dropped
// connections. Split splits a shard through the adapter (SplitShard).
// The lease scenario (workers sharing the shards through leases, KCL-style)
// also runs with the DynamoDB store on dynalite.
func conformanceHarness(t *testing.T) conformance.Harness {
	if target, err := conformance.CurrentTarget(); err == nil && target == conformance.Containers {
		t.Skip("UNISTREAM_TARGET=containers: Kinesis (LocalStack) in Docker is the containers module's test (make test-containers)")
	}
	b := kinesistest.Start(t)
	return conformance.Harness{
		Name:            "kinesis",
		BrokerFunctions: append(append(serverFunctions, "github.com/unistream-go/unistream/adapters/kinesis/kinesisfake.New.func1"), nodeFunctions...),
		LeaseStores:     append(conformance.DefaultStores(), dynamoStore(t)),
		NewStream: func(t conformance.T, spec conformance.StreamSpec) (string, error) {
			name := fmt.Sprintf("conformance-%d", conformanceSeq.Add(1))
			if err := b.CreateStream(name, spec.Partitions); err != nil {
				return "", err
			}
			return b.URL(name, fastKeys...), nil
		},
		DeleteStream:    func(t conformance.T, url string) error { return kinesis.DeleteStreamURL(context.Background(), url) },
		CanInjectFaults: true,
		Faults: func(t conformance.T, rawURL string) (conformance.Faults, error) {
			u, err := url.Parse(rawURL)
			if err != nil {
				return nil, err
			}
			return &fakeFaults{srv: b.Fake(), stream: u.Host}, nil
		},
		CanSplit: true,
		Split:    splitVia,
	}
}

// splitVia splits a shard of the stream at rawURL through the adapter.
func splitVia(t conformance.T, rawURL, shard string) ([]string, error) {
	ctx := context.Background()
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	o, err := kinesis.ParseURL(u)
	if err != nil {
		return nil, err
	}
	s, err := kinesis.Open(ctx, o)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	return s.Split(ctx, shard)
}

// fakeFaults injects emulator faults into one stream; it is a
// conformance.PartialWriteFaults and a conformance.ConnectionDropper.
type fakeFaults struct {
	srv    *kinesisfake.Server
	stream string
}

var (
	_ conformance.PartialWriteFaults = (*fakeFaults)(nil)
	_ conformance.ConnectionDropper  = (*fakeFaults)(nil)
)

// FailFetches fails the next n GetRecords calls on the stream with
// InternalFailure (HTTP 500); the reader returns it and the engine retries.
func (f *fakeFaults) FailFetches(n int) {
	f.srv.Fail(f.stream, "GetRecords", n, kinesisfake.ErrInternalFailure)
}

// FailWrites fails the next n PutRecords calls on the stream whole with
// InternalFailure; one Write of at most 500 records is one PutRecords call.
func (f *fakeFaults) FailWrites(n int) {
	f.srv.Fail(f.stream, "PutRecords", n, kinesisfake.ErrInternalFailure)
}

// FailRecords fails the given entries of the next PutRecords call with
// ProvisionedThroughputExceeded, and the later entries of their shards.
func (f *fakeFaults) FailRecords(indexes ...int) { f.srv.FailRecords(f.stream, indexes...) }

// DropConnections closes every client connection of the emulator.
func (f *fakeFaults) DropConnections() { f.srv.DropConnections() }

// Clear removes the stream's faults.
func (f *fakeFaults) Clear() { f.srv.Clear(f.stream) }

// TestConformancePlain runs the suite on streams written with
// envelope=false (driver.Capabilities.PlainRecords): the scenarios
// written for plain records run (the producer round trip, the pointer
// codec); the others skip, naming CapRecordMeta.
func TestConformancePlain(t *testing.T) {
	h := conformanceHarness(t)
	h.Name = "kinesis-plain"
	newStream := h.NewStream
	h.NewStream = func(t conformance.T, spec conformance.StreamSpec) (string, error) {
		u, err := newStream(t, spec)
		return u + "&envelope=false", err
	}
	conformance.Run(t, h)
}
