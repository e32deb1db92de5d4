package dynamodb

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/checkpoint/storetest"
)

// sdkError wraps an API error as the SDK returns it from an operation.
func sdkError(status int, err error) error {
	resp := &smithyhttp.Response{Response: &http.Response{StatusCode: status, Header: http.Header{}}}
	return &smithy.OperationError{ServiceID: "DynamoDB", OperationName: "UpdateItem",
		Err: &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{Response: resp, Err: err}, RequestID: "R1"}}
}

func generic(code, msg string, fault smithy.ErrorFault) error {
	return &smithy.GenericAPIError{Code: code, Message: msg, Fault: fault}
}

// TestClassifyCodes lists every DynamoDB error the store tells apart and
// its class, as the SDK returns them (its own error types, inside its
// operation and response errors).
func TestClassifyCodes(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want storetest.Class
	}{
		{"ConditionalCheckFailedException", sdkError(400, &types.ConditionalCheckFailedException{Message: aws.String("The conditional request failed")}), storetest.Conflict},
		{"ValidationException: item size (PutItem)", sdkError(400, generic("ValidationException", "Item size has exceeded the maximum allowed size", smithy.FaultClient)), storetest.TooLarge},
		{"ValidationException: item size (UpdateItem)", sdkError(400, generic("ValidationException", "Item size to update has exceeded the maximum allowed size", smithy.FaultClient)), storetest.TooLarge},
		{"ValidationException: key size", sdkError(400, generic("ValidationException", "One or more parameter values were invalid: Aggregated size of all range keys has exceeded the size limit of 1024 bytes", smithy.FaultClient)), storetest.Permanent},
		{"ValidationException: other", sdkError(400, generic("ValidationException", "Invalid UpdateExpression", smithy.FaultClient)), storetest.Permanent},
		{"AccessDeniedException", sdkError(400, generic("AccessDeniedException", "User is not authorized to perform: dynamodb:UpdateItem", smithy.FaultClient)), storetest.Permanent},
		{"UnrecognizedClientException", sdkError(400, generic("UnrecognizedClientException", "The security token included in the request is invalid.", smithy.FaultClient)), storetest.Permanent},
		{"InvalidSignatureException", sdkError(400, generic("InvalidSignatureException", "The request signature we calculated does not match", smithy.FaultClient)), storetest.Permanent},
		{"MissingAuthenticationTokenException", sdkError(400, generic("MissingAuthenticationTokenException", "Request is missing Authentication Token", smithy.FaultClient)), storetest.Permanent},
		{"IncompleteSignatureException", sdkError(400, generic("IncompleteSignatureException", "Credential must have exactly 5 slash-delimited elements", smithy.FaultClient)), storetest.Permanent},
		{"ResourceNotFoundException", sdkError(400, &types.ResourceNotFoundException{Message: aws.String("Requested resource not found")}), storetest.Permanent},
		{"SerializationException", sdkError(400, generic("SerializationException", "Start of structure or map found where not expected", smithy.FaultClient)), storetest.Permanent},
		{"ItemCollectionSizeLimitExceededException", sdkError(400, &types.ItemCollectionSizeLimitExceededException{}), storetest.Permanent},

		{"ProvisionedThroughputExceededException", sdkError(400, &types.ProvisionedThroughputExceededException{}), storetest.Transient},
		{"ThrottlingException", sdkError(400, &types.ThrottlingException{}), storetest.Transient},
		{"RequestLimitExceeded", sdkError(400, &types.RequestLimitExceeded{}), storetest.Transient},
		{"LimitExceededException", sdkError(400, &types.LimitExceededException{}), storetest.Transient},
		{"TransactionConflictException", sdkError(400, &types.TransactionConflictException{}), storetest.Transient},
		{"ReplicatedWriteConflictException", sdkError(400, &types.ReplicatedWriteConflictException{}), storetest.Transient},
		{"ExpiredTokenException", sdkError(400, generic("ExpiredTokenException", "The security token included in the request is expired", smithy.FaultClient)), storetest.Transient},
		{"InternalServerError", sdkError(500, &types.InternalServerError{}), storetest.Transient},
		{"ServiceUnavailable", sdkError(503, generic("ServiceUnavailable", "", smithy.FaultServer)), storetest.Transient},
		{"HTTP 502 without an error code", sdkError(502, errors.New("failed to decode response body")), storetest.Transient},
		{"an unknown code", sdkError(400, generic("SomethingNewException", "", smithy.FaultClient)), storetest.Transient},
		{"connection refused", &smithy.OperationError{ServiceID: "DynamoDB", OperationName: "GetItem", Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}, storetest.Transient},
		{"deadline", &smithy.OperationError{ServiceID: "DynamoDB", OperationName: "GetItem", Err: context.DeadlineExceeded}, storetest.Transient},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := classify(tc.err)
			storetest.CheckClass(t, err, tc.want)
			if !errors.Is(err, tc.err) {
				t.Errorf("the classified error no longer matches the SDK's error")
			}
			if !strings.Contains(err.Error(), tc.err.Error()) {
				t.Errorf("message %q lost the SDK's message %q", err, tc.err)
			}
		})
	}
	if classify(nil) != nil {
		t.Error("classify(nil) != nil")
	}
}

