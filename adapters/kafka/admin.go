package kafka

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// DeleteTopic deletes the topic o names (DeleteTopics through kadm) and
// returns once the controller accepted the deletion. A topic that does not
// exist is deleted already. ctx bounds the call, and each request the
// request timeout.
func DeleteTopic(ctx context.Context, o Options) error {
	o.CreateTopic, o.Partitions = false, 0 // the create options do not apply
	o = o.withDefaults()
	if err := o.Validate(); err != nil {
		return err
	}
	o = o.resolved()
	base, err := baseOpts(o)
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(base...)
	if err != nil {
		return fmt.Errorf("kafka: delete topic %s: new client: %w", o.Topic, err)
	}
	defer cl.Close()
	rctx, cancel := context.WithTimeout(ctx, o.RequestTimeout)
	defer cancel()
	resp, err := kadm.NewClient(cl).DeleteTopic(rctx, o.Topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.UnknownTopicOrPartition) {
		return fmt.Errorf("kafka: delete topic %s on %v: %w", o.Topic, o.Brokers, err)
	}
	return nil
}

// DeleteTopicURL is DeleteTopic with the options of a kafka:// URL (the one the topic
// was opened with; its create options are ignored).
func DeleteTopicURL(ctx context.Context, rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("kafka: delete topic: %w", err)
	}
	o, err := ParseURL(u)
	if err != nil {
		return err
	}
	return DeleteTopic(ctx, o)
}
