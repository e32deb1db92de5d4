package stream_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/driver"
)

// member runs one group member's Run in the background.
type member struct {
	cancel context.CancelFunc
	done   chan error
}

func (e *env) startMember(c *stream.Consumer) *member {
	ctx, cancel := context.WithCancel(context.Background())
	m := &member{cancel: cancel, done: make(chan error, 1)}
	go func() { m.done <- c.Run(ctx) }()
	e.t.Cleanup(func() { m.cancel(); <-m.done })
	return m
}

// stop stops the member gracefully and returns Run's error.
func (m *member) stop(t *testing.T) error {
	t.Helper()
	m.cancel()
	select {
	case err := <-m.done:
		m.done <- err // for the cleanup
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return within 20s of its stop")
		return nil
	}
}

// waitFor polls cond for up to 20s.
func (e *env) waitFor(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: not reached in 20s; checkpoints: %s", what, e.dump())
		}
		time.Sleep(time.Millisecond)
	}
}

// handledBy records which member handled each record.
type handledBy struct {
	mu sync.Mutex
	n  map[string]map[string]int // id -> member -> calls
}

func (h *handledBy) add(id, who string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n == nil {
		h.n = map[string]map[string]int{}
	}
	if h.n[id] == nil {
		h.n[id] = map[string]int{}
	}
	h.n[id][who]++
}

func (h *handledBy) total(id string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, c := range h.n[id] {
		n += c
	}
	return n
}

func (h *handledBy) byMember(who string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, m := range h.n {
		n += m[who]
	}
	return n
}

func TestGroupMembersSharePartitions(t *testing.T) {
	e := newEnv(t, 4)
	var got handledBy
	handler := func(who string) stream.Handler {
		return func(ctx context.Context, r *stream.Record) error { got.add(r.ID, who); return nil }
	}
	a := e.startMember(e.consumer(handler("a"), stream.WithGroup("g")))
	e.waitFor("a joined", func() bool { return len(e.s.GroupMembers("g")) == 1 })
	b := e.startMember(e.consumer(handler("b"), stream.WithGroup("g")))
	e.waitFor("b joined", func() bool { return len(e.s.GroupMembers("g")) == 2 })
	var keys []string
	for i := range 40 {
		keys = append(keys, fmt.Sprintf("k%d", i))
	}
	ids := e.write(keys...)
	e.waitFor("every partition committed", e.committedAll)
	for _, m := range []*member{a, b} {
		if err := m.stop(t); err != nil {
			t.Fatalf("Run = %v after a graceful stop", err)
		}
	}
	for _, id := range ids {
		if n := got.total(id); n != 1 {
			t.Errorf("record %s handled %d times, want once", id, n)
		}
	}
	// Each member handled records of its own two partitions only.
	parts := map[string]map[string]bool{"a": {}, "b": {}}
	for _, id := range ids {
		got.mu.Lock()
		for who := range got.n[id] {
			parts[who][e.parts[id]] = true
		}
		got.mu.Unlock()
	}
	if len(parts["a"]) != 2 || len(parts["b"]) != 2 {
		t.Errorf("partitions handled: a %v, b %v; want two each", parts["a"], parts["b"])
	}
	for p := range parts["a"] {
		if parts["b"][p] {
			t.Errorf("partition %s handled by both members", p)
		}
	}
	if len(e.s.GroupMembers("g")) != 0 {
		t.Errorf("members left after both stopped: %v", e.s.GroupMembers("g"))
	}
}

