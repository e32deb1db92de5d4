package dynamodb

import (
	"errors"
	"fmt"
	"strings"

	"github.com/aws/smithy-go"

	"github.com/unistream-go/unistream/stream/checkpoint"
)

// permanentCodes are the DynamoDB error codes that retrying cannot cure:
// the credentials or the permissions are refused, the table is gone, or
// DynamoDB refuses the request itself (a partition name longer than a
// sort key may be, for one). An operator must act.
var permanentCodes = map[string]bool{
	"AccessDeniedException":                    true,
	"UnrecognizedClientException":              true,
	"InvalidSignatureException":                true,
	"MissingAuthenticationTokenException":      true,
	"IncompleteSignatureException":             true,
	"ResourceNotFoundException":                true,
	"ValidationException":                      true,
	"SerializationException":                   true,
	"ItemCollectionSizeLimitExceededException": true,
}

// classify marks an error of the DynamoDB client with its class for
// checkpoint.IsPermanent:
//
//   - ConditionalCheckFailedException matches checkpoint.ErrConflict (Save
//     and the lease writes explain it further by reading the item);
//   - a ValidationException saying that the item size exceeds the maximum
//     matches checkpoint.ErrTooLarge;
//   - the codes of permanentCodes are marked checkpoint.Permanent;
//   - everything else is transient: throttling
//     (ProvisionedThroughputExceededException, ThrottlingException,
//     RequestLimitExceeded), server errors (InternalServerError, 5xx),
//     expired temporary credentials (which the provider renews), network
//     errors and a done context.
//
// The error keeps its message and still matches the SDK's types.
func classify(err error) error {
	var api smithy.APIError
	if err == nil || !errors.As(err, &api) {
		return err
	}
	code := api.ErrorCode()
	switch {
	case code == "ConditionalCheckFailedException":
		return fmt.Errorf("%w: %w", checkpoint.ErrConflict, err)
	case code == "ValidationException" && itemTooLarge(api.ErrorMessage()):
		return fmt.Errorf("%w (a DynamoDB item holds at most 400 KB, the checkpoint and the lease of a partition together; use smaller batches): %w", checkpoint.ErrTooLarge, err)
	case permanentCodes[code]:
		return checkpoint.Permanent(err)
	}
	return err
}

// itemTooLarge reports whether the message of a ValidationException says
// that the item is larger than DynamoDB allows: "Item size has exceeded
// the maximum allowed size" (PutItem) or "Item size to update has
// exceeded the maximum allowed size" (UpdateItem).
func itemTooLarge(msg string) bool {
	return strings.HasPrefix(msg, "Item size") && strings.Contains(msg, "exceeded the maximum allowed size")
}
