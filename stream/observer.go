package stream

import (
	"fmt"
	"time"
)

// EventKind names what happened.
type EventKind uint8

// The events the engines report. Nothing in the engines prints: the CLI,
// logs and metrics are built on these.
const (
	// Consumer events.
	EventBatchFetched      EventKind = iota + 1 // Count records fetched and persisted as a batch
	EventBatchDone                              // the batch is final; Elapsed is its processing time
	EventAttemptStarted                         // Attempt is about to run
	EventAttemptFailed                          // Err is the handler's error; Delay the wait before the next attempt
	EventAttemptSucceeded                       // the handler returned nil
	EventSkipped                                // the record was skipped; Err is the SkipError
	EventDeadLettered                           // the record's envelope was written to the DLQ
	EventHalted                                 // the partition stopped at Record; Err says why
	EventCommitted                              // the committed pointer advanced to Pointer
	EventPartitionFinished                      // a closed partition was fully processed
	EventCheckpointError                        // a checkpoint load or save failed; Err says why, Attempt counts the failures in a row, and a transient one is retried after Delay

	// Producer events.
	EventProducerEmit     // a batch of Count records is being sent
	EventProducerSent     // Count records were acknowledged; Elapsed is the Write's duration (see Timed)
	EventProducerFailed   // Count records failed; Err is the first error; Elapsed is the Write's duration (see Timed)
	EventProducerHold     // the producer holds sends for Delay after a failure
	EventProducerReplayed // Count unacknowledged records were recovered from the WAL

	// EventFetchError: reading a partition (or, with an empty Partition,
	// listing partitions) failed; Err says why, Attempt counts the failures
	// in a row, and the consumer tries again after Delay.
	EventFetchError

	// EventCheckpointRecovered: a checkpoint load or save succeeded after
	// Attempt failures in a row (each an EventCheckpointError): the
	// partition goes on.
	EventCheckpointRecovered

	// EventProducerDeadLettered: Count records of send lane Lane were
	// refused for good (Err is the first one's error), written to the
	// producer's DLQ sink and removed from the lane and the WAL.
	EventProducerDeadLettered
	// EventProducerDropped: Count records of send lane Lane were refused
	// for good (Err is the first one's error) and, without a DLQ sink,
	// dropped: removed from the lane and the WAL. Flush and Close report
	// them too.
	EventProducerDropped
	// EventProducerDLQError: writing the DLQ envelope of Record failed
	// (Err); send lane Lane holds for Delay and writes it again (Attempt
	// counts the failures in a row). Nothing is dropped meanwhile.
	EventProducerDLQError

	// EventProducerWALSynced: an fsync of the producer's write-ahead log
	// took Elapsed and made Count records durable for the first time (see
	// wal.Options.OnSync). One fsync may serve several send lanes and Puts
	// (group commit): each is reported once, and Lane is 0. A producer
	// without a WAL sends none.
	EventProducerWALSynced

	// EventCheckpointSaved: the partition's checkpoint was saved; Elapsed
	// is the store's Save call that succeeded (the failed ones before it
	// are EventCheckpointErrors). Every save is reported: the commits, the
	// batch marks and the save at a stop.
	EventCheckpointSaved
)

var eventNames = map[EventKind]string{
	EventBatchFetched: "batch_fetched", EventBatchDone: "batch_done",
	EventAttemptStarted: "attempt_started", EventAttemptFailed: "attempt_failed",
	EventAttemptSucceeded: "attempt_succeeded", EventSkipped: "skipped",
	EventDeadLettered: "dead_lettered", EventHalted: "halted", EventCommitted: "committed",
	EventPartitionFinished: "partition_finished", EventCheckpointError: "checkpoint_error",
	EventProducerEmit: "producer_emit", EventProducerSent: "producer_sent",
	EventProducerFailed: "producer_failed", EventProducerHold: "producer_hold",
	EventProducerReplayed: "producer_replayed", EventFetchError: "fetch_error",
	EventCheckpointRecovered:  "checkpoint_recovered",
	EventProducerDeadLettered: "producer_dead_lettered", EventProducerDropped: "producer_dropped",
	EventProducerDLQError: "producer_dlq_error", EventProducerWALSynced: "producer_wal_synced",
	EventCheckpointSaved: "checkpoint_saved",
}

