package stream

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/driver"
)

// DefaultLeaseDuration is how long a lease lasts without renewal unless
// WithLeaseDuration says otherwise.
const DefaultLeaseDuration = 10 * time.Second

// WorkerLeasePrefix starts the reserved pseudo-partition ids of presence
// leases: every worker running WithLeases holds the lease
// WorkerLeasePrefix + its worker id, next to its partition leases (same
// consumer and stream), so that the other workers count it as live even
// while it holds no partition. Presence leases never name a partition: the
// balancer does not assign them and counts only their owners, the stores
// keep them apart from checkpoints (ListLeases returns them, List does
// not), and a stream partition whose id starts with this prefix cannot be
// leased (the balancer logs an error for it). A worker releases its
// presence lease when it leaves; a released one stays stored, free, so
// stable worker ids (WithWorkerID) keep the lease list short.
const WorkerLeasePrefix = "~worker:"

// IsWorkerLease reports whether l is a presence lease (its partition id
// starts with WorkerLeasePrefix) rather than a partition's lease.
func IsWorkerLease(l *checkpoint.Lease) bool {
	return l != nil && strings.HasPrefix(l.Partition, WorkerLeasePrefix)
}

// LeaseOption configures WithLeases.
type LeaseOption func(*leaseConfig) error

type leaseConfig struct {
	duration time.Duration
	renew    time.Duration // 0: duration/3
	worker   string
	max      int // 0: no limit
	balance  bool
	logger   *slog.Logger
}

// WithLeaseDuration sets how long a lease lasts without renewal (default
// 10 s): a dead worker's partitions are taken over after about this long.
func WithLeaseDuration(d time.Duration) LeaseOption {
	return func(c *leaseConfig) error {
		if d <= 0 {
			return &OptionError{Option: "WithLeaseDuration", Value: d, Expected: "a positive duration"}
		}
		c.duration = d
		return nil
	}
}

// WithLeaseRenewInterval sets how often the worker renews its leases, lists
// partitions and rebalances (default a third of the lease duration). It
// must be shorter than half the lease duration.
func WithLeaseRenewInterval(d time.Duration) LeaseOption {
	return func(c *leaseConfig) error {
		if d <= 0 {
			return &OptionError{Option: "WithLeaseRenewInterval", Value: d, Expected: "a positive duration"}
		}
		c.renew = d
		return nil
	}
}

// WithWorkerID names this worker in the leases it holds (default: host
// name, process id and a random suffix). Two running workers must never
// share an id.
func WithWorkerID(id string) LeaseOption {
	return func(c *leaseConfig) error {
		if id == "" {
			return &OptionError{Option: "WithWorkerID", Value: `""`, Expected: "a non-empty worker id"}
		}
		c.worker = id
		return nil
	}
}

// WithMaxLeases caps how many partitions this worker holds (default 0: no
// cap beyond its fair share).
func WithMaxLeases(n int) LeaseOption {
	return func(c *leaseConfig) error {
		if n < 0 {
			return &OptionError{Option: "WithMaxLeases", Value: n, Expected: "0 (no cap) or more"}
		}
		c.max = n
		return nil
	}
}

// WithLeaseBalancing turns balancing on (the default) or off. Off, a worker
// only takes free and expired leases and never hands one over: the first
// workers keep what they took. It still publishes its presence lease, so
// balancing workers count it.
func WithLeaseBalancing(on bool) LeaseOption {
	return func(c *leaseConfig) error {
		c.balance = on
		return nil
	}
}

// WithLeaseLogger logs lease changes and store errors (default: none).
func WithLeaseLogger(l *slog.Logger) LeaseOption {
	return func(c *leaseConfig) error {
		if l == nil {
			return &OptionError{Option: "WithLeaseLogger", Value: nil, Expected: "a non-nil *slog.Logger"}
		}
		c.logger = l
		return nil
	}
}

