package dynamodb

import (
	"fmt"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// Option configures a Store.
type Option func(*config) error

type config struct {
	region        string
	endpoint      string
	creds         aws.CredentialsProvider
	createTable   bool
	createTimeout time.Duration
	client        *ddb.Client
}

// DefaultCreateTimeout bounds the wait for a table created by
// WithCreateTable to become active.
const DefaultCreateTimeout = 2 * time.Minute

// OptionError reports an invalid option value and what was expected.
type OptionError struct {
	Option   string
	Value    any
	Expected string
}

func (e *OptionError) Error() string {
	return fmt.Sprintf("dynamodb checkpoint store: option %s: got %v, expected %s", e.Option, e.Value, e.Expected)
}

// WithRegion sets the AWS region (default: from the environment and shared
// config, as the AWS SDK finds it).
func WithRegion(region string) Option {
	return func(c *config) error {
		if region == "" {
			return &OptionError{Option: "WithRegion", Value: `""`, Expected: "a non-empty AWS region such as us-east-1"}
		}
		c.region = region
		return nil
	}
}

// WithEndpoint sets the DynamoDB endpoint URL, for emulators (dynalite,
// DynamoDB Local, LocalStack) and VPC endpoints: "http://127.0.0.1:4567".
func WithEndpoint(endpoint string) Option {
	return func(c *config) error {
		u, err := url.Parse(endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return &OptionError{Option: "WithEndpoint", Value: fmt.Sprintf("%q", endpoint), Expected: "an absolute http:// or https:// URL with a host"}
		}
		c.endpoint = endpoint
		return nil
	}
}

// WithStaticCredentials uses fixed keys instead of the default credential
// chain. The secret is never printed.
func WithStaticCredentials(accessKeyID, secretAccessKey, sessionToken string) Option {
	return func(c *config) error {
		if accessKeyID == "" || secretAccessKey == "" {
			return &OptionError{Option: "WithStaticCredentials", Value: fmt.Sprintf("access key %q, secret [redacted]", accessKeyID), Expected: "a non-empty access key id and secret access key"}
		}
		c.creds = credentials.NewStaticCredentialsProvider(accessKeyID, secretAccessKey, sessionToken)
		return nil
	}
}

// WithCredentials uses p instead of the default credential chain
// (environment, shared files, SSO, web identity, instance role).
func WithCredentials(p aws.CredentialsProvider) Option {
	return func(c *config) error {
		if p == nil {
			return &OptionError{Option: "WithCredentials", Value: nil, Expected: "a non-nil aws.CredentialsProvider"}
		}
		c.creds = p
		return nil
	}
}

// WithCreateTable makes New create the table if it is missing (on-demand
// billing, keys "pk" and "sk") and wait up to timeout (0: the default of
// two minutes) for it to become active.
func WithCreateTable(timeout time.Duration) Option {
	return func(c *config) error {
		if timeout < 0 {
			return &OptionError{Option: "WithCreateTable", Value: timeout, Expected: "a non-negative duration"}
		}
		if timeout == 0 {
			timeout = DefaultCreateTimeout
		}
		c.createTable = true
		c.createTimeout = timeout
		return nil
	}
}

// WithClient uses an existing DynamoDB client; WithRegion, WithEndpoint and
// the credential options are then ignored, and Close does not close the
// client's connections.
func WithClient(client *ddb.Client) Option {
	return func(c *config) error {
		if client == nil {
			return &OptionError{Option: "WithClient", Value: nil, Expected: "a non-nil *dynamodb.Client"}
		}
		c.client = client
		return nil
	}
}
