package kafka

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/unistream-go/unistream/stream/driver"
)

var _ driver.Grouper = (*Stream)(nil)

// member is the Stream's place in one Kafka consumer group: a franz-go
// group client used for membership only. It never fetches (the topic is
// paused) and never commits by itself (autocommit is off): the engine's
// readers read each assigned partition from its checkpoint, and the
// checkpoint store commits (Store fences those commits with this member's
// generation).
type member struct {
	s     *Stream
	group string
	cl    *kgo.Client

	leaveOnce sync.Once
	leaveErr  error
}

var _ driver.Membership = (*member)(nil)

// JoinGroup makes the stream a member of the Kafka consumer group called
// group, subscribed to the stream's topic, with the cooperative-sticky
// balancer: a rebalance moves only the partitions that must move, and the
// others keep running. The group client calls r from its group
// management goroutine, one call at a time: Assigned with the partitions
// ("0", "1", ...) this member gets, Revoked before it gives partitions up
// (the rebalance waits until Revoked returns, that is until the engine
// has drained and persisted them; keep the engine's drain timeout below
// the rebalance_timeout option), and Lost when the member was fenced out of
// the group (its session expired) and the partitions may already be
// another member's. The session_timeout and rebalance_timeout options
// apply.
//
// A Stream is in a group at most once at a time: open another Stream for
// a second member in one process. Leave (or Close) leaves the group.
func (s *Stream) JoinGroup(ctx context.Context, group string, r driver.Rebalance) (driver.Membership, error) {
	if err := s.check(ctx, "join a group of"); err != nil {
		return nil, err
	}
	if group == "" || r == nil {
		return nil, fmt.Errorf("kafka: join a group of %s: expected a group name and a non-nil driver.Rebalance", s.o.Topic)
	}
	topic := s.o.Topic
	ids := func(m map[string][]int32) []string {
		ps := m[topic]
		slices.Sort(ps)
		out := make([]string, len(ps))
		for i, p := range ps {
			out[i] = strconv.Itoa(int(p))
		}
		return out
	}
	s.mu.Lock()
	if s.groups[group] != nil {
		s.mu.Unlock()
		return nil, fmt.Errorf("kafka: join group %q of %s: this Stream is a member already (open another Stream for a second member)", group, topic)
	}
	m := &member{s: s, group: group}
	if s.groups == nil {
		s.groups = map[string]*member{}
	}
	s.groups[group] = m
	s.mu.Unlock()
	cl, err := s.newClient("join group "+strconv.Quote(group)+" of",
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.DisableAutoCommit(),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.SessionTimeout(s.o.SessionTimeout),
		kgo.RebalanceTimeout(s.o.RebalanceTimeout),
		kgo.HeartbeatInterval(min(s.o.SessionTimeout/3, 3*time.Second)),
		kgo.OnPartitionsAssigned(func(ctx context.Context, _ *kgo.Client, m map[string][]int32) {
			if ps := ids(m); len(ps) > 0 {
				r.Assigned(ctx, ps)
			}
		}),
		kgo.OnPartitionsRevoked(func(ctx context.Context, _ *kgo.Client, m map[string][]int32) {
			if ps := ids(m); len(ps) > 0 {
				r.Revoked(ctx, ps)
			}
		}),
		kgo.OnPartitionsLost(func(ctx context.Context, _ *kgo.Client, m map[string][]int32) {
			if ps := ids(m); len(ps) > 0 {
				r.Lost(ctx, ps)
			}
		}),
	)
	if err != nil {
		s.mu.Lock()
		delete(s.groups, group)
		s.mu.Unlock()
		return nil, err
	}
	// Membership only: the engine's readers fetch.
	cl.PauseFetchTopics(topic)
	s.mu.Lock()
	m.cl = cl
	s.mu.Unlock()
	return m, nil
}

// memberOf returns the stream's member of group, or nil.
func (s *Stream) memberOf(group string) *member {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.groups[group]
	if m == nil || m.cl == nil {
		return nil
	}
	return m
}

// Leave leaves the group: the group client revokes every partition
// (through Rebalance.Revoked, which returns once the engine has drained
// and persisted them), sends LeaveGroup so the others rebalance at once,
// and closes. Calling it again returns the first result.
func (m *member) Leave(ctx context.Context) error {
	m.leaveOnce.Do(func() {
		err := m.cl.LeaveGroupContext(ctx)
		m.s.mu.Lock()
		delete(m.s.groups, m.group)
		m.s.mu.Unlock()
		m.s.closeClient(m.cl)
		if err != nil && !errors.Is(err, kgo.ErrClientClosed) {
			m.leaveErr = fmt.Errorf("kafka: leave group %q of %s: %w", m.group, m.s.o.Topic, err)
		}
	})
	return m.leaveErr
}
