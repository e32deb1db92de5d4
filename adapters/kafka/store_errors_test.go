package kafka_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/unistream-go/unistream/adapters/kafka"
	"github.com/unistream-go/unistream/adapters/kafka/kafkatest"
	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/checkpoint/storetest"
)

// TestStoreErrorClasses brings each condition about on the embedded
// broker (its answers are real broker answers: kfake's faults set the
// error code of the request) and checks the class of the store's error.
// The table of every code is TestCommitErrorClasses.
func TestStoreErrorClasses(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic("orders", 2))
	ctx := context.Background()
	st := kafka.NewStore(openStream(t, c, "orders"))
	var group int
	key := func() checkpoint.Key { // a new group per case: no state carries over
		group++
		return checkpoint.Key{Consumer: "billing-" + strings.Repeat("x", group), Stream: "orders", Partition: "1"}
	}
	// fault makes the broker answer every commit of the topic with err.
	fault := func(t *testing.T, err *kerr.Error) {
		h := c.Kfake().Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.OffsetCommit}, Topic: "orders", Err: err, Count: -1})
		t.Cleanup(h.Remove)
	}
	// groupFault makes the broker answer every offset fetch of group with
	// err.
	groupFault := func(t *testing.T, group string, err *kerr.Error) {
		h := c.Kfake().Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.OffsetFetch}, Group: group, Err: err, Count: -1})
		t.Cleanup(h.Remove)
	}
	cases := []struct {
		name string
		run  func(t *testing.T, k checkpoint.Key) error
		want storetest.Class
		says string
	}{
		{"stale version", func(t *testing.T, k checkpoint.Key) error {
			if err := st.Save(ctx, &checkpoint.Checkpoint{Key: k}); err != nil {
				t.Fatal(err)
			}
			return st.Save(ctx, &checkpoint.Checkpoint{Key: k})
		}, storetest.Conflict, "version 1 is committed"},
		{"commit: ILLEGAL_GENERATION", func(t *testing.T, k checkpoint.Key) error {
			fault(t, kerr.IllegalGeneration)
			return st.Save(ctx, &checkpoint.Checkpoint{Key: k})
		}, storetest.Conflict, "ILLEGAL_GENERATION"},
		{"metadata over the store's limit", func(t *testing.T, k checkpoint.Key) error {
			small := kafka.NewStore(openStream(t, c, "orders"), kafka.WithMaxMetadataBytes(64))
			cp := &checkpoint.Checkpoint{Key: k, Batch: &checkpoint.Batch{Size: 1, Records: []checkpoint.RecordState{{Pointer: kafka.PointerAt(1), Status: checkpoint.Failed, Attempts: 1}}}}
			cp.Batch.Records[0].AddError(1, time.Unix(1, 0), strings.Repeat("handler failed ", 20))
			return small.Save(ctx, cp)
		}, storetest.TooLarge, "the limit is 64"},
		{"commit: OFFSET_METADATA_TOO_LARGE", func(t *testing.T, k checkpoint.Key) error {
			fault(t, kerr.OffsetMetadataTooLarge)
			return st.Save(ctx, &checkpoint.Checkpoint{Key: k})
		}, storetest.TooLarge, "OFFSET_METADATA_TOO_LARGE"},
		{"commit: INVALID_COMMIT_OFFSET_SIZE", func(t *testing.T, k checkpoint.Key) error {
			fault(t, kerr.InvalidCommitOffsetSize)
			return st.Save(ctx, &checkpoint.Checkpoint{Key: k})
		}, storetest.TooLarge, "INVALID_COMMIT_OFFSET_SIZE"},
		{"commit: GROUP_AUTHORIZATION_FAILED", func(t *testing.T, k checkpoint.Key) error {
			fault(t, kerr.GroupAuthorizationFailed)
			return st.Save(ctx, &checkpoint.Checkpoint{Key: k})
		}, storetest.Permanent, "GROUP_AUTHORIZATION_FAILED"},
		{"commit: TOPIC_AUTHORIZATION_FAILED", func(t *testing.T, k checkpoint.Key) error {
			fault(t, kerr.TopicAuthorizationFailed)
			return st.Save(ctx, &checkpoint.Checkpoint{Key: k})
		}, storetest.Permanent, "TOPIC_AUTHORIZATION_FAILED"},
		{"fetch: GROUP_AUTHORIZATION_FAILED", func(t *testing.T, k checkpoint.Key) error {
			groupFault(t, k.Consumer, kerr.GroupAuthorizationFailed)
			_, err := st.Load(ctx, k)
			return err
		}, storetest.Permanent, "GROUP_AUTHORIZATION_FAILED"},
		{"commit: UNKNOWN_SERVER_ERROR", func(t *testing.T, k checkpoint.Key) error {
			fault(t, kerr.UnknownServerError)
			return st.Save(ctx, &checkpoint.Checkpoint{Key: k})
		}, storetest.Transient, "UNKNOWN_SERVER_ERROR"},
		{"commit: REQUEST_TIMED_OUT", func(t *testing.T, k checkpoint.Key) error {
			fault(t, kerr.RequestTimedOut)
			return st.Save(ctx, &checkpoint.Checkpoint{Key: k})
		}, storetest.Transient, "REQUEST_TIMED_OUT"},
		{"fetch: UNKNOWN_SERVER_ERROR", func(t *testing.T, k checkpoint.Key) error {
			groupFault(t, k.Consumer, kerr.UnknownServerError)
			_, err := st.Load(ctx, k)
			return err
		}, storetest.Transient, "UNKNOWN_SERVER_ERROR"},
		{"corrupt commit", func(t *testing.T, k checkpoint.Key) error {
			commitRaw(t, c, k, 7, "unistream1:@@not base64@@")
			_, err := st.Load(ctx, k)
			return err
		}, storetest.Corrupt, "not base64url"},
		{"invalid key: not a partition number", func(t *testing.T, k checkpoint.Key) error {
			k.Partition = "a"
			return st.Save(ctx, &checkpoint.Checkpoint{Key: k})
		}, storetest.Permanent, "partition must be a Kafka partition number"},
		{"invalid key: not a topic", func(t *testing.T, k checkpoint.Key) error {
			k.Stream = "a/b"
			_, err := st.Load(ctx, k)
			return err
		}, storetest.Permanent, "must be a Kafka topic"},
		{"invalid checkpoint", func(t *testing.T, k checkpoint.Key) error {
			return st.Save(ctx, &checkpoint.Checkpoint{Key: k, Batch: &checkpoint.Batch{Size: -1}})
		}, storetest.Permanent, "negative"},
		{"stream closed", func(t *testing.T, k checkpoint.Key) error {
			s := openStream(t, c, "orders")
			closed := kafka.NewStore(s)
			s.Close()
			return closed.Save(ctx, &checkpoint.Checkpoint{Key: k})
		}, storetest.Permanent, "client closed"},
		{"context cancelled", func(t *testing.T, k checkpoint.Key) error {
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			return st.Save(cctx, &checkpoint.Checkpoint{Key: k})
		}, storetest.Transient, "context canceled"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run(t, key())
			checkClass(t, err, tc.want)
			if err != nil && !strings.Contains(err.Error(), tc.says) {
				t.Errorf("error %q does not say %q", err, tc.says)
			}
		})
	}
}

// checkClass fails t unless err is of class want, and, for a checkpoint
// too large, also matches the store's own ErrMetadataTooLarge.
func checkClass(t *testing.T, err error, want storetest.Class) {
	t.Helper()
	storetest.CheckClass(t, err, want)
	if got := errors.Is(err, kafka.ErrMetadataTooLarge); got != (want == storetest.TooLarge) {
		t.Errorf("errors.Is(%v, kafka.ErrMetadataTooLarge) = %v, want %v", err, got, want == storetest.TooLarge)
	}
}
