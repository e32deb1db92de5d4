package kinesisfake_test

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/unistream-go/unistream/adapters/kinesis/kinesisfake"
)

// Example drives the emulator with the real SDK client: it creates a
// stream, writes a record, throttles the next read, and reads the record.
func Example() {
	ctx := context.Background()
	srv, err := kinesisfake.Start()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	c := kinesis.New(kinesis.Options{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("any", "any", ""),
		BaseEndpoint: aws.String(srv.Endpoint()),
		Retryer:      aws.NopRetryer{},
		HTTPClient:   srv.HTTPClient(),
	})
	if err := srv.CreateStream("orders", 1); err != nil {
		fmt.Println(err)
		return
	}
	put, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("orders"), PartitionKey: aws.String("alice"), Data: []byte("book")})
	if err != nil {
		fmt.Println(err)
		return
	}
	it, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("orders"), ShardId: put.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
	if err != nil {
		fmt.Println(err)
		return
	}
	srv.Throttle("orders", "GetRecords", 1)
	if _, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator}); err != nil {
		var pt *types.ProvisionedThroughputExceededException
		fmt.Println("throttled:", errorsAs(err, &pt))
	}
	out, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s %s=%s\n", *put.ShardId, *out.Records[0].PartitionKey, out.Records[0].Data)
	// Output:
	// throttled: true
	// shardId-000000000000 alice=book
}
