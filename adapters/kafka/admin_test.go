package kafka_test

import (
	"context"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/unistream-go/unistream/adapters/kafka"
	"github.com/unistream-go/unistream/adapters/kafka/kafkatest"
)

// TestDeleteTopic deletes a topic through the adapter (DeleteTopics on
// kfake) from the URL it was created with; a topic that does not exist is
// deleted already.
func TestDeleteTopic(t *testing.T) {
	c := kafkatest.Start(t)
	ctx := context.Background()
	if err := c.CreateTopic(ctx, "doomed", 3); err != nil {
		t.Fatal(err)
	}
	for _, topic := range []string{"doomed", "never-made"} {
		if err := kafka.DeleteTopicURL(ctx, c.URL(topic, "create_topic", "true", "partitions", "3")); err != nil {
			t.Fatalf("DeleteTopic(%s): %v", topic, err)
		}
	}
	cl, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	topics, err := kadm.NewClient(cl).ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if topics.Has("doomed") {
		t.Errorf("the deleted topic is still listed: %v", topics.Names())
	}
	if err := kafka.DeleteTopicURL(ctx, "kafka://"); err == nil || !strings.Contains(err.Error(), "kafka") {
		t.Errorf("DeleteTopic of a URL without brokers or topic: %v, want an error", err)
	}
}