func TestGroupLeaveHandsOverAfterDrain(t *testing.T) {
	e := newEnv(t, 4)
	var got handledBy
	inflight, release := make(chan string, 1), make(chan struct{})
	var once sync.Once
	ha := func(ctx context.Context, r *stream.Record) error {
		got.add(r.ID, "a")
		first := false
		once.Do(func() { first = true })
		if first {
			inflight <- r.ID
			<-release // the drain lets it finish
		}
		return nil
	}
	hb := func(ctx context.Context, r *stream.Record) error { got.add(r.ID, "b"); return nil }
	a := e.startMember(e.consumer(ha, stream.WithGroup("g"), stream.WithBatchSize(3)))
	e.waitFor("a joined", func() bool { return len(e.s.GroupMembers("g")) == 1 })
	b := e.startMember(e.consumer(hb, stream.WithGroup("g"), stream.WithBatchSize(3)))
	e.waitFor("b joined", func() bool { return len(e.s.GroupMembers("g")) == 2 })
	var keys []string
	for i := range 60 {
		keys = append(keys, fmt.Sprintf("k%d", i))
	}
	ids := e.write(keys...)
	held := <-inflight
	stopped := make(chan error, 1)
	go func() { stopped <- a.stop(t) }()
	time.Sleep(20 * time.Millisecond) // a is draining: its Run must not have returned
	select {
	case err := <-stopped:
		t.Fatalf("a's Run returned (%v) while its handler was in flight", err)
	default:
	}
	close(release)
	if err := <-stopped; err != nil {
		t.Fatalf("a: Run = %v after a graceful stop", err)
	}
	e.waitFor("b to commit every partition", e.committedAll)
	if err := b.stop(t); err != nil {
		t.Fatalf("b: Run = %v", err)
	}
	for _, id := range ids {
		if n := got.total(id); n != 1 {
			t.Errorf("record %s handled %d times, want once", id, n)
		}
	}
	if got.total(held) != 1 || got.byMember("b") == 0 {
		t.Errorf("the held record was handled %d times; b handled %d records", got.total(held), got.byMember("b"))
	}
}

func TestGroupLostStopsAtOnceAndOthersTakeOver(t *testing.T) {
	e := newEnv(t, 2)
	var got handledBy
	inflight := make(chan string, 1)
	var once sync.Once
	ha := func(ctx context.Context, r *stream.Record) error {
		got.add(r.ID, "a")
		first := false
		once.Do(func() { first = true })
		if first {
			inflight <- r.ID
			<-ctx.Done() // only the loss ends it
			return ctx.Err()
		}
		return nil
	}
	hb := func(ctx context.Context, r *stream.Record) error { got.add(r.ID, "b"); return nil }
	// A drain timeout far beyond the test: Lost must not wait for it.
	_ = e.startMember(e.consumer(ha, stream.WithGroup("g"), stream.WithDrainTimeout(time.Hour)))
	e.waitFor("a joined", func() bool { return len(e.s.GroupMembers("g")) == 1 })
	b := e.startMember(e.consumer(hb, stream.WithGroup("g")))
	e.waitFor("b joined", func() bool { return len(e.s.GroupMembers("g")) == 2 })
	ids := e.write("a", "b", "c", "d", "e", "f", "g", "h")
	held := <-inflight
	heldPart := e.parts[held]
	// Expire a while its handler is in flight: it must stop at once and
	// save nothing more.
	before := e.cp(heldPart)
	lost := make(chan error, 1)
	go func() { lost <- e.s.ExpireMember("g", e.s.GroupMembers("g")[0]) }()
	select {
	case err := <-lost:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ExpireMember did not return: Lost waited for the handler")
	}
	e.waitFor("b to commit every partition", e.committedAll)
	if err := b.stop(t); err != nil {
		t.Fatalf("b: Run = %v", err)
	}
	if n := got.total(held); n != 2 {
		t.Errorf("the record in flight at the loss was handled %d times, want 2 (a's cancelled attempt, then b)", n)
	}
	for _, id := range ids {
		if id != held && e.parts[id] == heldPart && got.total(id) != 1 {
			t.Errorf("record %s of the lost partition handled %d times, want once", id, got.total(id))
		}
	}
	// b resumed from a's last save: the batch a had saved Running, its
	// first attempt of the held record kept in memory (the default commit
	// cadence), so b handles that batch in careful mode.
	if before.Batch == nil || !before.Batch.Running || len(before.Batch.Records) != 0 {
		t.Fatalf("checkpoint of %s before the loss: %+v, want its batch saved Running with no record state", heldPart, before.Batch)
	}
	after := e.cp(heldPart)
	if after.Counts.Succeeded != uint64(len(e.order[heldPart])) {
		t.Errorf("partition %s counts %d successes, want %d", heldPart, after.Counts.Succeeded, len(e.order[heldPart]))
	}
}

// plainStream hides memstream's JoinGroup; it tells its scheme as a
// driver.Schemer.
type plainStream struct{ driver.Stream }

