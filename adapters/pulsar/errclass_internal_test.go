package pulsar

import (
	"errors"
	"fmt"
	"testing"

	pulsarclient "github.com/apache/pulsar-client-go/pulsar"

	"github.com/unistream-go/unistream/stream/driver"
)

// TestClassifyPulsarErrors lists the client's errors and the broker's
// server errors with their class.
func TestClassifyPulsarErrors(t *testing.T) {
	for _, tc := range []struct {
		err       error
		permanent bool
	}{
		{pulsarclient.ErrTopicNotfound, true},
		{pulsarclient.ErrTopicTerminated, true},
		{pulsarclient.ErrInvalidMessage, true},
		{pulsarclient.ErrMessageTooLarge, true},
		{pulsarclient.ErrSchema, true},
		{pulsarclient.ErrSendTimeout, false},
		{pulsarclient.ErrContextExpired, false},
		{pulsarclient.ErrSendQueueIsFull, false},
		{pulsarclient.ErrProducerClosed, false},
		{pulsarclient.ErrProducerBlockedQuotaExceeded, false},
		{pulsarclient.ErrProducerFenced, false},
		{pulsarclient.ErrMemoryBufferIsFull, false},
		{pulsarclient.ErrFailAddToBatch, false},
	} {
		t.Run(tc.err.Error(), func(t *testing.T) {
			err := classify(fmt.Errorf("send: %w", tc.err))
			if driver.IsPermanent(err) != tc.permanent {
				t.Errorf("%v: permanent = %v, want %v", tc.err, !tc.permanent, tc.permanent)
			}
			if !errors.Is(err, tc.err) {
				t.Errorf("classify lost the client's error: %v", err)
			}
		})
	}
	for name, perm := range serverErrors {
		err := classify(fmt.Errorf("create producer: %w", errors.New("server error: "+name+": refused")))
		if driver.IsPermanent(err) != perm {
			t.Errorf("server error %s: permanent = %v, want %v", name, !perm, perm)
		}
	}
	for r, perm := range resultCodes {
		if perm && r == pulsarclient.UnknownError {
			t.Errorf("UnknownError is permanent")
		}
	}
	if driver.IsPermanent(classify(errors.New("dial tcp: connection refused"))) {
		t.Error("a network error is permanent")
	}
}
