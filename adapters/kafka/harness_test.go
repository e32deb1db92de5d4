package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/unistream-go/unistream/adapters/kafka"
	"github.com/unistream-go/unistream/adapters/kafka/kafkatest"
	"github.com/unistream-go/unistream/conformance"
	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/driver"
)

// conformanceSeq numbers the topics the conformance harness creates.
var conformanceSeq atomic.Uint64

// conformanceHarness describes the Kafka adapter to the conformance suite,
// in standalone ownership mode, on one embedded kfake broker for the whole
// run: every stream is a fresh topic. Faults are injected in the broker
// through kfake (failed fetches, failed write calls) and at the socket
// level (every connection cut). Kafka fails a write per partition batch,
// never a single record of it, so the harness does not implement
// conformance.PartialWriteFaults; the per-record write rule is tested by
// the adapter's own tests. Kafka partitions never split or merge.
//
// Group mode runs the group scenarios with the Kafka store: each member
// keeps its checkpoints in its own group's commits, fenced by its
// generation. The broker allows short sessions so that rebalances (paced
// by the members' heartbeats) take a fraction of a second.
func conformanceHarness(t *testing.T) conformance.Harness {
	if target, err := conformance.CurrentTarget(); err == nil && target == conformance.Containers {
		t.Skip("UNISTREAM_TARGET=containers: Kafka in Docker is the containers module's test (make test-containers)")
	}
	c := kafkatest.Start(t, kafkatest.KfakeOptions(kfake.GroupMinSessionTimeout(100*time.Millisecond)))
	if err := c.CreateTopic(context.Background(), "conformance-store", 1); err != nil {
		t.Fatal(err)
	}
	return conformance.Harness{
		Name: "kafka",
		// kfake serves each client connection with a read and a write
		// goroutine that end after the client has closed, on kfake's time.
		BrokerFunctions: []string{
			"github.com/twmb/franz-go/pkg/kfake.(*clientConn).read",
			"github.com/twmb/franz-go/pkg/kfake.(*clientConn).write",
		},
		NewStream: func(t conformance.T, spec conformance.StreamSpec) (string, error) {
			topic := fmt.Sprintf("conformance-%d", conformanceSeq.Add(1))
			if err := c.CreateTopic(context.Background(), topic, spec.Partitions); err != nil {
				return "", err
			}
			// Short waits: an empty Fetch costs real time, and injected
			// faults should heal fast.
			return c.URL(topic, "fetch_wait", "5ms", "metadata_min_age", "50ms", "session_timeout", "1s", "rebalance_timeout", "10s"), nil
		},
		// DeleteTopics through kadm, as unistream conformance does.
		DeleteStream: func(t conformance.T, url string) error { return kafka.DeleteTopicURL(context.Background(), url) },
		Group: func(t conformance.T, s driver.Stream, name string) ([]stream.ConsumerOption, error) {
			ks, ok := s.(*kafka.Stream)
			if !ok {
				return nil, fmt.Errorf("a kafka harness stream is a %T", s)
			}
			return []stream.ConsumerOption{stream.WithGroup(name), stream.WithCheckpointStore(kafka.NewStore(ks))}, nil
		},
		GroupStores: []conformance.StoreFactory{{Name: "kafka", New: func(t conformance.T) (checkpoint.Store, error) {
			s, err := kafka.Open(context.Background(), kafka.Options{Target: kafka.Target{Brokers: c.Addrs(), Topic: "conformance-store"}})
			if err != nil {
				return nil, err
			}
			t.Cleanup(func() { s.Close() })
			return kafka.NewStore(s), nil
		}}},
		CanInjectFaults: true,
		Faults: func(t conformance.T, rawURL string) (conformance.Faults, error) {
			u, err := url.Parse(rawURL)
			if err != nil {
				return nil, err
			}
			return &kafkaFaults{c: c, topic: strings.TrimPrefix(u.Path, "/")}, nil
		},
	}
}

// kafkaFaults injects broker faults into one topic; it is a
// conformance.Faults and a conformance.ConnectionDropper. Every fault is
// the broker's (kfake's): the adapter has no fault hook.
type kafkaFaults struct {
	c     *kafkatest.Cluster
	topic string

	mu     sync.Mutex
	faults []interface{ Remove() }
}

var _ conformance.ConnectionDropper = (*kafkaFaults)(nil)

func (f *kafkaFaults) add(x interface{ Remove() }) {
	f.mu.Lock()
	f.faults = append(f.faults, x)
	f.mu.Unlock()
}

// FailFetches fails the next n fetch requests of the topic with
// UNKNOWN_SERVER_ERROR, which franz-go does not retry by itself: the
// reader returns it and the engine retries. (Errors Kafka calls retriable,
// such as NOT_LEADER_OR_FOLLOWER, franz-go retries inside the reader, and
// the engine never sees them; the adapter's tests cover both.)
func (f *kafkaFaults) FailFetches(n int) {
	f.add(f.c.FailFetch(f.topic, n, kerr.UnknownServerError))
}

// FailWrites fails the next n Write calls to the topic whole, in the
// broker: see failWriteCalls.
func (f *kafkaFaults) FailWrites(n int) {
	f.add(failWriteCalls(f.c, f.topic, n))
}

