package pulsar_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/unistream-go/unistream/adapters/pulsar"
	"github.com/unistream-go/unistream/adapters/pulsar/pulsartest"
	"github.com/unistream-go/unistream/conformance"
	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/driver"
)

// conformanceSeq numbers the topics the conformance harness creates.
var conformanceSeq atomic.Uint64

// conformanceHarness describes the Pulsar adapter to the conformance suite,
// in standalone ownership mode, on one pulsarfake broker for the whole run:
// every stream is a fresh partitioned topic.
//
// Faults: DropConnections cuts every client connection in the broker (the
// readers resubscribe after the last message they handed out, the
// producers resend). Failed fetches and whole failed writes have no
// broker fault in Pulsar (see faultScheme): the harness's streams are
// pulsar+faults:// URLs, the pulsar:// stream behind a fault layer of
// the tests; the adapter's own tests cover pulsarfake's FailSends through
// the send timeout. Pulsar fails sends per message, never part of a batch
// only, and the suite's per-record fault injection is not implemented.
// Partitions never split or merge.
//
// Group mode runs the group scenarios on durable Failover subscriptions
// (durable_group=true) with the members' stores wrapped in an AckStore, so
// the subscriptions' cumulative acks follow the commits.
func conformanceHarness(t *testing.T) conformance.Harness {
	if target, err := conformance.CurrentTarget(); err == nil && target == conformance.Containers {
		t.Skip("UNISTREAM_TARGET=containers: Pulsar in Docker is the containers module's test (make test-containers)")
	}
	b := pulsartest.Start(t)
	gs := &groupStore{}
	return conformance.Harness{
		Name: "pulsar",
		// The broker serves each connection with a read and a write
		// goroutine that end after the client has closed, on the broker's
		// time; pulsar-client-go leaks a few of its own (pulsartest.ClientLeaks).
		BrokerFunctions: append([]string{
			"github.com/unistream-go/unistream/adapters/pulsar/pulsarfake.(*conn).readLoop",
			"github.com/unistream-go/unistream/adapters/pulsar/pulsarfake.(*conn).writeLoop",
		}, pulsartest.ClientLeaks()...),
		NewStream: func(t conformance.T, spec conformance.StreamSpec) (string, error) {
			topic := fmt.Sprintf("conformance-%d", conformanceSeq.Add(1))
			if err := b.CreateTopic(topic, spec.Partitions); err != nil {
				return "", err
			}
			// Short waits: an empty Fetch costs real time, and a send that
			// gets no receipt should fail fast.
			u, err := url.Parse(b.URL(topic, "fetch_wait", "5ms", "send_timeout", "5s", "operation_timeout", "10s", "durable_group", "true"))
			if err != nil {
				return "", err
			}
			u.Scheme = faultScheme
			return u.String(), nil
		},
		// The admin REST API's delete, on the broker's HTTP service.
		DeleteStream: func(t conformance.T, rawURL string) error {
			u, err := url.Parse(rawURL)
			if err != nil {
				return err
			}
			return pulsar.DeleteTopicURL(context.Background(), b.HTTPLookupURL(strings.TrimPrefix(u.Path, "/")))
		},
		// Group mode: durable Failover subscriptions whose cumulative ack
		// follows the commits (AckStore over the scenario's store).
		Group: func(t conformance.T, s driver.Stream, name string) ([]stream.ConsumerOption, error) {
			ps, ok := unwrap(s).(*pulsar.Stream)
			if !ok {
				return nil, fmt.Errorf("a pulsar harness stream is a %T", s)
			}
			gs.mu.Lock()
			store := gs.store
			gs.mu.Unlock()
			if store == nil {
				return nil, fmt.Errorf("no group store made yet")
			}
			return []stream.ConsumerOption{stream.WithGroup(name), stream.WithCheckpointStore(pulsar.NewAckStore(store, ps))}, nil
		},
		GroupStores: []conformance.StoreFactory{
			{Name: "memory", New: func(t conformance.T) (checkpoint.Store, error) { return gs.set(checkpoint.NewMemoryStore()), nil }},
			{Name: "file", New: func(t conformance.T) (checkpoint.Store, error) {
				st, err := checkpoint.NewFileStore(t.TempDir())
				if err != nil {
					return nil, err
				}
				return gs.set(st), nil
			}},
		},
		CanInjectFaults: true,
		Faults: func(t conformance.T, rawURL string) (conformance.Faults, error) {
			u, err := url.Parse(rawURL)
			if err != nil {
				return nil, err
			}
			return &pulsarFaults{b: b, topic: strings.TrimPrefix(u.Path, "/")}, nil
		},
	}
}

// groupStore remembers the store of the running group scenario, which
// the members wrap with an AckStore (scenarios run one at a time).
type groupStore struct {
	mu    sync.Mutex
	store checkpoint.Store
}

func (g *groupStore) set(s checkpoint.Store) checkpoint.Store {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.store = s
	return s
}

// pulsarFaults injects faults into one topic; it is a conformance.Faults
// and a conformance.ConnectionDropper.
type pulsarFaults struct {
	b     *pulsartest.Broker
	topic string
}

var _ conformance.ConnectionDropper = (*pulsarFaults)(nil)

// FailFetches fails the next n Fetch calls of the topic's readers.
func (f *pulsarFaults) FailFetches(n int) {
	faultsOf(f.topic).failFetches(n)
}

// FailWrites fails the next n Write calls to the topic whole, before
// anything is sent.
func (f *pulsarFaults) FailWrites(n int) {
	faultsOf(f.topic).failWrites(n)
}

// DropConnections cuts every client connection of the broker.
func (f *pulsarFaults) DropConnections() { f.b.DropConnections() }

// Clear removes the faults installed through f.
func (f *pulsarFaults) Clear() {
	faultsOf(f.topic).failFetches(0)
	faultsOf(f.topic).failWrites(0)
	f.b.Fake().ClearFaults()
}