// WithLeases makes the consumer one of several workers sharing the stream's
// partitions through leases kept in l (KCL-style shard leases), instead of
// owning every partition. l is usually the checkpoint store itself
// (checkpoint.MemoryStore, FileStore, the DynamoDB store); the consumer's
// checkpoints must be in a store every worker reaches.
//
// Each worker, every renew interval: renews its leases and its presence
// lease (see WorkerLeasePrefix); lists the partitions and their
// checkpoints; takes free and expired leases of partitions that are not
// finished and whose parents are finished (a child shard starts only after
// its parents), up to its fair share (partitions divided by live workers,
// rounded up); and hands over one partition (Revoked, then the lease is
// released) while it holds more than its share. Live workers are counted
// from the live presence and partition leases, so a worker that holds no
// partition yet is seen by the others: they hand partitions over to it
// gracefully, and a lease is never taken from a live owner. A lease counts
// as expired when its counter has not changed for a whole lease duration
// as this worker's clock measures, so clocks need not agree.
//
// A lease that cannot be renewed (taken by another worker, or the store
// unreachable until the lease could be taken) is reported Lost: the engine
// stops the partition at once. The new owner starts from the checkpoint,
// and the checkpoint's compare-and-swap rejects any late save of the former
// owner (see checkpoint.Lease). On a graceful stop the worker hands every
// partition over and releases its leases, so others take them at once; a
// worker that dies leaves its leases to expire.
func WithLeases(l checkpoint.Leaser, opts ...LeaseOption) ConsumerOption {
	return consumerOptionFunc(func(c *consumerConfig) error {
		lc, err := newLeaseConfig(l, opts)
		if err != nil {
			return err
		}
		if c.group != "" {
			return &OptionError{Option: "WithLeases", Value: "leases",
				Expected: fmt.Sprintf("either leases or a backend group, not both (WithGroup(%q) is set)", c.group)}
		}
		c.join = func(ctx context.Context, co *Consumer, r driver.Rebalance) (driver.Membership, error) {
			b := newBalancer(co, l, r, lc)
			b.start(ctx)
			return b, nil
		}
		return nil
	})
}

// newLeaseConfig applies and checks the options of WithLeases.
func newLeaseConfig(l checkpoint.Leaser, opts []LeaseOption) (leaseConfig, error) {
	lc := leaseConfig{duration: DefaultLeaseDuration, balance: true}
	if l == nil {
		return lc, &OptionError{Option: "WithLeases", Value: nil, Expected: "a non-nil checkpoint.Leaser (a store that keeps leases)"}
	}
	for _, o := range opts {
		if err := o(&lc); err != nil {
			return lc, err
		}
	}
	if lc.renew == 0 {
		lc.renew = lc.duration / 3
	}
	if 2*lc.renew >= lc.duration {
		return lc, &OptionError{Option: "WithLeaseRenewInterval", Value: lc.renew,
			Expected: fmt.Sprintf("less than half the lease duration %v", lc.duration)}
	}
	if lc.worker == "" {
		lc.worker = defaultWorkerID()
	}
	if lc.logger == nil {
		lc.logger = slog.New(slog.DiscardHandler)
	}
	return lc, nil
}

// defaultWorkerID returns host-pid-random.
func defaultWorkerID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "worker"
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// balancer is one worker's lease keeper: the driver.Membership of a
// consumer running WithLeases. Its loop goroutine (started by start,
// stopped by Leave or by the join context) is the only caller of the
// Rebalance while it runs; Leave calls it after the loop has stopped.
type balancer struct {
	c      *Consumer
	l      checkpoint.Leaser
	r      driver.Rebalance
	cfg    leaseConfig
	clock  Clock
	log    *slog.Logger
	stream string

	// Owned by the loop, then by Leave.
	presence *heldLease // this worker's presence lease; nil until acquired
	warned   map[string]bool
	held     map[string]*heldLease
	seen     map[string]observed  // last lease counter seen per partition
	cooldown map[string]time.Time // partitions this worker handed over: not retaken before
	finished map[string]bool      // partitions whose checkpoint is Finished (permanent)

	cancel context.CancelFunc
	done   chan struct{}
	leave  sync.Once
	left   error
}

// heldLease is a lease this worker holds.
type heldLease struct {
	lease   *checkpoint.Lease
	renewed time.Time // when the last successful write of it started
}

// observed is the last counter seen for a partition's lease, and since when.
type observed struct {
	counter uint64
	owner   string
	since   time.Time
}

func newBalancer(c *Consumer, l checkpoint.Leaser, r driver.Rebalance, cfg leaseConfig) *balancer {
	return &balancer{
		c: c, l: l, r: r, cfg: cfg, clock: c.cfg.clock, stream: c.s.Name(),
		log:      cfg.logger.With("consumer", c.cfg.name, "stream", c.s.Name(), "worker", cfg.worker),
		held:     map[string]*heldLease{},
		seen:     map[string]observed{},
		cooldown: map[string]time.Time{},
		finished: map[string]bool{},
		warned:   map[string]bool{},
		done:     make(chan struct{}),
	}
}