func (plainStream) Scheme() string { return "mem" }

func TestWithGroupErrors(t *testing.T) {
	e := newEnv(t, 1)
	h := func(context.Context, *stream.Record) error { return nil }
	_, err := stream.NewConsumer(stream.NewStream(plainStream{e.s}), h, stream.WithGroup("g"), stream.WithDLQ(e.sink), stream.WithCheckpointStore(e.store))
	var oe *stream.OptionError
	if !errors.As(err, &oe) || !strings.Contains(err.Error(), `"orders"`) || !strings.Contains(err.Error(), `"mem"`) {
		t.Errorf("WithGroup on a stream without groups: err = %v, want an OptionError naming the stream and its scheme", err)
	}
	if _, err := stream.NewConsumer(stream.NewStream(e.s), h, stream.WithGroup(""), stream.WithDLQ(e.sink)); !errors.As(err, &oe) {
		t.Errorf("WithGroup(\"\"): err = %v, want an OptionError", err)
	}
	if _, err := stream.NewConsumer(stream.NewStream(e.s), h, stream.WithGroup("g"), stream.WithPartitions("0"), stream.WithDLQ(e.sink)); !errors.As(err, &oe) {
		t.Errorf("WithGroup with WithPartitions: err = %v, want an OptionError", err)
	}
	c, err := stream.NewConsumer(stream.NewStream(e.s), h, stream.WithGroup("billing"), stream.WithDLQ(e.sink), stream.WithCheckpointStore(e.store))
	if err != nil {
		t.Fatal(err)
	}
	if c.Name() != "billing" {
		t.Errorf("consumer name = %q, want the group name by default", c.Name())
	}
	c2, err := stream.NewConsumer(stream.NewStream(e.s), h, stream.WithName("x"), stream.WithGroup("billing"), stream.WithDLQ(e.sink), stream.WithCheckpointStore(e.store))
	if err != nil || c2.Name() != "x" {
		t.Errorf("WithName with WithGroup: name %q, err %v; want x", c2.Name(), err)
	}
}

// failingJoin is a Grouper whose join fails.
type failingJoin struct{ driver.Stream }

func (failingJoin) JoinGroup(context.Context, string, driver.Rebalance) (driver.Membership, error) {
	return nil, errors.New("coordinator unavailable")
}

func TestGroupJoinErrorEndsRun(t *testing.T) {
	e := newEnv(t, 1)
	c, err := stream.NewConsumer(stream.NewStream(failingJoin{e.s}), func(context.Context, *stream.Record) error { return nil }, stream.WithGroup("g"), stream.WithDLQ(e.sink), stream.WithCheckpointStore(e.store))
	if err != nil {
		t.Fatal(err)
	}
	err = c.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "coordinator unavailable") || !strings.Contains(err.Error(), "join") {
		t.Fatalf("Run = %v, want the join error", err)
	}
}

func TestGroupSplitChildWaitsForParent(t *testing.T) {
	e := newEnv(t, 1)
	var mu sync.Mutex
	var seen []string
	h := func(ctx context.Context, r *stream.Record) error {
		mu.Lock()
		seen = append(seen, r.Partition+":"+string(r.Key))
		mu.Unlock()
		return nil
	}
	e.write("k", "k", "k")
	children, err := e.s.Split("0")
	if err != nil {
		t.Fatal(err)
	}
	ids := e.write("k", "k")
	a := e.startMember(e.consumer(h, stream.WithGroup("g")))
	e.waitFor("all committed", e.committedAll)
	if err := a.stop(t); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 5 {
		t.Fatalf("handled %v, want 5 records", seen)
	}
	for i, s := range seen {
		if (i < 3) != strings.HasPrefix(s, "0:") {
			t.Errorf("handled %v: the parent's records must all come before the child's (children %v, ids %v)", seen, children, ids)
			break
		}
	}
	if !slices.Contains(children[:], e.parts[ids[0]]) {
		t.Errorf("records written after the split went to %s, not a child of %v", e.parts[ids[0]], children)
	}
}

