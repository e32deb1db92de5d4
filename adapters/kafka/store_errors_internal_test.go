package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/unistream-go/unistream/stream/checkpoint"
)

// TestCommitErrorClasses lists the broker answers and client errors a
// Save can meet and the class of the error Save returns for each (the
// fetch before a commit is classified the same way, without the fenced
// and too-large cases, which only a commit answers).
func TestCommitErrorClasses(t *testing.T) {
	const (
		transient = "transient"
		permanent = "permanent"
		conflict  = "conflict"
		tooLarge  = "too large"
	)
	cases := []struct {
		err  error
		want string
	}{
		{kerr.IllegalGeneration, conflict},
		{kerr.UnknownMemberID, conflict},
		{kerr.FencedInstanceID, conflict},
		{kerr.StaleMemberEpoch, conflict},

		{kerr.OffsetMetadataTooLarge, tooLarge},
		{kerr.InvalidCommitOffsetSize, tooLarge},
		{kerr.MessageTooLarge, tooLarge},
		{kerr.RecordListTooLarge, tooLarge},

		{kerr.GroupAuthorizationFailed, permanent},
		{kerr.TopicAuthorizationFailed, permanent},
		{kerr.ClusterAuthorizationFailed, permanent},
		{kerr.SaslAuthenticationFailed, permanent},
		{kerr.InvalidGroupID, permanent},
		{kerr.InvalidTopicException, permanent},
		{kerr.UnsupportedVersion, permanent},
		{kerr.InvalidRequest, permanent},
		{kerr.GroupMaxSizeReached, permanent},
		{kerr.GroupIDNotFound, permanent},
		{kerr.PolicyViolation, permanent},
		{kgo.ErrClientClosed, permanent},

		{kerr.RebalanceInProgress, transient},
		{kerr.UnknownServerError, transient},
		{kerr.CoordinatorLoadInProgress, transient},
		{kerr.CoordinatorNotAvailable, transient},
		{kerr.NotCoordinator, transient},
		{kerr.RequestTimedOut, transient},
		{kerr.NetworkException, transient},
		{kerr.UnknownTopicOrPartition, transient},
		{kerr.UnknownTopicID, transient},
		{kerr.UnstableOffsetCommit, transient},
		{kerr.NotEnoughReplicas, transient},
		{kerr.KafkaStorageError, transient},
		{kerr.LeaderNotAvailable, transient},
		{kerr.ThrottlingQuotaExceeded, transient},
		{io.EOF, transient},
		{&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, transient},
		{context.DeadlineExceeded, transient},
		{context.Canceled, transient},
	}
	key := checkpoint.Key{Consumer: "billing", Stream: "orders", Partition: "1"}
	for _, tc := range cases {
		name := tc.err.Error()
		if ke, ok := tc.err.(*kerr.Error); ok {
			name = ke.Message // the code's name, without its description
		}
		t.Run(name, func(t *testing.T) {
			cause := fmt.Errorf("partition 1: %w", tc.err) // as commitError and fetch wrap it
			err := commitFailed(key, 100, cause)
			got := transient
			switch {
			case errors.Is(err, checkpoint.ErrConflict):
				got = conflict
			case errors.Is(err, checkpoint.ErrTooLarge):
				got = tooLarge
				if !errors.Is(err, ErrMetadataTooLarge) {
					t.Errorf("%v matches checkpoint.ErrTooLarge but not ErrMetadataTooLarge", err)
				}
			case checkpoint.IsPermanent(err):
				got = permanent
			}
			if got != tc.want {
				t.Errorf("Save's error for %v = %v: %s, want %s", tc.err, err, got, tc.want)
			}
			if (got == transient) == checkpoint.IsPermanent(err) {
				t.Errorf("IsPermanent(%v) = %v for a %s error", err, checkpoint.IsPermanent(err), got)
			}
			if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), key.String()) {
				t.Errorf("%v does not match the cause %v and name the key %s", err, tc.err, key)
			}
		})
	}
	if !errors.Is(ErrMetadataTooLarge, checkpoint.ErrTooLarge) || !checkpoint.IsPermanent(ErrMetadataTooLarge) {
		t.Error("ErrMetadataTooLarge does not match checkpoint.ErrTooLarge")
	}
	if classify(nil) != nil {
		t.Error("classify(nil) != nil")
	}
}
