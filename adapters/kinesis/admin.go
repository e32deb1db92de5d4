package kinesis

import (
	"context"
	"fmt"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
)

// deleteWait bounds how long DeleteStream waits for a stream to be gone.
const deleteWait = 5 * time.Minute

// DeleteStream deletes the stream o names (and the consumers registered
// on it) and returns once the stream is gone. Kinesis deletes a stream
// asynchronously, and a stream in DELETING still counts against the
// account's shard limit, so "gone" means DescribeStreamSummary no longer
// finds it. A stream that does not exist is gone already. ctx bounds the
// whole call; without an earlier deadline it gives up after 5 minutes.
func DeleteStream(ctx context.Context, o Options) error {
	o.CreateStream, o.Shards = false, 0 // the create options do not apply
	o = o.withDefaults()
	if err := o.Validate(); err != nil {
		return err
	}
	var closed atomic.Bool
	client, tr, err := newClient(ctx, o, &closed)
	if err != nil {
		return err
	}
	defer tr.CloseIdleConnections()
	s := &Stream{o: o, client: client} // for nameArg, arnArg, reqCtx
	rctx, cancel := s.reqCtx(ctx)
	_, err = client.DeleteStream(rctx, &kinesis.DeleteStreamInput{StreamName: s.nameArg(), StreamARN: s.arnArg(), EnforceConsumerDeletion: aws.Bool(true)})
	cancel()
	if err != nil && apiCode(err) != "ResourceNotFoundException" {
		return fmt.Errorf("kinesis: delete stream %s: %w", o.Stream, err)
	}
	deadline := time.Now().Add(deleteWait)
	for {
		rctx, cancel := s.reqCtx(ctx)
		out, err := client.DescribeStreamSummary(rctx, &kinesis.DescribeStreamSummaryInput{StreamName: s.nameArg(), StreamARN: s.arnArg()})
		cancel()
		switch {
		case apiCode(err) == "ResourceNotFoundException":
			return nil
		case err != nil:
			return fmt.Errorf("kinesis: delete stream %s: wait for it to be gone: %w", o.Stream, err)
		}
		if time.Now().After(deadline) {
			status := "still listed"
			if out.StreamDescriptionSummary != nil {
				status = string(out.StreamDescriptionSummary.StreamStatus)
			}
			return fmt.Errorf("kinesis: delete stream %s: still %s after %v: expected it gone", o.Stream, status, deleteWait)
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return fmt.Errorf("kinesis: delete stream %s: wait for it to be gone: %w", o.Stream, err)
		}
	}
}

// DeleteStreamURL is DeleteStream with the options of a kinesis:// URL (the one the stream
// was opened with; its create options are ignored).
func DeleteStreamURL(ctx context.Context, rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("kinesis: delete stream: %w", err)
	}
	o, err := ParseURL(u)
	if err != nil {
		return err
	}
	return DeleteStream(ctx, o)
}
