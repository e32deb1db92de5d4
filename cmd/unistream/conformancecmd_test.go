//go:build !unistream_lite

package main

import (
	"context"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/unistream-go/unistream/internal/nodeemu"
)

// limitedKinesalite starts kinesalite with an account shard limit of 10
// (Kinesis's old default, and the emulators') whose deleted streams stay
// DELETING, still counting against the limit, for a second. It returns the
// endpoint and a function listing the streams that exist.
func limitedKinesalite(t *testing.T) (endpoint string, list func() []string) {
	t.Helper()
	script := nodeemu.Kinesalite
	for _, r := range [][2]string{{"shardLimit:50", "shardLimit:10"}, {"deleteStreamMs:50", "deleteStreamMs:1000"}} {
		if !strings.Contains(script, r[0]) {
			t.Fatalf("nodeemu.Kinesalite has no %q to replace: %s", r[0], script)
		}
		script = strings.Replace(script, r[0], r[1], 1)
	}
	p, err := nodeemu.Start(context.Background(), "kinesalite", script)
	if err != nil {
		t.Fatalf("start kinesalite: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("kinesalite output:\n%s", p.Output())
		}
		p.Close()
	})
	endpoint = "http://" + p.Addr
	client := awskinesis.New(awskinesis.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("kinesalite", "kinesalite", ""),
	})
	return endpoint, func() []string {
		out, err := client.ListStreams(context.Background(), &awskinesis.ListStreamsInput{})
		if err != nil {
			t.Fatalf("ListStreams: %v", err)
		}
		return out.StreamNames
	}
}

// kinesisTemplate is the --stream template of streams on endpoint.
func kinesisTemplate(endpoint string) string {
	q := url.Values{}
	for _, kv := range [][2]string{
		{"endpoint", endpoint}, {"region", "us-east-1"}, {"access_key_id", "kinesalite"}, {"secret_access_key", "kinesalite"},
		{"create_stream", "true"}, {"poll_interval", "5ms"}, {"max_poll_interval", "20ms"}, {"throttle_backoff", "5ms"},
	} {
		q.Set(kv[0], kv[1])
	}
	return "kinesis://{name}?" + q.Encode() + "&shards={partitions}"
}

// TestConformanceDeletesItsStreams runs the round trip (a stream of 4
// shards) with three checkpoint stores against a kinesalite allowing 10
// shards: 12 shards in all, so the run passes only if each scenario's
// stream is deleted, and gone (not DELETING), before the next is created.
// Nothing it created is left, and the report says external.
func TestConformanceDeletesItsStreams(t *testing.T) {
	endpoint, list := limitedKinesalite(t)
	r := cli(t, "", nil, "conformance", "--stream", kinesisTemplate(endpoint),
		"--checkpoint", fileURL(filepath.Join(t.TempDir(), "cp")), "--run", "^01_round_trip$")
	if r.code != 0 {
		t.Fatalf("conformance failed: %s", r)
	}
	for _, want := range []string{
		"conformance of kinesis: 3 pass, 0 skip, 0 fail",
		"| kinesis | external | 3 | 0 | 0 |",
		"01_round_trip · memory: created 1 (4 shards), deleted 1",
		"Created 3 streams (12 shards): 3 deleted, 0 kept, 0 not deleted.",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q\n%s", want, r)
		}
	}
	if strings.Contains(r.stdout+r.stderr, "LimitExceeded") || strings.Contains(r.stdout, "embedded") {
		t.Errorf("the run hit the shard limit, or calls itself embedded\n%s", r)
	}
	if left := list(); len(left) != 0 {
		t.Errorf("streams left (or still DELETING) after the run: %v", left)
	}
}

// TestConformanceKeepAndShardBudget keeps the streams: the third run of
// the round trip would take the kept 8 shards to 12, over --max-shards 10,
// so it is not created and fails naming the budget; kinesalite's own limit
// is never hit, and the two kept streams remain.
func TestConformanceKeepAndShardBudget(t *testing.T) {
	endpoint, list := limitedKinesalite(t)
	r := cli(t, "", nil, "conformance", "--stream", kinesisTemplate(endpoint), "--keep", "--max-shards", "10",
		"--checkpoint", fileURL(filepath.Join(t.TempDir(), "cp")), "--run", "^01_round_trip$")
	if r.code != exitError {
		t.Fatalf("exit %d, want %d (a scenario over the budget fails)\n%s", r.code, exitError, r)
	}
	for _, want := range []string{
		"conformance of kinesis: 2 pass, 0 skip, 1 fail",
		"shard budget of 10 (MaxShards, --max-shards) exceeded: a stream of 4 shards would make 12; 8 shards are held",
		"Created 2 streams (8 shards): 0 deleted, 2 kept, 0 not deleted.",
		"Kept (--keep): conformance-",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q\n%s", want, r)
		}
	}
	if strings.Contains(r.stdout+r.stderr, "LimitExceeded") {
		t.Errorf("the run hit kinesalite's shard limit\n%s", r)
	}
	left := list()
	kept := regexp.MustCompile(`conformance-\d{8}t\d{6}-\d+`).FindAllString(r.stdout[strings.Index(r.stdout, "Kept (--keep):"):], -1)
	slices.Sort(left)
	slices.Sort(kept)
	if len(left) != 2 || !slices.Equal(left, kept) {
		t.Errorf("streams on kinesalite %v, the report kept %v; want the same two", left, kept)
	}
}
