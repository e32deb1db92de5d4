package pulsar

import (
	"context"
	"time"

	"github.com/unistream-go/unistream/stream/driver"
)

// lagRefresh is how often at most Fetch asks the broker for the
// partition's last message id, for Lag.
const lagRefresh = time.Second

// Lag returns the records in the partition after the last one Fetch
// returned (driver.LagReporter); -1 before the first Fetch that returned a
// record. The time is not told (-1).
//
// Pulsar reports no lag with the messages it pushes, so a Fetch that
// returned records asks the broker for the partition's last message id
// (GetLastMessageId, at most once a second; a failed or abandoned request
// keeps the previous answer), and Lag counts the messages between that id
// and the reader's position, both (ledger, entry, batch index):
//   - within one entry, the batch indexes tell the count exactly;
//   - within one ledger, an entry between the two holds at least one
//     message and counts as one, so the count is exact when the writer
//     does not batch, and otherwise a lower bound;
//   - across ledgers, the rest of the reader's ledger and any ledger
//     between are not known from ids, and the entries of the last ledger
//     before the last message count as one each: a lower bound too.
//
// The last message id may be up to a second old: messages written since
// are not counted. So Lag never overstates the records behind, is never
// negative, and is 0 once the reader has returned the last message the
// broker reported.
func (rd *Reader) Lag() driver.Lag {
	return driver.Lag{Records: rd.lag.Load(), Time: -1}
}

// updateLag recomputes Lag after a Fetch, first asking the broker for the
// partition's last message id if the Fetch returned records and the last
// answer is missing or older than lagRefresh.
func (rd *Reader) updateLag(ctx context.Context, returned bool) {
	if returned && ctx.Err() == nil && (!rd.endKnown || time.Since(rd.endAt) >= lagRefresh) {
		rd.refreshEnd(ctx)
	}
	if !rd.endKnown || rd.floor == nil {
		return
	}
	n := recordsBehind(*rd.floor, rd.floorSize, rd.end)
	if rd.floorIncl {
		n++ // the floor itself is still to be read
	}
	rd.lag.Store(n)
}

// refreshEnd asks the broker for the partition's last message id, waiting
// until ctx is done at most. The request itself is bounded by the client's
// operation timeout, and Close waits for it; an answer that comes after
// ctx is done is dropped.
func (rd *Reader) refreshEnd(ctx context.Context) {
	rd.endAt = time.Now()
	type result struct {
		end MessageID
		ok  bool
	}
	ch := make(chan result, 1)
	go func() { // owned by this call; it ends within the operation timeout
		rd.askMu.Lock()
		defer rd.askMu.Unlock()
		if rd.closed.Load() {
			ch <- result{}
			return
		}
		ids, err := rd.c.GetLastMessageIDs()
		if err != nil || len(ids) != 1 {
			ch <- result{}
			return
		}
		last := ids[0]
		end := MessageID{Ledger: last.LedgerID(), Entry: last.EntryID(), Batch: last.BatchIdx(), Partition: rd.part}
		if end.Ledger < 0 || end.Entry < 0 {
			end = MessageID{Entry: -1, Batch: -1, Partition: rd.part}
		}
		ch <- result{end, true}
	}()
	select {
	case res := <-ch:
		if res.ok {
			rd.end, rd.endKnown = res.end, true
		}
	case <-ctx.Done():
	}
}

// recordsBehind counts the messages after pos, whose entry holds posSize
// messages (0 if unknown), up to and including end, the partition's last
// message (end.Entry < 0: the partition is empty). Each entry between the
// two counts as one message (it holds at least one), as does end's entry
// when end has no batch index; the result is exact when no entry after
// pos's own is batched and both are in one ledger, a lower bound
// otherwise, and never negative.
func recordsBehind(pos MessageID, posSize int32, end MessageID) int64 {
	if end.Entry < 0 || pos.Ledger > end.Ledger || pos.Ledger == end.Ledger && pos.Entry > end.Entry {
		return 0
	}
	if pos.Ledger == end.Ledger && pos.Entry == end.Entry {
		return max(int64(end.Batch)-int64(pos.Batch), 0)
	}
	n := int64(1) // end's entry
	if end.Batch >= 0 {
		n = int64(end.Batch) + 1
	}
	if pos.Batch >= 0 && posSize > pos.Batch+1 {
		n += int64(posSize - pos.Batch - 1) // the rest of pos's entry
	}
	if pos.Ledger == end.Ledger {
		return n + end.Entry - pos.Entry - 1
	}
	return n + end.Entry // the entries of end's ledger before end's
}
