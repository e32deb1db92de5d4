package stream

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/driver"
)

// errPartitionLost ends the worker of a partition the group took away
// without a handover: its progress is no longer this member's to save.
var errPartitionLost = errors.New("the partition was lost to the group (no handover): not saved")

// groupRun serves Run in group mode: it is the driver.Rebalance the
// membership calls, and it owns the partition workers it starts. Each
// owned partition has its own stop and work contexts, children of Run's,
// so that one partition can be drained (Revoked) or dropped (Lost) while
// the others go on.
type groupRun struct {
	c       *Consumer
	stopCtx context.Context // Run's: done when Run stops or fails
	workCtx context.Context // Run's: done after Run's drain timeout
	stop    context.CancelFunc

	mu       sync.Mutex
	owned    map[string]*ownedPartition
	firstErr error
	wg       sync.WaitGroup
}

// ownedPartition is one partition a group member runs.
type ownedPartition struct {
	id         string
	stop       context.CancelFunc // stops fetching and new attempts
	cancelWork context.CancelFunc // cancels in-flight handlers
	lost       atomic.Bool        // set by Lost: saves are refused
	done       chan struct{}      // closed when the worker has returned
}

var _ driver.Rebalance = (*groupRun)(nil)

// runGroup is Run in group mode: join, serve rebalances until stopped,
// leave (which revokes every partition gracefully), and wait.
func (c *Consumer) runGroup(ctx, stopCtx context.Context, stop context.CancelFunc, workCtx context.Context) error {
	g := &groupRun{c: c, stopCtx: stopCtx, workCtx: workCtx, stop: stop, owned: map[string]*ownedPartition{}}
	m, err := c.cfg.join(stopCtx, c, g)
	if err == nil && m == nil {
		err = errors.New("no membership returned")
	}
	if err != nil {
		// Stopped while joining: the join's error is the stop's, and Run
		// returns nil after a stop, as it does once joined. Either way,
		// partitions the join assigned before it failed are stopped first.
		stopped := stopCtx.Err() != nil
		stop()
		g.Revoked(context.WithoutCancel(ctx), g.ownedIDs())
		g.wg.Wait()
		g.mu.Lock()
		defer g.mu.Unlock()
		switch {
		case g.firstErr != nil:
			return g.firstErr
		case stopped:
			return nil
		}
		return fmt.Errorf("stream: consumer %s: join the group of %s: %w", c.cfg.name, c.s.Name(), err)
	}
	<-stopCtx.Done()
	bg := context.WithoutCancel(ctx)
	lerr := m.Leave(bg)
	// Leave revokes what it hands back; stop anything it did not.
	g.Revoked(bg, g.ownedIDs())
	g.wg.Wait()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.firstErr != nil {
		return g.firstErr
	}
	if lerr != nil {
		return fmt.Errorf("stream: consumer %s: leave the group of %s: %w", c.cfg.name, c.s.Name(), lerr)
	}
	return nil
}

// fail records a partition's fatal error and stops Run.
func (g *groupRun) fail(err error) {
	g.mu.Lock()
	if g.firstErr == nil {
		g.firstErr = err
	}
	g.mu.Unlock()
	g.stop()
}

func (g *groupRun) ownedIDs() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	ids := make([]string, 0, len(g.owned))
	for id := range g.owned {
		ids = append(ids, id)
	}
	return ids
}

// take removes the named partitions from the owned set and returns them.
func (g *groupRun) take(ids []string) []*ownedPartition {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []*ownedPartition
	for _, id := range ids {
		if op := g.owned[id]; op != nil {
			delete(g.owned, id)
			out = append(out, op)
		}
	}
	return out
}

// Assigned starts a worker for each partition not already running. After
// Run has begun to stop it starts nothing: the leave hands them back.
func (g *groupRun) Assigned(_ context.Context, partitions []string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopCtx.Err() != nil {
		return
	}
	for _, id := range partitions {
		if g.owned[id] != nil {
			continue
		}
		pstop, stop := context.WithCancel(g.stopCtx)
		pwork, cancelWork := context.WithCancel(g.workCtx)
		op := &ownedPartition{id: id, stop: stop, cancelWork: cancelWork, done: make(chan struct{})}
		g.owned[id] = op
		g.wg.Add(1)
		go g.serve(op, pstop, pwork)
	}
}

