package pulsar

import (
	"errors"
	"strings"

	pulsarclient "github.com/apache/pulsar-client-go/pulsar"

	"github.com/unistream-go/unistream/stream/driver"
)

// resultCodes are the pulsar-client-go result codes the adapter
// classifies, with their class: true is permanent (retrying cannot cure
// it: the topic does not exist or is terminated, the client is not
// authenticated or authorized, the message or the configuration is
// refused as it is), false is transient (a timeout, a connection or
// lookup failure, a broker error, a full queue or quota). A code not
// listed is transient.
var resultCodes = map[pulsarclient.Result]bool{
	pulsarclient.InvalidConfiguration:                  true,
	pulsarclient.AuthenticationError:                   true,
	pulsarclient.AuthorizationError:                    true,
	pulsarclient.InvalidMessage:                        true,
	pulsarclient.InvalidTopicName:                      true,
	pulsarclient.InvalidURL:                            true,
	pulsarclient.OperationNotSupported:                 true,
	pulsarclient.MessageTooBig:                         true,
	pulsarclient.TopicNotFound:                         true,
	pulsarclient.UnsupportedVersionError:               true,
	pulsarclient.TopicTerminated:                       true,
	pulsarclient.CryptoError:                           true,
	pulsarclient.SchemaFailure:                         true,
	pulsarclient.UnknownError:                          false,
	pulsarclient.TimeoutError:                          false,
	pulsarclient.LookupError:                           false,
	pulsarclient.ConnectError:                          false,
	pulsarclient.ReadError:                             false,
	pulsarclient.BrokerMetadataError:                   false,
	pulsarclient.BrokerPersistenceError:                false,
	pulsarclient.ChecksumError:                         false,
	pulsarclient.NotConnectedError:                     false,
	pulsarclient.ServiceUnitNotReady:                   false,
	pulsarclient.TooManyLookupRequestException:         false,
	pulsarclient.ProducerBlockedQuotaExceededError:     false,
	pulsarclient.ProducerBlockedQuotaExceededException: false,
	pulsarclient.ProducerQueueIsFull:                   false,
	pulsarclient.AddToBatchFailed:                      false,
	pulsarclient.ProducerClosed:                        false,
	pulsarclient.ClientMemoryBufferIsFull:              false,
	pulsarclient.ProducerFenced:                        false,
}

// serverErrors are the broker's error names (the protocol's ServerError,
// which pulsar-client-go reports as "server error: NAME: message" when
// it creates a producer or a consumer) the adapter classifies, with their
// class as in resultCodes. A name not listed is transient.
var serverErrors = map[string]bool{
	"AuthenticationError":                   true,
	"AuthorizationError":                    true,
	"UnsupportedVersionError":               true,
	"TopicNotFound":                         true,
	"TopicTerminatedError":                  true,
	"InvalidTopicName":                      true,
	"IncompatibleSchema":                    true,
	"NotAllowedError":                       true,
	"UnknownError":                          false,
	"MetadataError":                         false,
	"PersistenceError":                      false,
	"ServiceNotReady":                       false,
	"ProducerBlockedQuotaExceededError":     false,
	"ProducerBlockedQuotaExceededException": false,
	"ChecksumError":                         false,
	"TooManyRequests":                       false,
	"ProducerBusy":                          false,
	"ProducerFenced":                        false,
}

// classify marks an error of the Pulsar client that retrying cannot cure
// (resultCodes, serverErrors) with driver.Permanent; other errors are
// returned as they are, transient. The error keeps its message and still
// matches the client's errors.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var pe *pulsarclient.Error
	if errors.As(err, &pe) {
		if resultCodes[pe.Result()] {
			return driver.Permanent(err)
		}
		return err
	}
	msg := err.Error()
	if _, rest, ok := strings.Cut(msg, "server error: "); ok {
		name, _, _ := strings.Cut(rest, ":")
		if serverErrors[name] {
			return driver.Permanent(err)
		}
	}
	return err
}
