package pulsarfake_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/apache/pulsar-client-go/pulsar"
	plog "github.com/apache/pulsar-client-go/pulsar/log"
	"github.com/sirupsen/logrus"

	"github.com/unistream-go/unistream/adapters/pulsar/pulsarfake"
)

// startBroker starts a broker closed at the end of the test.
func startBroker(t testing.TB, opts ...pulsarfake.Option) *pulsarfake.Broker {
	t.Helper()
	if os.Getenv("PULSARFAKE_DEBUG") != "" {
		opts = append(opts, pulsarfake.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	}
	b, err := pulsarfake.NewBroker(opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return b
}

// quietLogger keeps the client's logs out of the test output unless
// PULSARFAKE_DEBUG is set.
func quietLogger() plog.Logger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	if os.Getenv("PULSARFAKE_DEBUG") != "" {
		l.SetOutput(os.Stderr)
		l.SetLevel(logrus.DebugLevel)
	}
	return plog.NewLoggerWithLogrus(l)
}

// newClient connects a pulsar-client-go client to url, closed at the end.
func newClient(t *testing.T, url string) pulsar.Client {
	t.Helper()
	c, err := pulsar.NewClient(pulsar.ClientOptions{
		URL:               url,
		OperationTimeout:  10 * time.Second,
		ConnectionTimeout: 5 * time.Second,
		Logger:            quietLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newProducer(t *testing.T, c pulsar.Client, opts pulsar.ProducerOptions) pulsar.Producer {
	t.Helper()
	p, err := c.CreateProducer(opts)
	if err != nil {
		t.Fatalf("CreateProducer(%s): %v", opts.Topic, err)
	}
	t.Cleanup(p.Close)
	return p
}

func newConsumer(t *testing.T, c pulsar.Client, opts pulsar.ConsumerOptions) pulsar.Consumer {
	t.Helper()
	cons, err := c.Subscribe(opts)
	if err != nil {
		t.Fatalf("Subscribe(%s, %s): %v", opts.Topic, opts.SubscriptionName, err)
	}
	t.Cleanup(cons.Close)
	return cons
}

func send(t *testing.T, p pulsar.Producer, msgs ...string) []pulsar.MessageID {
	t.Helper()
	var ids []pulsar.MessageID
	for _, m := range msgs {
		id, err := p.Send(ctxT(t), &pulsar.ProducerMessage{Payload: []byte(m)})
		if err != nil {
			t.Fatalf("Send(%q): %v", m, err)
		}
		ids = append(ids, id)
	}
	return ids
}

// receive reads n messages from c, acking none.
func receive(t *testing.T, c pulsar.Consumer, n int) []pulsar.Message {
	t.Helper()
	var out []pulsar.Message
	for len(out) < n {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		m, err := c.Receive(ctx)
		cancel()
		if err != nil {
			t.Fatalf("Receive after %d of %d messages: %v", len(out), n, err)
		}
		out = append(out, m)
	}
	return out
}

// expectNothing checks that c has no message within d.
func expectNothing(t *testing.T, c pulsar.Consumer, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if m, err := c.Receive(ctx); err == nil {
		t.Fatalf("unexpected message %q (id %v, redelivery %d)", m.Payload(), m.ID(), m.RedeliveryCount())
	}
}

func payloads(ms []pulsar.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = string(m.Payload())
	}
	return out
}

func seq(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestProduceConsume(t *testing.T) {
	b := startBroker(t)
	c := newClient(t, b.ServiceURL())
	topic := "persistent://public/default/basic"
	cons := newConsumer(t, c, pulsar.ConsumerOptions{Topic: topic, SubscriptionName: "s", Type: pulsar.Exclusive})
	p := newProducer(t, c, pulsar.ProducerOptions{Topic: topic, DisableBatching: true})
	want := seq("m", 20)
	ids := send(t, p, want...)
	for i := 1; i < len(ids); i++ {
		if ids[i].EntryID() != ids[i-1].EntryID()+1 || ids[i].LedgerID() != ids[0].LedgerID() {
			t.Fatalf("message ids not consecutive: %v then %v", ids[i-1], ids[i])
		}
	}
	got := receive(t, cons, len(want))
	if !equalStrings(payloads(got), want) {
		t.Fatalf("got %v, want %v", payloads(got), want)
	}
	for i, m := range got {
		if m.ID().EntryID() != ids[i].EntryID() {
			t.Errorf("message %d: id %v, send returned %v", i, m.ID(), ids[i])
		}
		if m.RedeliveryCount() != 0 {
			t.Errorf("message %d: redelivery count %d, want 0", i, m.RedeliveryCount())
		}
		if err := cons.Ack(m); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := b.MessageCount(topic); err != nil || n != 20 {
		t.Fatalf("MessageCount = %d, %v; want 20", n, err)
	}
}
