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
)

// class is what a classified error must be.
type class int

const (
	transient class = iota
	permanent
	conflict // permanent, matching checkpoint.ErrConflict
	tooLarge // permanent, matching checkpoint.ErrTooLarge
	corrupt  // permanent, matching checkpoint.ErrCorrupt
)

func (c class) String() string {
	return [...]string{"transient", "permanent", "a conflict", "too large", "corrupt"}[c]
}

// checkClass fails t unless err is of class want.
func checkClass(t *testing.T, err error, want class) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want a %s one", want)
	}
	if got := checkpoint.IsPermanent(err); got != (want != transient) {
		t.Errorf("IsPermanent(%v) = %v, want %v (%s)", err, got, want != transient, want)
	}
	for c, sentinel := range map[class]error{conflict: checkpoint.ErrConflict, tooLarge: checkpoint.ErrTooLarge, corrupt: checkpoint.ErrCorrupt} {
		if got := errors.Is(err, sentinel); got != (c == want) {
			t.Errorf("errors.Is(%v, %v) = %v, want %v (%s)", err, sentinel, got, c == want, want)
		}
	}
}

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
		want class
	}{
		{"ConditionalCheckFailedException", sdkError(400, &types.ConditionalCheckFailedException{Message: aws.String("The conditional request failed")}), conflict},
		{"ValidationException: item size (PutItem)", sdkError(400, generic("ValidationException", "Item size has exceeded the maximum allowed size", smithy.FaultClient)), tooLarge},
		{"ValidationException: item size (UpdateItem)", sdkError(400, generic("ValidationException", "Item size to update has exceeded the maximum allowed size", smithy.FaultClient)), tooLarge},
		{"ValidationException: key size", sdkError(400, generic("ValidationException", "One or more parameter values were invalid: Aggregated size of all range keys has exceeded the size limit of 1024 bytes", smithy.FaultClient)), permanent},
		{"ValidationException: other", sdkError(400, generic("ValidationException", "Invalid UpdateExpression", smithy.FaultClient)), permanent},
		{"AccessDeniedException", sdkError(400, generic("AccessDeniedException", "User is not authorized to perform: dynamodb:UpdateItem", smithy.FaultClient)), permanent},
		{"UnrecognizedClientException", sdkError(400, generic("UnrecognizedClientException", "The security token included in the request is invalid.", smithy.FaultClient)), permanent},
		{"InvalidSignatureException", sdkError(400, generic("InvalidSignatureException", "The request signature we calculated does not match", smithy.FaultClient)), permanent},
		{"MissingAuthenticationTokenException", sdkError(400, generic("MissingAuthenticationTokenException", "Request is missing Authentication Token", smithy.FaultClient)), permanent},
		{"IncompleteSignatureException", sdkError(400, generic("IncompleteSignatureException", "Credential must have exactly 5 slash-delimited elements", smithy.FaultClient)), permanent},
		{"ResourceNotFoundException", sdkError(400, &types.ResourceNotFoundException{Message: aws.String("Requested resource not found")}), permanent},
		{"SerializationException", sdkError(400, generic("SerializationException", "Start of structure or map found where not expected", smithy.FaultClient)), permanent},
		{"ItemCollectionSizeLimitExceededException", sdkError(400, &types.ItemCollectionSizeLimitExceededException{}), permanent},

		{"ProvisionedThroughputExceededException", sdkError(400, &types.ProvisionedThroughputExceededException{}), transient},
		{"ThrottlingException", sdkError(400, &types.ThrottlingException{}), transient},
		{"RequestLimitExceeded", sdkError(400, &types.RequestLimitExceeded{}), transient},
		{"LimitExceededException", sdkError(400, &types.LimitExceededException{}), transient},
		{"TransactionConflictException", sdkError(400, &types.TransactionConflictException{}), transient},
		{"ReplicatedWriteConflictException", sdkError(400, &types.ReplicatedWriteConflictException{}), transient},
		{"ExpiredTokenException", sdkError(400, generic("ExpiredTokenException", "The security token included in the request is expired", smithy.FaultClient)), transient},
		{"InternalServerError", sdkError(500, &types.InternalServerError{}), transient},
		{"ServiceUnavailable", sdkError(503, generic("ServiceUnavailable", "", smithy.FaultServer)), transient},
		{"HTTP 502 without an error code", sdkError(502, errors.New("failed to decode response body")), transient},
		{"an unknown code", sdkError(400, generic("SomethingNewException", "", smithy.FaultClient)), transient},
		{"connection refused", &smithy.OperationError{ServiceID: "DynamoDB", OperationName: "GetItem", Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}, transient},
		{"deadline", &smithy.OperationError{ServiceID: "DynamoDB", OperationName: "GetItem", Err: context.DeadlineExceeded}, transient},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := classify(tc.err)
			checkClass(t, err, tc.want)
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
		want class
		says string
	}{
		{"version conflict", func(t *testing.T, s *Store) error {
			if err := s.Save(ctx, &checkpoint.Checkpoint{Key: k}); err != nil {
				t.Fatal(err)
			}
			return s.Save(ctx, &checkpoint.Checkpoint{Key: k})
		}, conflict, k.String()},
		{"corrupt item", func(t *testing.T, s *Store) error {
			if err := s.Save(ctx, &checkpoint.Checkpoint{Key: k}); err != nil {
				t.Fatal(err)
			}
			setAttr(t, s, k, attrCheckpoint, str("{"))
			_, err := s.Load(ctx, k)
			return err
		}, corrupt, k.String()},
		{"invalid key", func(t *testing.T, s *Store) error {
			return s.Save(ctx, &checkpoint.Checkpoint{Key: checkpoint.Key{Consumer: "billing"}})
		}, permanent, "must all be non-empty"},
		{"checkpoint larger than an item (refused before sending)", func(t *testing.T, s *Store) error {
			return s.Save(ctx, &checkpoint.Checkpoint{Key: k, Committed: make([]byte, 400*1024)})
		}, tooLarge, "at most 401408"},
		{"item larger than DynamoDB allows (refused by DynamoDB)", func(t *testing.T, s *Store) error {
			// The lease shares the item: a long owner and a checkpoint just
			// under MaxDocumentBytes make an item over 400 KB.
			if err := s.AcquireLease(ctx, &checkpoint.Lease{Key: k}, strings.Repeat("w", 20<<10), time.Unix(2e9, 0)); err != nil {
				t.Fatal(err)
			}
			return s.Save(ctx, &checkpoint.Checkpoint{Key: k, Committed: make([]byte, (MaxDocumentBytes-200)*3/4)})
		}, tooLarge, "Item size to update has exceeded the maximum allowed size"},
		{"partition longer than a sort key may be (ValidationException)", func(t *testing.T, s *Store) error {
			_, err := s.Load(ctx, checkpoint.Key{Consumer: "billing", Stream: "orders", Partition: strings.Repeat("p", 1100)})
			return err
		}, permanent, "range keys has exceeded the size limit"},
		{"table deleted (ResourceNotFoundException)", func(t *testing.T, s *Store) error {
			if _, err := s.client.DeleteTable(ctx, &ddb.DeleteTableInput{TableName: aws.String(s.table)}); err != nil {
				t.Fatal(err)
			}
			return s.Save(ctx, &checkpoint.Checkpoint{Key: k})
		}, permanent, "ResourceNotFoundException"},
		{"no credentials (MissingAuthenticationTokenException)", func(t *testing.T, s *Store) error {
			_, err := New(ctx, s.table, WithEndpoint(endpoint(t)), WithRegion("us-east-1"), WithCredentials(aws.AnonymousCredentials{}))
			return err
		}, permanent, "MissingAuthenticationTokenException"},
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
		}, transient, "connection refused"},
		{"context cancelled", func(t *testing.T, s *Store) error {
			if err := s.Save(ctx, &checkpoint.Checkpoint{Key: k}); err != nil {
				t.Fatal(err)
			}
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			_, err := s.Load(cctx, k)
			return err
		}, transient, "context canceled"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			err := tc.run(t, s)
			checkClass(t, err, tc.want)
			if err != nil && !strings.Contains(err.Error(), tc.says) {
				t.Errorf("error %q does not say %q", err, tc.says)
			}
		})
	}
}
