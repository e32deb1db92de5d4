package pulsar_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/unistream-go/unistream/adapters/pulsar"
	"github.com/unistream-go/unistream/adapters/pulsar/pulsartest"
)

// TestDeleteTopic deletes a partitioned and a plain topic through the
// admin REST API of pulsarfake's HTTP service; a topic that does not exist
// is deleted already, and a URL without lookup=http says what it needs.
func TestDeleteTopic(t *testing.T) {
	b := pulsartest.Start(t)
	ctx := context.Background()
	for name, parts := range map[string]int{"doomed-partitioned": 3, "doomed-plain": 0} {
		if err := b.CreateTopic(name, parts); err != nil {
			t.Fatal(err)
		}
	}
	for _, topic := range []string{"doomed-partitioned", "doomed-plain", "never-made"} {
		if err := pulsar.DeleteTopicURL(ctx, b.HTTPLookupURL(topic)); err != nil {
			t.Errorf("DeleteTopic(%s): %v", topic, err)
		}
	}
	if left := b.Fake().Topics(); slices.ContainsFunc(left, func(s string) bool { return strings.Contains(s, "doomed") }) {
		t.Errorf("deleted topics still listed: %v", left)
	}
	err := pulsar.DeleteTopicURL(ctx, b.URL("other"))
	if err == nil || !strings.Contains(err.Error(), "lookup=http") {
		t.Errorf("DeleteTopic over the binary protocol: %v, want an error asking for lookup=http", err)
	}
}