// start runs the loop until ctx is done or Leave.
func (b *balancer) start(ctx context.Context) {
	ctx, b.cancel = context.WithCancel(ctx)
	go func() { // owned by b: stopped by Leave or ctx
		defer close(b.done)
		for {
			b.step(ctx)
			if b.clock.Sleep(ctx, b.cfg.renew) != nil {
				return
			}
		}
	}()
}

func (b *balancer) key(partition string) checkpoint.Key {
	return checkpoint.Key{Consumer: b.c.cfg.name, Stream: b.stream, Partition: partition}
}

// presenceKey is the key of this worker's presence lease.
func (b *balancer) presenceKey() checkpoint.Key {
	return b.key(WorkerLeasePrefix + b.cfg.worker)
}

// keepPresence renews this worker's presence lease, or acquires it if it
// holds none (first round, or after another process took it). The lease
// names this worker, so it is taken whatever its state: a stored lease
// owned by this id is a former run of this worker. Failures are logged and
// retried next round; they only make this worker invisible meanwhile.
func (b *balancer) keepPresence(ctx context.Context) {
	if h := b.presence; h != nil {
		start := b.clock.Now()
		err := b.l.RenewLease(ctx, h.lease, start.Add(b.cfg.duration))
		switch {
		case err == nil:
			h.renewed = start
			return
		case ctx.Err() != nil:
			return
		case !errors.Is(err, checkpoint.ErrConflict):
			b.log.Warn("lease balancer: renew presence", "err", err)
			return
		}
		b.log.Warn("lease balancer: presence lease changed by another process (is the worker id shared?); taking it again", "err", err)
		b.presence = nil
	}
	l, err := b.l.LoadLease(ctx, b.presenceKey())
	if err != nil {
		if ctx.Err() == nil {
			b.log.Warn("lease balancer: load presence", "err", err)
		}
		return
	}
	start := b.clock.Now()
	if err := b.l.AcquireLease(ctx, l, b.cfg.worker, start.Add(b.cfg.duration)); err != nil {
		if ctx.Err() == nil {
			b.log.Warn("lease balancer: acquire presence", "err", err)
		}
		return
	}
	b.presence = &heldLease{lease: l, renewed: start}
}

// step is one round: renew, list, take, hand over.
func (b *balancer) step(ctx context.Context) {
	b.renewAll(ctx)
	if ctx.Err() != nil {
		return
	}
	b.keepPresence(ctx)
	if ctx.Err() != nil {
		return
	}
	leases, eligible, ok := b.survey(ctx)
	if !ok {
		return
	}
	now := b.clock.Now()
	b.dropIneligible(ctx, eligible)
	byID, counts := b.observeLeases(leases, eligible, now)
	workers := len(counts)
	target := (len(eligible) + workers - 1) / workers
	if b.cfg.max > 0 {
		target = min(target, b.cfg.max)
	}
	// While a worker sits two or more below the target, one at or above
	// target-1 leaves it the partitions just released (see levels); a
	// partition free for a lease duration is anyone's again, so a taker
	// that fails does not keep it idle.
	lowest := slices.Min(slices.Collect(maps.Values(counts))) // counts holds this worker too
	leave := lowest < target-1 && len(b.held) >= target-1
	var got []string
	for _, l := range b.takeable(eligible, byID, workers, now) {
		if len(b.held) >= target {
			break
		}
		if leave && l.Owner == "" && now.Sub(b.seen[l.Partition].since) < b.cfg.duration {
			continue
		}
		if b.acquire(ctx, l) {
			got = append(got, l.Partition)
		}
	}
	if b.cfg.balance && len(got) == 0 &&
		(len(b.held) > target && target > 0 || b.cfg.max > 0 && len(b.held) > b.cfg.max || b.levels(counts, target, lowest)) {
		// Over the share: hand half the excess over (at least one
		// partition; one when levelling); the underloaded workers (ones
		// that may hold none yet, seen by their presence leases) take it.
		// Half, not one: a worker that started alone took every
		// partition, and one per round would take its peers hundreds of
		// rounds to share; not all of it at once, so that the partitions
		// move a few at a time while the others start taking.
		limit := target
		if b.cfg.max > 0 {
			limit = min(limit, b.cfg.max)
		}
		n := max(1, (len(b.held)-limit)/2)
		ids := b.heldIDs()
		ids = ids[len(ids)-n:]
		for _, id := range ids {
			b.cooldown[id] = now.Add(2 * b.cfg.duration)
		}
		b.handOver(ctx, ids)
	}
	if len(got) > 0 {
		sort.Strings(got)
		b.log.Info("lease balancer: assigned", "partitions", got)
		b.r.Assigned(ctx, got)
	}
}

