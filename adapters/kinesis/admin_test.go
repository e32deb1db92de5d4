package kinesis_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/unistream-go/unistream/adapters/kinesis"
	"github.com/unistream-go/unistream/adapters/kinesis/kinesistest"
	"github.com/unistream-go/unistream/internal/nodeemu"
)

// TestDeleteStreamWaitsUntilGone deletes streams on kinesisfake and on a
// kinesalite that keeps a deleted stream DELETING (still counted against
// the shard limit) for 500 ms: DeleteStream returns only once the stream
// is no longer listed, and a stream that does not exist is gone already.
func TestDeleteStreamWaitsUntilGone(t *testing.T) {
	script := strings.Replace(nodeemu.Kinesalite, "deleteStreamMs:50", "deleteStreamMs:500", 1)
	if script == nodeemu.Kinesalite {
		t.Fatalf("nodeemu.Kinesalite has no deleteStreamMs:50 to replace: %s", script)
	}
	p, err := nodeemu.Start(context.Background(), "kinesalite", script)
	if err != nil {
		t.Fatalf("start kinesalite: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	fake := kinesistest.Start(t)
	for _, tc := range []struct {
		name string
		url  func(stream string, kv ...string) string
	}{
		{"kinesisfake", fake.URL},
		{"kinesalite", func(stream string, kv ...string) string { return kinesaliteURL("http://"+p.Addr, stream, kv...) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			u, err := url.Parse(tc.url("doomed", "create_stream", "true", "shards", "3"))
			if err != nil {
				t.Fatal(err)
			}
			o, err := kinesis.ParseURL(u)
			if err != nil {
				t.Fatal(err)
			}
			s, err := kinesis.Open(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			client := s.Client()
			defer s.Close()
			if err := kinesis.DeleteStreamURL(ctx, tc.url("doomed", "create_stream", "true", "shards", "3")); err != nil {
				t.Fatalf("DeleteStream: %v", err)
			}
			out, err := client.ListStreams(ctx, &awskinesis.ListStreamsInput{})
			if err != nil {
				t.Fatal(err)
			}
			if len(out.StreamNames) != 0 {
				t.Errorf("after DeleteStream returned, the emulator lists %v (DELETING counts against the shard limit)", out.StreamNames)
			}
			if _, err := client.DescribeStreamSummary(ctx, &awskinesis.DescribeStreamSummaryInput{StreamName: aws.String("doomed")}); err == nil {
				t.Errorf("DescribeStreamSummary still finds the deleted stream")
			}
			if err := kinesis.DeleteStreamURL(ctx, tc.url("never-made")); err != nil {
				t.Errorf("DeleteStream of a stream that does not exist: %v, want nil", err)
			}
		})
	}
}
