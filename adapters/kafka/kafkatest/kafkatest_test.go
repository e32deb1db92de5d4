package kafkatest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"

	"github.com/unistream-go/unistream/adapters/kafka/kafkatest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestNewErrors(t *testing.T) {
	if _, err := kafkatest.New(kafkatest.Brokers(0)); err == nil || !strings.Contains(err.Error(), "0 brokers") {
		t.Errorf("New(0 brokers) = %v", err)
	}
	if _, err := kafkatest.New(kafkatest.Topic("t", 0)); err == nil || !strings.Contains(err.Error(), "topic t with 0 partitions") {
		t.Errorf("New(topic with 0 partitions) = %v", err)
	}
}

func TestClusterHelpers(t *testing.T) {
	ctx := context.Background()
	c := kafkatest.Start(t, kafkatest.Brokers(2), kafkatest.Topic("seeded", 3))
	if len(c.Addrs()) != 2 || !strings.HasPrefix(c.Addrs()[0], "127.0.0.1:") {
		t.Errorf("Addrs = %v", c.Addrs())
	}
	u := c.URL("orders", "fetch_wait", "5ms")
	if !strings.HasPrefix(u, "kafka://127.0.0.1:") || !strings.Contains(u, ",127.0.0.1:") || !strings.HasSuffix(u, "/orders?fetch_wait=5ms") {
		t.Errorf("URL = %q", u)
	}
	if c.Kfake() == nil {
		t.Error("Kfake() is nil")
	}
	cl, err := c.Client(kgo.DefaultProduceTopic("seeded"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if err := c.CreateTopic(ctx, "made", 2); err != nil {
		t.Fatal(err)
	}
	if err := c.AddPartitions(ctx, "made", 1); err != nil {
		t.Fatal(err)
	}
	tds, err := adm.ListTopics(ctx, "seeded", "made")
	if err != nil || len(tds["seeded"].Partitions) != 3 || len(tds["made"].Partitions) != 3 {
		t.Fatalf("topics = %v, %v", tds, err)
	}

	// A failed ListOffsets, then a delayed produce that still succeeds.
	f := c.FailListOffsets("seeded", 1, kerr.UnknownServerError)
	if _, err := adm.ListEndOffsets(ctx, "seeded"); err != nil {
		t.Fatal(err)
	}
	if f.Hits() != 1 {
		t.Errorf("the ListOffsets fault answered %d requests", f.Hits())
	}
	c.Delay(kmsg.Produce, 1, 100*time.Millisecond)
	c.Delay(kmsg.Produce, 0, time.Hour) // a no-op
	t0 := time.Now()
	rec, err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).First()
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d < 100*time.Millisecond {
		t.Errorf("a delayed produce took %v, want at least 100ms", d)
	}
	if err := c.DeleteRecords(ctx, "seeded", rec.Partition, 1); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteRecords(ctx, "seeded", rec.Partition, 99); err == nil {
		t.Error("DeleteRecords past the end succeeded")
	}

	// Dropped connections: the client reconnects.
	<-c.DropConnections(kmsg.Metadata, 0)
	done := c.DropConnections(kmsg.Produce, 1)
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("y")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	<-done
	if n := c.CutConnections(); n == 0 {
		t.Error("CutConnections closed nothing")
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("z")}).FirstErr(); err != nil {
		t.Fatalf("produce after the cut: %v", err)
	}
	c.Close()
	c.Close() // idempotent
}
