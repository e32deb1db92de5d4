// Package faultcount counts injected failures per key (a topic) for the
// adapters' test hooks: a harness sets how many calls must fail, and the
// adapter's code takes one failure per call until none is left.
//
//	var writeFaults faultcount.Counts
//	writeFaults.Set("orders", 2)   // in a test
//	if writeFaults.Take("orders") { // in Write: true twice, then false
//		return errInjected
//	}
package faultcount

import (
	"sync"
	"sync/atomic"
)

// Counts holds a failure count per key. The zero value is ready to use and
// safe for concurrent use.
type Counts struct {
	m sync.Map // key -> *atomic.Int64
}

// Set makes the next n Take calls for key report a failure (n <= 0 clears
// it).
func (c *Counts) Set(key string, n int) {
	v, _ := c.m.LoadOrStore(key, new(atomic.Int64))
	v.(*atomic.Int64).Store(int64(max(n, 0)))
}

// Take consumes one failure of key and reports whether there was one.
func (c *Counts) Take(key string) bool {
	v, ok := c.m.Load(key)
	if !ok {
		return false
	}
	n := v.(*atomic.Int64)
	for {
		left := n.Load()
		if left <= 0 {
			return false
		}
		if n.CompareAndSwap(left, left-1) {
			return true
		}
	}
}
