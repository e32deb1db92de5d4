package containers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/testcontainers/testcontainers-go"
	tclocalstack "github.com/testcontainers/testcontainers-go/modules/localstack"
)

// LocalStackImage is the pinned LocalStack image, with Kinesis (backed by
// kinesis-mock) and DynamoDB (backed by DynamoDB Local). 4.4.0 is a
// release of the free community image from before LocalStack merged its
// images on 2026-03-23: "latest" and the calendar-versioned releases
// since then refuse to start without a LOCALSTACK_AUTH_TOKEN, while this
// pinned tag starts without one.
const LocalStackImage = "localstack/localstack:4.4.0"

// LocalStack's fixed credentials and region: it accepts any keys, and
// "test"/"test" maps to its default account 000000000000.
const (
	LocalStackRegion          = "us-east-1"
	LocalStackAccessKeyID     = "test"
	LocalStackSecretAccessKey = "test"
)

// localStackPort is LocalStack's edge port, which serves every service.
const localStackPort = "4566/tcp"

// LocalStack is a running LocalStack container serving Kinesis and
// DynamoDB on one endpoint.
type LocalStack struct {
	// Endpoint is the base endpoint for every AWS SDK client,
	// http://host:port (set it as the client's BaseEndpoint).
	Endpoint string
	// Region, AccessKeyID and SecretAccessKey are what the clients sign
	// with: LocalStackRegion and the "test" keys.
	Region          string
	AccessKeyID     string
	SecretAccessKey string

	started
}

// StartLocalStack starts LocalStack with the kinesis and dynamodb services
// and waits until its health endpoint answers. Kinesis answers without
// LocalStack's default artificial 500 ms latency (KINESIS_LATENCY=0). A
// LOCALSTACK_AUTH_TOKEN in this process's environment is passed on, for
// images that need one (see LocalStackImage). It fails with an error
// matching ErrNoDocker when no Docker engine answers. Close removes it.
//
// LocalStack mounts the Docker socket into its container (the
// testcontainers module does this for every LocalStack); Kinesis and
// DynamoDB do not start other containers.
func StartLocalStack(ctx context.Context, opts ...Option) (*LocalStack, error) {
	c := newConfig(LocalStackImage, opts)
	ctx, cancel, err := startContext(ctx, c, "localstack")
	if err != nil {
		return nil, err
	}
	defer cancel()
	env := map[string]string{
		"SERVICES":        "kinesis,dynamodb",
		"KINESIS_LATENCY": "0",
	}
	if tok := os.Getenv("LOCALSTACK_AUTH_TOKEN"); tok != "" {
		env["LOCALSTACK_AUTH_TOKEN"] = tok
	}
	lc, err := tclocalstack.Run(ctx, c.image, append(c.customizers(), testcontainers.WithEnv(env))...)
	l := &LocalStack{Region: LocalStackRegion, AccessKeyID: LocalStackAccessKeyID, SecretAccessKey: LocalStackSecretAccessKey}
	if lc != nil {
		l.ctr = lc.Container
	}
	if err != nil {
		return nil, errors.Join(fmt.Errorf("containers: start localstack (%s): %w", c.image, err), l.Close())
	}
	host, err := lc.Host(ctx)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("containers: localstack (%s): host: %w", c.image, err), l.Close())
	}
	port, err := lc.MappedPort(ctx, localStackPort)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("containers: localstack (%s): port %s: %w", c.image, localStackPort, err), l.Close())
	}
	l.Endpoint = "http://" + net.JoinHostPort(host, port.Port())
	return l, nil
}

// Config returns an AWS SDK configuration for l: its region and static
// credentials. Set the endpoint per client, as in
//
//	kinesis.NewFromConfig(l.Config(), func(o *kinesis.Options) { o.BaseEndpoint = aws.String(l.Endpoint) })
func (l *LocalStack) Config() aws.Config {
	return aws.Config{
		Region:      l.Region,
		Credentials: credentials.NewStaticCredentialsProvider(l.AccessKeyID, l.SecretAccessKey, ""),
	}
}

// streamActiveTimeout bounds the wait for a new stream to become ACTIVE.
const streamActiveTimeout = 2 * time.Minute

// CreateStream creates a Kinesis stream with the given number of shards
// and waits until it is ACTIVE (LocalStack creates streams
// asynchronously, as AWS does).
func (l *LocalStack) CreateStream(ctx context.Context, name string, shards int) error {
	if name == "" || shards < 1 {
		return fmt.Errorf("containers: localstack: create stream %q with %d shards: expected a name and at least one shard", name, shards)
	}
	kc := kinesis.NewFromConfig(l.Config(), func(o *kinesis.Options) { o.BaseEndpoint = aws.String(l.Endpoint) })
	if _, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(int32(shards))}); err != nil {
		return fmt.Errorf("containers: localstack: create stream %s with %d shards: %w", name, shards, err)
	}
	w := kinesis.NewStreamExistsWaiter(kc, func(o *kinesis.StreamExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 50*time.Millisecond, time.Second
	})
	if err := w.Wait(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String(name)}, streamActiveTimeout); err != nil {
		return fmt.Errorf("containers: localstack: stream %s did not become ACTIVE: %w", name, err)
	}
	return nil
}

// Container is the testcontainers-go container, for logs or exec.
func (l *LocalStack) Container() testcontainers.Container { return l.ctr }

// Close stops LocalStack and removes its container. Later calls return
// the first call's result.
func (l *LocalStack) Close() error { return l.close("localstack") }