// String returns the snake_case name.
func (k EventKind) String() string {
	if n, ok := eventNames[k]; ok {
		return n
	}
	return fmt.Sprintf("event(%d)", uint8(k))
}

// Event is one thing that happened in an engine. Fields not meaningful for
// a kind are zero. An observer must not keep Record or Records past the call.
type Event struct {
	Kind      EventKind
	Time      time.Time
	Stream    string
	Partition string
	// Lane is the send lane of a producer event (every producer event but
	// EventProducerReplayed and EventProducerWALSynced).
	Lane int
	// Record is the record concerned (attempt, skip, DLQ, halt events).
	Record *Record
	// Records are the records of a producer emit/sent/failed event.
	Records []Record
	// Attempt is the attempt number, from 1.
	Attempt int
	// Count is the number of records concerned.
	Count int
	// Err is the error concerned.
	Err error
	// Delay is a wait: before the next attempt, or the producer's hold.
	Delay time.Duration
	// Elapsed is a duration: an attempt's, a batch's, a checkpoint save's,
	// a WAL fsync's, or, on a producer's outcome events (EventProducerSent,
	// EventProducerFailed, EventProducerDeadLettered, EventProducerDropped),
	// the backend Write call's that sent their records (see Timed).
	Elapsed time.Duration
	// Pointer is the committed pointer (EventCommitted).
	Pointer Pointer
	// Lag, on EventBatchFetched, is how far the partition is behind its
	// end after the batch, when the backend tells (driver.LagReporter);
	// nil otherwise.
	Lag *Lag
	// Final, on EventAttemptFailed, says that no attempt follows: the
	// attempts are used up or the error was Permanent, and the record goes
	// to the DLQ or halts its partition. Otherwise the record is retried
	// after Delay (0 when the handler outlasted the backoff).
	Final bool
	// Timed marks, among the outcome events of one producer Write (which
	// all carry its duration in Elapsed), the one that reports the Write,
	// so that a Write is timed once: the first failure's event
	// (EventProducerFailed, else EventProducerDeadLettered or
	// EventProducerDropped) when a record of the Write failed, its Err
	// saying why, else EventProducerSent. Without an observer (WithObserver)
	// the producer does not time its Writes and Timed is false.
	Timed bool
}

// Observer sees the engines' events. It is called synchronously from the
// engines' goroutines, possibly concurrently: keep it fast and safe.
type Observer interface {
	Observe(Event)
}

// EventFilter is an optional interface of an Observer, discovered by type
// assertion when an engine starts: Observes reports whether the observer
// has a use for events of kind k. The engine then skips building the
// events of the kinds it has no use for (EventAttemptStarted comes once per
// record, so an observer that ignores it saves the engine that cost on
// every record). It may still deliver an event of such a kind, which the
// observer ignores; Observes must give the same answer for a kind on
// every call.
type EventFilter interface {
	Observes(k EventKind) bool
}

// eventMask is the set of event kinds an engine builds: those its
// observer observes and those its logger logs.
type eventMask uint64

// newEventMask returns the kinds o observes (all of them, for an observer
// that is not an EventFilter; none for nil) and those logs logs.
func newEventMask(o Observer, logs *logObserver) eventMask {
	var m eventMask
	f, filtered := o.(EventFilter)
	for k := EventKind(1); k < 64; k++ {
		if o != nil && (!filtered || f.Observes(k)) || logs != nil && logged(k) {
			m |= 1 << k
		}
	}
	return m
}

// has reports whether the engine builds events of kind k.
func (m eventMask) has(k EventKind) bool { return k < 64 && m&(1<<k) != 0 }

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(Event)

// Observe calls f.
func (f ObserverFunc) Observe(e Event) { f(e) }
