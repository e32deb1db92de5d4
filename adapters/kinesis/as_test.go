package kinesis_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/unistream-go/unistream/adapters/kinesis"
	"github.com/unistream-go/unistream/adapters/kinesis/kinesistest"
	"github.com/unistream-go/unistream/stream"
)

// TestStreamAs: a stream opened by URL tells its scheme and hands out the
// stream's own aws-sdk-go-v2 client (which works) and the *kinesis.Stream
// through As, and refuses other targets without touching them.
func TestStreamAs(t *testing.T) {
	b := kinesistest.Start(t)
	if err := b.CreateStream("orders", 2); err != nil {
		t.Fatal(err)
	}
	s, err := stream.Open(context.Background(), b.URL("orders", fastKeys...))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.Scheme(); got != "kinesis" {
		t.Errorf("Scheme() = %q, want kinesis", got)
	}
	var cl *awskinesis.Client
	if !s.As(&cl) || cl == nil {
		t.Fatal("As(**kinesis.Client) = false, want the stream's client")
	}
	out, err := cl.ListShards(context.Background(), &awskinesis.ListShardsInput{StreamName: aws.String("orders")})
	if err != nil || len(out.Shards) != 2 {
		t.Errorf("the client from As lists %v, %v; want 2 shards", out, err)
	}
	var ks *kinesis.Stream
	if !s.As(&ks) || ks.Name() != "orders" {
		t.Errorf("As(**kinesis.Stream) = %v, want the adapter's stream", ks)
	}
	wrong := "untouched"
	var nilClient **awskinesis.Client
	for name, target := range map[string]any{"*string": &wrong, "nil": nil, "non-pointer": cl, "nil **kinesis.Client": nilClient} {
		if s.As(target) {
			t.Errorf("As(%s) = true, want false", name)
		}
	}
	if wrong != "untouched" {
		t.Errorf("As(*string) changed its target to %q", wrong)
	}
}