// Revoked stops the partitions' fetching, lets their in-flight handlers
// finish (bounded by the drain timeout, or at once if ctx is done) and
// waits for their workers, which persist before they return.
func (g *groupRun) Revoked(ctx context.Context, partitions []string) {
	ops := g.take(partitions)
	if len(ops) == 0 {
		return
	}
	for _, op := range ops {
		op.stop()
	}
	cancelAll := func() {
		for _, op := range ops {
			op.cancelWork()
		}
	}
	t := time.AfterFunc(g.c.cfg.drainTimeout, cancelAll)
	defer t.Stop()
	defer context.AfterFunc(ctx, cancelAll)()
	for _, op := range ops {
		<-op.done
	}
}

// Lost stops the partitions at once: fetching, handlers and saves.
func (g *groupRun) Lost(_ context.Context, partitions []string) {
	ops := g.take(partitions)
	for _, op := range ops {
		op.lost.Store(true)
		op.stop()
		op.cancelWork()
	}
	for _, op := range ops {
		<-op.done
	}
}

// serve runs one owned partition until it is revoked, lost, finished, or
// Run stops. A compare-and-swap conflict (another member wrote the
// checkpoint, as happens around a rebalance) reloads the checkpoint after
// a backoff instead of ending Run: the group decides who owns the
// partition, and will revoke it if it is no longer ours.
func (g *groupRun) serve(op *ownedPartition, pstop, pwork context.Context) {
	defer g.wg.Done()
	defer close(op.done)
	defer op.stop()
	defer op.cancelWork()
	c := g.c
	if !g.waitParents(op.id, pstop) {
		return
	}
	for conflicts := 0; pstop.Err() == nil; {
		w := &partitionWorker{c: c, id: op.id, stopCtx: pstop, workCtx: pwork, persistCtx: context.WithoutCancel(pwork), lost: &op.lost}
		_, err := w.run()
		switch {
		case err == nil || op.lost.Load():
			return // stopped, finished, or lost
		case errors.Is(err, checkpoint.ErrConflict):
			conflicts++
			d := c.cfg.fetchRetry.Backoff(conflicts, c.cfg.rand)
			w.observe(&Event{Kind: EventCheckpointError, Err: fmt.Errorf("%w (reloading the checkpoint while the group assigns the partition here)", err), Attempt: conflicts, Delay: d})
			if c.cfg.clock.Sleep(pstop, d) != nil {
				return
			}
		default:
			g.fail(err)
			return
		}
	}
}

// waitParents waits until the parents of a split or merged partition are
// finished (their checkpoints say so), as standalone Run does before it
// starts a child: a group may assign a child before its parents are done.
// It returns false if the partition stopped first.
func (g *groupRun) waitParents(id string, pstop context.Context) bool {
	c := g.c
	var parents, known []string
	for failures := 0; ; {
		parts, err := c.s.Partitions(pstop)
		if err == nil {
			for _, p := range parts {
				known = append(known, p.ID)
				if p.ID == id {
					parents = p.Parents
				}
			}
			break
		}
		if pstop.Err() != nil {
			return false
		}
		failures++
		d := c.cfg.fetchRetry.Backoff(failures, c.cfg.rand)
		c.observe(&Event{Kind: EventFetchError, Stream: c.s.Name(), Partition: id,
			Err: fmt.Errorf("stream: list partitions of %s: %w", c.s.Name(), err), Attempt: failures, Delay: d})
		if c.cfg.clock.Sleep(pstop, d) != nil {
			return false
		}
	}
	for _, parent := range parents {
		if !slices.Contains(known, parent) {
			continue // expired: nothing left to read
		}
		for {
			cp, err := c.cfg.store.Load(pstop, checkpoint.Key{Consumer: c.cfg.name, Stream: c.s.Name(), Partition: parent})
			if err == nil && cp.Finished {
				break
			}
			if c.cfg.clock.Sleep(pstop, c.cfg.partitionRefresh) != nil {
				return false
			}
		}
	}
	return true
}
