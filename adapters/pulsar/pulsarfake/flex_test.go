package pulsarfake_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/pulsar-client-go/pulsar"

	"github.com/unistream-go/unistream/internal/nodeemu"
)

// TestPulsarFlexClient has a second, independent client implementation
// (the pure-JavaScript pulsar-flex from npm) produce to and consume from
// the fake, next to pulsar-client-go on the same topic.
func TestPulsarFlexClient(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not installed (apt-get install nodejs npm): %v", err)
	}
	mods, err := nodeemu.ModulesDir()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(mods, "pulsar-flex")); err != nil {
		t.Fatalf("pulsar-flex is not installed in %s: run `make tools`: %v", mods, err)
	}
	script, err := filepath.Abs(filepath.Join("testdata", "flex.js"))
	if err != nil {
		t.Fatal(err)
	}

	b := startBroker(t)
	topic := "persistent://public/default/flex"
	c := newClient(t, b.ServiceURL())
	// pulsar-flex 1.1.1 does not send the initial position (its
	// subscriptions start at the latest message): create its durable
	// subscription at the earliest position first.
	pre := newConsumer(t, c, pulsar.ConsumerOptions{Topic: topic, SubscriptionName: "flex-sub", Type: pulsar.Shared, SubscriptionInitialPosition: pulsar.SubscriptionPositionEarliest})
	pre.Close()
	// pulsar-client-go writes first: one plain message and a batch of two.
	p := newProducer(t, c, pulsar.ProducerOptions{Topic: topic, DisableBatching: true})
	send(t, p, "go-0")
	bp := newProducer(t, c, pulsar.ProducerOptions{Topic: topic, BatchingMaxMessages: 2, BatchingMaxPublishDelay: time.Hour})
	for _, m := range []string{"go-b0", "go-b1"} {
		bp.SendAsync(context.Background(), &pulsar.ProducerMessage{Payload: []byte(m)}, func(_ pulsar.MessageID, _ *pulsar.ProducerMessage, err error) {
			if err != nil {
				t.Errorf("SendAsync: %v", err)
			}
		})
	}
	if err := bp.FlushWithCtx(context.Background()); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Env = append(os.Environ(), "NODE_PATH="+mods, "BROKER="+b.Addr(), "TOPIC="+topic, "WANT=8", "FLEX_TIMEOUT_MS=8000")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("pulsar-flex: %v\n%s", err, out.String())
	}
	var got []string
	for _, line := range strings.Split(out.String(), "\n") {
		if rest, ok := strings.CutPrefix(line, "RESULT "); ok {
			if err := json.Unmarshal([]byte(rest), &got); err != nil {
				t.Fatalf("pulsar-flex output %q: %v", rest, err)
			}
		}
	}
	// pulsar-flex delivers a batch as one message with the batch payload, so
	// compare the messages it saw by their text content.
	joined := strings.Join(got, "|")
	for _, want := range []string{"go-0", "go-b0", "go-b1", "flex-0", "flex-1", "flex-2", "flex-b0", "flex-b1"} {
		if !strings.Contains(joined, want) {
			t.Errorf("pulsar-flex did not consume %s; it got %q\n%s", want, got, out.String())
		}
	}

	// And pulsar-client-go reads what pulsar-flex wrote, batch included.
	cons := newConsumer(t, c, pulsar.ConsumerOptions{Topic: topic, SubscriptionName: "go", SubscriptionInitialPosition: pulsar.SubscriptionPositionEarliest})
	var all []string
	for _, m := range receive(t, cons, 8) {
		all = append(all, string(m.Payload()))
		if m.Topic() != topic {
			t.Errorf("message topic %q", m.Topic())
		}
		if strings.HasPrefix(string(m.Payload()), "flex-") && !strings.HasPrefix(string(m.Payload()), "flex-b") && m.Properties()["from"] != "flex" {
			t.Errorf("%s: properties %v, want from=flex", m.Payload(), m.Properties())
		}
	}
	sort.Strings(all)
	want := []string{"flex-0", "flex-1", "flex-2", "flex-b0", "flex-b1", "go-0", "go-b0", "go-b1"}
	if !equalStrings(all, want) {
		t.Fatalf("pulsar-client-go read %v, want %v", all, want)
	}
	// pulsar-flex acked every message (a batch by its entry id): nothing is
	// left on its subscription.
	backlog, err := b.Backlog(topic, "flex-sub")
	if err != nil {
		t.Fatal(err)
	}
	if backlog != 0 {
		t.Fatalf("backlog of flex-sub = %d after pulsar-flex acked everything, want 0", backlog)
	}
}