// survey lists the partitions, the leases and the checkpoints, notes the
// finished partitions, and returns the leases and the partitions that may
// be leased: listed, not finished, their parents done. ok is false when a
// listing failed (logged): the round is skipped.
func (b *balancer) survey(ctx context.Context) (leases []*checkpoint.Lease, eligible map[string]bool, ok bool) {
	parts, err := b.c.s.Partitions(ctx)
	if err != nil {
		b.log.Warn("lease balancer: list partitions", "err", err)
		return nil, nil, false
	}
	leases, err = b.l.ListLeases(ctx, b.c.cfg.name, b.stream)
	if err != nil {
		b.log.Warn("lease balancer: list leases", "err", err)
		return nil, nil, false
	}
	cps, err := b.c.cfg.store.List(ctx, b.c.cfg.name, b.stream)
	if err != nil {
		b.log.Warn("lease balancer: list checkpoints", "err", err)
		return nil, nil, false
	}
	for _, cp := range cps {
		if cp.Finished {
			b.finished[cp.Partition] = true
		}
	}
	known := make(map[string]bool, len(parts))
	for _, p := range parts {
		known[p.ID] = true
	}
	eligible = map[string]bool{}
	for _, p := range parts {
		if b.finished[p.ID] || b.reserved(p.ID) {
			continue
		}
		ready := true
		for _, parent := range p.Parents {
			if known[parent] && !b.finished[parent] {
				ready = false
			}
		}
		if ready {
			eligible[p.ID] = true
		}
	}
	return leases, eligible, true
}

// reserved reports whether a partition id starts with the presence
// leases' prefix, which no partition lease may use (logged once).
func (b *balancer) reserved(id string) bool {
	if !strings.HasPrefix(id, WorkerLeasePrefix) {
		return false
	}
	if !b.warned[id] {
		b.warned[id] = true
		b.log.Error("lease balancer: partition id starts with the reserved presence prefix and cannot be leased",
			"partition", id, "prefix", WorkerLeasePrefix)
	}
	return true
}

// dropIneligible hands back what is finished or gone: the engine has
// nothing left to do there.
func (b *balancer) dropIneligible(ctx context.Context, eligible map[string]bool) {
	var drop []string
	for id := range b.held {
		if !eligible[id] {
			drop = append(drop, id)
		}
	}
	if len(drop) > 0 {
		sort.Strings(drop)
		b.handOver(ctx, drop)
	}
}

// levels reports whether this worker should hand one partition over so
// that the spread closes to at most one partition between workers: with
// target = ceil(partitions/workers) (lowest: the fewest any live worker
// holds) a worker at the target takes nothing
// more, so one below target-1 would wait for ever for a free partition
// when the others all sit at the target or one below. Then the worker at
// the target whose id sorts first among those at the target hands one
// over (one worker per round, so the spread closes without overshoot);
// the one below takes it, as it is the only one still taking.
func (b *balancer) levels(counts map[string]int, target, lowest int) bool {
	if b.cfg.max > 0 || len(b.held) != target || target < 2 || lowest >= target-1 {
		return false
	}
	for w, n := range counts {
		if n == target && w < b.cfg.worker {
			return false // another at the target sorts first: it hands over
		}
	}
	return true
}

// observeLeases notes each lease's counter (a lease whose counter has not
// moved for a lease duration is expired), and returns the partition leases
// by partition and the live workers, this one included, counted from
// their presence and partition leases, with the eligible partitions each
// holds.
func (b *balancer) observeLeases(leases []*checkpoint.Lease, eligible map[string]bool, now time.Time) (byID map[string]*checkpoint.Lease, counts map[string]int) {
	byID = map[string]*checkpoint.Lease{}
	counts = map[string]int{b.cfg.worker: len(b.held)}
	for _, l := range leases {
		o, ok := b.seen[l.Partition]
		if !ok || o.counter != l.Counter {
			o = observed{counter: l.Counter, owner: l.Owner, since: now}
			b.seen[l.Partition] = o
		}
		live := l.Owner != "" && l.Owner != b.cfg.worker && now.Sub(o.since) < b.cfg.duration
		if IsWorkerLease(l) {
			if _, ok := counts[l.Owner]; live && !ok {
				counts[l.Owner] = 0 // present, maybe holding nothing
			}
			continue
		}
		byID[l.Partition] = l
		if live && eligible[l.Partition] && b.held[l.Partition] == nil {
			counts[l.Owner]++
		}
	}
	return byID, counts
}

