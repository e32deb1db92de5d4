package dynamodb

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/middleware"

	"github.com/unistream-go/unistream/stream/checkpoint"
)

// opCounter counts the DynamoDB operations a client sends.
type opCounter struct {
	mu  sync.Mutex
	ops map[string]int
}

// take returns the counts since the last take, as "GetItem=1 UpdateItem=2".
func (c *opCounter) take() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := ""
	for _, op := range []string{"GetItem", "UpdateItem", "Query", "DescribeTable"} {
		if n := c.ops[op]; n > 0 {
			out += fmt.Sprintf(" %s=%d", op, n)
		}
	}
	c.ops = map[string]int{}
	return out
}

// countingClient returns a client of dynalite whose operations c counts.
func countingClient(t *testing.T, c *opCounter) *ddb.Client {
	count := func(stack *middleware.Stack) error {
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("countOps",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				c.mu.Lock()
				c.ops[awsmiddleware.GetOperationName(ctx)]++
				c.mu.Unlock()
				return next.HandleInitialize(ctx, in)
			}), middleware.Before)
	}
	return ddb.New(ddb.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint(t)),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIDTEST", SecretAccessKey: "secret-test"}, nil
		}),
		APIOptions: []func(*middleware.Stack) error{count}})
}

// TestSaveRequests counts what a Save sends: one conditional UpdateItem
// once the store knows the stored document (it saved or loaded it), and a
// GetItem first only when it does not.
func TestSaveRequests(t *testing.T) {
	ctx := context.Background()
	table := newStore(t).Table()
	var c opCounter
	c.ops = map[string]int{}
	s, err := New(ctx, table, WithClient(countingClient(t, &c)))
	if err != nil {
		t.Fatal(err)
	}
	k := checkpoint.Key{Consumer: "billing", Stream: "orders", Partition: "0"}
	step := func(what, want string, f func() error) {
		t.Helper()
		c.take()
		if err := f(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if got := c.take(); got != want {
			t.Errorf("%s sent%s, want%s", what, got, want)
		}
	}
	cp := &checkpoint.Checkpoint{Key: k}
	step("the first Save", " UpdateItem=1", func() error { return s.Save(ctx, cp) })
	for i := range 3 {
		cp.Counts.Succeeded++
		step(fmt.Sprintf("Save %d after a Save", i+2), " UpdateItem=1", func() error { return s.Save(ctx, cp) })
	}
	var loaded *checkpoint.Checkpoint
	step("Load", " GetItem=1", func() (err error) { loaded, err = s.Load(ctx, k); return err })
	step("Save after Load", " UpdateItem=1", func() error { return s.Save(ctx, loaded) })

	// Another process saves: this store no longer knows the stored
	// document, and must read it before it writes.
	other := reopen(t, s)
	theirs, err := other.Load(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Save(ctx, theirs); err != nil {
		t.Fatal(err)
	}
	step("Save of a version another store wrote", " GetItem=1 UpdateItem=1", func() error { return s.Save(ctx, theirs) })
	step("the next Save", " UpdateItem=1", func() error { return s.Save(ctx, theirs) })
}