// joinStalls is a stream whose group join first assigns the partitions
// given, then blocks until its context ends and fails with the context's
// error, as a driver whose join is cut short by a stop does.
type joinStalls struct {
	driver.Stream
	assign  []string
	joining chan struct{}
}

func (j joinStalls) JoinGroup(ctx context.Context, group string, r driver.Rebalance) (driver.Membership, error) {
	if len(j.assign) > 0 {
		r.Assigned(ctx, j.assign)
	}
	close(j.joining)
	<-ctx.Done()
	return nil, fmt.Errorf("join group %s: %w", group, ctx.Err())
}

// TestRunStoppedDuringJoin checks that Run returns nil when its context is
// cancelled while it joins the group (the contract: Run returns nil after a
// stop), and that partitions the join assigned before it failed are
// stopped before Run returns.
func TestRunStoppedDuringJoin(t *testing.T) {
	for _, assign := range [][]string{nil, {"0", "1"}} {
		t.Run(fmt.Sprintf("assigned %v", assign), func(t *testing.T) {
			e := newEnv(t, 2)
			e.write("a", "b", "c", "d")
			var mu sync.Mutex
			running := 0
			h := func(ctx context.Context, r *stream.Record) error {
				mu.Lock()
				running++
				mu.Unlock()
				defer func() { mu.Lock(); running--; mu.Unlock() }()
				<-ctx.Done() // in flight until the stop's drain ends
				return ctx.Err()
			}
			s := joinStalls{Stream: e.s, assign: assign, joining: make(chan struct{})}
			c, err := stream.NewConsumer(stream.NewStream(s), h, stream.WithGroup("g"), stream.WithCheckpointStore(e.store),
				stream.WithDLQ(e.sink), stream.WithPollInterval(time.Millisecond), stream.WithDrainTimeout(time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- c.Run(ctx) }()
			<-s.joining
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run = %v after a stop during the join, want nil", err)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("Run did not return within 20s of a stop during the join")
			}
			mu.Lock()
			defer mu.Unlock()
			if running != 0 {
				t.Errorf("%d handlers still running after Run returned", running)
			}
		})
	}
}

// TestSharedOptions checks the options both engines take: WithClock and
// WithObserver are one Option for a consumer and a producer, and a
// consumer needs its checkpoint store chosen, as a producer its WAL.
func TestSharedOptions(t *testing.T) {
	e := newEnv(t, 1)
	h := func(context.Context, *stream.Record) error { return nil }
	var shared []stream.Option = []stream.Option{stream.WithClock(e.clock), stream.WithObserver(stream.ObserverFunc(func(stream.Event) {}))}
	var copts []stream.ConsumerOption
	var popts []stream.ProducerOption
	for _, o := range shared {
		copts = append(copts, o)
		popts = append(popts, o)
	}
	if _, err := stream.NewConsumer(stream.NewStream(e.s), h, append(copts, stream.WithDLQ(e.sink), stream.WithCheckpointStore(e.store))...); err != nil {
		t.Errorf("NewConsumer with the shared options: %v", err)
	}
	p, err := stream.NewProducer(stream.NewStream(e.s), append(popts, stream.WithoutWAL())...)
	if err != nil {
		t.Fatalf("NewProducer with the shared options: %v", err)
	}
	p.Close(context.Background())

	var oe *stream.OptionError
	_, err = stream.NewConsumer(stream.NewStream(e.s), h, stream.WithDLQ(e.sink))
	if !errors.As(err, &oe) || oe.Option != "WithCheckpointStore" {
		t.Errorf("NewConsumer without a checkpoint store: err = %v, want an OptionError naming WithCheckpointStore", err)
	}
	if _, err := stream.NewConsumer(stream.NewStream(e.s), h, stream.WithDLQ(e.sink), stream.WithCheckpointStore(e.store), stream.WithClock(nil)); !errors.As(err, &oe) || oe.Option != "WithClock" {
		t.Errorf("consumer WithClock(nil): err = %v, want an OptionError naming WithClock", err)
	}
	if _, err := stream.NewProducer(stream.NewStream(e.s), stream.WithoutWAL(), stream.WithClock(nil)); !errors.As(err, &oe) || oe.Option != "WithClock" {
		t.Errorf("producer WithClock(nil): err = %v, want an OptionError naming WithClock", err)
	}
}
