package memstream

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"

	"github.com/unistream-go/unistream/stream/driver"
)

var _ driver.Grouper = (*Stream)(nil)

// group is one consumer group of a stream: its members in join order and
// the partitions each owns. mu is held for a whole rebalance, callbacks
// included, so a member's callbacks never run concurrently.
type group struct {
	st      *state
	name    string
	mu      sync.Mutex
	members []*Member
	seq     int
}

// Member is one member of a memstream consumer group: the
// driver.Membership JoinGroup returns.
type Member struct {
	g       *group
	id      string
	r       driver.Rebalance
	joining sync.WaitGroup // the join's rebalance
	owned   []string       // guarded by g.mu
	gone    bool           // left or expired; guarded by g.mu
}

var _ driver.Membership = (*Member)(nil)

// ID returns the member's id, "GROUP-N" (N counts the group's joins).
func (m *Member) ID() string { return m.id }

// groupFor returns the stream's group called name, creating it.
func (st *state) groupFor(name string) *group {
	st.groupsMu.Lock()
	defer st.groupsMu.Unlock()
	if st.groups == nil {
		st.groups = map[string]*group{}
	}
	g := st.groups[name]
	if g == nil {
		g = &group{st: st, name: name}
		st.groups[name] = g
	}
	return g
}

// JoinGroup makes r a member of the stream's group called name (every
// handle of the stream shares its groups). The group rebalances in the
// background: the stream's partitions, closed ones included, are spread
// round robin over the members in join order; members that lose
// partitions are Revoked first (concurrently, each waited for), then the
// new owners are Assigned. JoinGroup returns at once.
func (s *Stream) JoinGroup(ctx context.Context, name string, r driver.Rebalance) (driver.Membership, error) {
	if err := s.check(ctx, "join group of"); err != nil {
		return nil, err
	}
	if name == "" || r == nil {
		return nil, fmt.Errorf("memstream: join a group of %s: expected a group name and a non-nil driver.Rebalance", s.st.name)
	}
	g := s.st.groupFor(name)
	g.mu.Lock()
	g.seq++
	m := &Member{g: g, id: name + "-" + strconv.Itoa(g.seq), r: r}
	g.mu.Unlock()
	m.joining.Add(1)
	go func() { // owned by m: Leave waits for it
		defer m.joining.Done()
		g.mu.Lock()
		defer g.mu.Unlock()
		g.members = append(g.members, m)
		g.rebalanceLocked(context.Background())
	}()
	return m, nil
}

// Leave revokes the member's partitions (Rebalance.Revoked returns after
// the member's consumer has drained them) and rebalances the rest of the
// group, so the others own them when Leave returns. Leaving twice, or
// after ExpireMember, does nothing.
func (m *Member) Leave(ctx context.Context) error {
	m.joining.Wait()
	g := m.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if m.gone {
		return nil
	}
	m.gone = true
	g.members = slices.DeleteFunc(g.members, func(x *Member) bool { return x == m })
	if len(m.owned) > 0 {
		m.r.Revoked(ctx, m.owned)
		m.owned = nil
	}
	g.rebalanceLocked(context.WithoutCancel(ctx))
	return nil
}

// GroupMembers returns the ids of the members of the stream's group
// called name, in join order.
func (s *Stream) GroupMembers(name string) []string {
	g := s.st.groupFor(name)
	g.mu.Lock()
	defer g.mu.Unlock()
	ids := make([]string, len(g.members))
	for i, m := range g.members {
		ids[i] = m.id
	}
	return ids
}

// ExpireMember removes a member from the stream's group called name as an
// expired session would: its partitions are Lost (no handover: its
// consumer stops them at once and saves nothing more), then the group
// rebalances them to the other members. The member does not rejoin; its
// Leave does nothing.
func (s *Stream) ExpireMember(name, memberID string) error {
	g := s.st.groupFor(name)
	g.mu.Lock()
	defer g.mu.Unlock()
	i := slices.IndexFunc(g.members, func(m *Member) bool { return m.id == memberID })
	if i < 0 {
		return fmt.Errorf("memstream: expire member %q of group %q of %s: no such member (members: %v)", memberID, name, s.st.name, g.idsLocked())
	}
	m := g.members[i]
	g.members = slices.Delete(g.members, i, i+1)
	m.gone = true
	if len(m.owned) > 0 {
		m.r.Lost(context.Background(), m.owned)
		m.owned = nil
	}
	g.rebalanceLocked(context.Background())
	return nil
}

func (g *group) idsLocked() []string {
	ids := make([]string, len(g.members))
	for i, m := range g.members {
		ids[i] = m.id
	}
	return ids
}

// rebalanceLocked moves the partitions to their round-robin owners:
// revoke everything that moves, then assign it. g.mu is held.
func (g *group) rebalanceLocked(ctx context.Context) {
	if len(g.members) == 0 {
		return
	}
	g.st.mu.RLock()
	ids := make([]string, len(g.st.parts))
	for i, p := range g.st.parts {
		ids[i] = p.id
	}
	g.st.mu.RUnlock()
	target := make(map[*Member][]string, len(g.members))
	for i, id := range ids {
		m := g.members[i%len(g.members)]
		target[m] = append(target[m], id)
	}
	var wg sync.WaitGroup
	for _, m := range g.members {
		var lose []string
		for _, id := range m.owned {
			if !slices.Contains(target[m], id) {
				lose = append(lose, id)
			}
		}
		if len(lose) == 0 {
			continue
		}
		m.owned = slices.DeleteFunc(m.owned, func(id string) bool { return slices.Contains(lose, id) })
		wg.Go(func() { m.r.Revoked(ctx, lose) })
	}
	wg.Wait()
	for _, m := range g.members {
		var gain []string
		for _, id := range target[m] {
			if !slices.Contains(m.owned, id) {
				gain = append(gain, id)
			}
		}
		if len(gain) == 0 {
			continue
		}
		m.owned = append(m.owned, gain...)
		m.r.Assigned(ctx, gain)
	}
}
