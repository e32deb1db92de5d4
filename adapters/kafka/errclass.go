package kafka

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/unistream-go/unistream/stream/driver"
)

// transientCodes are broker errors that Kafka marks non-retriable but that
// pass without a change to the request or its key: a rebalance (commit
// retries it for a while, then gives up), an unexpected error of the
// broker, and the idempotent producer's sequence and epoch errors, which
// franz-go recovers from by resetting the producer ID.
var transientCodes = []*kerr.Error{kerr.RebalanceInProgress, kerr.UnknownServerError,
	kerr.OutOfOrderSequenceNumber, kerr.InvalidProducerEpoch, kerr.UnknownProducerID, kerr.ProducerFenced}

// permanentDataCodes are broker errors that Kafka marks retriable but that
// are permanent once franz-go has retried a produce or a fetch: the topic
// does not exist.
var permanentDataCodes = []*kerr.Error{kerr.UnknownTopicOrPartition}

// permanentCode reports whether a broker error is one retrying cannot
// cure: one Kafka marks non-retriable (kerr's Retriable), except those of
// transientCodes. The stores and the data path share it.
func permanentCode(ke *kerr.Error) bool {
	if ke.Retriable {
		return false
	}
	for _, t := range transientCodes {
		if ke == t {
			return false
		}
	}
	return true
}

// classifyData marks a Kafka error of a produce or a fetch that retrying
// cannot cure with driver.Permanent: a permanent broker error
// (permanentCode: a record or request refused as it is, denied
// authorization, an invalid topic) or one of permanentDataCodes. Other
// errors (retriable broker errors, network errors, a done context) are
// returned as they are, transient. The error keeps its message and still
// matches the kerr error.
func classifyData(err error) error {
	ke, ok := errors.AsType[*kerr.Error](err)
	if !ok {
		return err
	}
	for _, p := range permanentDataCodes {
		if ke == p {
			return driver.Permanent(err)
		}
	}
	if permanentCode(ke) {
		return driver.Permanent(err)
	}
	return err
}
