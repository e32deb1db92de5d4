package pulsar

import (
	"context"

	"github.com/unistream-go/unistream/stream/checkpoint"
)

// AckStore is a checkpoint.Store that mirrors every committed pointer it
// saves into the cumulative acknowledgement of the stream's group
// subscription (JoinGroup), so that Pulsar's own tools (topic stats,
// backlog quotas, pulsar-admin) see how far the group has come. The
// wrapped store stays the record of progress: an acknowledgement that
// fails or is lost costs only an out-of-date backlog figure.
//
// With the durable_group option the subscription is durable and its
// backlog is what the group has not committed yet (up to one batched entry
// behind: a batch is acknowledged once every message of it is committed).
type AckStore struct {
	checkpoint.Store
	s *Stream
}

// NewAckStore wraps store so that its saves move the cumulative ack of s's
// group subscription; the checkpoint's consumer name picks the group (or
// the only group s is a member of).
func NewAckStore(store checkpoint.Store, s *Stream) *AckStore {
	return &AckStore{Store: store, s: s}
}

// Save saves cp in the wrapped store and, once saved, acknowledges up to
// its committed pointer. Its error is the wrapped store's, unchanged, so
// checkpoint.IsPermanent and the store's sentinels classify it as that
// store does; the acknowledgement never fails a Save.
func (a *AckStore) Save(ctx context.Context, cp *checkpoint.Checkpoint) error {
	if err := a.Store.Save(ctx, cp); err != nil {
		return err
	}
	a.s.ackCommitted(cp.Key.Consumer, cp.Key.Partition, cp.Committed)
	return nil
}
