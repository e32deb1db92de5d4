// Package dynamodb is a checkpoint store on one Amazon DynamoDB table: a
// checkpoint.Store with compare-and-swap through conditional writes, and a
// checkpoint.Leaser for KCL-style partition leases (stream.WithLeases), so
// that several processes can share a Kinesis stream.
//
// It passes the shared store and lease suites (checkpoint/storetest)
// against dynalite.
//
//	store, err := dynamodb.New(ctx, "unistream-checkpoints",
//		dynamodb.WithRegion("eu-west-1"),
//		dynamodb.WithCreateTable(0))
//	if err != nil { ... }
//	defer store.Close()
//	c, err := stream.NewConsumer(s, handler, stream.WithCheckpointStore(store),
//		stream.WithLeases(store))
package dynamodb
