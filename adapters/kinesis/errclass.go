package kinesis

import "github.com/unistream-go/unistream/stream/driver"

// errorCodes are the Kinesis error codes the adapter classifies, with
// their class: true is permanent (retrying cannot cure it: the stream or
// its key does not exist or is not allowed, the request is refused as it
// is), false is transient (throttling, a server error, a stream or key
// being updated). A code not listed is transient.
var errorCodes = map[string]bool{
	"ResourceNotFoundException":              true,
	"InvalidArgumentException":               true,
	"AccessDeniedException":                  true,
	"ValidationException":                    true,
	"KMSDisabledException":                   true,
	"KMSInvalidStateException":               true,
	"KMSAccessDeniedException":               true,
	"KMSNotFoundException":                   true,
	"KMSOptInRequired":                       true,
	"UnrecognizedClientException":            true,
	"InvalidSignatureException":              true,
	"MissingAuthenticationToken":             true,
	"IncompleteSignature":                    true,
	"ExpiredTokenException":                  false, // the credential provider renews it
	"KMSThrottlingException":                 false,
	"ProvisionedThroughputExceededException": false,
	"LimitExceededException":                 false,
	"ResourceInUseException":                 false,
	"InternalFailure":                        false,
	"ServiceUnavailable":                     false,
	"ThrottlingException":                    false,
	"ExpiredIteratorException":               false,
}

// permanentCode reports whether a Kinesis error code is permanent.
func permanentCode(code string) bool { return errorCodes[code] }

// classify marks an error of the Kinesis client whose code is permanent
// (errorCodes) with driver.Permanent; other errors are returned as they
// are, transient. The error keeps its message and still matches the SDK's
// types.
func classify(err error) error {
	if err != nil && permanentCode(apiCode(err)) {
		return driver.Permanent(err)
	}
	return err
}
