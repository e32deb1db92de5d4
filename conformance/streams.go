package conformance

import (
	"fmt"
	"strings"
	"sync"
)

// StreamState is what became of a stream a scenario made.
type StreamState string

// The states of a stream at the end of its scenario.
const (
	// StreamDeleted: Harness.DeleteStream deleted it and it is gone.
	StreamDeleted StreamState = "deleted"
	// StreamKept: Harness.KeepStreams kept it.
	StreamKept StreamState = "kept"
	// StreamNotDeleted: it may still exist; StreamUse.Err says why (the
	// deletion failed, or the harness has no DeleteStream).
	StreamNotDeleted StreamState = "not deleted"
)

// StreamUse is one stream a scenario made through Harness.NewStream.
type StreamUse struct {
	// Name is the stream's name (its URL without the query when the
	// stream could not be opened).
	Name string
	// Partitions is the stream's partition (shard) count, with the net
	// new partitions of its splits.
	Partitions int
	// State is what became of it when its scenario ended.
	State StreamState
	// Err says why a stream in StreamNotDeleted was not deleted.
	Err string `json:",omitempty"`
}

// ledger tracks the streams of one run: which exist, and the partitions
// they hold against Harness.MaxShards.
type ledger struct {
	max int

	mu    sync.Mutex
	inUse int // partitions of the streams made and not yet deleted
	live  map[string]*StreamUse
}

func newLedger(max int) *ledger { return &ledger{max: max, live: map[string]*StreamUse{}} }

// reserve counts n partitions of a stream about to be made, or says why
// the budget does not allow it.
func (l *ledger) reserve(n int) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.max > 0 && l.inUse+n > l.max {
		why := "a scenario's streams are deleted when it ends, so this scenario alone needs more than the budget"
		if l.inUse > 0 {
			why = fmt.Sprintf("%d shards are held by streams this run made and has not deleted yet (this scenario's, kept ones, or ones whose deletion failed)", l.inUse)
		}
		return fmt.Errorf("shard budget of %d (MaxShards, --max-shards) exceeded: a stream of %d shards would make %d; %s", l.max, n, l.inUse+n, why)
	}
	l.inUse += n
	return nil
}

// release gives back n reserved or held partitions.
func (l *ledger) release(n int) {
	l.mu.Lock()
	l.inUse -= n
	l.mu.Unlock()
}

// add records the stream at url, whose partitions are reserved.
func (l *ledger) add(url string, u *StreamUse) {
	l.mu.Lock()
	l.live[url] = u
	l.mu.Unlock()
}

// rename names the stream at url, once it is open.
func (l *ledger) rename(url, name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if u := l.live[url]; u != nil {
		u.Name = name
	}
}

// grow counts n more partitions of the stream at url (a split).
func (l *ledger) grow(url string, n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if u := l.live[url]; u != nil {
		u.Partitions += n
		l.inUse += n
	}
}

// end settles the stream at url: its state, and its partitions freed
// unless it may still exist.
func (l *ledger) end(url string, state StreamState, err string) StreamUse {
	l.mu.Lock()
	defer l.mu.Unlock()
	u := l.live[url]
	u.State, u.Err = state, err
	if state == StreamDeleted {
		l.inUse -= u.Partitions
	}
	delete(l.live, url)
	return *u
}

// streamLabel is a name for a stream URL that shows no credentials: the
// URL without its query.
func streamLabel(url string) string {
	url, _, _ = strings.Cut(url, "?")
	return url
}

// track records a new stream of the scenario and arranges its end: when
// e.t ends (after the cleanups that close what the scenario opened on it,
// registered later), the stream is deleted through Harness.DeleteStream,
// or kept, and the scenario's record notes which.
func (e *env) track(url string, partitions int) {
	e.h.ledger.add(url, &StreamUse{Name: streamLabel(url), Partitions: partitions})
	e.t.Cleanup(func() {
		var res StreamUse
		switch {
		case e.h.KeepStreams:
			res = e.h.ledger.end(url, StreamKept, "")
			e.t.Logf("kept stream %s (%d partitions)", res.Name, res.Partitions)
		case e.h.DeleteStream == nil:
			// Whatever the harness does with it, the suite cannot tell: the
			// partitions are freed for the budget's sake.
			res = e.h.ledger.end(url, StreamNotDeleted, "the harness has no DeleteStream")
			e.h.ledger.release(res.Partitions)
		default:
			if err := e.h.DeleteStream(e.t, url); err != nil {
				res = e.h.ledger.end(url, StreamNotDeleted, err.Error())
				e.t.Errorf("harness %s: DeleteStream(%s): %v (its %d partitions still count against the shard budget)", e.h.Name, res.Name, err, res.Partitions)
			} else {
				res = e.h.ledger.end(url, StreamDeleted, "")
				e.t.Logf("deleted stream %s (%d partitions)", res.Name, res.Partitions)
			}
		}
		if rt, ok := e.t.(*recT); ok {
			rt.rec.root().addStream(res)
		}
	})
}
