package kafka

import "sync"

// coalescer gathers the calls for one key (a group and topic) made while
// a request for that key is in flight, and runs them together as the next
// request: a thousand partitions that commit at about the same time cost a
// few OffsetCommit requests, not a thousand, and the same for the offset
// fetches of a thousand Loads at start. The first caller runs the request
// (the leader); callers that arrive meanwhile wait, and the leader, when
// done, hands the next request to the first of them. A caller waits at
// most for the request in flight and its own, each bounded by the
// stream's request timeout.
type coalescer[T any] struct {
	mu sync.Mutex
	qs map[string]*coalesceQueue[T]
}

type coalesceQueue[T any] struct {
	items []*coalesceItem[T] // waiting for the next request
}

type coalesceItem[T any] struct {
	v    *T
	done chan struct{} // closed when the request that carried v returned
	lead chan struct{} // closed when this caller is to run the next request
}

// do queues v under key and returns once run has handled it. run gets
// every value queued under key since the last request (v among them), in
// the order they came, and must settle each (their results are in the
// values) before it returns.
func (c *coalescer[T]) do(key string, v *T, run func([]*T)) {
	it := &coalesceItem[T]{v: v, done: make(chan struct{}), lead: make(chan struct{})}
	c.mu.Lock()
	if c.qs == nil {
		c.qs = map[string]*coalesceQueue[T]{}
	}
	q, busy := c.qs[key]
	if !busy {
		q = &coalesceQueue[T]{}
		c.qs[key] = q
	}
	q.items = append(q.items, it)
	if busy {
		c.mu.Unlock()
		select {
		case <-it.done:
			return
		case <-it.lead:
		}
		c.mu.Lock()
	}
	items := q.items
	q.items = nil
	c.mu.Unlock()
	vs := make([]*T, len(items))
	for i, x := range items {
		vs[i] = x.v
	}
	run(vs)
	for _, x := range items {
		if x != it {
			close(x.done)
		}
	}
	c.mu.Lock()
	if len(q.items) > 0 {
		close(q.items[0].lead)
	} else {
		delete(c.qs, key)
	}
	c.mu.Unlock()
}