// takeable returns the eligible partitions' leases this worker may take:
// free or expired, not held by it, and not handed over by it lately
// (unless it is alone), in an order that depends on the worker.
func (b *balancer) takeable(eligible map[string]bool, byID map[string]*checkpoint.Lease, workers int, now time.Time) []*checkpoint.Lease {
	var free []*checkpoint.Lease
	for id := range eligible {
		if b.held[id] != nil {
			continue
		}
		if until, ok := b.cooldown[id]; ok {
			if now.Before(until) && workers > 1 {
				continue // handed over: leave it to the others for a while
			}
			delete(b.cooldown, id)
		}
		l := byID[id]
		switch {
		case l == nil:
			free = append(free, &checkpoint.Lease{Key: b.key(id)})
		case l.Owner == "" || now.Sub(b.seen[id].since) >= b.cfg.duration:
			free = append(free, l)
		}
	}
	sort.Slice(free, func(i, j int) bool { return free[i].Partition < free[j].Partition })
	return rotate(free, b.cfg.worker)
}

// rotate starts the list at a place that depends on the worker, so that
// workers starting together do not all race for the same lease first.
func rotate(ls []*checkpoint.Lease, worker string) []*checkpoint.Lease {
	if len(ls) < 2 {
		return ls
	}
	h := fnv.New32a()
	h.Write([]byte(worker))
	i := int(h.Sum32() % uint32(len(ls)))
	return append(ls[i:len(ls):len(ls)], ls[:i]...)
}

// acquire takes l for this worker; false if another worker was faster or
// the store failed.
func (b *balancer) acquire(ctx context.Context, l *checkpoint.Lease) bool {
	start := b.clock.Now()
	mine := l.Clone()
	if err := b.l.AcquireLease(ctx, mine, b.cfg.worker, start.Add(b.cfg.duration)); err != nil {
		if !errors.Is(err, checkpoint.ErrConflict) {
			b.log.Warn("lease balancer: acquire", "partition", l.Partition, "err", err)
		}
		return false
	}
	b.held[l.Partition] = &heldLease{lease: mine, renewed: start}
	b.seen[l.Partition] = observed{counter: mine.Counter, owner: mine.Owner, since: start}
	if l.Owner != "" && l.Owner != b.cfg.worker {
		b.log.Info("lease balancer: took over", "partition", l.Partition, "from", l.Owner)
	}
	return true
}

// renewAll renews every held lease and reports the ones lost.
func (b *balancer) renewAll(ctx context.Context) {
	var lost []string
	for _, id := range b.heldIDs() {
		h := b.held[id]
		start := b.clock.Now()
		err := b.l.RenewLease(ctx, h.lease, start.Add(b.cfg.duration))
		switch {
		case err == nil:
			h.renewed = start
			b.seen[id] = observed{counter: h.lease.Counter, owner: h.lease.Owner, since: start}
		case errors.Is(err, checkpoint.ErrConflict):
			b.log.Warn("lease balancer: lease taken by another worker", "partition", id, "err", err)
			lost = append(lost, id)
		case ctx.Err() != nil:
			return
		default:
			// The store is unreachable: keep trying while no one else may
			// take the lease before the next round.
			if b.clock.Now().Add(b.cfg.renew).Before(h.renewed.Add(b.cfg.duration)) {
				b.log.Warn("lease balancer: renew failed, retrying", "partition", id, "err", err)
				continue
			}
			b.log.Warn("lease balancer: renew failed until the lease could be taken", "partition", id, "err", err)
			lost = append(lost, id)
		}
	}
	if len(lost) > 0 {
		for _, id := range lost {
			delete(b.held, id)
		}
		b.r.Lost(ctx, lost)
	}
}

