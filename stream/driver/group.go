package driver

import "context"

// Grouper is implemented by a Stream whose backend assigns its partitions
// among the processes of a named group: Kafka consumer groups, Pulsar
// Failover subscriptions. The consumer engine discovers it by type
// assertion when it is asked to run in a group (stream.WithGroup).
//
// The same Rebalance seam also serves assignment that is not native to the
// backend (shard leases kept in a checkpoint store, KCL-style), so the
// engine handles every kind of ownership change one way.
type Grouper interface {
	// JoinGroup makes this process a member of group. The stream then calls
	// r's methods, one at a time, from a goroutine it owns, until Leave
	// returns. JoinGroup returns once the member is set up; the first
	// assignment may come later.
	JoinGroup(ctx context.Context, group string, r Rebalance) (Membership, error)
}

// Rebalance receives one member's ownership changes. Calls are never
// concurrent; a partition is only Revoked or Lost after it was Assigned.
// The engine tolerates repeats: an Assigned partition it runs already, or
// a Revoked or Lost one it does not run, is ignored. Partitions are ids as
// Stream.Partitions lists them; the engine itself waits for the parents
// of a split or merged partition to finish before it reads the child.
type Rebalance interface {
	// Assigned hands partitions to this member. The engine loads their
	// checkpoints and starts them; Assigned must return promptly.
	Assigned(ctx context.Context, partitions []string)
	// Revoked takes partitions away in an orderly handover. It returns only
	// after the engine has stopped fetching them, let their in-flight
	// handlers finish (bounded by the drain timeout) and persisted their
	// checkpoints, so the next owner starts exactly where this one stopped.
	Revoked(ctx context.Context, partitions []string)
	// Lost reports partitions this member no longer owns without a
	// handover (its session expired, it was fenced). The engine stops them
	// at once; their saves would be rejected anyway. It returns when the
	// workers have stopped.
	Lost(ctx context.Context, partitions []string)
}

// Membership is a process's place in a group.
type Membership interface {
	// Leave revokes every owned partition (through Rebalance.Revoked) and
	// leaves the group, so others take the partitions over at once.
	Leave(ctx context.Context) error
}