// failWriteCalls makes the broker fail the next n Write calls to topic
// whole: every produce request of such a call is answered
// UNKNOWN_SERVER_ERROR for every partition of the topic in it (franz-go
// does not retry it), so every record of the call fails and nothing of it
// is stored. Counting produce requests would not count calls: franz-go
// may split one Write into several requests. A call is told apart by its
// producer's id and epoch instead: a writer's idempotent client sends all
// of one call under one epoch, and bumps the epoch after a failed batch,
// so its next call comes under a new one; writers (the producer's lanes)
// have producer ids of their own.
//
// The count is exact for calls to one partition by a writer that has
// written before. The broker sees only requests, and franz-go bumps the
// epoch as soon as one batch fails: the rest of a call to several
// partitions (batches it re-sends, partitions it had not sent yet) then
// comes under the next epoch and counts as another call; so does the rest
// of a writer's first call, whose records reach the partitions one by one
// while its client loads the topic's metadata.
func failWriteCalls(c *kafkatest.Cluster, topic string, n int) *kfake.FaultHandle {
	type producerEpoch struct {
		id    int64
		epoch int16
	}
	var (
		mu      sync.Mutex
		left    = n
		failing = map[producerEpoch]bool{} // the calls being failed
	)
	// When runs on kfake's goroutine, once per partition of the request.
	when := func(req kmsg.Request) bool {
		id, epoch, ok := producerOf(req)
		if !ok {
			return false
		}
		k := producerEpoch{id, epoch}
		mu.Lock()
		defer mu.Unlock()
		if failing[k] {
			return true
		}
		if left <= 0 {
			return false
		}
		left--
		failing[k] = true
		return true
	}
	return c.Kfake().Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: topic, Count: -1, Err: kerr.UnknownServerError, When: when})
}

// producerOf returns the producer id and epoch of a produce request's
// first record batch.
func producerOf(req kmsg.Request) (id int64, epoch int16, ok bool) {
	pr, isProduce := req.(*kmsg.ProduceRequest)
	if !isProduce {
		return 0, 0, false
	}
	for _, t := range pr.Topics {
		for _, p := range t.Partitions {
			var b kmsg.RecordBatch
			if err := b.ReadFrom(p.Records); err == nil {
				return b.ProducerID, b.ProducerEpoch, true
			}
		}
	}
	return 0, 0, false
}

// DropConnections cuts every client connection of the broker.
func (f *kafkaFaults) DropConnections() { f.c.CutConnections() }

// Clear removes the faults installed through f.
func (f *kafkaFaults) Clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, x := range f.faults {
		x.Remove()
	}
	f.faults = nil
}

// TestFailWriteCalls: the harness's broker fault fails exactly the next n
// Write calls, each whole (every record, over every partition, with the
// broker's error), and stores nothing of them; writers count apart, and
// the calls after the n-th go through.
func TestFailWriteCalls(t *testing.T) {
	c := kafkatest.Start(t)
	s := newTopic(t, c, 1) // see failWriteCalls
	w1, w2 := openWriter(t, s), openWriter(t, s)
	call := func(w driver.Writer, prefix string) []driver.WriteResult {
		t.Helper()
		recs := make([]driver.Record, 6)
		for i := range recs {
			recs[i] = rec(fmt.Sprintf("%s%d", prefix, i), fmt.Sprint("k", i), "v")
		}
		res := make([]driver.WriteResult, len(recs))
		if err := w.Write(bg, recs, res); err != nil {
			t.Fatalf("Write %s: %v", prefix, err)
		}
		return res
	}
	failedAll := func(res []driver.WriteResult) bool {
		for _, r := range res {
			if !errors.Is(r.Err, kerr.UnknownServerError) {
				return false
			}
		}
		return true
	}
	// Writers that have written (see failWriteCalls).
	call(w1, "warm-w1-")
	call(w2, "warm-w2-")
	fault := failWriteCalls(c, s.Name(), 3)
	defer fault.Remove()
	for _, tc := range []struct {
		w      driver.Writer
		prefix string
		fail   bool
	}{
		{w1, "a", true}, {w2, "b", true}, {w1, "c", true}, // the 3 failed calls
		{w2, "d", false}, {w1, "e", false},
	} {
		res := call(tc.w, tc.prefix)
		if got := failedAll(res); got != tc.fail {
			t.Errorf("call %s: every record failed with UNKNOWN_SERVER_ERROR = %v, want %v (results %+v)", tc.prefix, got, tc.fail, res)
		}
	}
	var got []string
	for _, r := range readAll(t, s) {
		if !strings.HasPrefix(r.ID, "warm-") {
			got = append(got, r.ID)
		}
	}
	slices.Sort(got)
	if want := "d0 d1 d2 d3 d4 d5 e0 e1 e2 e3 e4 e5"; strings.Join(got, " ") != want {
		t.Errorf("the topic holds %q, want %q", strings.Join(got, " "), want)
	}
}

// openWriter opens a writer of s, closed when t ends.
func openWriter(t *testing.T, s driver.Stream) driver.Writer {
	t.Helper()
	w, err := s.OpenWriter(bg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}
