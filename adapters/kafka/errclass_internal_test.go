package kafka

import (
	"errors"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/unistream-go/unistream/stream/driver"
)

// TestClassifyDataCodes checks the class of every code kerr knows: a
// produce or fetch error is permanent when Kafka marks it non-retriable,
// except the transient ones listed here, plus the permanent ones listed
// here that Kafka marks retriable.
func TestClassifyDataCodes(t *testing.T) {
	exceptions := map[*kerr.Error]bool{ // the class that differs from !Retriable
		kerr.UnknownTopicOrPartition:  true,
		kerr.RebalanceInProgress:      false,
		kerr.UnknownServerError:       false,
		kerr.OutOfOrderSequenceNumber: false,
		kerr.InvalidProducerEpoch:     false,
		kerr.UnknownProducerID:        false,
		kerr.ProducerFenced:           false,
	}
	// Codes the producer and the consumer meet, with their class spelled
	// out, so that a change of kerr's flags shows here.
	spelled := map[*kerr.Error]bool{
		kerr.MessageTooLarge: true, kerr.RecordListTooLarge: true, kerr.InvalidRecord: true,
		kerr.TopicAuthorizationFailed: true, kerr.ClusterAuthorizationFailed: true,
		kerr.InvalidTopicException: true, kerr.InvalidTimestamp: true, kerr.PolicyViolation: true,
		kerr.UnsupportedCompressionType: true, kerr.SaslAuthenticationFailed: true,
		kerr.InvalidRequiredAcks: true, kerr.UnsupportedForMessageFormat: true,
		kerr.NotLeaderForPartition: false, kerr.LeaderNotAvailable: false, kerr.RequestTimedOut: false,
		kerr.NetworkException: false, kerr.NotEnoughReplicas: false, kerr.NotEnoughReplicasAfterAppend: false,
		kerr.KafkaStorageError: false, kerr.CorruptMessage: false, kerr.ThrottlingQuotaExceeded: false,
	}
	seen := 0
	for code := int16(-1); code < 200; code++ {
		ke, ok := kerr.ErrorForCode(code).(*kerr.Error)
		if !ok {
			continue
		}
		seen++
		want := !ke.Retriable
		if w, ok := exceptions[ke]; ok {
			want = w
		}
		if w, ok := spelled[ke]; ok && w != want {
			t.Errorf("%s (%d): kerr's flag says permanent = %v, the table %v", ke.Message, code, want, w)
		}
		err := classifyData(fmt.Errorf("produce: %w", ke))
		if got := driver.IsPermanent(err); got != want {
			t.Errorf("%s (%d): permanent = %v, want %v", ke.Message, code, got, want)
		}
		if !errors.Is(err, ke) {
			t.Errorf("classifyData lost the kerr error: %v", err)
		}
	}
	if seen < 100 {
		t.Errorf("only %d kerr codes seen", seen)
	}
	if err := classifyData(errors.New("dial tcp: connection refused")); driver.IsPermanent(err) {
		t.Error("a network error is permanent")
	}
}
