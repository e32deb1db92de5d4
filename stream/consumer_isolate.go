package stream

import (
	"sync"
	"sync/atomic"
)

// isolation keeps the careful attempts of a consumer alone in the
// process: while one runs, no other handler of the consumer does, on any
// partition. A crash during it is then that record's doing, and charging
// it to the record is right; without it, a record that kills the process
// would also charge, and in the end dead-letter, whatever record another
// partition was running at the time.
//
// Only the attempts of a careful batch (one a crash interrupted) are
// isolated: per-record mode charges every attempt a crash interrupts, as
// it always has, and fast attempts are charged nothing. The gate is held
// from an attempt's in_progress save to its outcome's, so that a record
// is never charged for a crash while it waits. Fast attempts cost two
// atomic adds and a load; they wait only while a careful one runs or
// waits.
type isolation struct {
	careful atomic.Int32 // careful attempts waiting or running
	fast    atomic.Int32 // fast attempts running
	mu      sync.Mutex
	cond    sync.Cond // signalled when careful or fast falls, under mu
	busy    bool      // a careful attempt runs (under mu)
}

func newIsolation() *isolation {
	iso := &isolation{}
	iso.cond.L = &iso.mu
	return iso
}

// enterFast waits until no careful attempt runs or waits, and counts a
// fast attempt in.
func (iso *isolation) enterFast() {
	for {
		iso.fast.Add(1)
		if iso.careful.Load() == 0 {
			return
		}
		iso.leaveFast() // a careful attempt goes first
		iso.mu.Lock()
		for iso.careful.Load() > 0 {
			iso.cond.Wait()
		}
		iso.mu.Unlock()
	}
}

// leaveFast counts a fast attempt out, waking a careful one waiting for
// the last to end.
func (iso *isolation) leaveFast() {
	if iso.fast.Add(-1) == 0 && iso.careful.Load() > 0 {
		iso.mu.Lock()
		iso.cond.Broadcast()
		iso.mu.Unlock()
	}
}

// enterCareful waits until no fast attempt and no other careful attempt
// runs; fast attempts that come after it wait for it.
func (iso *isolation) enterCareful() {
	iso.mu.Lock()
	iso.careful.Add(1)
	for iso.busy || iso.fast.Load() > 0 {
		iso.cond.Wait()
	}
	iso.busy = true
	iso.mu.Unlock()
}

// enter enters a careful attempt if careful, else a fast one.
func (iso *isolation) enter(careful bool) {
	if careful {
		iso.enterCareful()
	} else {
		iso.enterFast()
	}
}

// leave leaves what enter entered.
func (iso *isolation) leave(careful bool) {
	if careful {
		iso.leaveCareful()
	} else {
		iso.leaveFast()
	}
}

// leaveCareful ends a careful attempt and lets the others go.
func (iso *isolation) leaveCareful() {
	iso.mu.Lock()
	iso.busy = false
	iso.careful.Add(-1)
	iso.cond.Broadcast()
	iso.mu.Unlock()
}