// TestStoreErrorClasses brings the conditions about on dynalite, through
// the store, and checks the class of each error.
func TestStoreErrorClasses(t *testing.T) {
	ctx := context.Background()
	k := checkpoint.Key{Consumer: "billing", Stream: "orders", Partition: "0"}
	cases := []struct {
		name string
		run  func(t *testing.T, s *Store) error
		want storetest.Class
		says string
	}{
		{"version conflict", func(t *testing.T, s *Store) error {
			if err := s.Save(ctx, &checkpoint.Checkpoint{Key: k}); err != nil {
				t.Fatal(err)
			}
			return s.Save(ctx, &checkpoint.Checkpoint{Key: k})
		}, storetest.Conflict, k.String()},
		{"corrupt item", func(t *testing.T, s *Store) error {
			if err := s.Save(ctx, &checkpoint.Checkpoint{Key: k}); err != nil {
				t.Fatal(err)
			}
			setAttr(t, s, k, attrCheckpoint, str("{"))
			_, err := s.Load(ctx, k)
			return err
		}, storetest.Corrupt, k.String()},
		{"invalid key", func(t *testing.T, s *Store) error {
			return s.Save(ctx, &checkpoint.Checkpoint{Key: checkpoint.Key{Consumer: "billing"}})
		}, storetest.Permanent, "must all be non-empty"},
		{"checkpoint larger than an item (refused before sending)", func(t *testing.T, s *Store) error {
			return s.Save(ctx, &checkpoint.Checkpoint{Key: k, Committed: make([]byte, 400*1024)})
		}, storetest.TooLarge, "at most 401408"},
		{"item larger than DynamoDB allows (refused by DynamoDB)", func(t *testing.T, s *Store) error {
			// The lease shares the item: a long owner and a checkpoint just
			// under MaxDocumentBytes make an item over 400 KB.
			if err := s.AcquireLease(ctx, &checkpoint.Lease{Key: k}, strings.Repeat("w", 20<<10), time.Unix(2e9, 0)); err != nil {
				t.Fatal(err)
			}
			return s.Save(ctx, &checkpoint.Checkpoint{Key: k, Committed: make([]byte, (MaxDocumentBytes-200)*3/4)})
		}, storetest.TooLarge, "Item size to update has exceeded the maximum allowed size"},
		{"partition longer than a sort key may be (ValidationException)", func(t *testing.T, s *Store) error {
			_, err := s.Load(ctx, checkpoint.Key{Consumer: "billing", Stream: "orders", Partition: strings.Repeat("p", 1100)})
			return err
		}, storetest.Permanent, "range keys has exceeded the size limit"},
		{"table deleted (ResourceNotFoundException)", func(t *testing.T, s *Store) error {
			if _, err := s.client.DeleteTable(ctx, &ddb.DeleteTableInput{TableName: aws.String(s.table)}); err != nil {
				t.Fatal(err)
			}
			return s.Save(ctx, &checkpoint.Checkpoint{Key: k})
		}, storetest.Permanent, "ResourceNotFoundException"},
		{"no credentials (MissingAuthenticationTokenException)", func(t *testing.T, s *Store) error {
			_, err := New(ctx, s.table, WithEndpoint(endpoint(t)), WithRegion("us-east-1"), WithCredentials(aws.AnonymousCredentials{}))
			return err
		}, storetest.Permanent, "MissingAuthenticationTokenException"},
		{"connection refused", func(t *testing.T, s *Store) error {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := l.Addr().String()
			l.Close() // nothing listens there any more
			client := ddb.New(ddb.Options{Region: "us-east-1", BaseEndpoint: aws.String("http://" + addr),
				Credentials: aws.NewCredentialsCache(aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
					return aws.Credentials{AccessKeyID: "AKIDTEST", SecretAccessKey: "secret-test"}, nil
				})), RetryMaxAttempts: 1})
			down := &Store{client: client, table: s.table, seen: map[checkpoint.Key]stored{}, seenLease: map[checkpoint.Key]map[string]types.AttributeValue{}}
			return down.Save(ctx, &checkpoint.Checkpoint{Key: k})
		}, storetest.Transient, "connection refused"},
		{"context cancelled", func(t *testing.T, s *Store) error {
			if err := s.Save(ctx, &checkpoint.Checkpoint{Key: k}); err != nil {
				t.Fatal(err)
			}
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			_, err := s.Load(cctx, k)
			return err
		}, storetest.Transient, "context canceled"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			err := tc.run(t, s)
			storetest.CheckClass(t, err, tc.want)
			if err != nil && !strings.Contains(err.Error(), tc.says) {
				t.Errorf("error %q does not say %q", err, tc.says)
			}
		})
	}
}