// handOver revokes partitions (the engine drains and persists them) and
// then releases their leases.
func (b *balancer) handOver(ctx context.Context, ids []string) {
	b.log.Info("lease balancer: handing over", "partitions", ids)
	b.r.Revoked(ctx, ids)
	for _, id := range ids {
		h := b.held[id]
		delete(b.held, id)
		if err := b.l.ReleaseLease(ctx, h.lease); err != nil {
			b.log.Warn("lease balancer: release", "partition", id, "err", err)
		}
	}
}

func (b *balancer) heldIDs() []string {
	ids := make([]string, 0, len(b.held))
	for id := range b.held {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Leave stops the loop, hands every held partition over (renewing the
// leases meanwhile, so a long drain does not let them expire), releases
// the leases and then the presence lease. It returns the errors of the
// releases (a lease another worker took meanwhile is not an error).
// Calling it again returns the first result.
func (b *balancer) Leave(ctx context.Context) error {
	b.leave.Do(func() {
		b.cancel()
		<-b.done
		b.left = errors.Join(b.leaveHeld(ctx), b.releasePresence(ctx), b.releaseStray(ctx))
	})
	return b.left
}

// releaseStray releases the leases the store says this worker owns but
// the balancer does not know it holds: an acquire whose request the stop
// cancelled after the store had applied it (a remote store such as
// DynamoDB may apply a write whose caller gave up). Without this sweep
// such a lease would keep its partition from the other workers until it
// expires. Nothing reads those partitions here: they were never assigned.
func (b *balancer) releaseStray(ctx context.Context) error {
	ls, err := b.l.ListLeases(ctx, b.c.cfg.name, b.stream)
	if err != nil {
		return fmt.Errorf("stream: list the leases of worker %s to release: %w", b.cfg.worker, err)
	}
	var errs []error
	for _, l := range ls {
		if l.Owner != b.cfg.worker {
			continue
		}
		b.log.Info("lease balancer: releasing a lease taken while stopping", "partition", l.Partition)
		if err := b.l.ReleaseLease(ctx, l); err != nil && !errors.Is(err, checkpoint.ErrConflict) {
			errs = append(errs, fmt.Errorf("stream: release the lease of partition %s: %w", l.Partition, err))
		}
	}
	return errors.Join(errs...)
}

// releasePresence releases the presence lease, if held.
func (b *balancer) releasePresence(ctx context.Context) error {
	h := b.presence
	if h == nil {
		return nil
	}
	b.presence = nil
	err := b.l.ReleaseLease(ctx, h.lease)
	switch {
	case errors.Is(err, checkpoint.ErrConflict):
		b.log.Info("lease balancer: presence lease changed before its release", "err", err)
		return nil
	case err != nil:
		return fmt.Errorf("stream: release the presence lease of worker %s: %w", b.cfg.worker, err)
	}
	return nil
}

// leaveHeld hands every held partition over and releases their leases,
// renewing them and the presence lease while the engine drains.
func (b *balancer) leaveHeld(ctx context.Context) error {
	ids := b.heldIDs()
	if len(ids) == 0 {
		return nil
	}
	keep, stopKeep := context.WithCancel(ctx)
	kept := make(chan struct{})
	go func() { // owned by Leave: renews while the engine drains
		defer close(kept)
		for b.clock.Sleep(keep, b.cfg.renew) == nil {
			hs := make([]*heldLease, 0, len(ids)+1)
			for _, id := range ids {
				hs = append(hs, b.held[id])
			}
			if b.presence != nil {
				hs = append(hs, b.presence)
			}
			for _, h := range hs {
				start := b.clock.Now()
				if err := b.l.RenewLease(keep, h.lease, start.Add(b.cfg.duration)); err == nil {
					h.renewed = start
				}
			}
		}
	}()
	b.r.Revoked(ctx, ids)
	stopKeep()
	<-kept // the held leases are Leave's again
	var errs []error
	for _, id := range ids {
		h := b.held[id]
		delete(b.held, id)
		err := b.l.ReleaseLease(ctx, h.lease)
		switch {
		case errors.Is(err, checkpoint.ErrConflict):
			// Taken by another worker meanwhile: nothing to hand back.
			b.log.Info("lease balancer: lease taken before its release", "partition", id, "err", err)
		case err != nil:
			errs = append(errs, fmt.Errorf("stream: release the lease of partition %s: %w", id, err))
		}
	}
	b.log.Info("lease balancer: left", "released", ids)
	return errors.Join(errs...)
}

var _ driver.Membership = (*balancer)(nil)
