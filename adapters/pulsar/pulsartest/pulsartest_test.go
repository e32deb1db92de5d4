package pulsartest_test

import (
	"context"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/unistream-go/unistream/adapters/pulsar/pulsartest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestBrokerURLsAndTopics(t *testing.T) {
	b := pulsartest.Start(t, pulsartest.Topic("orders", 3), pulsartest.Topic("acme/billing/invoices", 0))
	if got := b.URL("orders", "send_timeout", "2s"); got != "pulsar://"+b.Addr()+"/orders?send_timeout=2s" {
		t.Errorf("URL = %s", got)
	}
	if got := b.HTTPLookupURL("orders"); !strings.HasPrefix(got, "pulsar://"+strings.TrimPrefix(b.HTTPURL(), "http://")+"/orders?") || !strings.Contains(got, "lookup=http") {
		t.Errorf("HTTPLookupURL = %s", got)
	}
	if err := b.CreateTopic("orders", 3); err != nil {
		t.Errorf("CreateTopic of an existing topic with its partition count: %v", err)
	}
	if err := b.CreateTopic("orders", 2); err == nil || !strings.Contains(err.Error(), "orders") {
		t.Errorf("CreateTopic with another partition count: %v, want an error naming the topic", err)
	}
	topics := strings.Join(b.Fake().Topics(), " ")
	for _, want := range []string{"persistent://public/default/orders", "persistent://acme/billing/invoices"} {
		if !strings.Contains(topics, want) {
			t.Errorf("topics %s lack %s", topics, want)
		}
	}
}

func TestNewFailsOnBadTopic(t *testing.T) {
	if b, err := pulsartest.New(context.Background(), pulsartest.Topic("orders", -1)); err == nil {
		b.Close()
		t.Fatal("New with -1 partitions: no error")
	}
}
